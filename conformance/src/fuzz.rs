//! `zroute-conformance fuzz`: seeded mutation of the cases' frames.
//!
//! The corpus is the frames the loaded cases send after the handshake (their
//! `send` and `send_raw` steps). Each iteration picks one case's frames,
//! mutates them deterministically from `(seed, iteration)`, and plays them
//! against a fresh worker. The worker must
//!
//! - not exit (CRASH);
//! - keep answering: after the frames, a PING must come back, or, if the
//!   worker ended the session, it must register again and answer the PING
//!   on the new session, within the deadline (HANG);
//! - never send garbage: every frame must decode, come from a registered
//!   socket, be one a worker may send, and name only stream ids that the
//!   suite used (GARBAGE).
//!
//! A failure is shrunk (delta debugging on the frame list, then on the bytes
//! of each frame) and saved as a case file of `send_raw` steps.

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::process::Child;
use tokio::time::{Instant as TokioInstant, sleep_until};
use zroute_proto::frame::{
    Data, GoAway, Ping, RstStream, Settings, SynStream, Welcome, WindowUpdate,
};
use zroute_proto::{Frame, GoAwayStatus, HeaderBlock, RstCode, SettingId, StreamId};
use zroute_transport::{Context, PeerId, Socket};

use crate::case::{Case, SendSpec, Step, parse_hex};
use crate::spawn::{SpawnError, spawn_worker};

/// A small deterministic PRNG (splitmix64): the same seed gives the same
/// mutations on every machine, with no dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The generator of one iteration: iterations can be replayed alone.
    pub fn for_iteration(seed: u64, iteration: u64) -> Self {
        let mut r = Self(seed ^ iteration.wrapping_mul(0xa076_1d64_78bd_642f));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// What went wrong in one play.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The worker process exited.
    Crash(String),
    /// No answer to PING (and no new registration) within the deadline.
    Hang(String),
    /// The worker sent something no conforming worker sends.
    Garbage(String),
}

impl Failure {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Crash(_) => "CRASH",
            Self::Hang(_) => "HANG",
            Self::Garbage(_) => "GARBAGE",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Self::Crash(s) | Self::Hang(s) | Self::Garbage(s) => s,
        }
    }

    fn same_kind(&self, other: &Self) -> bool {
        self.kind() == other.kind()
    }
}

/// Why a play could not judge the worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The worker did not start or did not register (exit code 3).
    NotStarted(String),
    /// The suite itself failed (exit code 2).
    Suite(String),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotStarted(s) | Self::Suite(s) => f.write_str(s),
        }
    }
}

/// How to fuzz.
#[derive(Clone, Debug)]
pub struct FuzzConfig {
    /// The worker command, split; `{endpoint}` is substituted.
    pub worker: Vec<String>,
    pub seed: u64,
    pub iterations: u64,
    /// Scales the liveness deadline (5 s).
    pub timeout_scale: f64,
    /// At most this many plays to shrink one failure.
    pub shrink_budget: usize,
}

/// One failure, shrunk.
#[derive(Clone, Debug)]
pub struct Found {
    pub iteration: u64,
    pub source_case: String,
    pub failure: Failure,
    /// The frames as first found, and after shrinking.
    pub original: Vec<Vec<u8>>,
    pub shrunk: Vec<Vec<u8>>,
    pub stderr_tail: String,
}

/// The frames one case sends after the handshake, with the case's id.
pub fn corpus(cases: &[&Case]) -> Vec<(String, Vec<Vec<u8>>)> {
    cases
        .iter()
        .filter(|c| c.welcome.send)
        .filter_map(|c| {
            let frames = case_frames(c);
            (!frames.is_empty()).then(|| (c.id.clone(), frames))
        })
        .collect()
}

/// The bytes of a case's `send` and `send_raw` steps. Sends that need the
/// worker's HELLO (`repeat = "capacity"`) are sent once; WELCOME is left out.
pub fn case_frames(case: &Case) -> Vec<Vec<u8>> {
    let (mut out, mut last, mut next) = (Vec::new(), 1u32, 1u32);
    for step in &case.steps {
        match step {
            Step::SendRaw(bytes) => out.push(bytes.clone()),
            Step::Send(s) => {
                if let Some(f) = encode_send(s, &mut last, &mut next) {
                    out.push(f.to_vec());
                }
            }
            _ => {}
        }
    }
    out
}

