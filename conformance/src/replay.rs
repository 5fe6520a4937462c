//! `zroute-conformance replay`: plays the router side of a recorded trace
//! against a live worker and compares what the worker sends with what the
//! recorded worker sent, by meaning rather than by byte (spec Appendix D,
//! `#trace-format`, "Replay").
//!
//! What is compared, per stream and ignoring how streams interleave: the
//! SYN_REPLY head, the body (the concatenated DATA payloads, whatever the
//! frame boundaries), the trailers, the end (FIN) and RST_STREAM codes; per
//! session, in order: the HELLO (version, flags, `route` and `feature`; not
//! `id`, labels, capacity nor window, which are configuration), SETTINGS,
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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::process::Child;
use tokio::time::{Instant as TokioInstant, sleep_until};
use zroute_proto::frame::{Data, Ping, Welcome};
use zroute_proto::{Frame, HeaderBlock, SettingId, StreamId};
use zroute_trace::{Direction, Trace};
use zroute_transport::{Context, PeerId, Socket};

use crate::runner::{HELLO_TIMEOUT, Outcome, describe, hex};
use crate::spawn::{SpawnError, spawn_worker};

/// What a replay ignores besides PING and WINDOW_UPDATE.
#[derive(Clone, Debug)]
pub struct Noise {
    /// Response and trailer header names not compared (lowercase).
    pub ignore_headers: Vec<String>,
}

impl Default for Noise {
    fn default() -> Self {
        Self {
            // `content-length` is optional (spec #test-app-general) and the
            // body it describes is compared anyway.
            ignore_headers: vec![
                "date".into(),
                "x-request-id".into(),
                "content-length".into(),
            ],
        }
    }
}

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

/// One unit of what a worker says: on a stream, or on the session.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Unit {
    Reply(Vec<(String, String)>),
    Body(Vec<u8>),
    Trailers(Vec<(String, String)>),
    End,
    Reset(String),
    /// A session-level frame, as compared (HELLO, SETTINGS, GOAWAY, ...).
    Session(String),
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers = |hs: &[(String, String)]| {
            hs.iter()
                .map(|(n, v)| format!("{n}: {v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Self::Reply(hs) => write!(f, "SYN_REPLY {{{}}}", headers(hs)),
            Self::Body(b) => {
                let shown: String = String::from_utf8_lossy(&b[..b.len().min(60)]).into_owned();
                write!(
                    f,
                    "body {shown:?}{} ({} bytes)",
                    if b.len() > 60 { "…" } else { "" },
                    b.len()
                )
            }
            Self::Trailers(hs) => write!(f, "trailers {{{}}}", headers(hs)),
            Self::End => write!(f, "end of stream (FIN)"),
            Self::Reset(code) => write!(f, "RST_STREAM {code}"),
            Self::Session(s) => write!(f, "{s}"),
        }
    }
}

/// What a worker said, by meaning.
#[derive(Clone, Debug, Default)]
struct Model {
    session: Vec<Unit>,
    streams: BTreeMap<u32, Vec<Unit>>,
}

