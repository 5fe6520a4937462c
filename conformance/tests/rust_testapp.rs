//! Runs the whole suite against the Rust test app; every MUST case must pass.

use std::path::PathBuf;

use zroute_conformance::case::{Level, default_cases_dir, load_dir};
use zroute_conformance::run_suite;
use zroute_conformance::runner::{Outcome, RunConfig};

fn testapp() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug/examples/testapp")
}

#[test]
fn rust_testapp_passes_every_must_case() {
    let app = testapp();
    if !app.exists() {
        eprintln!(
            "SKIPPED: {} is missing; build it with `cargo build -p zroute-worker --examples`",
            app.display()
        );
        return;
    }
    let cases = load_dir(&default_cases_dir()).expect("cases load");
    let selected: Vec<_> = cases.iter().collect();
    let cfg = RunConfig {
        worker: vec![
            app.display().to_string(),
            "rust-conformance".into(),
            "--connect".into(),
            "{endpoint}".into(),
        ],
        timeout_scale: 2.0,
        strict: true,
        ..RunConfig::default()
    };
    let results = run_suite(&selected, &cfg, 4, &|_, _| {});
    let failed: Vec<_> = selected
        .iter()
        .zip(&results)
        .filter(|(c, r)| {
            c.level == Level::Must && !matches!(r.outcome, Outcome::Pass | Outcome::Unsupported)
        })
        .map(|(c, r)| {
            format!(
                "{} {}: expected {}; {}\n{}",
                r.outcome.label(),
                c.id,
                r.expected,
                r.happened,
                r.wire_log.join("\n")
            )
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    assert!(results.iter().any(|r| r.outcome == Outcome::Pass));
}
