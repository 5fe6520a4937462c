//! Runs one case: a fresh ROUTER socket, a fresh worker process, the
//! handshake, then the case's steps under one deadline.
//!
//! Split by concern, as h2's `tests/h2-support` is: `run.rs` runs the worker
//! and reads its events, `execute.rs` walks a case's steps, `send.rs` and
//! `expect.rs` (with `streams.rs` and `body.rs`) play and judge them,
//! `monitor.rs` checks the rules every response follows, `connection.rs`
//! follows the worker's connection on the ROUTER's monitor, `verdict.rs` holds
//! the outcomes, and `wire.rs` the view of a frame that matchers and logs use.
//! `Run`, the state of one case, is defined here so that each of them can
//! reach its fields.

mod body;
mod connection;
mod execute;
mod expect;
mod monitor;
mod run;
mod send;
mod streams;
mod verdict;
mod wire;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::process::Child;
use tokio::time::Instant as TokioInstant;
use zroute_proto::Frame;
use zroute_transport::{Context, PeerId, Socket};

pub use self::body::{check_body, json_subset};
pub use self::verdict::{CaseResult, Outcome};
pub(crate) use self::wire::hex;
pub use self::wire::{describe, view};

use self::connection::Connection;
use self::monitor::ResponseMonitor;
use self::verdict::verdict;
use crate::attach::Attached;
use crate::case::{Case, Level, Vars};
use crate::spawn::Published;

/// How long a worker has to send its HELLO.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// How the suite runs workers.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The worker command, already split; `{endpoint}` is substituted.
    pub worker: Vec<String>,
    pub timeout_scale: f64,
    /// `--attach`: bind this endpoint and wait for an already running worker
    /// instead of starting one (see [`crate::attach`]).
    pub attach: Option<Attached>,
    /// Run SHOULD and MAY cases too, and fail NON-STRICT paths.
    pub strict: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            worker: Vec::new(),
            timeout_scale: 1.0,
            attach: None,
            strict: false,
        }
    }
}

/// Runs `case` to completion; never panics on worker misbehaviour.
pub async fn run_case(case: &Case, cfg: &RunConfig) -> CaseResult {
    let start = Instant::now();
    if let Some(r) = unsupported(case, cfg) {
        return r;
    }
    if case.level != Level::Must && !cfg.strict {
        return CaseResult {
            outcome: Outcome::Skipped,
            started: false,
            hello_id: None,
            expected: format!("{} cases run only with --strict", case.level),
            happened: "skipped by level".into(),
            acceptable: Vec::new(),
            diff: Vec::new(),
            wire_log: Vec::new(),
            stderr_tail: String::new(),
            duration: start.elapsed(),
        };
    }
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let mut run = match Run::start(case, cfg, stderr.clone()).await {
        Ok(run) => run,
        Err(e) => {
            return CaseResult {
                outcome: Outcome::Error,
                started: false,
                hello_id: None,
                expected: "the suite to set up the case".into(),
                happened: e,
                acceptable: Vec::new(),
                diff: Vec::new(),
                wire_log: Vec::new(),
                stderr_tail: String::new(),
                duration: start.elapsed(),
            };
        }
    };
    let result = run.execute(case, cfg).await;
    if cfg.attach.is_some() {
        run.hand_over();
    }
    // Reap the worker and its stderr before reporting.
    if let Some(child) = &mut run.child {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    // A grandchild may hold the pipe open after the worker died: bound the wait.
    if let Some(task) = run.stderr_task.take() {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    let v = match result {
        Ok(()) if run.tolerated_paths.is_empty() => verdict(Outcome::Pass, "", ""),
        Ok(()) => {
            let mut v = verdict(
                if cfg.strict {
                    Outcome::Fail
                } else {
                    Outcome::NonStrict
                },
                "the strict behaviour (what the spec's SHOULD asks for)",
                format!(
                    "a tolerated alternative{}: {}",
                    if cfg.strict {
                        ", a failure under --strict"
                    } else {
                        ""
                    },
                    run.tolerated_paths.join("; ")
                ),
            );
            v.acceptable = run.strict_paths.clone();
            v
        }
        Err(mut v) => {
            run.connection.explain(&mut v, run.exited.is_some());
            v
        }
    };
    let stderr = String::from_utf8_lossy(&stderr.lock().expect("stderr lock")).into_owned();
    let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
    let Run {
        _ctx: ctx,
        socket,
        log,
        hello_seen,
        vars,
        ..
    } = run;
    if let Some(attached) = &cfg.attach {
        attached.give_back(ctx, socket);
    }
    CaseResult {
        outcome: v.outcome,
        started: hello_seen,
        hello_id: hello_seen.then_some(vars.id),
        expected: v.expected,
        happened: v.happened,
        acceptable: v.acceptable,
        diff: v.diff,
        wire_log: log,
        stderr_tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        duration: start.elapsed(),
    }
}

/// The result of a case that cannot run attached, if `case` is one: an
/// attached worker is already running, so the suite cannot pass it arguments.
fn unsupported(case: &Case, cfg: &RunConfig) -> Option<CaseResult> {
    if cfg.attach.is_none() || (case.worker_args.is_empty() && case.dns.is_none()) {
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
        acceptable: Vec::new(),
        diff: Vec::new(),
        wire_log: Vec::new(),
        stderr_tail: String::new(),
        duration: Duration::ZERO,
    })
}

enum Event {
    Frame {
        peer: PeerId,
        frame: Result<Frame, String>,
        raw: Bytes,
    },
    Exited(String),
    Deadline,
}

struct Run {
    _ctx: Context,
    socket: Socket,
    /// None with `--attach`: the suite did not start the worker.
    child: Option<Child>,
    stderr_task: Option<tokio::task::JoinHandle<()>>,
    start: Instant,
    log: Vec<String>,
    peer: Option<PeerId>,
    hello_seen: bool,
    vars: Vars,
    next_stream: u32,
    pending: std::collections::VecDeque<(PeerId, Result<Frame, String>, Bytes)>,
    auto_ping: bool,
    exited: Option<String>,
    /// Until when frames are still read after the worker exited.
    exit_grace: Option<TokioInstant>,
    /// Streams whose FIN an `expect` step matched.
    finished: std::collections::HashSet<u32>,
    /// Tolerated (NON-STRICT) alternatives the worker took, and what the strict ones were.
    tolerated_paths: Vec<String>,
    strict_paths: Vec<String>,
    /// Decoded frames from other routing ids that a step passed over: a
    /// later `new_peer` expectation looks here first (a re-registering
    /// worker's HELLO may arrive while the suite still waits on the old session).
    stash: Vec<(PeerId, Result<Frame, String>)>,
    /// Checks the response rules on every frame of every case.
    monitor: ResponseMonitor,
    /// The worker's connection, as the ROUTER's monitor reports it.
    connection: Connection,
    /// A case with `dns`: the nameserver the worker asks.
    published: Option<Published>,
    /// A case with `dns`: the ROUTER address each connection (by
    /// descriptor) reached, and so each routing id that sent a HELLO.
    reached: Reached,
}

/// Which of the ROUTER's addresses each peer reached.
#[derive(Debug, Default)]
struct Reached {
    by_fd: std::collections::HashMap<std::os::fd::RawFd, std::net::IpAddr>,
    by_peer: std::collections::HashMap<PeerId, std::net::IpAddr>,
}
