//! Running the worker: starting it (or taking over an attached one), the
//! events of a case (frames, its exit, deadlines), the wire log, signals,
//! and the session switches of re-registration and `--attach`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::process::Child;
use tokio::time::{Instant as TokioInstant, sleep_until};
use zroute_proto::frame::{GoAway, Ping};
use zroute_proto::{Frame, GoAwayStatus, StreamId};
use zroute_transport::{Context, Incoming, PeerId, Socket};

use super::connection::Connection;
use super::monitor::ResponseMonitor;
use super::verdict::{Outcome, Verdict, crashed, verdict};
use super::wire::{describe, hex};
use super::{Event, Run, RunConfig};
use crate::case::{Case, FrameMatch, Vars};
use crate::spawn::{SpawnError, spawn_named, spawn_worker};

impl Run {
    pub(super) async fn start(
        case: &Case,
        cfg: &RunConfig,
        stderr: Arc<Mutex<Vec<u8>>>,
    ) -> Result<Self, String> {
        if let Some(attached) = &cfg.attach {
            let (ctx, socket) = attached.take()?;
            let what = format!("attached at {}", attached.endpoint);
            return Ok(Self::new(ctx, socket, None, None, case, what));
        }
        let (w, published) = match &case.dns {
            Some(setup) => {
                let (w, published) = spawn_named(&cfg.worker, &case.worker_args, stderr, setup)
                    .map_err(SpawnError::into_message)?;
                (w, Some(published))
            }
            None => {
                let w = spawn_worker(&cfg.worker, &case.worker_args, stderr, true)
                    .map_err(SpawnError::into_message)?;
                (w, None)
            }
        };
        let what = format!("worker: {}", w.argv.join(" "));
        let mut run = Self::new(
            w.ctx,
            w.socket,
            Some(w.child),
            Some(w.stderr_task),
            case,
            what,
        );
        run.published = published;
        Ok(run)
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
            connection: Connection::default(),
            published: None,
            reached: Default::default(),
        }
    }

    /// When `matched` is a tolerated (non-strict) alternative, records the
    /// frame and the strict alternatives the verdict will name.
    pub(super) fn note_tolerated(
        &mut self,
        matched: &FrameMatch,
        alts: &[FrameMatch],
        frame: &Frame,
    ) {
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

    pub(super) fn note(&mut self, dir: &str, what: impl AsRef<str>) {
        let t = self.start.elapsed().as_secs_f64();
        self.log.push(format!("{t:>8.3}  {dir}  {}", what.as_ref()));
    }

    /// The next event before `deadline`: a frame, the worker's exit, or the deadline.
    pub(super) async fn next(&mut self, deadline: TokioInstant) -> Result<Event, Verdict> {
        if let Some((peer, frame, raw)) = self.pending.pop_front() {
            return Ok(Event::Frame { peer, frame, raw });
        }
        loop {
            enum Woke {
                Msg(std::io::Result<Incoming>),
                Exit(String),
                Deadline,
                GraceOver,
            }
            let woke = if let Some(grace) = self.exit_grace {
                // The worker has exited: frames it sent just before may still be in
                // flight, so read for a short grace period before reporting the exit.
                tokio::select! {
                    msg = self.socket.next() => Woke::Msg(msg),
                    () = sleep_until(grace.min(deadline)) => Woke::GraceOver,
                }
            } else {
                tokio::select! {
                    msg = self.socket.next() => Woke::Msg(msg),
                    status = wait(&mut self.child) => {
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
                    let msg = match msg {
                        Ok(Incoming::Message(msg)) => msg,
                        Ok(Incoming::Event(event)) => {
                            if let zroute_transport::SocketEvent::Accepted {
                                fd,
                                local: Some(local),
                                ..
                            } = &event
                            {
                                self.reached.by_fd.insert(*fd, local.ip());
                            }
                            let at = self.start.elapsed().as_secs_f64();
                            if let Some(line) =
                                self.connection.event(&event, self.peer.is_some(), at)
                            {
                                self.note("--", line);
                            }
                            continue;
                        }
                        Err(e) => {
                            return Err(verdict(
                                Outcome::Error,
                                "a message",
                                format!("receive failed: {e}"),
                            ));
                        }
                    };
                    let fd = msg.origin().and_then(|o| o.fd);
                    let Some((peer, body)) = msg.split_peer() else {
                        return Err(verdict(
                            Outcome::Error,
                            "a routed message",
                            "a message without routing id",
                        ));
                    };
                    // The accept of a connection is read before anything it sends.
                    if let Some(ip) = fd.and_then(|fd| self.reached.by_fd.get(&fd)) {
                        self.reached.by_peer.insert(peer.clone(), *ip);
                    }
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

    /// Whether `peer` reached the ROUTER at `at`, when a matcher asks.
    pub(super) fn reached_at(&self, peer: &PeerId, at: Option<std::net::Ipv4Addr>) -> bool {
        at.is_none_or(|at| self.reached.by_peer.get(peer) == Some(&std::net::IpAddr::V4(at)))
    }

    /// The suite's nameserver answers `addresses` (or fails) from now on.
    pub(super) fn dns(
        &mut self,
        addresses: Option<&[std::net::Ipv4Addr]>,
        failing: bool,
    ) -> Result<(), Verdict> {
        let Some(published) = &self.published else {
            return Err(verdict(
                Outcome::Error,
                "a valid case",
                "a dns step in a case without `dns`",
            ));
        };
        match addresses {
            Some(addresses) => {
                published.answer(addresses);
                self.note("--", format!("DNS now answers {addresses:?}"));
            }
            None => {
                published.set_failing(failing);
                self.note(
                    "--",
                    if failing {
                        "DNS now answers SERVFAIL"
                    } else {
                        "DNS answers again"
                    },
                );
            }
        }
        Ok(())
    }

    /// Sends the SIGnal to the worker process with kill(1).
    pub(super) fn signal(&mut self, sig: &str) -> Result<(), Verdict> {
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

    /// Logs a received frame and answers worker PINGs; returns the frame for matching.
    pub(super) fn receive(
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
        if matches!(frame, Ok(Frame::Hello(_))) {
            self.connection.hello(from_current);
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

    /// `--attach`: ends the worker's session so that it registers again at
    /// once, for the next case, on the socket that case takes over.
    pub(super) fn hand_over(&mut self) {
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
    pub(super) async fn drop_stale_sessions(
        &mut self,
        deadline: TokioInstant,
    ) -> Result<(), Verdict> {
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

    /// A new session on a new socket: stream ids start again at 1.
    pub(super) fn switch_peer(&mut self, peer: PeerId) {
        self.peer = Some(peer);
        self.monitor = ResponseMonitor::default();
        self.finished.clear();
        self.next_stream = 1;
        self.vars.last_stream = 0;
    }
}

/// How long frames are still read after the worker exited (they may be in flight).
const EXIT_GRACE: Duration = Duration::from_millis(200);

/// The worker's exit status; never resolves when the suite did not start it.
async fn wait(child: &mut Option<Child>) -> std::io::Result<std::process::ExitStatus> {
    match child {
        Some(c) => c.wait().await,
        None => std::future::pending().await,
    }
}
