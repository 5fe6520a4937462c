//! Runs one case: a fresh ROUTER socket, a fresh worker process, the
//! handshake, then the case's steps under one deadline.

use std::fmt::Write as _;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::time::{Instant as TokioInstant, sleep_until};
use zroute_proto::frame::{
    Data, GoAway, Ping, RstStream, Settings, SynStream, Welcome, WindowUpdate,
};
use zroute_proto::{Frame, GoAwayStatus, HeaderBlock, RstCode, SettingId, StreamId};
use zroute_transport::{Context, PeerId, RouterOptions, SendError, Socket};

use crate::case::{BodySpec, Case, FrameMatch, FrameView, SendSpec, Step, Value, Vars, parse_hex};

/// How long a worker has to send its HELLO.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Pass,
    Fail,
    Timeout,
    Crash,
    Error,
    Unsupported,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Timeout => "TIMEOUT",
            Self::Crash => "CRASH",
            Self::Error => "ERROR",
            Self::Unsupported => "UNSUPPORTED",
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
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            worker: Vec::new(),
            timeout_scale: 1.0,
            attach: None,
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
                wire_log: Vec::new(),
                stderr_tail: String::new(),
                duration: start.elapsed(),
            };
        }
    };
    let verdict = run.execute(case, cfg).await;
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
    let (outcome, expected, happened) = match verdict {
        Ok(()) => (Outcome::Pass, String::new(), String::new()),
        Err(v) => (v.outcome, v.expected, v.happened),
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
        outcome,
        started: hello_seen,
        hello_id: hello_seen.then_some(vars.id),
        expected,
        happened,
        wire_log: log,
        stderr_tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        duration: start.elapsed(),
    }
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
    /// Streams whose FIN an `expect` step matched.
    finished: std::collections::HashSet<u32>,
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
        let ctx = Context::new();
        let socket = Socket::router(&ctx, &RouterOptions::default())
            .map_err(|e| format!("cannot create ROUTER socket: {e}"))?;
        let endpoint = socket
            .bind("tcp://127.0.0.1:*")
            .map_err(|e| format!("cannot bind ROUTER socket: {e}"))?;
        let mut argv: Vec<String> = cfg
            .worker
            .iter()
            .map(|a| a.replace("{endpoint}", &endpoint))
            .collect();
        argv.extend(case.worker_args.iter().cloned());
        let (prog, args) = argv.split_first().ok_or("empty worker command")?;
        let mut child = Command::new(prog)
            .args(args)
            .env("ZROUTE_CONNECT", &endpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start worker {prog:?}: {e}"))?;
        let mut pipe = child.stderr.take().ok_or("no stderr pipe")?;
        let stderr_task = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                stderr
                    .lock()
                    .expect("stderr lock")
                    .extend_from_slice(&buf[..n]);
            }
        });
        let what = format!("worker: {}", argv.join(" "));
        Ok(Self::new(
            ctx,
            socket,
            Some(child),
            Some(stderr_task),
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
            finished: Default::default(),
        }
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
        if let Some(status) = &self.exited {
            return Ok(Event::Exited(status.clone()));
        }
        loop {
            enum Woke {
                Msg(std::io::Result<zroute_transport::Multipart>),
                Exit(String),
                Deadline,
            }
            let woke = tokio::select! {
                msg = self.socket.recv() => Woke::Msg(msg),
                status = crate::attach::wait(&mut self.child) => {
                    Woke::Exit(status.map_or_else(|e| format!("wait failed: {e}"), |s| s.to_string()))
                }
                () = sleep_until(deadline) => Woke::Deadline,
            };
            match woke {
                Woke::Deadline => return Ok(Event::Deadline),
                Woke::Exit(status) => {
                    self.note("--", format!("worker exited: {status}"));
                    self.exited = Some(status.clone());
                    return Ok(Event::Exited(status));
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
        let Some(peer) = self.peer.clone() else {
            return Err(verdict(
                Outcome::Error,
                "a registered worker",
                "no peer to send to",
            ));
        };
        let err = match self.socket.try_send_to(&peer, &[bytes]) {
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
            return Err(verdict(Outcome::Fail, format!("HELLO {}", case.hello), why));
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
            match step {
                Step::Expect(m) => self.expect(m, deadline).await.map_err(|v| prefix(n, v))?,
                Step::Send(s) => self.send(s, case).map_err(|v| prefix(n, v))?,
                Step::SendRaw(bytes) => {
                    self.note("->", format!("raw {}", hex(bytes, 64)));
                    self.send_bytes(bytes).map_err(|v| prefix(n, v))?;
                }
                Step::ExpectNone { ms, strict } => {
                    let until = TokioInstant::now() + scale(*ms);
                    self.expect_none(until, *strict)
                        .await
                        .map_err(|v| prefix(n, v))?;
                }
                Step::ExpectBody(b) => self
                    .expect_body(b, deadline)
                    .await
                    .map_err(|v| prefix(n, v))?,
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
        let welcome = Welcome::new(
            zroute_proto::PROTOCOL_VERSION,
            w.heartbeat_interval_ms,
            w.heartbeat_liveness,
            w.initial_window_size,
            HeaderBlock::new(),
        );
        self.send_frame(&welcome.into())
    }

    async fn expect(&mut self, m: &FrameMatch, deadline: TokioInstant) -> Result<(), Verdict> {
        let expected = format!("{m}");
        let mut last_miss = String::from("nothing");
        loop {
            match self.next(deadline).await? {
                Event::Deadline => {
                    return Err(verdict(
                        Outcome::Timeout,
                        expected,
                        format!("deadline passed; last: {last_miss}"),
                    ));
                }
                Event::Exited(s) => return Err(crashed(expected, &s)),
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
                            ));
                        }
                        Err(_) => continue,
                    };
                    if m.new_peer {
                        if from_current {
                            if let Some(v) = self.tolerated(&frame, &expected) {
                                return Err(v);
                            }
                            continue;
                        }
                        let v = view(&frame);
                        match m.mismatch(&v, &self.vars) {
                            None => {
                                self.note("--", "switching to the new routing id");
                                self.peer = Some(peer);
                                return Ok(());
                            }
                            Some(why) => {
                                last_miss = why;
                                continue;
                            }
                        }
                    }
                    if !from_current {
                        continue;
                    }
                    match m.mismatch(&view(&frame), &self.vars) {
                        None => {
                            if let Some(id) = fin_stream(&frame) {
                                self.finished.insert(id);
                            }
                            return Ok(());
                        }
                        Some(why) => {
                            if let Some(v) = self.tolerated(&frame, &format!("{expected} ({why})"))
                            {
                                return Err(v);
                            }
                            last_miss = why;
                        }
                    }
                }
            }
        }
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

    async fn expect_none(&mut self, until: TokioInstant, strict: bool) -> Result<(), Verdict> {
        let expected = if strict {
            "no frame at all"
        } else {
            "no frame but PING or WINDOW_UPDATE"
        };
        loop {
            match self.next(until).await? {
                Event::Deadline => return Ok(()),
                Event::Exited(s) => return Err(crashed(expected, &s)),
                Event::Frame { peer, frame, raw } => {
                    self.receive(&peer, &frame, &raw)?;
                    if self.peer.as_ref() != Some(&peer) {
                        continue;
                    }
                    match frame {
                        Ok(Frame::Ping(_) | Frame::WindowUpdate(_)) if !strict => {}
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
            "WELCOME" => self.send_welcome(case),
            other => Err(bad(format!("cannot send frame type {other:?}"))),
        }
    }
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
