//! Fuzzing against real workers: the Rust test app survives a few hundred
//! iterations; the broken worker's bugs are found, shrunk and saved as cases
//! that the runner replays.

mod support;

use std::path::PathBuf;

use zroute_conformance::case::{Case, default_cases_dir, load_dir};
use zroute_conformance::fuzz::{self, Found, FuzzConfig};
use zroute_conformance::run_suite;
use zroute_conformance::runner::{Outcome, RunConfig};

fn campaign(
    worker: Vec<String>,
    seed: u64,
    iterations: u64,
    run: &[&str],
    scale: f64,
) -> Vec<Found> {
    let all = load_dir(&default_cases_dir()).expect("cases load");
    let selected: Vec<&Case> = all
        .iter()
        .filter(|c| {
            run.is_empty()
                || run
                    .iter()
                    .any(|g| zroute_conformance::case::glob_match(g, &c.id))
        })
        .collect();
    let corpus = fuzz::corpus(&selected);
    let cfg = FuzzConfig {
        worker,
        seed,
        iterations,
        timeout_scale: scale,
        shrink_budget: 100,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(fuzz::fuzz(&cfg, &corpus, &mut |_| {}))
        .expect("the worker starts")
}

#[test]
fn the_rust_test_app_survives_300_iterations() {
    let app = support::target_dir().join("debug/examples/testapp");
    if !app.exists() {
        eprintln!(
            "SKIPPED: {} is missing; build it with `cargo build -p zroute-worker --examples`",
            app.display()
        );
        return;
    }
    let worker = vec![
        app.display().to_string(),
        "fuzzed".into(),
        "--connect".into(),
        "{endpoint}".into(),
    ];
    let found = campaign(worker, 20_261_127, 300, &[], 2.0);
    assert!(
        found.is_empty(),
        "{:#?}",
        found
            .iter()
            .map(|f| (f.failure.clone(), f.shrunk.clone(), f.stderr_tail.clone()))
            .collect::<Vec<_>>()
    );
}

/// The crash is found, shrunk to one short part, saved as a case, and the
/// runner replays that case as CRASH (and as PASS on the same worker without
/// the bug).
#[test]
fn a_crash_on_malformed_frames_is_found_shrunk_and_saved() {
    let Some(path) = support::broken_worker() else {
        return;
    };
    let found = campaign(
        support::broken_worker_cmd(&path, "crash-on-malformed"),
        1,
        40,
        &[],
        2.0,
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(f.failure.kind(), "CRASH", "{f:#?}");
    assert_eq!(f.shrunk.len(), 1, "one frame is enough: {f:#?}");
    let original_max = f.original.iter().map(Vec::len).max().unwrap();
    assert!(
        !f.shrunk[0].is_empty() && f.shrunk[0].len() <= original_max,
        "{f:#?}"
    );
    assert!(f.stderr_tail.contains("crash-on-malformed"));

    let out: PathBuf = support::target_dir().join("conformance-tests/fuzz-crash");
    let _ = std::fs::remove_dir_all(&out);
    let saved = fuzz::save(&out, 1, f).expect("saved");
    assert!(saved.starts_with(out.join("fuzz-found")));
    let cases = load_dir(&out).expect("the saved case loads");
    let selected: Vec<&Case> = cases.iter().collect();
    let outcome = |bug: &str| {
        let cfg = RunConfig {
            worker: support::broken_worker_cmd(&path, bug),
            ..RunConfig::default()
        };
        run_suite(&selected, &cfg, 1, &|_, _| {})[0].outcome
    };
    assert_eq!(outcome("crash-on-malformed"), Outcome::Crash);
    assert_eq!(outcome("none"), Outcome::Pass);
}

#[test]
fn replies_on_unused_stream_ids_are_garbage() {
    let Some(path) = support::broken_worker() else {
        return;
    };
    let found = campaign(
        support::broken_worker_cmd(&path, "wrong-stream-ids"),
        3,
        30,
        &["test-app/get-hello"],
        2.0,
    );
    let f = found
        .iter()
        .find(|f| f.failure.kind() == "GARBAGE")
        .unwrap_or_else(|| panic!("{found:#?}"));
    assert!(f.failure.detail().contains("never used"), "{f:#?}");
}

#[test]
fn a_worker_that_stops_answering_pings_hangs() {
    let Some(path) = support::broken_worker() else {
        return;
    };
    // 0.1 × 5 s: each play waits half a second for the PING that never comes.
    let found = campaign(
        support::broken_worker_cmd(&path, "no-pong"),
        5,
        1,
        &["heartbeat/*"],
        0.1,
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].failure.kind(), "HANG");
}
