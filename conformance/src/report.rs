//! Console and JSON reports; [`CaseReport`] folds `--repeat` runs and
//! `--known-failing` into one verdict per case.

use std::fmt::Write as _;

use serde_json::json;

use crate::case::Case;
use crate::known_failing::KnownFailing;
use crate::runner::{CaseResult, Outcome};
use crate::shell::quote;

/// Version of the `--json` report layout (`report.schema.json`). 2: verdicts
/// (XFAIL, XPASS), runs of `--repeat`, implementation name, exit code.
pub const SCHEMA_VERSION: u32 = 2;

/// The failure details of one case, for the console.
pub fn failure_details(case: &Case, r: &CaseResult, worker_cmd: &str, extra: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "---- {} [{}] {}", case.id, case.level, r.outcome.label());
    let _ = writeln!(
        s,
        "requirement (spec/PROTOCOL.md#{}): {}",
        case.section, case.requirement
    );
    let _ = writeln!(s, "expected: {}", r.expected);
    let _ = writeln!(s, "happened: {}", r.happened);
    if !r.acceptable.is_empty() {
        let _ = writeln!(s, "acceptable outcomes:");
        for a in &r.acceptable {
            let _ = writeln!(s, "  - {a}");
        }
    }
    if !r.diff.is_empty() {
        let _ = writeln!(
            s,
            "frame diff (ok: matches, !!: differs; expected vs actual field by field):"
        );
        for line in &r.diff {
            let _ = writeln!(s, "  {line}");
        }
    }
    let _ = writeln!(
        s,
        "wire log (seconds since start, -> to worker, <- from worker, <? other routing id):"
    );
    for line in &r.wire_log {
        let _ = writeln!(s, "  {line}");
    }
    if r.stderr_tail.is_empty() {
        let _ = writeln!(s, "worker stderr: (empty)");
    } else {
        let _ = writeln!(s, "worker stderr (tail):");
        for line in r.stderr_tail.lines() {
            let _ = writeln!(s, "  | {line}");
        }
    }
    let _ = writeln!(s, "rerun: {}", rerun_command(&case.id, worker_cmd, extra));
    s
}

/// A command that reruns just one case; `extra` holds options to repeat
/// (`--cases`, `--timeout-scale`), already quoted.
pub fn rerun_command(id: &str, worker_cmd: &str, extra: &str) -> String {
    format!(
        "zroute-conformance run --worker {} --run {}{extra}",
        quote(worker_cmd),
        quote(id)
    )
}

/// Everything known about one case after the run: every run of it
/// (`--repeat`) and whether it is listed as known-failing.
#[derive(Debug)]
pub struct CaseReport<'a> {
    pub case: &'a Case,
    /// At least one run, in the order they finished.
    pub runs: Vec<CaseResult>,
    pub known_failing: bool,
}

/// The final word on a case, after `--repeat` and `--known-failing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The outcome as it is.
    Plain(Outcome),
    /// XFAIL: a known-failing case failed (with this outcome); not a failure of the run.
    KnownFailure(Outcome),
    /// XPASS: a known-failing case passed; the list is stale, which fails the run.
    UnexpectedPass,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Self::Plain(o) => o.label(),
            Self::KnownFailure(_) => "XFAIL",
            Self::UnexpectedPass => "XPASS",
        }
    }

    /// Whether this verdict makes the run a conformance failure (exit code 1).
    pub fn fails_run(self) -> bool {
        match self {
            Self::Plain(o) => o.is_failure(),
            Self::KnownFailure(_) => false,
            Self::UnexpectedPass => true,
        }
    }
}

/// Neither a failure, nor a suite error, nor unsupported.
pub fn is_pass(o: Outcome) -> bool {
    !o.is_failure() && !matches!(o, Outcome::Error | Outcome::Unsupported | Outcome::Skipped)
}

