//! The suite against a worker with known bugs (`examples/broken_worker.rs`):
//! each bug must show as the right outcome on the right cases, and nowhere
//! else; the same worker without a bug passes them all.

mod support;

use zroute_conformance::case::{Case, default_cases_dir, load_dir};
use zroute_conformance::run_suite;
use zroute_conformance::runner::{Outcome, RunConfig};

/// Cases the broken worker serves (it implements only part of the test app).
const CASES: &[&str] = &[
    "flow-control/stops-at-stream-window",
    "framing/length-mismatch",
    "framing/truncated-part",
    "framing/unknown-control-frame-ignored",
    "framing/unsupported-version",
    "heartbeat/echo-router-ping",
    "streams/even-stream-id",
    "test-app/get-hello",
    "test-app/large-content-length",
    "test-app/stream-frames",
];

/// Runs [`CASES`] against the worker with `bug`; None if it is not built.
fn outcomes(bug: &str) -> Option<Vec<(String, Outcome, String)>> {
    let worker = support::broken_worker()?;
    let all = load_dir(&default_cases_dir()).expect("cases load");
    let selected: Vec<&Case> = all
        .iter()
        .filter(|c| CASES.contains(&c.id.as_str()))
        .collect();
    assert_eq!(selected.len(), CASES.len(), "a case of CASES is gone");
    let cfg = RunConfig {
        worker: support::broken_worker_cmd(&worker, bug),
        timeout_scale: 2.0,
        ..RunConfig::default()
    };
    let results = run_suite(&selected, &cfg, 4, &|_, _| {});
    Some(
        selected
            .iter()
            .zip(results)
            .map(|(c, r)| {
                (
                    c.id.clone(),
                    r.outcome,
                    format!("{}; {}", r.expected, r.happened),
                )
            })
            .collect(),
    )
}