fn encode_send(s: &SendSpec, last: &mut u32, next: &mut u32) -> Option<Bytes> {
    let stream = StreamId::new(s.stream.unwrap_or(*last));
    let code = |v: &Option<toml::Value>, name_of: fn(u32) -> Option<&'static str>| match v {
        Some(toml::Value::Integer(n)) => u32::try_from(*n).unwrap_or(0),
        Some(toml::Value::String(s)) => (0..64).find(|c| name_of(*c) == Some(s)).unwrap_or(0),
        _ => 0,
    };
    let frame: Frame = match s.frame_type.as_str() {
        "SYN_STREAM" => {
            let id = s.stream.unwrap_or(*next);
            let mut block = HeaderBlock::new();
            if let Some(path) = &s.path {
                for (n, v) in [
                    (":method", s.method.as_deref().unwrap_or("GET")),
                    (":path", path.as_str()),
                    (":version", "HTTP/1.1"),
                    (":host", "example.com"),
                    (":scheme", "http"),
                ] {
                    block
                        .insert(Bytes::from(n), Bytes::from(v.to_owned()))
                        .ok()?;
                }
            }
            for (n, v) in &s.headers {
                let value = match v {
                    toml::Value::String(v) => v.clone(),
                    toml::Value::Array(a) => a
                        .iter()
                        .filter_map(toml::Value::as_str)
                        .collect::<Vec<_>>()
                        .join("\0"),
                    _ => continue,
                };
                block
                    .insert(Bytes::from(n.clone()), Bytes::from(value))
                    .ok()?;
            }
            let mut syn = SynStream::new(StreamId::new(id), block);
            syn.set_fin(s.fin.unwrap_or(true));
            *last = id;
            *next = (*next).max(id + 2);
            syn.into()
        }
        "DATA" => {
            let payload = match (&s.text, &s.hex) {
                (Some(t), _) => Bytes::from(t.clone()),
                (None, Some(h)) => Bytes::from(parse_hex(h).ok()?),
                (None, None) => Bytes::new(),
            };
            let mut d = Data::new(stream, payload);
            d.set_fin(s.fin.unwrap_or(true));
            d.into()
        }
        "WINDOW_UPDATE" => WindowUpdate::new(StreamId::new(s.stream.unwrap_or(0)), s.delta?).into(),
        "RST_STREAM" => RstStream::new(
            stream,
            RstCode::from_wire(code(&s.code, |c| RstCode::from_wire(c).name())),
        )
        .into(),
        "PING" => Ping::new(s.id.unwrap_or(1)).into(),
        "GOAWAY" => GoAway::new(
            StreamId::new(s.last_good.unwrap_or(0)),
            GoAwayStatus::from_wire(code(&s.code, |c| GoAwayStatus::from_wire(c).name())),
        )
        .into(),
        "SETTINGS" => {
            let mut settings = Settings::new();
            for (id, value) in &s.settings {
                settings.push(SettingId::from_wire(*id), *value);
            }
            settings.into()
        }
        _ => return None,
    };
    Some(frame.to_bytes())
}

// ---- mutation ----

/// Values that break limits: zero, sign bits, maxima.
const EXTREMES: [u32; 6] = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 65_537];

