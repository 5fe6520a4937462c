//! `--attach ENDPOINT`: run the cases against a worker that is already
//! running (under a debugger, in a container, ...).
//!
//! The suite plays the router, so it still binds: every case binds a fresh
//! ROUTER socket on ENDPOINT, and the worker, which connects to ENDPOINT,
//! reconnects to it. Its first frames there belong to the previous case's
//! session; the suite answers them with GOAWAY(UNKNOWN_SESSION) (as the
//! router does for an unknown peer) and the worker re-registers with a
//! HELLO, which starts the case. Limits, by construction:
//!
//! - cases run one at a time (`--jobs 1`): there is one worker;
//! - the suite cannot see the worker exit, so there is no CRASH outcome
//!   (a dead worker shows as TIMEOUT) and no restart;
//! - cases that pass arguments to the worker (`worker_args`) are UNSUPPORTED;
//! - whether HELLO is the first frame on a new socket cannot be judged.

use std::time::Duration;

use tokio::process::Child;

use crate::case::Case;
use crate::runner::{CaseResult, Outcome, RunConfig};

/// The result of a case that cannot run attached, if `case` is one.
pub fn unsupported(case: &Case, cfg: &RunConfig) -> Option<CaseResult> {
    if cfg.attach.is_none() || case.worker_args.is_empty() {
        return None;
    }
    Some(CaseResult {
        outcome: Outcome::Unsupported,
        started: false,
        hello_id: None,
        expected: format!(
            "the worker started with extra arguments {:?}",
            case.worker_args
        ),
        happened: "--attach cannot pass arguments to a running worker".into(),
        wire_log: Vec::new(),
        stderr_tail: String::new(),
        duration: Duration::ZERO,
    })
}

/// The worker's exit status; never resolves when the suite did not start it.
pub async fn wait(child: &mut Option<Child>) -> std::io::Result<std::process::ExitStatus> {
    match child {
        Some(c) => c.wait().await,
        None => std::future::pending().await,
    }
}
