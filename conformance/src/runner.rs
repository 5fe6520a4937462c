//! Runs one case: a fresh ROUTER socket, a fresh worker process, the
//! handshake, then the case's steps under one deadline.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::process::Child;
use tokio::time::{Instant as TokioInstant, sleep_until};
use zroute_proto::frame::{
    Data, GoAway, Headers, Ping, RstStream, Settings, SynStream, Welcome, WindowUpdate,
};
use zroute_proto::{Frame, GoAwayStatus, HeaderBlock, RstCode, SettingId, StreamId};
use zroute_transport::{Context, PeerId, SendError, Socket};

use crate::case::{
    BodySpec, Case, FrameMatch, FrameView, Level, SendSpec, Step, StreamExpect, Value, Vars,
    parse_hex,
};
use crate::spawn::{SpawnError, spawn_worker};

/// How long frames are still read after the worker exited (they may be in flight).
const EXIT_GRACE: Duration = Duration::from_millis(200);

/// How long a worker has to send its HELLO.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Pass,
    /// Passed through an alternative the spec only tolerates (not a failure
    /// unless `--strict`, which reports FAIL instead).
    #[serde(rename = "NON-STRICT")]
    NonStrict,
    Fail,
    Timeout,
    Crash,
    Error,
    Unsupported,
    /// Not run: a SHOULD or MAY case without `--strict`.
    Skipped,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::NonStrict => "NON-STRICT",
            Self::Fail => "FAIL",
            Self::Timeout => "TIMEOUT",
            Self::Crash => "CRASH",
            Self::Error => "ERROR",
            Self::Unsupported => "UNSUPPORTED",
            Self::Skipped => "SKIPPED",
        }
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Self::Fail | Self::Timeout | Self::Crash)
    }
}

/// How the suite runs workers.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The worker command, already split; `{endpoint}` is substituted.
    pub worker: Vec<String>,
    pub timeout_scale: f64,
    /// `--attach`: bind this endpoint and wait for an already running worker
    /// instead of starting one (see [`crate::attach`]).
    pub attach: Option<crate::attach::Attached>,
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

/// The result of one case.
#[derive(Debug)]
pub struct CaseResult {
    pub outcome: Outcome,
    /// Whether the worker sent a HELLO at all.
    pub started: bool,
    /// The `id` attribute of the worker's HELLO, if it sent one.
    pub hello_id: Option<String>,
    pub expected: String,
    pub happened: String,
    /// Every behaviour the failed step would have accepted.
    pub acceptable: Vec<String>,
    /// Field-by-field comparison of the frame that failed to match with the
    /// closest acceptable frame.
    pub diff: Vec<String>,
    pub wire_log: Vec<String>,
    pub stderr_tail: String,
    pub duration: Duration,
}