/// Applies 1 to 4 random mutations to `frames`.
pub fn mutate(rng: &mut Rng, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut f = frames.to_vec();
    for _ in 0..1 + rng.below(4) {
        if f.is_empty() {
            f.push(random_bytes(rng, 16));
        }
        let i = rng.below(f.len());
        match rng.below(12) {
            // Truncate a frame.
            0 => {
                let n = rng.below(f[i].len() + 1);
                f[i].truncate(n);
            }
            // A wrong 24-bit length field.
            1 => {
                if f[i].len() >= 8 {
                    let len = f[i].len() - 8;
                    let wrong = match rng.below(3) {
                        0 => len + 1,
                        1 => len.saturating_sub(1),
                        _ => rng.below(1 << 24),
                    };
                    f[i][5..8].copy_from_slice(&(wrong as u32).to_be_bytes()[1..]);
                }
            }
            // Flip bits.
            2 => {
                for _ in 0..1 + rng.below(3) {
                    if !f[i].is_empty() {
                        let at = rng.below(f[i].len());
                        f[i][at] ^= 1 << rng.below(8);
                    }
                }
            }
            // Swap two frames.
            3 => {
                let j = rng.below(f.len());
                f.swap(i, j);
            }
            // Send a frame twice.
            4 => {
                let copy = f[i].clone();
                f.insert(i, copy);
            }
            // Leave a frame out.
            5 => {
                f.remove(i);
            }
            // An unknown control frame type (or an unknown type over a known payload).
            6 => {
                if f[i].len() >= 8 {
                    f[i][0] |= 0x80;
                    let ty = 0x0c + rng.below(0xfff0) as u16;
                    f[i][2..4].copy_from_slice(&ty.to_be_bytes());
                }
            }
            // An extreme value in a 32-bit field (stream id, delta, status, ...).
            7 => {
                if f[i].len() >= 12 {
                    let at = 8 + 4 * rng.below((f[i].len() - 8) / 4);
                    let v = EXTREMES[rng.below(EXTREMES.len())];
                    f[i][at..at + 4].copy_from_slice(&v.to_be_bytes());
                }
            }
            // A random part.
            8 => {
                let junk = random_bytes(rng, 40);
                f.insert(i, junk);
            }
            // Trailing bytes (the length field no longer fits).
            9 => {
                let junk = random_bytes(rng, 8);
                f[i].extend_from_slice(&junk);
            }
            // Another control version.
            10 => {
                if f[i].len() >= 2 && f[i][0] & 0x80 != 0 {
                    f[i][1] = [0, 1, 2, 4, 0xff][rng.below(5)];
                }
            }
            // An oversized frame: a large payload with a matching length.
            _ => {
                if f[i].len() >= 8 {
                    let extra = 65_536 + rng.below(64);
                    let size = f[i].len() + extra;
                    f[i].resize(size, b'x');
                    let len = (f[i].len() - 8) as u32;
                    f[i][5..8].copy_from_slice(&len.to_be_bytes()[1..]);
                }
            }
        }
    }
    f
}

fn random_bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    (0..rng.below(max + 1))
        .map(|_| rng.next_u64() as u8)
        .collect()
}

/// The stream id a (possibly malformed) part names, read from where a
/// well-formed frame would carry it.
fn raw_stream_id(part: &[u8]) -> Option<u32> {
    let word = |at: usize| {
        part.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff)
    };
    if part.first()? & 0x80 == 0 {
        word(0)
    } else {
        word(8)
    }
}

// ---- playing ----

/// The liveness deadline before `timeout_scale`.
const ALIVE_WITHIN: Duration = Duration::from_secs(5);
/// The id of the suite's PING; odd, the router's parity.
const PROBE_PING: u32 = 0x7fff_0001;

/// Plays `frames` against a fresh worker; `Err` is a failure of the worker,
/// `Ok(Err(..))` one of the suite (the worker did not start, ...).
pub async fn play(cfg: &FuzzConfig, frames: &[Vec<u8>]) -> Result<Result<(), Failure>, Fault> {
    let mut p = Player::start(cfg).await?;
    let verdict = p.run(cfg, frames).await;
    let _ = p.child.start_kill();
    let _ = p.child.wait().await;
    verdict
}

struct Player {
    _ctx: Context,
    socket: Socket,
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
}

enum Got {
    Part(PeerId, Bytes),
    Exited(String),
    Deadline,
}

impl Player {
    async fn start(cfg: &FuzzConfig) -> Result<Self, Fault> {
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let w = spawn_worker(&cfg.worker, &[], stderr.clone(), false).map_err(|e| match e {
            SpawnError::Suite(m) => Fault::Suite(m),
            SpawnError::NotStarted(m) => Fault::NotStarted(m),
        })?;
        Ok(Self {
            _ctx: w.ctx,
            socket: w.socket,
            child: w.child,
            stderr,
        })
    }

