//! `--junit FILE`: JUnit XML that validates against the Jenkins xunit
//! schema vendored in `schemas/junit-10.xsd`.
//!
//! One `<testsuite>` per case group (the first part of the id), one
//! `<testcase>` per case. Mapping, chosen so that CI dashboards agree with
//! the exit code:
//!
//! - FAIL, TIMEOUT, CRASH (the worker does not conform): `<failure>`;
//! - XPASS (a known-failing case passed; the list is stale): `<failure>`;
//! - ERROR (a fault of the suite, not of the worker): `<error>`;
//! - UNSUPPORTED and XFAIL: `<skipped>`;
//! - anything else passed (a plain `<testcase>`).

use std::fmt::Write as _;

use crate::report::{CaseReport, RunMeta, Verdict, failure_details};
use crate::runner::Outcome;

/// The JUnit XML document for a run.
pub fn junit_report(reports: &[CaseReport<'_>], meta: &RunMeta) -> String {
    let implementation = if meta.implementation.is_empty() {
        "worker"
    } else {
        meta.implementation.as_str()
    };
    let mut groups: Vec<(&str, Vec<&CaseReport<'_>>)> = Vec::new();
    for r in reports {
        let group = r.case.id.split('/').next().unwrap_or_default();
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, members)) => members.push(r),
            None => groups.push((group, vec![r])),
        }
    }
    let total = tally(reports.iter());
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">",
        attr(&format!("zroute-conformance: {implementation}")),
        reports.len(),
        total.failures,
        total.errors,
        seconds(reports.iter().map(CaseReport::duration).sum()),
    );
    for (group, members) in &groups {
        let t = tally(members.iter().copied());
        let suite = format!("{implementation}.{group}");
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
            attr(&suite),
            members.len(),
            t.failures,
            t.errors,
            t.skipped,
            seconds(members.iter().map(|r| r.duration()).sum()),
        );
        let _ = writeln!(x, "    <properties>");
        let _ = writeln!(
            x,
            "      <property name=\"worker\" value=\"{}\"/>",
            attr(&meta.worker)
        );
        let _ = writeln!(
            x,
            "      <property name=\"repeat\" value=\"{}\"/>",
            meta.repeat.max(1)
        );
        let _ = writeln!(x, "    </properties>");
        for r in members {
            testcase(&mut x, r, &suite, meta);
        }
        let _ = writeln!(x, "  </testsuite>");
    }
    x.push_str("</testsuites>\n");
    x
}

#[derive(Default)]
struct Tally {
    failures: usize,
    errors: usize,
    skipped: usize,
}

fn tally<'a, 'b: 'a>(reports: impl Iterator<Item = &'a CaseReport<'b>>) -> Tally {
    let mut t = Tally::default();
    for r in reports {
        match element(r.verdict()) {
            Some("failure") => t.failures += 1,
            Some("error") => t.errors += 1,
            Some("skipped") => t.skipped += 1,
            _ => {}
        }
    }
    t
}

/// The child element a verdict maps to (see the module docs).
fn element(v: Verdict) -> Option<&'static str> {
    match v {
        Verdict::UnexpectedPass => Some("failure"),
        Verdict::KnownFailure(_) => Some("skipped"),
        Verdict::Plain(Outcome::Error) => Some("error"),
        Verdict::Plain(Outcome::Unsupported) => Some("skipped"),
        Verdict::Plain(o) if o.is_failure() => Some("failure"),
        Verdict::Plain(_) => None,
    }
}

fn testcase(x: &mut String, r: &CaseReport<'_>, suite: &str, meta: &RunMeta) {
    let res = r.result();
    let _ = write!(
        x,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
        attr(&r.case.id),
        attr(suite),
        seconds(r.duration()),
    );
    let verdict = r.verdict();
    let mut out = String::new();
    if r.flaky() {
        let outcomes: Vec<_> = r.runs.iter().map(|x| x.outcome.label()).collect();
        let _ = writeln!(out, "flaky: the runs ended {}", outcomes.join(", "));
    }
    let Some(el) = element(verdict) else {
        // A pass with remarks (NON-STRICT, say) keeps them as output.
        if !res.happened.is_empty() {
            let _ = writeln!(out, "expected {}; happened: {}", res.expected, res.happened);
        }
        if out.is_empty() {
            x.push_str("/>\n");
        } else {
            let _ = writeln!(
                x,
                ">\n      <system-out>{}</system-out>\n    </testcase>",
                text(&out)
            );
        }
        return;
    };
    x.push_str(">\n");
    let (kind, message) = match verdict {
        Verdict::UnexpectedPass => (
            "XPASS".to_owned(),
            "passed, but it is listed as known-failing: remove it from the --known-failing file"
                .to_owned(),
        ),
        Verdict::KnownFailure(o) => (
            "XFAIL".to_owned(),
            format!("known failing ({}): {}", o.label(), res.happened),
        ),
        Verdict::Plain(o) if o == Outcome::Unsupported => (
            o.label().to_owned(),
            format!("unsupported: {}; {}", res.expected, res.happened),
        ),
        Verdict::Plain(o) => (
            o.label().to_owned(),
            format!("expected {}; happened: {}", res.expected, res.happened),
        ),
    };
    let body = if matches!(
        verdict,
        Verdict::UnexpectedPass | Verdict::Plain(Outcome::Unsupported)
    ) {
        String::new()
    } else {
        failure_details(r.case, res, &meta.worker, &meta.extra)
    };
    let _ = writeln!(
        x,
        "      <{el} type=\"{}\" message=\"{}\">{}</{el}>",
        attr(&kind),
        attr(&message),
        text(&body)
    );
    if !out.is_empty() {
        let _ = writeln!(x, "      <system-out>{}</system-out>", text(&out));
    }
    if !res.stderr_tail.is_empty() && el != "skipped" {
        let _ = writeln!(
            x,
            "      <system-err>{}</system-err>",
            text(&res.stderr_tail)
        );
    }
    x.push_str("    </testcase>\n");
}

/// Seconds with millisecond precision, as the schema's SUREFIRE_TIME wants.
fn seconds(d: std::time::Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Characters XML 1.0 cannot carry at all, even as references.
fn illegal_in_xml(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Escapes element text; characters XML cannot carry become `\u{..}`.
pub fn text(s: &str) -> String {
    escape(s, false)
}

/// Escapes an attribute value, keeping tabs and line breaks (which a parser
/// would otherwise normalise to spaces).
pub fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            c if illegal_in_xml(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(text("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(text("bell\u{7} nul\u{0}\n"), "bell\\u{7} nul\\u{0}\n");
        assert_eq!(
            attr("say \"hi\"\nthen\ttab"),
            "say &quot;hi&quot;&#10;then&#9;tab"
        );
        assert_eq!(text("\u{fffe}é"), "\\u{fffe}é");
    }
}
