//! `zroute-conformance replay`: plays the router side of a recorded trace
//! against a live worker and compares what the worker sends with what the
//! recorded worker sent, by meaning rather than by byte (spec Appendix D,
//! `#trace-format`, "Replay").
//!
//! What is compared, per stream and ignoring how streams interleave: the
//! SYN_REPLY head, the body (the concatenated DATA payloads, whatever the
//! frame boundaries), the trailers, the end (FIN) and RST_STREAM codes; per
//! session, in order: the HELLO (version, flags and `route`; not `id`, labels,
//! capacity nor window, which are configuration, nor `feature`, whose use
//! shows in the streams), SETTINGS,
//! GOAWAY and anything undecodable. What is not: PING and WINDOW_UPDATE from the worker, the
//! header names of [`Noise`], and what a worker sends on a stream after the
//! router reset it (it races the reset). The recorded worker's id, where it
//! appears in bodies and header values, stands for the live worker's id.
//!
//! How the router side is played: each recorded router frame is sent once
//! the live worker has sent what the recorded worker had sent before it
//! (or after a step deadline); recorded PINGs are not replayed (the worker's
//! own PINGs are answered instead); the WELCOME gets a fresh session id;
//! request DATA is cut to fit the live worker's flow-control windows.
//!
//! `model.rs` holds what a worker said, by meaning, and how two of those
//! compare; `live.rs` plays the router side against the live worker.

mod live;
mod model;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::process::Child;
use zroute_trace::Trace;
use zroute_transport::{Context, PeerId, Socket};

pub use self::model::Noise;

use self::model::{Model, render_diff};
use crate::runner::Outcome;

/// How to replay.
#[derive(Clone, Debug)]
pub struct ReplayConfig {
    /// The worker command, already split; `{endpoint}` is substituted.
    pub worker: Vec<String>,
    pub timeout_scale: f64,
    pub noise: Noise,
}

impl ReplayConfig {
    fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.timeout_scale)
    }
}

/// How long a router frame waits for the worker frames recorded before it.
const STEP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the worker has, after the last router frame, to finish.
const FINAL_TIMEOUT: Duration = Duration::from_secs(5);

/// The result of one replay.
#[derive(Debug)]
pub struct ReplayResult {
    pub outcome: Outcome,
    /// Whether the worker sent a HELLO at all.
    pub started: bool,
    pub expected: String,
    pub happened: String,
    /// Unless PASS: what the recorded worker sent (`-`) against what the live
    /// one sent (`+`), per session and stream, up to the point compared.
    pub diff: Vec<String>,
    pub wire_log: Vec<String>,
    pub stderr_tail: String,
    pub duration: Duration,
}

struct Verdict {
    outcome: Outcome,
    expected: String,
    happened: String,
}

fn verdict(outcome: Outcome, expected: impl Into<String>, happened: impl Into<String>) -> Verdict {
    Verdict {
        outcome,
        expected: expected.into(),
        happened: happened.into(),
    }
}

/// Replays `trace` against a fresh worker; never panics on worker misbehaviour.
pub async fn replay(trace: &Trace, cfg: &ReplayConfig) -> ReplayResult {
    let start = Instant::now();
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let mut live = match Live::start(cfg, stderr.clone()).await {
        Ok(live) => live,
        Err(e) => {
            return ReplayResult {
                outcome: Outcome::Error,
                started: false,
                expected: "the suite to start the worker".into(),
                happened: e,
                diff: Vec::new(),
                wire_log: Vec::new(),
                stderr_tail: String::new(),
                duration: start.elapsed(),
            };
        }
    };
    let result = live.run(trace, cfg).await;
    let _ = live.child.start_kill();
    let _ = live.child.wait().await;
    if let Some(task) = live.stderr_task.take() {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    let (outcome, expected, happened) = match result {
        Ok(()) => (Outcome::Pass, String::new(), String::new()),
        Err(v) => (v.outcome, v.expected, v.happened),
    };
    let diff = match (&outcome, &live.compared) {
        (Outcome::Pass, _) | (_, None) => Vec::new(),
        (_, Some((want, loose))) => render_diff(&live.model, want, loose),
    };
    let stderr = String::from_utf8_lossy(&stderr.lock().expect("stderr lock")).into_owned();
    let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
    ReplayResult {
        outcome,
        started: live.hello_id.is_some(),
        expected,
        happened,
        diff,
        wire_log: live.log,
        stderr_tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        duration: start.elapsed(),
    }
}

/// The live side: the ROUTER socket, the worker, what it said so far.
/// Defined here, not in `live.rs`, because [`replay`] reads its results.
struct Live {
    _ctx: Context,
    socket: Socket,
    child: Child,
    stderr_task: Option<tokio::task::JoinHandle<()>>,
    start: Instant,
    log: Vec<String>,
    peer: Option<PeerId>,
    hello_id: Option<String>,
    /// The worker id in the trace's header.
    recorded_id: String,
    model: Model,
    /// The last recorded state compared with `model`, for the diff.
    compared: Option<(Model, HashSet<u32>)>,
    exited: Option<String>,
    /// Flow control of request DATA, as the live worker grants it.
    stream_initial: i64,
    stream_windows: HashMap<u32, i64>,
    session_window: i64,
}