    async fn next(
        &mut self,
        deadline: TokioInstant,
        queue: &mut VecDeque<(PeerId, Bytes)>,
    ) -> Result<Got, Fault> {
        loop {
            if let Some((p, b)) = queue.pop_front() {
                return Ok(Got::Part(p, b));
            }
            let msg = tokio::select! {
                msg = self.socket.recv() => msg,
                status = self.child.wait() => return Ok(Got::Exited(
                    status.map_or_else(|e| format!("wait failed: {e}"), |s| s.to_string()),
                )),
                () = sleep_until(deadline) => return Ok(Got::Deadline),
            };
            let msg = msg.map_err(|e| Fault::Suite(format!("receive failed: {e}")))?;
            let (peer, body) = msg
                .split_peer()
                .ok_or_else(|| Fault::Suite("a message without routing id".into()))?;
            for part in body.into_parts() {
                if !part.is_empty() {
                    queue.push_back((peer.clone(), part));
                }
            }
        }
    }

    fn send(&mut self, peer: &PeerId, part: &[u8]) {
        // A send error shows up as an exit or a missing answer.
        let _ = self.socket.try_send_to(peer, &[part]);
    }

    fn welcome(&mut self, peer: &PeerId) {
        let w: Frame = Welcome::new(
            zroute_proto::PROTOCOL_VERSION,
            1000,
            3,
            65_536,
            HeaderBlock::new(),
        )
        .into();
        self.send(peer, &w.to_bytes());
    }

    async fn run(
        &mut self,
        cfg: &FuzzConfig,
        frames: &[Vec<u8>],
    ) -> Result<Result<(), Failure>, Fault> {
        let not_started = |s: String| Err(Fault::NotStarted(s));
        let mut queue = VecDeque::new();
        let mut registered: HashSet<PeerId> = HashSet::new();
        // The handshake: a worker that does not register is not fuzzed.
        let hello_by = TokioInstant::now() + crate::runner::HELLO_TIMEOUT;
        let mut peer = match self.next(hello_by, &mut queue).await? {
            Got::Part(peer, part) if matches!(Frame::decode(part.clone()), Ok(Frame::Hello(_))) => {
                peer
            }
            Got::Part(..) => return not_started("the worker's first frame is not a HELLO".into()),
            Got::Exited(s) => return not_started(format!("the worker exited before HELLO: {s}")),
            Got::Deadline => return not_started("the worker sent no HELLO within 10 s".into()),
        };
        registered.insert(peer.clone());
        self.welcome(&peer);
        let mut seen: HashSet<u32> = HashSet::new();
        for f in frames {
            if let Some(id) = raw_stream_id(f) {
                seen.insert(id);
            }
            if let Ok(frame) = Frame::decode(Bytes::copy_from_slice(f))
                && let Some(id) = frame.stream_id()
            {
                seen.insert(id.get());
            }
            self.send(&peer, f);
        }
        let probe: Frame = Ping::new(PROBE_PING).into();
        self.send(&peer, &probe.to_bytes());
        let scaled = Duration::from_secs_f64(ALIVE_WITHIN.as_secs_f64() * cfg.timeout_scale);
        let deadline = TokioInstant::now() + scaled;
        let mut session_over = false;
        loop {
            let (from, part) = match self.next(deadline, &mut queue).await? {
                Got::Exited(s) => {
                    return Ok(Err(Failure::Crash(format!("the worker exited: {s}"))));
                }
                Got::Deadline => {
                    return Ok(Err(Failure::Hang(format!(
                        "no answer to PING {PROBE_PING} {} within {scaled:?}",
                        if session_over {
                            "after the worker ended its session, and no new registration"
                        } else {
                            ""
                        }
                    ))));
                }
                Got::Part(from, part) => (from, part),
            };
            let frame = match Frame::decode(part.clone()) {
                Ok(f) => f,
                Err(e) => {
                    return Ok(Err(Failure::Garbage(format!(
                        "an undecodable part ({e}): {}",
                        hex(&part)
                    ))));
                }
            };
            if !registered.contains(&from) {
                if !matches!(frame, Frame::Hello(_)) {
                    return Ok(Err(Failure::Garbage(format!(
                        "{} as the first frame of a new socket",
                        frame.type_name()
                    ))));
                }
                // A new registration: the session goes on there.
                registered.insert(from.clone());
                peer = from;
                self.welcome(&peer);
                self.send(&peer, &probe.to_bytes());
                session_over = false;
                continue;
            }
            match &frame {
                Frame::Hello(_) => {
                    return Ok(Err(Failure::Garbage("a second HELLO on a socket".into())));
                }
                Frame::Welcome(_) | Frame::SynStream(_) => {
                    return Ok(Err(Failure::Garbage(format!(
                        "{}, which only a router sends",
                        frame.type_name()
                    ))));
                }
                _ => {}
            }
            if let Some(id) = frame.stream_id()
                && !seen.contains(&id.get())
            {
                return Ok(Err(Failure::Garbage(format!(
                    "{} on stream {}, which the suite never used",
                    frame.type_name(),
                    id.get()
                ))));
            }
            match frame {
                Frame::Ping(p) if p.id() == PROBE_PING && from == peer => return Ok(Ok(())),
                Frame::Ping(p) if p.id() % 2 == 0 && from == peer => {
                    self.send(&peer, &Frame::from(Ping::new(p.id())).to_bytes());
                }
                Frame::GoAway(_) if from == peer => session_over = true,
                _ => {}
            }
        }
    }