/// Runs `case` to completion; never panics on worker misbehaviour.
pub async fn run_case(case: &Case, cfg: &RunConfig) -> CaseResult {
    let start = Instant::now();
    if let Some(r) = crate::attach::unsupported(case, cfg) {
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
        Err(v) => v,
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

struct Verdict {
    outcome: Outcome,
    expected: String,
    happened: String,
    acceptable: Vec<String>,
    diff: Vec<String>,
}

fn verdict(outcome: Outcome, expected: impl Into<String>, happened: impl Into<String>) -> Verdict {
    Verdict {
        outcome,
        expected: expected.into(),
        happened: happened.into(),
        acceptable: Vec::new(),
        diff: Vec::new(),
    }
}

impl Verdict {
    fn with_alternatives(mut self, alts: &[FrameMatch]) -> Self {
        self.acceptable = alts.iter().map(ToString::to_string).collect();
        self
    }

    /// Adds the field-by-field diff of `got` against the closest of `alts`.
    fn with_diff(mut self, alts: &[FrameMatch], got: Option<&FrameView>, vars: &Vars) -> Self {
        if let Some(got) = got {
            self.diff = closest(alts, got, vars)
                .map(|m| m.diff(got, vars))
                .unwrap_or_default();
        }
        self
    }
}

/// The alternative that fails on the fewest items, preferring one of the same type.
fn closest<'a>(alts: &'a [FrameMatch], got: &FrameView, vars: &Vars) -> Option<&'a FrameMatch> {
    alts.iter().min_by_key(|m| {
        let lines = m.diff(got, vars);
        let misses = lines.iter().filter(|l| l.starts_with("!!")).count();
        let type_miss = lines.first().is_some_and(|l| l.starts_with("!! type"));
        (type_miss, misses)
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
}

impl Run {
    async fn start(
        case: &Case,
        cfg: &RunConfig,
        stderr: Arc<Mutex<Vec<u8>>>,
    ) -> Result<Self, String> {
        if let Some(attached) = &cfg.attach {
            let (ctx, socket) = attached.take()?;
            let what = format!("attached at {}", attached.endpoint);
            return Ok(Self::new(ctx, socket, None, None, case, what));
        }
        let w = spawn_worker(&cfg.worker, &case.worker_args, stderr)
            .map_err(SpawnError::into_message)?;
        let what = format!("worker: {}", w.argv.join(" "));
        Ok(Self::new(
            w.ctx,
            w.socket,
            Some(w.child),
            Some(w.stderr_task),
            case,
            what,
        ))
    }

    fn new(
        ctx: Context,
        socket: Socket,
        child: Option<Child>,
        stderr_task: Option<tokio::task::JoinHandle<()>>,
        case: &Case,
        what: String,
    ) -> Self {
        Self {
            _ctx: ctx,
            socket,
            child,
            stderr_task,
            start: Instant::now(),
            log: vec![format!("{:>8.3}  --  {what}", 0.0)],
            peer: None,
            hello_seen: false,
            vars: Vars::default(),
            next_stream: 1,
            pending: Default::default(),
            auto_ping: case.auto_ping,
            exited: None,
            exit_grace: None,
            finished: Default::default(),
            tolerated_paths: Vec::new(),
            strict_paths: Vec::new(),
            stash: Vec::new(),
            monitor: ResponseMonitor::default(),
        }
    }

    /// When `matched` is a tolerated (non-strict) alternative, records the
    /// frame and the strict alternatives the verdict will name.
    fn note_tolerated(&mut self, matched: &FrameMatch, alts: &[FrameMatch], frame: &Frame) {
        let Some(why) = &matched.non_strict else {
            return;
        };
        self.tolerated_paths
            .push(format!("{} ({why})", describe(frame)));
        self.strict_paths.extend(
            alts.iter()
                .filter(|a| a.non_strict.is_none())
                .map(ToString::to_string),
        );
    }

    fn note(&mut self, dir: &str, what: impl AsRef<str>) {
        let t = self.start.elapsed().as_secs_f64();
        self.log.push(format!("{t:>8.3}  {dir}  {}", what.as_ref()));
    }

    /// The next event before `deadline`: a frame, the worker's exit, or the deadline.
    async fn next(&mut self, deadline: TokioInstant) -> Result<Event, Verdict> {
        if let Some((peer, frame, raw)) = self.pending.pop_front() {
            return Ok(Event::Frame { peer, frame, raw });
        }
        loop {
            enum Woke {
                Msg(std::io::Result<zroute_transport::Multipart>),
                Exit(String),
                Deadline,
                GraceOver,
            }
            let woke = if let Some(grace) = self.exit_grace {
                // The worker has exited: frames it sent just before may still be in
                // flight, so read for a short grace period before reporting the exit.
                tokio::select! {
                    msg = self.socket.recv() => Woke::Msg(msg),
                    () = sleep_until(grace.min(deadline)) => Woke::GraceOver,
                }
            } else {
                tokio::select! {
                    msg = self.socket.recv() => Woke::Msg(msg),
                    status = crate::attach::wait(&mut self.child) => {
                        Woke::Exit(status.map_or_else(|e| format!("wait failed: {e}"), |s| s.to_string()))
                    }
                    () = sleep_until(deadline) => Woke::Deadline,
                }
            };
            match woke {
                Woke::Deadline => return Ok(Event::Deadline),
                Woke::GraceOver => {
                    let status = self.exited.clone().unwrap_or_default();
                    return Ok(Event::Exited(status));
                }
                Woke::Exit(status) => {
                    self.note("--", format!("worker exited: {status}"));
                    self.exited = Some(status);
                    self.exit_grace = Some(TokioInstant::now() + EXIT_GRACE);
                }
                Woke::Msg(msg) => {
                    let msg = msg.map_err(|e| {
                        verdict(Outcome::Error, "a message", format!("receive failed: {e}"))
                    })?;
                    let Some((peer, body)) = msg.split_peer() else {
                        return Err(verdict(
                            Outcome::Error,
                            "a routed message",
                            "a message without routing id",
                        ));
                    };
                    for part in body.into_parts() {
                        if part.is_empty() {
                            continue;
                        }
                        let frame = Frame::decode(part.clone()).map_err(|e| e.to_string());
                        self.pending.push_back((peer.clone(), frame, part));
                    }
                    if let Some((peer, frame, raw)) = self.pending.pop_front() {
                        return Ok(Event::Frame { peer, frame, raw });
                    }
                }
            }
        }
    }

    fn send_frame(&mut self, frame: &Frame) -> Result<(), Verdict> {
        self.note("->", describe(frame));
        self.send_bytes(&frame.to_bytes())
    }

    fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), Verdict> {
        self.send_parts(&[bytes])
    }

    /// Sends the SIGnal to the worker process with kill(1).
    fn signal(&mut self, sig: &str) -> Result<(), Verdict> {
        let Some(pid) = self.child.as_ref().and_then(Child::id) else {
            return Err(crashed("a running worker to signal", &"(already reaped)"));
        };
        self.note("--", format!("kill -{sig} {pid}"));
        let status = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .map_err(|e| verdict(Outcome::Error, "kill(1) to run", e.to_string()))?;
        if status.success() {
            Ok(())
        } else {
            Err(verdict(
                Outcome::Error,
                format!("kill -{sig} {pid} to succeed"),
                status.to_string(),
            ))
        }
    }

    async fn expect_exit(&mut self, deadline: TokioInstant) -> Result<(), Verdict> {
        let expected = "the worker process to exit";
        loop {
            match self.next(deadline).await? {
                Event::Exited(_) => return Ok(()),
                Event::Deadline => {
                    return Err(verdict(Outcome::Timeout, expected, "it is still running"));
                }
                Event::Frame { peer, frame, raw } => {
                    self.receive(&peer, &frame, &raw)?;
                    if self.peer.as_ref() != Some(&peer) {
                        self.stash.push((peer, frame));
                        continue;
                    }
                    match frame {
                        Ok(f) => {
                            if let Some(v) = self.tolerated(&f, expected) {
                                return Err(v);
                            }
                        }
                        Err(e) => {
                            return Err(verdict(
                                Outcome::Fail,
                                expected,
                                format!("undecodable frame: {e}"),
                            ));
                        }
                    }
                }
            }
        }
    }

    fn send_parts(&mut self, parts: &[impl AsRef<[u8]>]) -> Result<(), Verdict> {
        let Some(peer) = self.peer.clone() else {
            return Err(verdict(
                Outcome::Error,
                "a registered worker",
                "no peer to send to",
            ));
        };
        let parts: Vec<&[u8]> = parts.iter().map(AsRef::as_ref).collect();
        let err = match self.socket.try_send_to(&peer, &parts) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            return Err(verdict(
                Outcome::Crash,
                "the worker to be running",
                format!("worker exited: {status}"),
            ));
        }
        Err(match err {
            SendError::HostUnreachable => verdict(
                Outcome::Fail,
                "the worker's socket to stay connected",
                "the worker's routing id is gone (socket closed)",
            ),
            e => verdict(
                Outcome::Error,
                "the send to succeed",
                format!("send failed: {e}"),
            ),
        })
    }

    /// Logs a received frame and answers worker PINGs; returns the frame for matching.
    fn receive(
        &mut self,
        peer: &PeerId,
        frame: &Result<Frame, String>,
        raw: &Bytes,
    ) -> Result<(), Verdict> {
        let from_current = self.peer.as_ref() == Some(peer);
        let tag = if from_current { "<-" } else { "<?" };
        match frame {
            Ok(f) => self.note(tag, describe(f)),
            Err(e) => self.note(tag, format!("undecodable ({e}): {}", hex(raw, 32))),
        }
        if let (true, true, Ok(Frame::Ping(p))) = (from_current, self.auto_ping, frame)
            && p.id() % 2 == 0
        {
            self.send_frame(&Ping::new(p.id()).into())?;
        }
        if let (true, Ok(f)) = (from_current, frame)
            && let Some(broken) = self.monitor.check(f)
        {
            self.note("!!", &broken);
            return Err(verdict(
                Outcome::Fail,
                "every response to follow Sections 5.2, 8.6 and 10.4 (checked in every case)",
                broken,
            ));
        }
        Ok(())
    }

    async fn execute(&mut self, case: &Case, cfg: &RunConfig) -> Result<(), Verdict> {
        // The HELLO, within the start-up timeout.
        let hello_deadline = TokioInstant::now() + HELLO_TIMEOUT;
        if cfg.attach.is_some() {
            self.drop_stale_sessions(hello_deadline).await?;
        }
        let hello = match self.next(hello_deadline).await? {
            Event::Deadline => {
                return Err(verdict(
                    Outcome::Timeout,
                    "a HELLO within 10 s of start",
                    "no frame from the worker",
                ));
            }
            Event::Exited(s) => {
                return Err(verdict(
                    Outcome::Crash,
                    "a HELLO",
                    format!("worker exited before HELLO: {s}"),
                ));
            }
            Event::Frame { peer, frame, raw } => {
                self.peer = Some(peer.clone());
                self.receive(&peer, &frame, &raw)?;
                match frame {
                    Ok(Frame::Hello(h)) => h,
                    Ok(f) => {
                        return Err(verdict(
                            Outcome::Fail,
                            "HELLO as the first frame",
                            format!("first frame: {}", describe(&f)),
                        ));
                    }
                    Err(e) => {
                        return Err(verdict(
                            Outcome::Fail,
                            "HELLO as the first frame",
                            format!("undecodable first frame: {e}"),
                        ));
                    }
                }
            }
        };
        self.hello_seen = true;
        let view = view(&Frame::Hello(hello.clone()));
        self.vars.id = view
            .headers
            .iter()
            .find(|(n, _)| n == "id")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        self.vars.capacity = hello.max_concurrent_streams();
        if let Some(why) = case.hello.mismatch(&view, &self.vars) {
            // A case that passes options fails here first when the app ignores
            // them: say that, not only what the HELLO lacked.
            let happened = if case.worker_args.is_empty() {
                why
            } else {
                format!(
                    "the case started the worker with {}; its HELLO announced capacity {} and \
                     initial window {} ({why}): a test app must accept the options of \
                     spec/PROTOCOL.md#test-app-command-line",
                    case.worker_args.join(" "),
                    hello.max_concurrent_streams(),
                    hello.initial_window_size(),
                )
            };
            return Err(verdict(Outcome::Fail, case.hello.to_string(), happened));
        }
        if let Some(feature) = &case.feature {
            let announced = hello
                .attributes()
                .values("feature")
                .any(|v| v.split(|b| *b == 0).any(|f| f == feature.as_bytes()));
            if !announced {
                return Err(verdict(
                    Outcome::Unsupported,
                    format!("feature {feature:?} announced in HELLO"),
                    "the worker does not announce it",
                ));
            }
        }
        if case.welcome.send {
            self.send_welcome(case)?;
        }
        let scale =
            |ms: u64| Duration::from_millis(((ms as f64) * cfg.timeout_scale).ceil() as u64);
        let deadline = TokioInstant::now() + scale(case.timeout_ms);
        for (i, step) in case.steps.iter().enumerate() {
            let n = i + 1;
            let (step, deadline) = match step {
                Step::Within { ms, step } => {
                    (&**step, deadline.min(TokioInstant::now() + scale(*ms)))
                }
                step => (step, deadline),
            };
            let end = match step {
                Step::Expect(m) => self.expect(std::slice::from_ref(m), deadline).await,
                Step::ExpectOneOf(alts) => self.expect(alts, deadline).await,
                Step::ExpectUnordered(ms) => {
                    self.expect_unordered(ms, deadline).await.map(|()| false)
                }
                Step::ExpectStreams(streams) => {
                    self.expect_streams(streams, deadline).await.map(|()| false)
                }
                Step::Send(s) => self.send(s, case).map(|()| false),
                Step::SendRaw(bytes) => {
                    self.note("->", format!("raw {}", hex(bytes, 64)));
                    self.send_bytes(bytes).map(|()| false)
                }
                Step::SendParts(parts) => {
                    for p in parts {
                        self.note("->", format!("part {}", hex(p, 64)));
                    }
                    self.send_parts(parts).map(|()| false)
                }
                Step::Signal(sig) => self.signal(sig).map(|()| false),
                Step::ExpectExit => self.expect_exit(deadline).await.map(|()| false),
                Step::ExpectNone {
                    ms,
                    strict,
                    any_peer,
                    fixed,
                    stream,
                } => {
                    let window = if *fixed {
                        Duration::from_millis(*ms)
                    } else {
                        scale(*ms)
                    };
                    let until = TokioInstant::now() + window;
                    self.expect_none(until, *strict, *any_peer, *stream)
                        .await
                        .map(|()| false)
                }
                Step::ExpectBody(b) => self.expect_body(b, deadline).await.map(|()| false),
                Step::Within { .. } => {
                    Err(verdict(Outcome::Error, "a valid case", "nested within_ms"))
                }
            }
            .map_err(|v| prefix(n, v))?;
            if end {
                self.note("--", format!("step {n} ends the case"));
                break;
            }
        }
        Ok(())
    }

    /// `--attach`: ends the worker's session so that it registers again at
    /// once, for the next case, on the socket that case takes over.
    fn hand_over(&mut self) {
        if let Some(peer) = self.peer.clone() {
            let goaway: Frame = GoAway::new(StreamId::ZERO, GoAwayStatus::UNKNOWN_SESSION).into();
            self.note("->", format!("(end of case) {}", describe(&goaway)));
            let _ = self.socket.try_send_to(&peer, &[goaway.to_bytes()]);
        }
    }

    /// `--attach`: the running worker still believes in the previous case's
    /// session and sends on it through its reconnected socket. Answer such
    /// frames with GOAWAY(UNKNOWN_SESSION), as the router does for an unknown
    /// peer, so that it re-registers at once; stop at the first HELLO.
    async fn drop_stale_sessions(&mut self, deadline: TokioInstant) -> Result<(), Verdict> {
        loop {
            match self.next(deadline).await? {
                Event::Frame { peer, frame, raw } => {
                    if matches!(frame, Ok(Frame::Hello(_))) {
                        self.pending.push_front((peer, frame, raw));
                        return Ok(());
                    }
                    let goaway: Frame =
                        GoAway::new(StreamId::ZERO, GoAwayStatus::UNKNOWN_SESSION).into();
                    self.note(
                        "<?",
                        format!(
                            "stale session: {}",
                            match &frame {
                                Ok(f) => describe(f),
                                Err(e) => format!("undecodable ({e})"),
                            }
                        ),
                    );
                    self.note("->", format!("(to the stale peer) {}", describe(&goaway)));
                    let _ = self.socket.try_send_to(&peer, &[goaway.to_bytes()]);
                }
                // The HELLO wait that follows reports these.
                Event::Deadline | Event::Exited(_) => return Ok(()),
            }
        }
    }

    fn send_welcome(&mut self, case: &Case) -> Result<(), Verdict> {
        let w = &case.welcome;
        let mut attributes = HeaderBlock::new();
        for (n, v) in &w.attributes {
            attributes
                .insert(Bytes::from(n.clone()), Bytes::from(v.clone()))
                .map_err(|e| verdict(Outcome::Error, "valid WELCOME attributes", e.to_string()))?;
        }
        let welcome = Welcome::new(
            w.version,
            w.heartbeat_interval_ms,
            w.heartbeat_liveness,
            w.initial_window_size,
            attributes,
        );
        self.send_frame(&welcome.into())
    }

    /// Waits for a frame matching one of `alts`; `Ok(true)` if the matching
    /// alternative ends the case.
    async fn expect(
        &mut self,
        alts: &[FrameMatch],
        deadline: TokioInstant,
    ) -> Result<bool, Verdict> {
        let expected = match alts {
            [m] => m.to_string(),
            alts => format!(
                "one of: {}",
                alts.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
        };
        let mut last_miss = String::from("nothing");
        let mut last_view: Option<FrameView> = None;
        if alts.iter().any(|m| m.new_peer) {
            let stashed = self.stash.iter().position(|(peer, frame)| {
                self.peer.as_ref() != Some(peer)
                    && frame.as_ref().is_ok_and(|f| {
                        let v = view(f);
                        alts.iter()
                            .any(|m| m.new_peer && m.mismatch(&v, &self.vars).is_none())
                    })
            });
            if let Some(i) = stashed {
                let (peer, frame) = self.stash.remove(i);
                let frame = frame.expect("checked above");
                let v = view(&frame);
                let m = alts
                    .iter()
                    .find(|m| m.new_peer && m.mismatch(&v, &self.vars).is_none())
                    .expect("checked above");
                self.note(
                    "--",
                    "switching to the new routing id (its HELLO came earlier)",
                );
                self.switch_peer(peer);
                self.note_tolerated(m, alts, &frame);
                return Ok(m.end);
            }
        }
        loop {
            match self.next(deadline).await? {
                Event::Deadline => {
                    return Err(verdict(
                        Outcome::Timeout,
                        expected,
                        format!("deadline passed; last: {last_miss}"),
                    )
                    .with_alternatives(alts)
                    .with_diff(alts, last_view.as_ref(), &self.vars));
                }
                Event::Exited(s) => return Err(crashed(expected, &s).with_alternatives(alts)),
                Event::Frame { peer, frame, raw } => {
                    self.receive(&peer, &frame, &raw)?;
                    let from_current = self.peer.as_ref() == Some(&peer);
                    let frame = match frame {
                        Ok(f) => f,
                        Err(e) if from_current => {
                            return Err(verdict(
                                Outcome::Fail,
                                expected,
                                format!("undecodable frame: {e}"),
                            )
                            .with_alternatives(alts));
                        }
                        Err(_) => continue,
                    };
                    let v = view(&frame);
                    let candidates: Vec<&FrameMatch> =
                        alts.iter().filter(|m| m.new_peer != from_current).collect();
                    if let Some(m) = candidates
                        .iter()
                        .find(|m| m.mismatch(&v, &self.vars).is_none())
                    {
                        if m.new_peer {
                            self.note("--", "switching to the new routing id");
                            self.switch_peer(peer);
                        } else if let Some(id) = fin_stream(&frame) {
                            self.finished.insert(id);
                        }
                        self.note_tolerated(m, alts, &frame);
                        return Ok(m.end);
                    }
                    let why = candidates
                        .first()
                        .and_then(|m| m.mismatch(&v, &self.vars))
                        .unwrap_or_else(|| format!("unexpected {}", describe(&frame)));
                    if !from_current {
                        self.stash.push((peer, Ok(frame)));
                        continue;
                    }
                    if let Some(fail) = self.tolerated(&frame, &format!("{expected} ({why})")) {
                        return Err(fail.with_alternatives(alts).with_diff(
                            alts,
                            Some(&v),
                            &self.vars,
                        ));
                    }
                    last_miss = why;
                    if !matches!(frame, Frame::Ping(_)) {
                        last_view = Some(v);
                    }
                }
            }
        }
    }

    /// Waits until each of `ms` has matched one frame, in any order.
    async fn expect_unordered(
        &mut self,
        ms: &[FrameMatch],
        deadline: TokioInstant,
    ) -> Result<(), Verdict> {
        let mut left: Vec<&FrameMatch> = ms.iter().collect();
        let mut last_view: Option<FrameView> = None;
        while !left.is_empty() {
            let remaining: Vec<FrameMatch> = left.iter().map(|m| (*m).clone()).collect();
            let expected = format!(
                "in any order: {}",
                left.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
            match self.next(deadline).await? {
                Event::Deadline => {
                    return Err(verdict(Outcome::Timeout, expected, "deadline passed")
                        .with_alternatives(&remaining)
                        .with_diff(&remaining, last_view.as_ref(), &self.vars));
                }
                Event::Exited(s) => return Err(crashed(expected, &s).with_alternatives(&remaining)),
                Event::Frame { peer, frame, raw } => {
                    self.receive(&peer, &frame, &raw)?;
                    if self.peer.as_ref() != Some(&peer) {
                        self.stash.push((peer, frame));
                        continue;
                    }
                    let frame = frame.map_err(|e| {
                        verdict(
                            Outcome::Fail,
                            expected.clone(),
                            format!("undecodable frame: {e}"),
                        )
                    })?;
                    let v = view(&frame);
                    if let Some(i) = left
                        .iter()
                        .position(|m| m.mismatch(&v, &self.vars).is_none())
                    {
                        left.remove(i);
                        if let Some(id) = fin_stream(&frame) {
                            self.finished.insert(id);
                        }
                        continue;
                    }
                    if let Some(fail) = self.tolerated(&frame, &expected) {
                        return Err(fail.with_alternatives(&remaining).with_diff(
                            &remaining,
                            Some(&v),
                            &self.vars,
                        ));
                    }
                    if !matches!(frame, Frame::Ping(_)) {
                        last_view = Some(v);
                    }
                }
            }
        }
        Ok(())
    }

    /// Collects the responses of several streams at once, whatever the interleaving.
    async fn expect_streams(
        &mut self,
        streams: &[StreamExpect],
        deadline: TokioInstant,
    ) -> Result<(), Verdict> {
        #[derive(PartialEq)]
        enum State {
            Waiting,
            Body,
            Done,
        }
        let mut states: Vec<(State, Vec<u8>, usize)> = streams
            .iter()
            .map(|_| (State::Waiting, Vec::new(), 0))
            .collect();
        let expected_of = |e: &StreamExpect| {
            let mut s = format!("stream {}: {}", e.stream, e.reply);
            if e.body.is_some() {
                s.push_str(", then its body");
            }
            if let Some(t) = &e.trailers {
                let _ = write!(s, ", then {t}");
            }
            s
        };
        let all_expected = streams.iter().map(expected_of).collect::<Vec<_>>();
        while states.iter().any(|(st, _, _)| *st != State::Done) {
            let pending: Vec<String> = streams
                .iter()
                .zip(&states)
                .filter(|(_, (st, _, _))| *st != State::Done)
                .map(|(e, (st, body, _))| match st {
                    State::Waiting => format!("stream {}: no first frame", e.stream),
                    _ => format!("stream {}: {} body bytes, no FIN", e.stream, body.len()),
                })
                .collect();
            let fail = |outcome, happened: String| {
                let mut v = verdict(
                    outcome,
                    "the responses of every stream, in any interleaving",
                    happened,
                );
                v.acceptable = all_expected.clone();
                v
            };
            let event = self.next(deadline).await?;
            let (peer, frame, raw) = match event {
                Event::Deadline => {
                    return Err(fail(
                        Outcome::Timeout,
                        format!("deadline passed; {}", pending.join("; ")),
                    ));
                }
                Event::Exited(s) => {
                    return Err(fail(Outcome::Crash, format!("worker exited: {s}")));
                }
                Event::Frame { peer, frame, raw } => (peer, frame, raw),
            };
            self.receive(&peer, &frame, &raw)?;
            if self.peer.as_ref() != Some(&peer) {
                self.stash.push((peer, frame));
                continue;
            }
            let frame =
                frame.map_err(|e| fail(Outcome::Fail, format!("undecodable frame: {e}")))?;
            let idx = stream_of(&frame).and_then(|id| streams.iter().position(|e| e.stream == id));
            let Some(i) = idx else {
                if let Some(v) = self.tolerated(&frame, "a frame of one of the expected streams") {
                    let mut f = fail(Outcome::Fail, v.happened);
                    f.diff = Vec::new();
                    return Err(f);
                }
                continue;
            };
            let e = &streams[i];
            let v = view(&frame);
            let (state, body, nonempty) = &mut states[i];
            match state {
                State::Waiting => {
                    if let Some(why) = e.reply.mismatch(&v, &self.vars) {
                        let mut f = fail(Outcome::Fail, format!("stream {}: {why}", e.stream));
                        f.diff = e.reply.diff(&v, &self.vars);
                        return Err(f);
                    }
                    *state = if fin_stream(&frame).is_some() || matches!(frame, Frame::RstStream(_))
                    {
                        State::Done
                    } else {
                        State::Body
                    };
                }
                State::Body => match &frame {
                    Frame::Data(d) => {
                        if !d.payload().is_empty() {
                            *nonempty += 1;
                        }
                        body.extend_from_slice(d.payload());
                        if d.is_fin() {
                            *state = State::Done;
                        }
                    }
                    Frame::Headers(_) => {
                        let Some(t) = &e.trailers else {
                            return Err(fail(
                                Outcome::Fail,
                                format!(
                                    "stream {}: unexpected trailers {}",
                                    e.stream,
                                    describe(&frame)
                                ),
                            ));
                        };
                        if let Some(why) = t.mismatch(&v, &self.vars) {
                            let mut f = fail(Outcome::Fail, format!("stream {}: {why}", e.stream));
                            f.diff = t.diff(&v, &self.vars);
                            return Err(f);
                        }
                        *state = State::Done;
                    }
                    Frame::WindowUpdate(_) => {}
                    other => {
                        return Err(fail(
                            Outcome::Fail,
                            format!("stream {}: unexpected {}", e.stream, describe(other)),
                        ));
                    }
                },
                State::Done => {
                    if !matches!(frame, Frame::WindowUpdate(_)) {
                        return Err(fail(
                            Outcome::Fail,
                            format!(
                                "stream {}: {} after the stream ended",
                                e.stream,
                                describe(&frame)
                            ),
                        ));
                    }
                }
            }
            if *state == State::Done {
                self.finished.insert(e.stream);
                if let Some(b) = &e.body {
                    check_body(b, body, *nonempty, &self.vars).map_err(|(exp, got)| {
                        fail(
                            Outcome::Fail,
                            format!("stream {}: expected {exp}, got {got}", e.stream),
                        )
                    })?;
                }
            }
        }
        Ok(())
    }

    /// A new session on a new socket: stream ids start again at 1.
    fn switch_peer(&mut self, peer: PeerId) {
        self.peer = Some(peer);
        self.monitor = ResponseMonitor::default();
        self.finished.clear();
        self.next_stream = 1;
        self.vars.last_stream = 0;
    }

    /// PING and WINDOW_UPDATE may arrive at any time; anything else unexpected fails.
    fn tolerated(&self, frame: &Frame, expected: &str) -> Option<Verdict> {
        match frame {
            Frame::Ping(_) | Frame::WindowUpdate(_) => None,
            other => Some(verdict(
                Outcome::Fail,
                expected,
                format!("unexpected {}", describe(other)),
            )),
        }
    }

    async fn expect_none(
        &mut self,
        until: TokioInstant,
        strict: bool,
        any_peer: bool,
        stream: Option<u32>,
    ) -> Result<(), Verdict> {
        let on_stream = stream.map(|id| format!("no frame at all on stream {id}"));
        let expected = match (strict, any_peer) {
            _ if on_stream.is_some() => on_stream.as_deref().unwrap_or_default(),
            (true, false) => "no frame at all",
            (false, false) => "no frame but PING or WINDOW_UPDATE",
            (true, true) => "no frame at all, from any routing id",
            (false, true) => "no frame but PING or WINDOW_UPDATE, from any routing id",
        };
        loop {
            match self.next(until).await? {
                Event::Deadline => return Ok(()),
                Event::Exited(s) => return Err(crashed(expected, &s)),
                Event::Frame { peer, frame, raw } => {
                    self.receive(&peer, &frame, &raw)?;
                    if self.peer.as_ref() != Some(&peer) && !any_peer {
                        self.stash.push((peer, frame));
                        continue;
                    }
                    if let (Some(id), Ok(f)) = (stream, &frame)
                        && stream_of(f) != Some(id)
                    {
                        continue;
                    }
                    match frame {
                        Ok(Frame::Ping(_) | Frame::WindowUpdate(_))
                            if !strict && stream.is_none() => {}
                        Ok(f) => {
                            return Err(verdict(
                                Outcome::Fail,
                                expected,
                                format!("received {}", describe(&f)),
                            ));
                        }
                        Err(e) => {
                            return Err(verdict(
                                Outcome::Fail,
                                expected,
                                format!("received an undecodable frame: {e}"),
                            ));
                        }
                    }
                }
            }
        }
    }

    async fn expect_body(&mut self, b: &BodySpec, deadline: TokioInstant) -> Result<(), Verdict> {
        let stream = b.stream.unwrap_or(self.vars.last_stream);
        let expected = format!("the body of stream {stream}");
        let mut body = Vec::new();
        let mut nonempty = 0;
        // An `expect` already saw this stream's FIN (on SYN_REPLY, say): the body is empty.
        let already_done = self.finished.contains(&stream);
        loop {
            if already_done {
                break;
            }
            if let Some(n) = b.upto.filter(|n| body.len() >= *n) {
                if body.len() > n {
                    return Err(verdict(
                        Outcome::Fail,
                        format!("at most {n} body bytes (the window) before a WINDOW_UPDATE"),
                        format!("{} body bytes", body.len()),
                    ));
                }
                break;
            }
            match self.next(deadline).await? {
                Event::Deadline => {
                    return Err(verdict(
                        Outcome::Timeout,
                        expected,
                        format!("deadline passed after {} body bytes", body.len()),
                    ));
                }
                Event::Exited(s) => return Err(crashed(expected, &s)),
                Event::Frame { peer, frame, raw } => {
                    self.receive(&peer, &frame, &raw)?;
                    if self.peer.as_ref() != Some(&peer) {
                        self.stash.push((peer, frame));
                        continue;
                    }
                    match frame {
                        Ok(Frame::Data(d)) if d.stream_id().get() == stream => {
                            if !d.payload().is_empty() {
                                nonempty += 1;
                            }
                            body.extend_from_slice(d.payload());
                            if d.is_fin() {
                                if b.upto.is_some_and(|n| body.len() < n) {
                                    return Err(verdict(
                                        Outcome::Fail,
                                        expected,
                                        format!("FIN after only {} bytes", body.len()),
                                    ));
                                }
                                break;
                            }
                        }
                        Ok(f) => {
                            if let Some(v) = self.tolerated(&f, &expected) {
                                return Err(v);
                            }
                        }
                        Err(e) => {
                            return Err(verdict(
                                Outcome::Fail,
                                expected,
                                format!("undecodable frame: {e}"),
                            ));
                        }
                    }
                }
            }
        }
        check_body(b, &body, nonempty, &self.vars)
            .map_err(|(exp, got)| verdict(Outcome::Fail, exp, got))
    }

    fn send(&mut self, s: &SendSpec, case: &Case) -> Result<(), Verdict> {
        let bad = |e: String| verdict(Outcome::Error, "a valid send step", e);
        let stream = |run: &Self| StreamId::new(s.stream.unwrap_or(run.vars.last_stream));
        match s.frame_type.as_str() {
            "SYN_STREAM" => {
                let repeat = match &s.repeat {
                    None => 1,
                    Some(toml::Value::Integer(n)) => {
                        u32::try_from(*n).map_err(|e| bad(e.to_string()))?
                    }
                    Some(toml::Value::String(v)) if v == "capacity" => self.vars.capacity,
                    Some(other) => return Err(bad(format!("bad repeat {other}"))),
                };
                if repeat > 256 {
                    return Err(verdict(
                        Outcome::Unsupported,
                        "a capacity of at most 256 streams",
                        format!("the worker announced {repeat}"),
                    ));
                }
                for _ in 0..repeat {
                    let id = s.stream.unwrap_or(self.next_stream);
                    let mut block = HeaderBlock::new();
                    if let Some(path) = &s.path {
                        let pairs = [
                            (":method", s.method.as_deref().unwrap_or("GET")),
                            (":path", path.as_str()),
                            (":version", "HTTP/1.1"),
                            (":host", "example.com"),
                            (":scheme", "http"),
                        ];
                        for (n, v) in pairs {
                            if !s.headers.contains_key(n) {
                                block
                                    .insert(Bytes::from(n), Bytes::from(v.to_owned()))
                                    .map_err(|e| bad(e.to_string()))?;
                            }
                        }
                    }
                    for (n, v) in &s.headers {
                        let value = match v {
                            toml::Value::String(v) => v.clone(),
                            toml::Value::Array(a) => a
                                .iter()
                                .map(|x| x.as_str().unwrap_or_default())
                                .collect::<Vec<_>>()
                                .join("\0"),
                            other => return Err(bad(format!("bad header value {other}"))),
                        };
                        block
                            .insert(Bytes::from(n.clone()), Bytes::from(value))
                            .map_err(|e| bad(format!("header {n}: {e}")))?;
                    }
                    if s.method.as_deref() == Some("HEAD")
                        || s.headers.get(":method").and_then(toml::Value::as_str) == Some("HEAD")
                    {
                        self.monitor.head_requests.insert(id);
                    }
                    let mut syn = SynStream::new(StreamId::new(id), block);
                    syn.set_fin(s.fin.unwrap_or(true));
                    self.vars.last_stream = id;
                    self.next_stream = self.next_stream.max(id + 2);
                    self.send_frame(&syn.into())?;
                }
                Ok(())
            }
            "DATA" => {
                let payload = match (&s.text, &s.hex) {
                    (Some(t), None) => Bytes::from(t.clone()),
                    (None, Some(h)) => Bytes::from(parse_hex(h).map_err(bad)?),
                    (None, None) => Bytes::new(),
                    _ => return Err(bad("DATA takes text or hex, not both".into())),
                };
                let mut d = Data::new(stream(self), payload);
                d.set_fin(s.fin.unwrap_or(true));
                self.send_frame(&d.into())
            }
            "WINDOW_UPDATE" => {
                let delta = s
                    .delta
                    .ok_or_else(|| bad("WINDOW_UPDATE needs delta".into()))?;
                self.send_frame(
                    &WindowUpdate::new(StreamId::new(s.stream.unwrap_or(0)), delta).into(),
                )
            }
            "RST_STREAM" => {
                let code = code_value(s.code.as_ref(), rst_name).map_err(bad)?;
                self.send_frame(&RstStream::new(stream(self), RstCode::from_wire(code)).into())
            }
            "PING" => self.send_frame(&Ping::new(s.id.unwrap_or(1)).into()),
            "GOAWAY" => {
                let code = code_value(s.code.as_ref(), goaway_name).map_err(bad)?;
                let last = StreamId::new(s.last_good.unwrap_or(0));
                self.send_frame(&GoAway::new(last, GoAwayStatus::from_wire(code)).into())
            }
            "SETTINGS" => {
                let mut settings = Settings::new();
                for (id, value) in &s.settings {
                    settings.push(SettingId::from_wire(*id), *value);
                }
                self.send_frame(&settings.into())
            }
            "HEADERS" => {
                let block = header_block(&s.headers).map_err(bad)?;
                let mut h = Headers::trailers(stream(self), block);
                h.set_fin(s.fin.unwrap_or(true));
                self.send_frame(&h.into())
            }
            "WELCOME" => self.send_welcome(case),
            other => Err(bad(format!("cannot send frame type {other:?}"))),
        }
    }
}

/// Rules every response must follow, whatever the case checks: one SYN_REPLY
/// first (Section 5.2), nothing after the worker's FIN or RST_STREAM
/// (Sections 5.3, 10.4), and a body as long as its `content-length` (Section 8.6,
/// except for HEAD and 304).
#[derive(Default)]
struct ResponseMonitor {
    streams: std::collections::HashMap<u32, Watch>,
    head_requests: std::collections::HashSet<u32>,
}

#[derive(Default)]
struct Watch {
    replied: bool,
    /// The worker sent FIN or RST_STREAM.
    ended: bool,
    content_length: Option<u64>,
    total: u64,
}

impl ResponseMonitor {
    /// A description of the rule `frame` breaks, if any.
    fn check(&mut self, frame: &Frame) -> Option<String> {
        let (id, what) = match frame {
            Frame::SynReply(f) => (f.stream_id().get(), "SYN_REPLY"),
            Frame::Data(f) => (f.stream_id().get(), "DATA"),
            Frame::Headers(f) => (f.stream_id().get(), "HEADERS"),
            Frame::RstStream(f) => {
                self.streams.entry(f.stream_id().get()).or_default().ended = true;
                return None;
            }
            _ => return None,
        };
        let head = self.head_requests.contains(&id);
        let w = self.streams.entry(id).or_default();
        if w.ended {
            return Some(format!(
                "{what} on stream {id} after the worker ended it (FIN or RST_STREAM): Sections 5.3 and 10.4"
            ));
        }
        match frame {
            Frame::SynReply(f) => {
                if w.replied {
                    return Some(format!(
                        "a second SYN_REPLY on stream {id}: Section 5.2, \"exactly one SYN_REPLY\""
                    ));
                }
                w.replied = true;
                let headers = headers_of(f.headers());
                let status = headers.iter().find(|(n, _)| n == ":status");
                let exempt = head || status.is_some_and(|(_, v)| v.starts_with("304"));
                if !exempt {
                    w.content_length = headers
                        .iter()
                        .find(|(n, _)| n == "content-length")
                        .and_then(|(_, v)| v.parse().ok());
                }
            }
            _ if !w.replied => {
                return Some(format!(
                    "{what} on stream {id} before its SYN_REPLY: Section 5.2"
                ));
            }
            Frame::Data(d) => w.total += d.payload().len() as u64,
            _ => {}
        }
        let fin = fin_stream(frame).is_some();
        w.ended = fin;
        match w.content_length {
            Some(cl) if w.total > cl || (fin && w.total != cl) => Some(format!(
                "stream {id}: content-length {cl} but {} body bytes{}: Section 8.6",
                w.total,
                if fin { " at FIN" } else { " so far" }
            )),
            _ => None,
        }
    }
}

/// A name/value block from a case's `headers` table (arrays are joined with NUL).
fn header_block(
    headers: &std::collections::BTreeMap<String, toml::Value>,
) -> Result<HeaderBlock, String> {
    let mut block = HeaderBlock::new();
    for (n, v) in headers {
        let value = match v {
            toml::Value::String(v) => v.clone(),
            toml::Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\0"),
            other => return Err(format!("bad header value {other}")),
        };
        block
            .insert(Bytes::from(n.clone()), Bytes::from(value))
            .map_err(|e| format!("header {n}: {e}"))?;
    }
    Ok(block)
}

/// The stream a frame names, if any (0 counts as none).
fn stream_of(frame: &Frame) -> Option<u32> {
    let id = match frame {
        Frame::SynStream(f) => f.stream_id(),
        Frame::SynReply(f) => f.stream_id(),
        Frame::Headers(f) => f.stream_id(),
        Frame::Data(f) => f.stream_id(),
        Frame::RstStream(f) => f.stream_id(),
        Frame::WindowUpdate(f) => f.stream_id(),
        _ => return None,
    };
    Some(id.get()).filter(|id| *id != 0)
}

/// The stream a frame ends (FLAG_FIN on SYN_REPLY, HEADERS or DATA).
fn fin_stream(frame: &Frame) -> Option<u32> {
    match frame {
        Frame::SynReply(f) if f.is_fin() => Some(f.stream_id().get()),
        Frame::Headers(f) if f.is_fin() => Some(f.stream_id().get()),
        Frame::Data(f) if f.is_fin() => Some(f.stream_id().get()),
        _ => None,
    }
}

fn prefix(step: usize, mut v: Verdict) -> Verdict {
    v.expected = format!("step {step}: {}", v.expected);
    v
}

fn rst_name(code: u32) -> Option<&'static str> {
    RstCode::from_wire(code).name()
}

fn goaway_name(code: u32) -> Option<&'static str> {
    GoAwayStatus::from_wire(code).name()
}

