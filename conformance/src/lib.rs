//! zroute conformance suite: plays the router side of `spec/PROTOCOL.md`
//! against a worker under test, one fresh ROUTER socket and one fresh worker
//! process per case.
//!
//! Cases are data (`cases/<section>/<name>.toml`, see [`case`]); [`runner`]
//! executes one case; [`report`] prints and serialises results ([`junit`],
//! [`html`]); [`known_failing`] and [`attach`] are options of a run.
//!
//! # What it owns, and what it must not touch
//!
//! The suite owns the cases' language, the verdicts and the reports: what a
//! worker must do is in the case files, quoted from the spec, never in code.
//! It must not share the worker's implementation of the protocol to judge it:
//! it decodes frames with `zroute-proto`'s codec, but the expectations come
//! from the cases and the spec's vectors, so the reference worker cannot pass
//! by agreeing with itself.

pub mod attach;
pub mod case;
pub mod dns;
pub mod fuzz;
pub mod html;
pub mod junit;
pub mod known_failing;
pub mod replay;
pub mod report;
pub mod runner;
pub mod shell;
mod spawn;
pub mod trace_cli;
pub mod trace_cmd;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use case::Case;
use runner::{CaseResult, RunConfig};

/// Runs `cases` on `jobs` threads (each with its own single-threaded tokio
/// runtime); `on_done` is called as each case finishes. Results come back in
/// the order of `cases`.
pub fn run_suite(
    cases: &[&Case],
    cfg: &RunConfig,
    jobs: usize,
    on_done: &(dyn Fn(&Case, &CaseResult) + Sync),
) -> Vec<CaseResult> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CaseResult>>> = Mutex::new(cases.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(cases.len().max(1)) {
            scope.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(i) else { break };
                    let result = rt.block_on(runner::run_case(case, cfg));
                    on_done(case, &result);
                    results.lock().expect("results lock")[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|r| r.expect("every case ran"))
        .collect()
}