    fn stderr_tail(&self) -> String {
        let s = self.stderr.lock().expect("stderr lock");
        let text = String::from_utf8_lossy(&s);
        let lines: Vec<&str> = text.lines().rev().take(20).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::new();
    for x in b.iter().take(48) {
        let _ = write!(s, "{x:02x} ");
    }
    if b.len() > 48 {
        let _ = write!(s, "... ({} bytes)", b.len());
    }
    s.trim_end().to_owned()
}

// ---- shrinking ----

/// Delta debugging: the smallest frame list (then the shortest frames) that
/// still fails the same way, within `cfg.shrink_budget` plays.
pub async fn shrink(cfg: &FuzzConfig, frames: Vec<Vec<u8>>, failure: &Failure) -> Vec<Vec<u8>> {
    let mut budget = cfg.shrink_budget;
    let mut fails = async |candidate: &[Vec<u8>]| -> bool {
        if budget == 0 {
            return false;
        }
        budget -= 1;
        matches!(play(cfg, candidate).await, Ok(Err(f)) if f.same_kind(failure))
    };
    let mut frames = frames;
    // ddmin over the list of frames.
    let mut n = 2;
    while frames.len() >= 2 {
        let chunk = frames.len().div_ceil(n);
        let mut reduced = false;
        for start in (0..frames.len()).step_by(chunk) {
            let mut rest = frames.clone();
            rest.drain(start..(start + chunk).min(frames.len()));
            if !rest.is_empty() && fails(&rest).await {
                frames = rest;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if n >= frames.len() {
                break;
            }
            n = (2 * n).min(frames.len());
        }
    }
    // Then the bytes of each frame: drop chunks, halving their size.
    for i in 0..frames.len() {
        let mut chunk = frames[i].len().div_ceil(2).max(1);
        loop {
            let mut start = 0;
            while start < frames[i].len() {
                let mut candidate = frames.clone();
                let end = (start + chunk).min(candidate[i].len());
                candidate[i].drain(start..end);
                if fails(&candidate).await {
                    frames = candidate;
                } else {
                    start += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
    }
    frames
}

// ---- the campaign ----

/// Runs `cfg.iterations` iterations over `corpus`; `progress` sees each
/// failure as it is found (after shrinking). Err: the worker could not be
/// started (or another suite fault).
pub async fn fuzz(
    cfg: &FuzzConfig,
    corpus: &[(String, Vec<Vec<u8>>)],
    progress: &mut dyn FnMut(&Found),
) -> Result<Vec<Found>, Fault> {
    if corpus.is_empty() {
        return Err(Fault::Suite(
            "no case sends frames: nothing to mutate".into(),
        ));
    }
    let mut found: Vec<Found> = Vec::new();
    for iteration in 0..cfg.iterations {
        let mut rng = Rng::for_iteration(cfg.seed, iteration);
        let (source, base) = &corpus[rng.below(corpus.len())];
        let frames = mutate(&mut rng, base);
        let mut p = Player::start(cfg).await?;
        let verdict = p.run(cfg, &frames).await;
        let _ = p.child.start_kill();
        let _ = p.child.wait().await;
        let stderr_tail = p.stderr_tail();
        let failure = match verdict? {
            Ok(()) => continue,
            Err(f) => f,
        };
        // One report per kind of failure: the first is shrunk and kept.
        if found.iter().any(|f| f.failure.same_kind(&failure)) {
            continue;
        }
        let shrunk = shrink(cfg, frames.clone(), &failure).await;
        let f = Found {
            iteration,
            source_case: source.clone(),
            failure,
            original: frames,
            shrunk,
            stderr_tail,
        };
        progress(&f);
        found.push(f);
    }
    Ok(found)
}

/// Requirement quoted by saved cases (the decoding rules of every part).
const REQUIREMENT: &str = "A receiver decodes each non-empty message part in the following order and stops at the first check that fails; the failing check determines the reaction.";

/// The case file for a found failure, in the format of `cases/`: the
/// frames as `send_raw` steps, then a PING that must come back, unless the
/// worker ends the session with GOAWAY first.
pub fn case_toml(id: &str, seed: u64, f: &Found) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Found by `zroute-conformance fuzz --seed {seed}` (iteration {}), mutating the frames of\n# {}; shrunk from {} to {} frame(s). The worker's failure: {}: {}",
        f.iteration,
        f.source_case,
        f.original.len(),
        f.shrunk.len(),
        f.failure.kind(),
        f.failure.detail().replace('\n', " ")
    );
    let _ = writeln!(t, "id = {}", toml_str(id));
    let _ = writeln!(t, "section = \"frame-decoding\"");
    let _ = writeln!(t, "level = \"MUST\"");
    let _ = writeln!(t, "requirement = {}", toml_str(REQUIREMENT));
    for frame in &f.shrunk {
        let mut h = String::new();
        for b in frame {
            let _ = write!(h, "{b:02x} ");
        }
        let _ = writeln!(t, "\n[[steps]]\nsend_raw = \"{}\"", h.trim_end());
    }
    let _ = writeln!(
        t,
        "\n[[steps]]\nsend = {{ type = \"PING\", id = {PROBE_PING} }}\n\n[[steps]]\nexpect = {{ type = [\"PING\", \"GOAWAY\"] }}"
    );
    t
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Writes `f` as `<out>/fuzz-found/<name>.toml`, so that `run --cases <out>`
/// runs it; returns the path.
pub fn save(out: &Path, seed: u64, f: &Found) -> Result<PathBuf, String> {
    let dir = out.join("fuzz-found");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = format!(
        "seed-{seed}-iteration-{}-{}",
        f.iteration,
        f.failure.kind().to_ascii_lowercase()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, case_toml(&format!("fuzz-found/{name}"), seed, f))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_per_iteration() {
        let a: Vec<u64> = (0..4)
            .map(|_| Rng::for_iteration(7, 3).next_u64())
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::for_iteration(7, 3).next_u64(),
            Rng::for_iteration(7, 4).next_u64()
        );
        let frames = vec![vec![0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]];
        let m1 = mutate(&mut Rng::for_iteration(1, 9), &frames);
        let m2 = mutate(&mut Rng::for_iteration(1, 9), &frames);
        assert_eq!(m1, m2);
    }

    #[test]
    fn mutations_change_the_frames() {
        let frames = vec![vec![0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]; 3];
        let changed = (0..50)
            .filter(|i| mutate(&mut Rng::for_iteration(5, *i), &frames) != frames)
            .count();
        assert!(changed > 40, "only {changed} of 50 mutated");
    }

    #[test]
    fn raw_stream_ids() {
        assert_eq!(raw_stream_id(&[0, 0, 0, 5, 1, 0, 0, 0]), Some(5));
        assert_eq!(
            raw_stream_id(&[0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 7]),
            Some(7)
        );
        assert_eq!(raw_stream_id(&[0x80, 3]), None);
    }

    #[test]
    fn saved_cases_load() {
        let f = Found {
            iteration: 3,
            source_case: "framing/x".into(),
            failure: Failure::Crash("exit status: 101".into()),
            original: vec![vec![1, 2], vec![3]],
            shrunk: vec![vec![0x80, 3, 0]],
            stderr_tail: String::new(),
        };
        let text = case_toml("fuzz-found/x", 1, &f);
        let case = Case::parse(&text, Path::new("x.toml")).expect(&text);
        assert_eq!(case.id, "fuzz-found/x");
        assert!(matches!(&case.steps[0], Step::SendRaw(b) if b == &[0x80, 3, 0]));
        assert_eq!(case.steps.len(), 3);
    }
}