fn code_value(
    v: Option<&toml::Value>,
    name_of: fn(u32) -> Option<&'static str>,
) -> Result<u32, String> {
    match v {
        None => Ok(0),
        Some(toml::Value::Integer(n)) => u32::try_from(*n).map_err(|e| e.to_string()),
        Some(toml::Value::String(s)) => (0..64)
            .find(|c| name_of(*c) == Some(s.as_str()))
            .ok_or_else(|| format!("unknown code {s:?}")),
        Some(other) => Err(format!("bad code {other}")),
    }
}

/// Checks a collected body; `Err((expected, happened))`.
pub fn check_body(
    b: &BodySpec,
    body: &[u8],
    nonempty: usize,
    vars: &Vars,
) -> Result<(), (String, String)> {
    let shown = || {
        format!(
            "{:?} ({} bytes)",
            String::from_utf8_lossy(&body[..body.len().min(200)]),
            body.len()
        )
    };
    if let Some(t) = &b.text {
        let t = vars.subst(t);
        if body != t.as_bytes() {
            return Err((format!("body {t:?}"), format!("body {}", shown())));
        }
    }
    if let Some(h) = &b.hex {
        let want = parse_hex(h).map_err(|e| (e.clone(), e))?;
        if body != want.as_slice() {
            return Err((format!("body {h}"), format!("body {}", hex(body, 64))));
        }
    }
    if let Some(n) = b.length
        && body.len() != n
    {
        return Err((
            format!("a body of {n} bytes"),
            format!("{} bytes", body.len()),
        ));
    }
    if let Some(r) = &b.regex {
        let re = regex::Regex::new(r).map_err(|e| (r.clone(), e.to_string()))?;
        if !re.is_match(&String::from_utf8_lossy(body)) {
            return Err((format!("body matching /{r}/"), format!("body {}", shown())));
        }
    }
    if let Some(n) = b.nonempty_frames
        && nonempty != n
    {
        return Err((format!("{n} non-empty DATA frames"), format!("{nonempty}")));
    }
    if b.index_mod_256
        && let Some(i) = body
            .iter()
            .enumerate()
            .position(|(i, x)| usize::from(*x) != i % 256)
    {
        return Err((
            "byte i of the body = i mod 256".into(),
            format!("byte {i} is {}", body[i]),
        ));
    }
    if let Some(want) = &b.json {
        let got: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ("a JSON body".to_owned(), format!("{e}: {}", shown())))?;
        let want = serde_json::to_value(want).map_err(|e| (e.to_string(), String::new()))?;
        if let Some(why) = json_subset(&want, &got, "") {
            return Err((format!("JSON containing {want}"), why));
        }
    }
    if !b.json_absent.is_empty() {
        let got: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ("a JSON body".to_owned(), format!("{e}: {}", shown())))?;
        for path in &b.json_absent {
            let found = path
                .split('/')
                .try_fold(&got, |v, key| v.as_object().and_then(|o| o.get(key)));
            if let Some(v) = found {
                return Err((
                    format!("JSON without member {path}"),
                    format!("{path} = {v}"),
                ));
            }
        }
    }
    Ok(())
}