impl CaseReport<'_> {
    /// The run that speaks for the case: the first that did not pass, else the first.
    pub fn result(&self) -> &CaseResult {
        self.runs
            .iter()
            .find(|r| !is_pass(r.outcome))
            .unwrap_or(&self.runs[0])
    }

    pub fn outcome(&self) -> Outcome {
        self.result().outcome
    }

    /// The runs did not all end the same way.
    pub fn flaky(&self) -> bool {
        self.runs.iter().any(|r| r.outcome != self.runs[0].outcome)
    }

    /// Total time over every run.
    pub fn duration(&self) -> std::time::Duration {
        self.runs.iter().map(|r| r.duration).sum()
    }

    pub fn verdict(&self) -> Verdict {
        let o = self.outcome();
        match (self.known_failing, o) {
            (true, o) if o.is_failure() => Verdict::KnownFailure(o),
            (true, o) if is_pass(o) => Verdict::UnexpectedPass,
            _ => Verdict::Plain(o),
        }
    }
}

/// Groups the results of `cases` run `repeat` times each, case-major
/// (`[c0, c0, c1, c1, ...]` as [`repeated`] lays them out).
pub fn group<'a>(
    cases: &[&'a Case],
    repeat: usize,
    results: Vec<CaseResult>,
    known_failing: &KnownFailing,
) -> Vec<CaseReport<'a>> {
    let repeat = repeat.max(1);
    let mut results = results.into_iter();
    cases
        .iter()
        .map(|case| CaseReport {
            case,
            runs: results.by_ref().take(repeat).collect(),
            known_failing: known_failing.contains(&case.id),
        })
        .collect()
}

/// Each case `repeat` times in a row, the job list for [`group`].
pub fn repeated<'a>(cases: &[&'a Case], repeat: usize) -> Vec<&'a Case> {
    cases
        .iter()
        .flat_map(|c| std::iter::repeat_n(*c, repeat.max(1)))
        .collect()
}

