//! Self-contained HTML reports, built from `--json` reports (schema version
//! [`SCHEMA_VERSION`]): one run (`run --html`), or a matrix of
//! implementations × cases (`report --html OUT A.json B.json ...`).

use std::fmt::Write as _;

use serde_json::Value;

use crate::report::SCHEMA_VERSION;

const STYLE: &str = "
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.v { font-weight: 600; text-align: center; white-space: nowrap; }
.PASS { background: #d7f5d7; } .FAIL, .XPASS { background: #f8c9c9; }
.TIMEOUT { background: #fbd9b0; } .CRASH { background: #f3a6a6; }
.ERROR { background: #e0c3f0; } .UNSUPPORTED, .missing { background: #eee; color: #777; }
.XFAIL { background: #f5ecb8; } .NON-STRICT { background: #e9f5c0; }
pre { background: #f7f7f7; padding: 6px; overflow-x: auto; white-space: pre-wrap; max-width: 110em; }
code { font-size: 13px; }
";

/// Checks that `report` is a JSON report this version of the suite reads.
pub fn check_report(report: &Value) -> Result<(), String> {
    match report.get("schemaVersion").and_then(Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "schemaVersion {v}, this suite reads {SCHEMA_VERSION}"
            ));
        }
        None => return Err("not a zroute-conformance report (no schemaVersion)".into()),
    }
    if !report.get("cases").is_some_and(Value::is_array) {
        return Err("no `cases` array".into());
    }
    Ok(())
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn cases(report: &Value) -> &[Value] {
    report
        .get("cases")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn name(report: &Value, i: usize) -> String {
    match str_of(report, "implementation") {
        "" => format!("implementation {}", i + 1),
        n => n.to_owned(),
    }
}

fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(title),
        esc(title)
    )
}

fn summary(report: &Value) -> String {
    let mut s = String::new();
    if let Some(v) = report
        .pointer("/summary/verdicts")
        .and_then(Value::as_object)
    {
        for (label, n) in v {
            let _ = write!(
                s,
                "<span class=\"{}\"> {n} {} </span> ",
                esc(label),
                esc(label)
            );
        }
    }
    if let Some(n) = report.pointer("/summary/flaky").and_then(Value::as_u64)
        && n > 0
    {
        let _ = write!(s, " {n} flaky");
    }
    s
}

/// The report of one run: a table of cases, with the details of every case
/// that did not pass.
pub fn single(report: &Value) -> String {
    let title = format!("zroute conformance: {}", name(report, 0));
    let mut h = head(&title);
    let _ = writeln!(
        h,
        "<p>Worker: <code>{}</code>; exit code {}; {}</p>",
        esc(str_of(report, "worker")),
        report
            .get("exitCode")
            .map_or(String::new(), Value::to_string),
        summary(report)
    );
    h.push_str("<table>\n<tr><th>case</th><th>level</th><th>verdict</th><th>ms</th><th>details</th></tr>\n");
    for c in cases(report) {
        let verdict = str_of(c, "verdict");
        let _ = write!(
            h,
            "<tr><td><code>{}</code><br><small>spec #{}</small></td><td>{}</td><td class=\"v {}\">{}{}</td><td>{}</td><td>",
            esc(str_of(c, "id")),
            esc(str_of(c, "section")),
            esc(str_of(c, "level")),
            esc(verdict),
            esc(verdict),
            if c.get("flaky").and_then(Value::as_bool) == Some(true) {
                "<br>flaky"
            } else {
                ""
            },
            c.get("durationMs").map_or(String::new(), Value::to_string),
        );
        if !str_of(c, "happened").is_empty() || verdict == "XPASS" {
            let _ = write!(
                h,
                "<details><summary>{}</summary><pre>",
                esc(str_of(c, "happened"))
            );
            let _ = writeln!(h, "requirement: {}", esc(str_of(c, "requirement")));
            let _ = writeln!(h, "expected: {}", esc(str_of(c, "expected")));
            let _ = writeln!(h, "happened: {}", esc(str_of(c, "happened")));
            if let Some(log) = c.get("wireLog").and_then(Value::as_array)
                && !log.is_empty()
            {
                h.push_str("wire log:\n");
                for line in log {
                    let _ = writeln!(h, "  {}", esc(line.as_str().unwrap_or_default()));
                }
            }
            let stderr = str_of(c, "stderrTail");
            if !stderr.is_empty() {
                let _ = writeln!(h, "worker stderr (tail):\n{}", esc(stderr));
            }
            let _ = write!(h, "rerun: {}</pre></details>", esc(str_of(c, "rerun")));
        }
        h.push_str("</td></tr>\n");
    }
    h.push_str("</table>\n</body>\n</html>\n");
    h
}

/// Implementations × cases: one column per report, one row per case id
/// found in any of them.
pub fn matrix(reports: &[Value]) -> String {
    let mut h = head("zroute conformance matrix");
    let mut ids: Vec<(String, String, String)> = Vec::new();
    for r in reports {
        for c in cases(r) {
            let id = str_of(c, "id");
            if !ids.iter().any(|(i, _, _)| i == id) {
                ids.push((
                    id.to_owned(),
                    str_of(c, "level").to_owned(),
                    str_of(c, "requirement").to_owned(),
                ));
            }
        }
    }
    ids.sort();
    h.push_str("<table>\n<tr><th>case</th><th>level</th>");
    for (i, r) in reports.iter().enumerate() {
        let _ = write!(
            h,
            "<th title=\"{}\">{}</th>",
            esc(str_of(r, "worker")),
            esc(&name(r, i))
        );
    }
    h.push_str("</tr>\n<tr><td colspan=\"2\">summary</td>");
    for r in reports {
        let _ = write!(h, "<td>{}</td>", summary(r));
    }
    h.push_str("</tr>\n");
    for (id, level, requirement) in &ids {
        let _ = write!(
            h,
            "<tr><td title=\"{}\"><code>{}</code></td><td>{}</td>",
            esc(requirement),
            esc(id),
            esc(level)
        );
        for r in reports {
            match cases(r).iter().find(|c| str_of(c, "id") == id) {
                Some(c) => {
                    let verdict = str_of(c, "verdict");
                    let _ = write!(
                        h,
                        "<td class=\"v {}\" title=\"{}\">{}</td>",
                        esc(verdict),
                        esc(&format!(
                            "expected: {}\nhappened: {}",
                            str_of(c, "expected"),
                            str_of(c, "happened")
                        )),
                        esc(verdict)
                    );
                }
                None => h.push_str("<td class=\"v missing\">not run</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n</body>\n</html>\n");
    h
}

/// Escapes text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn report(name: &str, verdict: &str) -> Value {
        json!({
            "schemaVersion": SCHEMA_VERSION,
            "implementation": name,
            "worker": "w <x>",
            "summary": { "total": 1, "flaky": 0, "verdicts": { verdict: 1 } },
            "cases": [{ "id": "a/b", "level": "MUST", "verdict": verdict,
                        "expected": "x", "happened": "<script>", "requirement": "r" }],
        })
    }

    #[test]
    fn matrix_has_a_column_per_implementation_and_escapes() {
        let mut b = report("node-1", "FAIL");
        b["cases"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "id": "c/d", "verdict": "PASS" }));
        let html = matrix(&[report("rust-1", "PASS"), b]);
        assert!(html.contains("<th title=\"w &lt;x&gt;\">rust-1</th>"));
        assert!(html.contains(">node-1</th>"));
        assert!(html.contains("class=\"v FAIL\""));
        assert!(html.contains("not run"), "c/d is missing from rust-1");
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn rejects_other_schema_versions() {
        assert!(check_report(&report("a", "PASS")).is_ok());
        assert!(check_report(&json!({ "schemaVersion": 1, "cases": [] })).is_err());
        assert!(check_report(&json!({})).is_err());
    }
}
