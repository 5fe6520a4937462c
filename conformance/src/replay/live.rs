//! The live side of a replay: the recorded router frames played against a
//! fresh worker, each once the worker has said what the recorded one had
//! said before it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::time::{Instant as TokioInstant, sleep_until};
use zroute_proto::frame::{Data, Ping, Welcome};
use zroute_proto::{Frame, HeaderBlock, SettingId};
use zroute_trace::{Direction, Trace};

use super::model::{Cover, Model, Noise, compare, stream_of};
use super::{FINAL_TIMEOUT, Live, ReplayConfig, STEP_TIMEOUT, Verdict, verdict};
use crate::runner::{HELLO_TIMEOUT, Outcome, describe, hex};
use crate::spawn::{SpawnError, spawn_worker};

enum Woke {
    Frame,
    Exited(String),
    Deadline,
}

impl Live {
    pub(super) async fn start(
        cfg: &ReplayConfig,
        stderr: Arc<Mutex<Vec<u8>>>,
    ) -> Result<Self, String> {
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
    pub(super) async fn run(&mut self, trace: &Trace, cfg: &ReplayConfig) -> Result<(), Verdict> {
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