impl Model {
    fn apply(&mut self, frame: &Result<Frame, String>, raw: &[u8], noise: &Noise) {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                self.session.push(Unit::Session(format!(
                    "undecodable ({e}): {}",
                    hex(raw, 32)
                )));
                return;
            }
        };
        let headers = |block: &HeaderBlock| -> Vec<(String, String)> {
            let mut hs: Vec<(String, String)> = block
                .iter()
                .map(|(n, v)| {
                    let name = String::from_utf8_lossy(n).into_owned();
                    let mut value = String::from_utf8_lossy(v).into_owned();
                    // `trailer` lists field names, which are case-insensitive.
                    if name == "trailer" {
                        value.make_ascii_lowercase();
                    }
                    (name, value)
                })
                .filter(|(n, _)| !noise.ignore_headers.contains(n))
                .collect();
            hs.sort();
            hs
        };
        match frame {
            Frame::Ping(_) | Frame::WindowUpdate(_) => {}
            Frame::SynReply(r) => {
                let s = self.stream(r.stream_id());
                s.push(Unit::Reply(headers(r.headers())));
                if r.is_fin() {
                    s.push(Unit::End);
                }
            }
            Frame::Data(d) => {
                let s = self.stream(d.stream_id());
                if !d.payload().is_empty() {
                    match s.last_mut() {
                        Some(Unit::Body(b)) => b.extend_from_slice(d.payload()),
                        _ => s.push(Unit::Body(d.payload().to_vec())),
                    }
                }
                if d.is_fin() {
                    s.push(Unit::End);
                }
            }
            Frame::Headers(h) => {
                let s = self.stream(h.stream_id());
                s.push(Unit::Trailers(headers(h.headers())));
                if h.is_fin() {
                    s.push(Unit::End);
                }
            }
            Frame::RstStream(r) => {
                let code = r.code();
                let name = code
                    .name()
                    .map_or_else(|| code.to_wire().to_string(), str::to_owned);
                self.stream(r.stream_id()).push(Unit::Reset(name));
            }
            Frame::Hello(h) => {
                let list = |name: &str| -> Vec<String> {
                    let mut v: Vec<String> = h
                        .attributes()
                        .values(name)
                        .flat_map(|v| v.split(|b| *b == 0))
                        .filter(|v| !v.is_empty())
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .collect();
                    v.sort();
                    v
                };
                // Capacity and window are configuration, not behaviour (the
                // replay adapts its request DATA to the live window).
                self.session.push(Unit::Session(format!(
                    "HELLO version={} flags={} route={:?} feature={:?}",
                    h.version(),
                    h.flags(),
                    list("route"),
                    list("feature"),
                )));
            }
            other => self.session.push(Unit::Session(describe(other))),
        }
    }

    fn stream(&mut self, id: StreamId) -> &mut Vec<Unit> {
        self.streams.entry(id.get()).or_default()
    }

    /// The recorded worker's id replaced by the live one in bodies and header values.
    fn with_id(&self, recorded: &str, live: &str) -> Self {
        if recorded.is_empty() || recorded == live {
            return self.clone();
        }
        let hs = |hs: &[(String, String)]| -> Vec<(String, String)> {
            hs.iter()
                .map(|(n, v)| (n.clone(), v.replace(recorded, live)))
                .collect()
        };
        let unit = |u: &Unit| match u {
            Unit::Reply(h) => Unit::Reply(hs(h)),
            Unit::Trailers(h) => Unit::Trailers(hs(h)),
            Unit::Body(b) => Unit::Body(replace_bytes(b, recorded.as_bytes(), live.as_bytes())),
            other => other.clone(),
        };
        Self {
            session: self.session.clone(),
            streams: self
                .streams
                .iter()
                .map(|(id, units)| (*id, units.iter().map(unit).collect()))
                .collect(),
        }
    }
}

fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// How far the live worker's output covers the recorded one.
#[derive(Debug, PartialEq, Eq)]
enum Cover {
    Yes,
    /// Not yet: what is missing.
    NotYet(String),
    /// Can never match: how it differs.
    Diverged(String),
}

/// Does `live` contain `want`? With `exact`, nothing more may follow; without,
/// `want` may be a prefix (its last body unit a byte prefix) of `live`.
fn covers(live: &[Unit], want: &[Unit], exact: bool) -> Cover {
    for (i, w) in want.iter().enumerate() {
        let Some(l) = live.get(i) else {
            return Cover::NotYet(format!("expected {w}, nothing yet"));
        };
        match (w, l) {
            (Unit::Body(wb), Unit::Body(lb)) => {
                let n = wb.len().min(lb.len());
                if let Some(k) = (0..n).find(|&k| wb[k] != lb[k]) {
                    return Cover::Diverged(format!(
                        "expected {w}, got {l}: they differ at byte {k}"
                    ));
                }
                let last_live = i + 1 == live.len();
                let last_want = i + 1 == want.len();
                if lb.len() < wb.len() {
                    if last_live {
                        return Cover::NotYet(format!("expected {w}, so far {} bytes", lb.len()));
                    }
                    return Cover::Diverged(format!(
                        "expected {w}, got {l} followed by {}",
                        live[i + 1]
                    ));
                }
                if lb.len() > wb.len() && (exact || !last_want) {
                    return Cover::Diverged(format!("expected {w}, got {l}"));
                }
            }
            _ if w == l => {}
            _ => return Cover::Diverged(format!("expected {w}, got {l}")),
        }
    }
    if exact && let Some(extra) = live.get(want.len()) {
        return Cover::Diverged(format!("unexpected {extra} after the recorded end"));
    }
    Cover::Yes
}