/// Every case has the outcome `expect` gives it (PASS when not listed).
fn check(bug: &str, expect: &[(&str, Outcome)]) {
    let Some(got) = outcomes(bug) else { return };
    let wrong: Vec<_> = got
        .iter()
        .filter(|(id, outcome, _)| {
            let want = expect
                .iter()
                .find(|(e, _)| e == id)
                .map_or(Outcome::Pass, |(_, o)| *o);
            *outcome != want
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "--bug {bug}: unexpected outcomes {wrong:#?}"
    );
}

#[test]
fn without_a_bug_every_case_passes() {
    check("none", &[]);
}

#[test]
fn wrong_stream_ids_fail_the_stream_cases() {
    check(
        "wrong-stream-ids",
        &[
            ("flow-control/stops-at-stream-window", Outcome::Fail),
            ("framing/unknown-control-frame-ignored", Outcome::Fail),
            ("test-app/get-hello", Outcome::Fail),
            ("test-app/large-content-length", Outcome::Fail),
            ("test-app/stream-frames", Outcome::Fail),
        ],
    );
}

#[test]
fn ignoring_windows_fails_flow_control() {
    check(
        "ignores-windows",
        &[("flow-control/stops-at-stream-window", Outcome::Fail)],
    );
}

/// A crash is CRASH on the malformed-frame cases only: every case has its
/// own worker, so the cases after a crash run against a fresh one and pass.
#[test]
fn crashing_on_malformed_frames_is_a_crash_and_the_run_goes_on() {
    check(
        "crash-on-malformed",
        &[
            ("framing/length-mismatch", Outcome::Crash),
            ("framing/truncated-part", Outcome::Crash),
            ("framing/unsupported-version", Outcome::Crash),
        ],
    );
}

#[test]
fn a_missing_pong_times_out() {
    check(
        "no-pong",
        &[("heartbeat/echo-router-ping", Outcome::Timeout)],
    );
}

/// A test app that ignores the options a case passes (Appendix A.1) fails
/// that case with a message that names the options and what its HELLO said,
/// not only the HELLO field that differs.
#[test]
fn ignoring_the_cases_options_is_named() {
    let Some(worker) = support::broken_worker() else {
        return;
    };
    let all = load_dir(&default_cases_dir()).expect("cases load");
    let case = all
        .iter()
        .find(|c| c.id == "capacity/freed-after-stream-ends")
        .expect("the case exists");
    assert_eq!(case.worker_args, ["--capacity", "1"]);
    // sh takes the options the suite appends as its own positional
    // parameters, and the worker never sees them.
    let inner = support::broken_worker_cmd(&worker, "none")
        .join(" ")
        .replace("{endpoint}", "\"$ZROUTE_CONNECT\"");
    let cfg = RunConfig {
        worker: vec![
            "sh".into(),
            "-c".into(),
            format!("exec {inner}"),
            "sh".into(),
        ],
        timeout_scale: 2.0,
        ..RunConfig::default()
    };
    let result = run_suite(&[case], &cfg, 1, &|_, _| {}).remove(0);
    assert_eq!(result.outcome, Outcome::Fail, "{result:?}");
    assert!(
        result.happened.contains(
            "the case started the worker with --capacity 1; its HELLO announced capacity"
        ),
        "{}",
        result.happened
    );
    assert!(
        !result.expected.starts_with("HELLO HELLO"),
        "{}",
        result.expected
    );
}

/// A worker whose `ZMQ_MAXMSGSIZE` is below the spec's 65,545 loses its
/// connection on the suite's oversized frames: libzmq drops it and
/// reconnects with a new routing id, without a word and without a new
/// HELLO. The verdict says so and names the option, instead of only
/// "deadline passed; last: nothing".
#[test]
fn a_connection_dropped_mid_case_is_named() {
    let Some(worker) = support::broken_worker() else {
        return;
    };
    let all = load_dir(&default_cases_dir()).expect("cases load");
    let case = all
        .iter()
        .find(|c| c.id == "framing/ping-too-large")
        .expect("the case exists");
    let mut cmd = support::broken_worker_cmd(&worker, "none");
    cmd.extend(["--max-msg-size".into(), "65544".into()]);
    let cfg = RunConfig {
        worker: cmd,
        ..RunConfig::default()
    };
    let result = run_suite(&[case], &cfg, 1, &|_, _| {}).remove(0);
    assert!(result.outcome.is_failure(), "{result:?}");
    assert!(
        result.happened.contains("dropped its connection"),
        "{}",
        result.happened
    );
    assert!(
        result.happened.contains("ZMQ_MAXMSGSIZE"),
        "{}",
        result.happened
    );
}

/// A worker that sets `ZMQ_ROUTING_ID` re-registers on a new socket under
/// the old socket's routing id, so the suite sees a second HELLO on the
/// session's routing id (and, when the old connection still holds the id,
/// the new connection's HELLO is dropped by the ROUTER). The verdict names
/// the option rather than only the HELLO.
#[test]
fn a_fixed_routing_id_is_named() {
    let Some(worker) = support::broken_worker() else {
        return;
    };
    let all = load_dir(&default_cases_dir()).expect("cases load");
    let case = all
        .iter()
        .find(|c| c.id == "reregistration/no-hello-on-used-socket")
        .expect("the case exists");
    let mut cmd = support::broken_worker_cmd(&worker, "none");
    cmd.extend(["--routing-id".into(), "fixed".into()]);
    let cfg = RunConfig {
        worker: cmd,
        ..RunConfig::default()
    };
    let result = run_suite(&[case], &cfg, 1, &|_, _| {}).remove(0);
    assert_eq!(result.outcome, Outcome::Fail, "{result:?}");
    assert!(
        result.happened.contains("ZMQ_ROUTING_ID"),
        "{}",
        result.happened
    );
    assert!(
        !result.happened.contains("ZMQ_MAXMSGSIZE"),
        "{}",
        result.happened
    );
}
