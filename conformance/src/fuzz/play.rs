//! One play: a fresh worker, the frames, then a PING that must come back.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::process::Child;
use tokio::task::JoinHandle;
use tokio::time::{Instant as TokioInstant, sleep_until};
use zroute_proto::frame::{Ping, Welcome};
use zroute_proto::{Frame, HeaderBlock};
use zroute_transport::{Context, PeerId, Socket};

use super::mutate::raw_stream_id;
use super::outcome::{Failure, Fault, FuzzConfig};
use crate::runner::hex;
use crate::spawn::{SpawnError, spawn_worker};

/// The liveness deadline before `timeout_scale`.
const ALIVE_WITHIN: Duration = Duration::from_secs(5);
/// The id of the suite's PING; odd, the router's parity.
pub(super) const PROBE_PING: u32 = 0x7fff_0001;
/// How long the end of a stopped worker's stderr is waited for (a
/// grandchild that keeps the pipe open must not hold the campaign).
const STDERR_DRAIN: Duration = Duration::from_secs(2);

/// Plays `frames` against a fresh worker; `Err` is a failure of the worker,
/// `Ok(Err(..))` one of the suite (the worker did not start, ...).
pub async fn play(cfg: &FuzzConfig, frames: &[Vec<u8>]) -> Result<Result<(), Failure>, Fault> {
    let mut p = Player::start(cfg).await?;
    let verdict = p.run(cfg, frames).await;
    p.stop().await;
    verdict
}

pub(super) struct Player {
    _ctx: Context,
    socket: Socket,
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_task: Option<JoinHandle<()>>,
}

enum Got {
    Part(PeerId, Bytes),
    Exited(String),
    Deadline,
}

impl Player {
    pub(super) async fn start(cfg: &FuzzConfig) -> Result<Self, Fault> {
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
            stderr_task: Some(w.stderr_task),
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

    pub(super) async fn run(
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
                        hex(&part, 48)
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

    /// Kills the worker and waits for the end of its stderr, so that the
    /// tail holds its last words: a crashed worker's exit can be seen before
    /// the reader task has copied what it wrote just before.
    pub(super) async fn stop(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        if let Some(task) = self.stderr_task.take() {
            let _ = tokio::time::timeout(STDERR_DRAIN, task).await;
        }
    }

    pub(super) fn stderr_tail(&self) -> String {
        let s = self.stderr.lock().expect("stderr lock");
        let text = String::from_utf8_lossy(&s);
        let lines: Vec<&str> = text.lines().rev().take(20).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}