/// Compares two models; streams in `loose` (reset by the router) only by prefix.
fn compare(live: &Model, want: &Model, exact: bool, loose: &HashSet<u32>) -> Cover {
    let mut not_yet = None;
    let mut check = |what: String, c: Cover| match c {
        Cover::Yes => None,
        Cover::NotYet(why) => {
            not_yet.get_or_insert(format!("{what}: {why}"));
            None
        }
        Cover::Diverged(why) => Some(format!("{what}: {why}")),
    };
    if let Some(d) = check(
        "session".into(),
        covers(&live.session, &want.session, exact),
    ) {
        return Cover::Diverged(d);
    }
    for (id, units) in &want.streams {
        let live_units = live.streams.get(id).map_or(&[][..], Vec::as_slice);
        let c = covers(live_units, units, exact && !loose.contains(id));
        if let Some(d) = check(format!("stream {id}"), c) {
            return Cover::Diverged(d);
        }
    }
    if exact {
        for (id, units) in &live.streams {
            if !want.streams.contains_key(id) && !loose.contains(id) && !units.is_empty() {
                return Cover::Diverged(format!(
                    "stream {id}: the recorded worker sent nothing, got {}",
                    units[0]
                ));
            }
        }
    }
    match not_yet {
        Some(why) => Cover::NotYet(why),
        None => Cover::Yes,
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

enum Woke {
    Frame,
    Exited(String),
    Deadline,
}

impl Live {
    async fn start(cfg: &ReplayConfig, stderr: Arc<Mutex<Vec<u8>>>) -> Result<Self, String> {
        let w = spawn_worker(&cfg.worker, &[], stderr, false).map_err(SpawnError::into_message)?;
        Ok(Self {
            _ctx: w.ctx,
            socket: w.socket,
            child: w.child,
            stderr_task: Some(w.stderr_task),
            start: Instant::now(),
            log: vec![format!("{:>8.3}  --  worker: {}", 0.0, w.argv.join(" "))],
            peer: None,
            hello_id: None,
            recorded_id: String::new(),
            model: Model::default(),
            compared: None,
            exited: None,
            stream_initial: 65_536,
            stream_windows: HashMap::new(),
            session_window: 65_536,
        })
    }

    fn note(&mut self, dir: &str, what: impl AsRef<str>) {
        let t = self.start.elapsed().as_secs_f64();
        self.log.push(format!("{t:>8.3}  {dir}  {}", what.as_ref()));
    }

    /// Waits for the next message (applying its frames) or the worker's exit.
    async fn wait(&mut self, deadline: TokioInstant, noise: &Noise) -> Result<Woke, Verdict> {
        if let Some(status) = &self.exited {
            return Ok(Woke::Exited(status.clone()));
        }
        let msg = tokio::select! {
            msg = self.socket.recv() => msg,
            status = self.child.wait() => {
                let status = status.map_or_else(|e| format!("wait failed: {e}"), |s| s.to_string());
                self.note("--", format!("worker exited: {status}"));
                self.exited = Some(status.clone());
                return Ok(Woke::Exited(status));
            }
            () = sleep_until(deadline) => return Ok(Woke::Deadline),
        };
        let msg =
            msg.map_err(|e| verdict(Outcome::Error, "a message", format!("receive failed: {e}")))?;
        let Some((peer, body)) = msg.split_peer() else {
            return Err(verdict(
                Outcome::Error,
                "a routed message",
                "a message without routing id",
            ));
        };
        if self.peer.is_none() {
            self.peer = Some(peer.clone());
        }
        let current = self.peer.as_ref() == Some(&peer);
        for part in body.into_parts() {
            if part.is_empty() {
                continue;
            }
            let frame = Frame::decode(part.clone()).map_err(|e| e.to_string());
            let tag = if current { "<-" } else { "<?" };
            match &frame {
                Ok(f) => self.note(tag, describe(f)),
                Err(e) => self.note(tag, format!("undecodable ({e}): {}", hex(&part, 32))),
            }
            if !current {
                continue;
            }
            self.track(&frame)?;
            self.model.apply(&frame, &part, noise);
        }
        Ok(Woke::Frame)
    }

    /// Windows, the HELLO's id, and answers to the worker's PINGs.
    fn track(&mut self, frame: &Result<Frame, String>) -> Result<(), Verdict> {
        match frame {
            Ok(Frame::Hello(h)) if self.hello_id.is_none() => {
                let id = h
                    .attributes()
                    .get("id")
                    .map(|v| String::from_utf8_lossy(v).into_owned());
                self.hello_id = Some(id.unwrap_or_default());
                self.stream_initial = i64::from(h.initial_window_size());
            }
            Ok(Frame::Ping(p)) if p.id() % 2 == 0 => {
                self.send(&Ping::new(p.id()).into())?;
            }
            Ok(Frame::WindowUpdate(w)) => {
                let delta = i64::from(w.delta());
                if w.stream_id().is_zero() {
                    self.session_window += delta;
                } else if let Some(win) = self.stream_windows.get_mut(&w.stream_id().get()) {
                    *win += delta;
                }
            }
            Ok(Frame::Settings(s)) => {
                if let Some(v) = s.get(SettingId::INITIAL_WINDOW_SIZE) {
                    let change = i64::from(v) - self.stream_initial;
                    self.stream_initial = i64::from(v);
                    for win in self.stream_windows.values_mut() {
                        *win += change;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn send(&mut self, frame: &Frame) -> Result<(), Verdict> {
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
        match self.socket.try_send_to(&peer, &[bytes]) {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Err(verdict(
                        Outcome::Crash,
                        "the worker to be running",
                        format!("worker exited: {status}"),
                    ));
                }
                Err(verdict(
                    Outcome::Fail,
                    "the send to the worker to succeed",
                    format!("send failed: {e}"),
                ))
            }
        }
    }

    /// Waits until the live model covers `want` (or it diverges, or the deadline).
    async fn wait_for(
        &mut self,
        want: &Model,
        loose: &HashSet<u32>,
        deadline: TokioInstant,
        noise: &Noise,
    ) -> Result<Cover, Verdict> {
        loop {
            let want = want.with_id(&self.recorded_id, self.hello_id.as_deref().unwrap_or(""));
            let cover = compare(&self.model, &want, false, loose);
            self.compared = Some((want, loose.clone()));
            match cover {
                Cover::NotYet(why) => match self.wait(deadline, noise).await? {
                    Woke::Frame => {}
                    Woke::Deadline => return Ok(Cover::NotYet(why)),
                    Woke::Exited(status) => {
                        return Err(verdict(
                            Outcome::Crash,
                            why,
                            format!("worker exited: {status}"),
                        ));
                    }
                },
                other => return Ok(other),
            }
        }
    }
}

impl Live {
    async fn run(&mut self, trace: &Trace, cfg: &ReplayConfig) -> Result<(), Verdict> {
        let noise = &cfg.noise;
        self.recorded_id = trace
            .header
            .as_ref()
            .map(|h| h.worker_id.clone())
            .unwrap_or_default();
        // What the recorded worker had sent so far, as the events go by.
        let mut recorded = Model::default();
        // Streams the router reset: what the worker sends on them afterwards races the reset.
        let mut loose: HashSet<u32> = HashSet::new();
        for (i, event) in trace.events.iter().enumerate() {
            let frame = Frame::decode(event.frame.clone()).map_err(|e| e.to_string());
            match Direction::try_from(event.direction) {
                Ok(Direction::WorkerToRouter) => {
                    if !stream_of(&frame).is_some_and(|id| loose.contains(&id)) {
                        recorded.apply(&frame, &event.frame, noise);
                    }
                    continue;
                }
                Ok(Direction::RouterToWorker) => {}
                _ => {
                    return Err(verdict(
                        Outcome::Error,
                        "a valid trace",
                        format!("event {i} has no direction"),
                    ));
                }
            }
            if matches!(frame, Ok(Frame::Ping(_))) {
                continue;
            }
            let wait = if self.hello_id.is_none() {
                HELLO_TIMEOUT
            } else {
                cfg.scaled(STEP_TIMEOUT)
            };
            let deadline = TokioInstant::now() + wait;
            match self.wait_for(&recorded, &loose, deadline, noise).await? {
                Cover::Yes => {}
                Cover::Diverged(why) => {
                    return Err(verdict(
                        Outcome::Fail,
                        format!("what the recorded worker sent before event {i}"),
                        why,
                    ));
                }
                Cover::NotYet(_) if self.peer.is_none() => {
                    return Err(verdict(
                        Outcome::Timeout,
                        "a HELLO within 10 s of start",
                        "no frame from the worker",
                    ));
                }
                Cover::NotYet(why) => {
                    self.note(
                        "--",
                        format!("event {i} sent without waiting longer for: {why}"),
                    );
                }
            }
            self.play(&frame, &event.frame, cfg).await?;
            if let Ok(Frame::RstStream(r)) = &frame {
                loose.insert(r.stream_id().get());
            }
        }
        let deadline = TokioInstant::now() + cfg.scaled(FINAL_TIMEOUT);
        let expected = "what the recorded worker sent";
        match self.wait_for(&recorded, &loose, deadline, noise).await? {
            Cover::Yes => {}
            Cover::Diverged(why) => return Err(verdict(Outcome::Fail, expected, why)),
            Cover::NotYet(why) => {
                return Err(verdict(
                    Outcome::Timeout,
                    expected,
                    format!("deadline passed; {why}"),
                ));
            }
        }
        let want = recorded.with_id(&self.recorded_id, self.hello_id.as_deref().unwrap_or(""));
        match compare(&self.model, &want, true, &loose) {
            Cover::Diverged(why) => Err(verdict(
                Outcome::Fail,
                "what the recorded worker sent, and nothing more",
                why,
            )),
            _ => Ok(()),
        }
    }

    /// Sends one recorded router frame, rewritten where the live session needs it.
    async fn play(
        &mut self,
        frame: &Result<Frame, String>,
        raw: &Bytes,
        cfg: &ReplayConfig,
    ) -> Result<(), Verdict> {
        match frame {
            Ok(Frame::Welcome(w)) => {
                let mut attributes = HeaderBlock::new();
                for (name, value) in w.attributes().iter() {
                    let value = if &name[..] == b"session" {
                        Bytes::from(format!("replay-{}", std::process::id()))
                    } else {
                        value.clone()
                    };
                    attributes.insert(name.clone(), value).map_err(|e| {
                        verdict(Outcome::Error, "a valid recorded WELCOME", e.to_string())
                    })?;
                }
                let mut welcome = Welcome::new(
                    w.version(),
                    w.heartbeat_interval_ms(),
                    w.heartbeat_liveness(),
                    w.initial_window_size(),
                    attributes,
                );
                welcome.set_flags(w.flags());
                self.send(&welcome.into())
            }
            Ok(Frame::SynStream(s)) => {
                self.stream_windows
                    .insert(s.stream_id().get(), self.stream_initial);
                self.note("->", describe(&Frame::SynStream(s.clone())));
                self.send_bytes(raw)
            }
            Ok(Frame::Data(d)) => self.send_data(d, cfg).await,
            Ok(f) => {
                self.note("->", describe(f));
                self.send_bytes(raw)
            }
            Err(e) => {
                self.note("->", format!("undecodable ({e}): {}", hex(raw, 32)));
                self.send_bytes(raw)
            }
        }
    }

    /// Request DATA, cut to what the live worker's windows allow.
    async fn send_data(&mut self, d: &Data, cfg: &ReplayConfig) -> Result<(), Verdict> {
        let id = d.stream_id();
        let mut rest = d.payload().clone();
        let deadline = TokioInstant::now() + cfg.scaled(STEP_TIMEOUT);
        loop {
            let stream_window = self
                .stream_windows
                .get(&id.get())
                .copied()
                .unwrap_or(self.stream_initial);
            let room = usize::try_from(stream_window.min(self.session_window)).unwrap_or(0);
            if rest.len() <= room || room > 0 {
                let last = rest.len() <= room;
                let chunk = if last {
                    std::mem::take(&mut rest)
                } else {
                    rest.split_to(room)
                };
                let len = chunk.len() as i64;
                let mut data = Data::new(id, chunk);
                data.set_fin(last && d.is_fin());
                if let Some(w) = self.stream_windows.get_mut(&id.get()) {
                    *w -= len;
                }
                self.session_window -= len;
                self.send(&data.into())?;
                if last {
                    return Ok(());
                }
                continue;
            }
            match self.wait(deadline, &cfg.noise).await? {
                Woke::Frame => {}
                Woke::Deadline => {
                    return Err(verdict(
                        Outcome::Timeout,
                        format!(
                            "a WINDOW_UPDATE for the {} request bytes left on stream {id}",
                            rest.len()
                        ),
                        "the worker's flow-control window stayed closed",
                    ));
                }
                Woke::Exited(status) => {
                    return Err(verdict(
                        Outcome::Crash,
                        format!("a WINDOW_UPDATE for stream {id}"),
                        format!("worker exited: {status}"),
                    ));
                }
            }
        }
    }
}

/// Recorded (`-`) against live (`+`) units of each part that differs;
/// equal units are shown unmarked for context.
fn render_diff(live: &Model, want: &Model, loose: &HashSet<u32>) -> Vec<String> {
    let mut out = Vec::new();
    let mut section = |name: String, w: &[Unit], l: &[Unit]| {
        if w == l {
            return;
        }
        out.push(format!("{name}:"));
        for i in 0..w.len().max(l.len()) {
            match (w.get(i), l.get(i)) {
                (Some(a), Some(b)) if a == b => out.push(format!("    {a}")),
                (a, b) => {
                    if let Some(a) = a {
                        out.push(format!("  - {a}"));
                    }
                    if let Some(b) = b {
                        out.push(format!("  + {b}"));
                    }
                }
            }
        }
    };
    section("session".into(), &want.session, &live.session);
    let ids: std::collections::BTreeSet<u32> = want
        .streams
        .keys()
        .chain(live.streams.keys())
        .copied()
        .collect();
    let none: Vec<Unit> = Vec::new();
    for id in ids {
        let name = if loose.contains(&id) {
            format!("stream {id} (reset by the router: only what came before the reset counts)")
        } else {
            format!("stream {id}")
        };
        section(
            name,
            want.streams.get(&id).unwrap_or(&none),
            live.streams.get(&id).unwrap_or(&none),
        );
    }
    out
}

/// The stream a frame from the worker is on.
fn stream_of(frame: &Result<Frame, String>) -> Option<u32> {
    match frame {
        Ok(Frame::SynReply(f)) => Some(f.stream_id().get()),
        Ok(Frame::Data(f)) => Some(f.stream_id().get()),
        Ok(Frame::Headers(f)) => Some(f.stream_id().get()),
        Ok(Frame::RstStream(f)) => Some(f.stream_id().get()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str) -> Unit {
        Unit::Body(s.as_bytes().to_vec())
    }

    #[test]
    fn bodies_compare_by_bytes_not_by_frames() {
        let want = [Unit::Reply(vec![]), body("hello"), Unit::End];
        assert_eq!(
            covers(
                &[Unit::Reply(vec![]), body("hello"), Unit::End],
                &want,
                true
            ),
            Cover::Yes
        );
        assert!(matches!(
            covers(&[Unit::Reply(vec![]), body("hel")], &want, true),
            Cover::NotYet(_)
        ));
        assert!(matches!(
            covers(&[Unit::Reply(vec![]), body("help")], &want, true),
            Cover::Diverged(_)
        ));
        assert!(matches!(
            covers(&[Unit::Reply(vec![]), body("hel"), Unit::End], &want, true),
            Cover::Diverged(_)
        ));
        assert!(matches!(
            covers(&[Unit::Reply(vec![]), body("hello!")], &want, true),
            Cover::Diverged(_)
        ));
        // A snapshot taken mid-body is covered by more of the same body.
        let snapshot = [Unit::Reply(vec![]), body("he")];
        assert_eq!(
            covers(&[Unit::Reply(vec![]), body("hello")], &snapshot, false),
            Cover::Yes
        );
        assert!(matches!(
            covers(
                &[Unit::Reply(vec![]), body("hello"), Unit::End],
                &want,
                true
            ),
            Cover::Yes
        ));
        assert!(
            matches!(covers(&want, &want[..2], true), Cover::Diverged(_)),
            "exact: nothing more"
        );
    }

    #[test]
    fn the_recorded_id_stands_for_the_live_one() {
        let mut model = Model::default();
        model.streams.insert(1, vec![body("Hello from w1")]);
        let live = model.with_id("w1", "go-7");
        assert_eq!(live.streams[&1], vec![body("Hello from go-7")]);
    }
}