/// The summary table: one row per case, then the counts by verdict.
pub fn table(reports: &[CaseReport<'_>]) -> String {
    let width = reports
        .iter()
        .map(|r| r.case.id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let mut s = format!(
        "{:<width$}  {:<6}  {:<11}  {:>8}\n",
        "id", "level", "outcome", "ms"
    );
    for r in reports {
        let mut label = r.verdict().label().to_owned();
        if let Verdict::KnownFailure(o) = r.verdict() {
            label = format!("{label} ({})", o.label());
        }
        let _ = write!(
            s,
            "{:<width$}  {:<6}  {:<11}  {:>8}",
            r.case.id,
            r.case.level.to_string(),
            label,
            r.duration().as_millis()
        );
        if r.flaky() {
            let outcomes: Vec<_> = r.runs.iter().map(|x| x.outcome.label()).collect();
            let _ = write!(s, "  FLAKY: {}", outcomes.join(" "));
        }
        s.push('\n');
    }
    let _ = writeln!(s, "{}", summary_line(reports));
    s
}

/// Verdict labels in report order, and how many cases have each.
pub fn counts(reports: &[CaseReport<'_>]) -> Vec<(&'static str, usize)> {
    let mut out: Vec<(&'static str, usize)> = Vec::new();
    for r in reports {
        let label = r.verdict().label();
        match out.iter_mut().find(|(l, _)| *l == label) {
            Some((_, n)) => *n += 1,
            None => out.push((label, 1)),
        }
    }
    let rank = |l: &str| {
        [
            "PASS",
            "NON-STRICT",
            "FAIL",
            "TIMEOUT",
            "CRASH",
            "ERROR",
            "UNSUPPORTED",
            "XFAIL",
            "XPASS",
            "SKIPPED",
        ]
        .iter()
        .position(|x| *x == l)
        .unwrap_or(usize::MAX)
    };
    out.sort_by_key(|(l, _)| rank(l));
    out
}

pub fn summary_line(reports: &[CaseReport<'_>]) -> String {
    let parts: Vec<String> = counts(reports)
        .iter()
        .map(|(l, n)| format!("{n} {l}"))
        .collect();
    let flaky = reports.iter().filter(|r| r.flaky()).count();
    let mut s = format!("{} cases: {}", reports.len(), parts.join(", "));
    if flaky > 0 {
        let _ = write!(s, "; {flaky} flaky");
    }
    s
}

/// What the JSON report says about the run as a whole.
#[derive(Clone, Debug, Default)]
pub struct RunMeta {
    /// The implementation's name: `--name`, else the worker's HELLO id.
    pub implementation: String,
    pub worker: String,
    /// Options repeated in rerun commands, already quoted.
    pub extra: String,
    pub repeat: usize,
    pub attach: Option<String>,
}

/// The implementation's name when `--name` is not given: the first HELLO id.
pub fn hello_name(reports: &[CaseReport<'_>]) -> Option<String> {
    reports
        .iter()
        .flat_map(|r| &r.runs)
        .find_map(|r| r.hello_id.clone().filter(|id| !id.is_empty()))
}

/// The `--json` report; `report.schema.json` describes it.
pub fn json_report(reports: &[CaseReport<'_>], meta: &RunMeta) -> serde_json::Value {
    let entries: Vec<_> = reports
        .iter()
        .map(|rep| {
            let c = rep.case;
            let r = rep.result();
            let passed = is_pass(r.outcome);
            let runs: Vec<_> = rep
                .runs
                .iter()
                .map(|x| json!({ "outcome": x.outcome.label(), "durationMs": x.duration.as_millis() as u64 }))
                .collect();
            let run = json!({
                "outcome": r.outcome.label(),
                "verdict": rep.verdict().label(),
                "knownFailing": rep.known_failing,
                "flaky": rep.flaky(),
                "runs": runs,
                "durationMs": rep.duration().as_millis() as u64,
                "workerStarted": r.started,
                "expected": r.expected,
                "happened": r.happened,
                "acceptable": r.acceptable,
                "diff": r.diff,
                "wireLog": if passed { Vec::new() } else { r.wire_log.clone() },
                "stderrTail": if passed { String::new() } else { r.stderr_tail.clone() },
                "rerun": rerun_command(&c.id, &meta.worker, &meta.extra),
            });
            let mut entry = case_fields(c);
            if let serde_json::Value::Object(run) = run {
                entry.extend(run);
            }
            serde_json::Value::Object(entry)
        })
        .collect();
    let verdicts: serde_json::Map<String, serde_json::Value> = counts(reports)
        .into_iter()
        .map(|(l, n)| (l.to_owned(), json!(n)))
        .collect();
    json!({
        "schemaVersion": SCHEMA_VERSION,
        "tool": format!("zroute-conformance {}", env!("CARGO_PKG_VERSION")),
        "implementation": meta.implementation,
        "worker": meta.worker,
        "attach": meta.attach,
        "repeat": meta.repeat.max(1),
        "exitCode": exit_code(reports),
        "summary": {
            "total": reports.len(),
            "flaky": reports.iter().filter(|r| r.flaky()).count(),
            "verdicts": verdicts,
        },
        "cases": entries,
    })
}

/// The `--list --json` listing.
pub fn json_list(cases: &[&Case]) -> serde_json::Value {
    let entries: Vec<_> = cases
        .iter()
        .map(|c| serde_json::Value::Object(case_fields(c)))
        .collect();
    json!({ "schemaVersion": SCHEMA_VERSION, "cases": entries })
}

/// What names a case in both JSON forms: the listing and each report entry.
fn case_fields(c: &Case) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("id".into(), json!(c.id));
    fields.insert("section".into(), json!(c.section));
    fields.insert("level".into(), json!(c.level));
    fields.insert("requirement".into(), json!(c.requirement));
    fields.insert("feature".into(), json!(c.feature));
    fields
}

/// The process exit code for a finished run: 3 if the worker never said
/// HELLO in any run, 2 on suite errors, 1 on conformance failures (XPASS
/// included, XFAIL not), else 0. Cases skipped by level are not runs.
pub fn exit_code(reports: &[CaseReport<'_>]) -> i32 {
    let runs = || {
        reports
            .iter()
            .flat_map(|r| &r.runs)
            .filter(|r| r.outcome != Outcome::Skipped)
    };
    if runs().next().is_some() && runs().all(|r| !r.started && r.outcome != Outcome::Unsupported) {
        3
    } else if runs().any(|r| r.outcome == Outcome::Error) {
        2
    } else if reports.iter().any(|r| r.verdict().fails_run()) {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    fn case(id: &str) -> Case {
        let text = format!(
            "id = \"{id}\"\nsection = \"handshake\"\nlevel = \"MUST\"\nrequirement = \"r\"\n"
        );
        Case::parse(&text, Path::new("x.toml")).unwrap()
    }

    fn result(outcome: Outcome) -> CaseResult {
        CaseResult {
            outcome,
            started: true,
            hello_id: Some("w1".into()),
            expected: String::new(),
            happened: String::new(),
            acceptable: Vec::new(),
            diff: Vec::new(),
            wire_log: Vec::new(),
            stderr_tail: String::new(),
            duration: Duration::from_millis(5),
        }
    }

    #[test]
    fn repeated_runs_fold_into_one_verdict() {
        let (a, b, c) = (case("x/a"), case("x/b"), case("x/c"));
        let cases = [&a, &b, &c];
        assert_eq!(repeated(&cases, 2).len(), 6);
        let runs = [
            Outcome::Pass,
            Outcome::Pass,
            Outcome::Pass,
            Outcome::Timeout, // b is flaky: it fails
            Outcome::Fail,
            Outcome::Fail, // c is known-failing: XFAIL
        ];
        let known = KnownFailing::parse("x/c\n").unwrap();
        let reports = group(&cases, 2, runs.map(result).into(), &known);
        let verdicts: Vec<_> = reports.iter().map(|r| r.verdict().label()).collect();
        assert_eq!(verdicts, ["PASS", "TIMEOUT", "XFAIL"]);
        assert!(!reports[0].flaky() && reports[1].flaky() && !reports[2].flaky());
        assert_eq!(reports[1].duration(), Duration::from_millis(10));
        assert_eq!(exit_code(&reports), 1, "the flaky case fails the run");
        assert!(table(&reports).contains("FLAKY: PASS TIMEOUT"));
        assert_eq!(
            summary_line(&reports),
            "3 cases: 1 PASS, 1 TIMEOUT, 1 XFAIL; 1 flaky"
        );
        // Without the flaky case, XFAIL alone does not fail the run.
        assert_eq!(exit_code(&reports[2..]), 0);
        assert_eq!(hello_name(&reports).as_deref(), Some("w1"));
    }

    #[test]
    fn a_known_failing_pass_fails_the_run() {
        let a = case("x/a");
        let known = KnownFailing::parse("x/*\n").unwrap();
        let reports = group(&[&a], 1, vec![result(Outcome::Pass)], &known);
        assert_eq!(reports[0].verdict(), Verdict::UnexpectedPass);
        assert_eq!(exit_code(&reports), 1);
        // An unsupported case is neither XFAIL nor XPASS.
        let reports = group(&[&a], 1, vec![result(Outcome::Unsupported)], &known);
        assert_eq!(reports[0].verdict().label(), "UNSUPPORTED");
        assert_eq!(exit_code(&reports), 0);
    }

    #[test]
    fn no_hello_anywhere_is_exit_3_and_errors_are_2() {
        let (a, b) = (case("x/a"), case("x/b"));
        let mut crash = result(Outcome::Crash);
        crash.started = false;
        let reports = group(&[&a], 1, vec![crash], &KnownFailing::default());
        assert_eq!(exit_code(&reports), 3);
        let reports = group(
            &[&a, &b],
            1,
            vec![result(Outcome::Fail), result(Outcome::Error)],
            &KnownFailing::default(),
        );
        assert_eq!(exit_code(&reports), 2);
    }
}
