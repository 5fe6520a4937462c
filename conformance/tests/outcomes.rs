//! The outcome rules that do not depend on a particular case file: NON-STRICT
//! alternatives, `--strict`, SKIPPED by level, and the acceptable outcomes and
//! frame-level diff of a failure. Runs small inline cases against the Rust test app.

use std::path::{Path, PathBuf};

use zroute_conformance::case::Case;
use zroute_conformance::run_suite;
use zroute_conformance::runner::{CaseResult, Outcome, RunConfig};

fn testapp() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug/examples/testapp")
}

fn run(text: &str, strict: bool) -> Option<CaseResult> {
    let app = testapp();
    if !app.exists() {
        eprintln!("SKIPPED: {} is missing", app.display());
        return None;
    }
    let case = Case::parse(text, Path::new("inline.toml")).expect("inline case parses");
    let cfg = RunConfig {
        worker: vec![
            app.display().to_string(),
            "outcomes".into(),
            "--connect".into(),
            "{endpoint}".into(),
        ],
        timeout_scale: 2.0,
        strict,
        ..RunConfig::default()
    };
    run_suite(&[&case], &cfg, 1, &|_, _| {}).pop()
}

const TOLERATED: &str = r#"
id = "inline/tolerated"
section = "test-app-hello"
level = "MUST"
requirement = "x"

[[steps]]
send = { type = "SYN_STREAM", path = "/hello" }

[[steps]]
expect = [
  { type = "SYN_REPLY", status = 299 },
  { type = "SYN_REPLY", status = 200, non_strict = "200 instead of 299" },
]

[[steps]]
expect_body = { text = "Hello from outcomes" }
"#;

#[test]
fn a_tolerated_alternative_is_non_strict_and_fails_under_strict() {
    let Some(r) = run(TOLERATED, false) else {
        return;
    };
    assert_eq!(r.outcome, Outcome::NonStrict, "{r:#?}");
    assert!(r.happened.contains("200 instead of 299"), "{}", r.happened);
    assert_eq!(r.acceptable, ["SYN_REPLY status=299"]);
    assert!(!r.outcome.is_failure());
    let Some(r) = run(TOLERATED, true) else {
        return;
    };
    assert_eq!(r.outcome, Outcome::Fail, "{r:#?}");
    assert!(r.outcome.is_failure());
}

#[test]
fn should_cases_are_skipped_without_strict() {
    let text = TOLERATED.replace("\"MUST\"", "\"SHOULD\"");
    let Some(r) = run(&text, false) else { return };
    assert_eq!(r.outcome, Outcome::Skipped);
    assert!(!r.started, "no worker was started");
    assert!(!r.outcome.is_failure());
}

#[test]
fn a_failure_lists_every_alternative_and_diffs_the_closest() {
    let text = TOLERATED
        .replace(
            "status = 200, non_strict = \"200 instead of 299\"",
            "status = 201",
        )
        .replace(
            "{ type = \"SYN_REPLY\", status = 299 },",
            "{ type = \"RST_STREAM\", code = \"CANCEL\" },",
        );
    let Some(r) = run(&text, false) else { return };
    assert_eq!(r.outcome, Outcome::Fail, "{r:#?}");
    assert_eq!(
        r.acceptable,
        ["RST_STREAM code=\"CANCEL\"", "SYN_REPLY status=201"]
    );
    // The SYN_REPLY alternative is closer (same type): its fields are diffed.
    assert!(r.diff[0].starts_with("ok type"), "{:#?}", r.diff);
    assert!(
        r.diff
            .iter()
            .any(|l| l.starts_with("!! status") && l.contains("actual 200")),
        "{:#?}",
        r.diff
    );
    assert!(
        r.diff.iter().any(|l| l.contains("[content-type]")),
        "unchecked fields are shown: {:#?}",
        r.diff
    );
}

#[test]
fn unordered_and_per_stream_expectations_accept_any_interleaving() {
    let text = r#"
id = "inline/unordered"
section = "stream-response"
level = "MUST"
requirement = "x"

[[steps]]
send = { type = "SYN_STREAM", path = "/slow?ms=200" }
[[steps]]
send = { type = "SYN_STREAM", path = "/hello" }
[[steps]]
send = { type = "SYN_STREAM", path = "/stream?n=2&size=3" }

[[steps]]
within_ms = 3000
expect_streams = [
  { stream = 5, body = { text = "aaabbb", nonempty_frames = 2 } },
  { stream = 1, body = { text = "slow" } },
  { stream = 3, reply = { type = "SYN_REPLY", status = 200 }, body = { text = "Hello from outcomes" } },
]

[[steps]]
send = { type = "SYN_STREAM", path = "/hello" }
[[steps]]
send = { type = "SYN_STREAM", path = "/status/204" }
[[steps]]
expect_unordered = [
  { type = "SYN_REPLY", stream = 9, status = 204 },
  { type = "SYN_REPLY", stream = 7, status = 200 },
  { type = "DATA", stream = 7, fin = true },
]
"#;
    let Some(r) = run(text, false) else { return };
    assert_eq!(r.outcome, Outcome::Pass, "{r:#?}");
}