/// `None` if every member of `want` is in `got` with an equal (or, for
/// objects, containing) value.
pub fn json_subset(want: &serde_json::Value, got: &serde_json::Value, at: &str) -> Option<String> {
    match (want, got) {
        (serde_json::Value::Object(w), serde_json::Value::Object(g)) => {
            w.iter().find_map(|(k, wv)| match g.get(k) {
                None => Some(format!("{at}/{k} is missing")),
                Some(gv) => json_subset(wv, gv, &format!("{at}/{k}")),
            })
        }
        _ if want == got => None,
        _ => Some(format!("{at} is {got}, expected {want}")),
    }
}

fn hex(bytes: &[u8], max: usize) -> String {
    let mut s = String::new();
    for b in bytes.iter().take(max) {
        let _ = write!(s, "{b:02x} ");
    }
    if bytes.len() > max {
        let _ = write!(s, "... ({} bytes)", bytes.len());
    }
    s.trim_end().to_owned()
}

fn headers_of(block: &HeaderBlock) -> Vec<(String, String)> {
    block
        .iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

/// The matchable fields of a frame.
pub fn view(frame: &Frame) -> FrameView {
    let int = |x: u32| Value::Int(i64::from(x));
    let fin = |f: u8| Value::Bool(f & 1 != 0);
    type Parts = (Vec<(&'static str, Value)>, Vec<(String, String)>);
    let (fields, headers): Parts = match frame {
        Frame::Hello(h) => (
            vec![
                ("version", int(u32::from(h.version()))),
                ("capacity", int(h.max_concurrent_streams())),
                ("window", int(h.initial_window_size())),
                ("flags", int(u32::from(h.flags()))),
            ],
            headers_of(h.attributes()),
        ),
        Frame::Welcome(w) => (
            vec![
                ("version", int(u32::from(w.version()))),
                ("window", int(w.initial_window_size())),
            ],
            headers_of(w.attributes()),
        ),
        Frame::SynStream(s) => (
            vec![
                ("stream", int(s.stream_id().get())),
                ("fin", fin(s.flags())),
            ],
            headers_of(s.headers()),
        ),
        Frame::SynReply(s) => {
            let headers = headers_of(s.headers());
            let mut fields = vec![
                ("stream", int(s.stream_id().get())),
                ("fin", fin(s.flags())),
            ];
            if let Some((_, v)) = headers.iter().find(|(n, _)| n == ":status")
                && let Some(code) = v.get(..3).and_then(|c| c.parse::<u32>().ok())
            {
                fields.push(("status", int(code)));
            }
            (fields, headers)
        }
        Frame::Headers(h) => (
            vec![
                ("stream", int(h.stream_id().get())),
                ("fin", fin(h.flags())),
            ],
            headers_of(h.headers()),
        ),
        Frame::Data(d) => (
            vec![
                ("stream", int(d.stream_id().get())),
                ("fin", fin(d.flags())),
                ("length", Value::Int(d.payload().len() as i64)),
                (
                    "text",
                    Value::Str(String::from_utf8_lossy(d.payload()).into_owned()),
                ),
            ],
            Vec::new(),
        ),
        Frame::RstStream(r) => (
            vec![
                ("stream", int(r.stream_id().get())),
                ("code", Value::Code(r.code().to_wire(), r.code().name())),
            ],
            Vec::new(),
        ),
        Frame::GoAway(g) => (
            vec![
                ("last_good", int(g.last_good_stream_id().get())),
                (
                    "status",
                    Value::Code(g.status().to_wire(), g.status().name()),
                ),
            ],
            Vec::new(),
        ),
        Frame::Ping(p) => (vec![("id", int(p.id()))], Vec::new()),
        Frame::WindowUpdate(w) => (
            vec![
                ("stream", int(w.stream_id().get())),
                ("delta", int(w.delta())),
            ],
            Vec::new(),
        ),
        Frame::Settings(s) => {
            let mut fields = vec![("entries", Value::Int(s.entries().len() as i64))];
            if let Some(v) = s.get(SettingId::MAX_CONCURRENT_STREAMS) {
                fields.push(("max_concurrent_streams", int(v)));
            }
            if let Some(v) = s.get(SettingId::INITIAL_WINDOW_SIZE) {
                fields.push(("initial_window_size", int(v)));
            }
            (fields, Vec::new())
        }
        Frame::Unknown(u) => (
            vec![("frame_type", int(u32::from(u.frame_type().to_wire())))],
            Vec::new(),
        ),
    };
    FrameView {
        frame_type: frame.type_name(),
        fields,
        headers,
    }
}

/// One line for the wire log.
pub fn describe(frame: &Frame) -> String {
    let v = view(frame);
    let mut s = v.frame_type.to_owned();
    for (n, val) in &v.fields {
        if *n == "text" {
            let t = val.as_text();
            let shown: String = t.chars().take(40).collect();
            let _ = write!(
                s,
                " {n}={shown:?}{}",
                if t.chars().count() > 40 { "…" } else { "" }
            );
        } else {
            let _ = write!(s, " {n}={}", val.as_text());
        }
    }
    if !v.headers.is_empty() {
        let hs: Vec<String> = v
            .headers
            .iter()
            .map(|(n, val)| format!("{n}: {val:?}"))
            .collect();
        let _ = write!(s, " {{{}}}", hs.join(", "));
    }
    s
}

/// The worker process ended while a step waited for it.
fn crashed(expected: impl Into<String>, status: &impl std::fmt::Display) -> Verdict {
    verdict(Outcome::Crash, expected, format!("worker exited: {status}"))
}

#[cfg(test)]
mod tests {
    use zroute_proto::frame::SynReply;

    use super::*;

    fn reply(id: u32, pairs: &[(&str, &str)], fin: bool) -> Frame {
        let mut block = HeaderBlock::new();
        for (n, v) in pairs {
            block.insert(n.to_string(), v.to_string()).unwrap();
        }
        let mut r = SynReply::new(StreamId::new(id), block);
        r.set_fin(fin);
        r.into()
    }

    fn data(id: u32, body: &'static [u8], fin: bool) -> Frame {
        let mut d = Data::new(StreamId::new(id), Bytes::from_static(body));
        d.set_fin(fin);
        d.into()
    }

    #[test]
    fn monitor_checks_every_response() {
        let mut m = ResponseMonitor::default();
        assert!(
            m.check(&data(1, b"x", false))
                .unwrap()
                .contains("before its SYN_REPLY")
        );
        let ok = [(":status", "200"), ("content-length", "3")];
        assert_eq!(m.check(&reply(3, &ok, false)), None);
        assert_eq!(m.check(&data(3, b"ab", false)), None);
        assert!(
            m.check(&data(3, b"c", true)).is_none(),
            "3 bytes as announced"
        );
        assert!(
            m.check(&data(3, b"", true))
                .unwrap()
                .contains("after the worker ended")
        );
        assert_eq!(m.check(&reply(5, &ok, false)), None);
        assert!(
            m.check(&data(5, b"ab", true))
                .unwrap()
                .contains("content-length 3")
        );
        assert_eq!(m.check(&reply(7, &[(":status", "200")], false)), None);
        assert!(
            m.check(&reply(7, &[(":status", "200")], false))
                .unwrap()
                .contains("second")
        );
        // HEAD and 304 announce a length they do not send.
        m.head_requests.insert(9);
        assert_eq!(m.check(&reply(9, &ok, true)), None);
        assert_eq!(
            m.check(&reply(
                11,
                &[(":status", "304"), ("content-length", "9")],
                true
            )),
            None
        );
        // The worker's RST_STREAM ends the stream too.
        assert_eq!(m.check(&reply(13, &[(":status", "200")], false)), None);
        assert_eq!(
            m.check(&RstStream::new(StreamId::new(13), RstCode::from_wire(6)).into()),
            None
        );
        assert!(m.check(&data(13, b"late", true)).is_some());
    }
}
