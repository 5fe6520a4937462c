//! Console and JSON reports.

use std::fmt::Write as _;

use serde_json::json;

use crate::case::Case;
use crate::runner::{CaseResult, Outcome};
use crate::shell::quote;

/// Version of the `--json` report layout.
pub const SCHEMA_VERSION: u32 = 1;

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

/// The summary table.
pub fn table(cases: &[&Case], results: &[CaseResult]) -> String {
    let width = cases.iter().map(|c| c.id.len()).max().unwrap_or(2).max(2);
    let mut s = format!(
        "{:<width$}  {:<6}  {:<11}  {:>8}\n",
        "id", "level", "outcome", "ms"
    );
    for (c, r) in cases.iter().zip(results) {
        let _ = writeln!(
            s,
            "{:<width$}  {:<6}  {:<11}  {:>8}",
            c.id,
            c.level.to_string(),
            r.outcome.label(),
            r.duration.as_millis()
        );
    }
    let _ = writeln!(s, "{}", summary_line(results));
    s
}

fn count(results: &[CaseResult], o: Outcome) -> usize {
    results.iter().filter(|r| r.outcome == o).count()
}

pub fn summary_line(results: &[CaseResult]) -> String {
    format!(
        "{} cases: {} passed, {} non-strict, {} failed, {} timed out, {} crashed, {} errors, {} unsupported, {} skipped",
        results.len(),
        count(results, Outcome::Pass),
        count(results, Outcome::NonStrict),
        count(results, Outcome::Fail),
        count(results, Outcome::Timeout),
        count(results, Outcome::Crash),
        count(results, Outcome::Error),
        count(results, Outcome::Unsupported),
        count(results, Outcome::Skipped),
    )
}

/// The `--json` report.
pub fn json_report(
    cases: &[&Case],
    results: &[CaseResult],
    worker_cmd: &str,
    extra: &str,
) -> serde_json::Value {
    let entries: Vec<_> = cases
        .iter()
        .zip(results)
        .map(|(c, r)| {
            json!({
                "id": c.id,
                "section": c.section,
                "level": c.level,
                "requirement": c.requirement,
                "feature": c.feature,
                "outcome": r.outcome,
                "durationMs": r.duration.as_millis() as u64,
                "workerStarted": r.started,
                "expected": r.expected,
                "happened": r.happened,
                "acceptable": r.acceptable,
                "diff": r.diff,
                "wireLog": if r.outcome == Outcome::Pass { Vec::new() } else { r.wire_log.clone() },
                "stderrTail": if r.outcome == Outcome::Pass { String::new() } else { r.stderr_tail.clone() },
                "rerun": rerun_command(&c.id, worker_cmd, extra),
            })
        })
        .collect();
    let by = |o| count(results, o);
    json!({
        "schemaVersion": SCHEMA_VERSION,
        "worker": worker_cmd,
        "summary": {
            "total": results.len(),
            "pass": by(Outcome::Pass),
            "nonStrict": by(Outcome::NonStrict),
            "fail": by(Outcome::Fail),
            "timeout": by(Outcome::Timeout),
            "crash": by(Outcome::Crash),
            "error": by(Outcome::Error),
            "unsupported": by(Outcome::Unsupported),
            "skipped": by(Outcome::Skipped),
        },
        "cases": entries,
    })
}

/// The `--list --json` listing.
pub fn json_list(cases: &[&Case]) -> serde_json::Value {
    let entries: Vec<_> = cases
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "section": c.section,
                "level": c.level,
                "requirement": c.requirement,
                "feature": c.feature,
            })
        })
        .collect();
    json!({ "schemaVersion": SCHEMA_VERSION, "cases": entries })
}

/// The process exit code for a finished run: 3 if the worker never said
/// HELLO in any case, 2 on suite errors, 1 on conformance failures, else 0.
pub fn exit_code(results: &[CaseResult]) -> i32 {
    if !results.is_empty()
        && results
            .iter()
            .all(|r| !r.started && !matches!(r.outcome, Outcome::Unsupported | Outcome::Skipped))
        && results.iter().any(|r| r.outcome != Outcome::Skipped)
    {
        3
    } else if results.iter().any(|r| r.outcome == Outcome::Error) {
        2
    } else if results.iter().any(|r| r.outcome.is_failure()) {
        1
    } else {
        0
    }
}
