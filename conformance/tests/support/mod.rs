//! Shared by the integration tests: where the example workers are.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// `examples/broken_worker.rs`, built by `cargo test -p zroute-conformance`
/// (and by `cargo build --examples`), but not by `cargo test --test X`.
pub fn broken_worker() -> Option<PathBuf> {
    let path = target_dir().join("debug/examples/broken_worker");
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} is missing; build it with `cargo build -p zroute-conformance --examples`",
            path.display()
        );
        None
    }
}

/// The worker command line for a bug mode, with `{endpoint}` to fill.
pub fn broken_worker_cmd(path: &std::path::Path, bug: &str) -> Vec<String> {
    vec![
        path.display().to_string(),
        format!("broken-{bug}"),
        "--connect".into(),
        "{endpoint}".into(),
        "--bug".into(),
        bug.into(),
    ]
}
