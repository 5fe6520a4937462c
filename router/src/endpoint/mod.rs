//! The router's endpoint: every worker session and what decides who gets
//! one. It performs no I/O whatsoever (quinn-proto's `Endpoint` is the
//! model): the caller hands in each part a workers socket received, with
//! the time, and sends what [`Endpoint::poll_transmit`] and each peer's
//! outbox hold.
//!
//! It owns the peer table ([`ConnectionHandle`]s into a slab), parts from
//! unknown peers and the rate limit on answering them (spec #unknown-peer),
//! admission of HELLOs (`--max-workers`, `--hello-rate` and their
//! per-source forms), the session ids, and the drain of every session.
//!
//! It must not touch sockets, channels, tasks or the clock: no tokio, no
//! transport types. What HTTP streams exist, which worker serves a request,
//! and metrics belong to the dispatcher that drives it.

mod admission;
mod peers;
mod report;
#[cfg(test)]
mod tests;
mod timers;

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::time::Instant;

use bytes::Bytes;
use foldhash::HashMap;
use tracing::{debug, info, warn};
use zroute_proto::frame::{Frame, GoAway, Hello};
use zroute_proto::session::{RouterConfig, Session, UnknownPeer};
use zroute_proto::{GoAwayStatus, StreamId};

use self::admission::{Admission, RefusalLog};
pub(crate) use self::admission::{AdmissionLimits, Refusal, Source};
use self::peers::Peers;
pub(crate) use self::peers::{ConnectionHandle, Peer};
use self::report::report_protocol_error;
use self::timers::Timers;

/// Above this many remembered unknown peers, the expired ones are dropped
/// at once rather than at the next timer: a flood of ever new routing ids
/// costs bounded memory.
const MAX_UNKNOWN_ANSWERS: usize = 10_000;

/// What the endpoint is configured with.
#[derive(Clone, Debug)]
pub(crate) struct EndpointConfig {
    pub(crate) session: RouterConfig,
    /// Most parts handled in one message from a worker (spec #security-dos).
    pub(crate) max_frames_per_message: usize,
    /// Most streams open on one worker session, whatever capacity it declares.
    pub(crate) max_streams_per_worker: u32,
    pub(crate) admission: AdmissionLimits,
}

/// Where a HELLO came from, as libzmq reported it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Origin<'a> {
    /// libzmq's `Peer-Address`.
    pub(crate) address: &'a str,
    pub(crate) fd: Option<RawFd>,
}

/// One frame for a peer that has no session: an answer or a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Transmit {
    pub(crate) socket: usize,
    pub(crate) routing_id: Bytes,
    pub(crate) frame: Bytes,
}

/// What became of one part handed to [`Endpoint::handle`].
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The session took it: its events and frames wait.
    Session(ConnectionHandle),
    /// It was a HELLO, and this new session answers it (WELCOME is queued).
    Registered(ConnectionHandle),
    /// The peer's session has closed. Spec #session-errors: handle what it
    /// has left to say, [`forget`](Endpoint::forget) it, then hand the part
    /// in again: it then comes from an unknown peer.
    Ended(ConnectionHandle, Bytes),
    /// A HELLO refused by admission; GOAWAY(0, REFUSED) is queued.
    Refused(Refused),
    /// Answered (see [`poll_transmit`](Endpoint::poll_transmit)) or ignored.
    Unknown,
}

/// A refused registration, for the caller's metrics and log line.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) socket: usize,
    pub(crate) routing_id: Bytes,
    pub(crate) worker: String,
    pub(crate) source: Source,
    pub(crate) fd: Option<RawFd>,
    pub(crate) reason: Refusal,
    pub(crate) sessions: usize,
    /// `Some(n)`: log it, with `n` refusals not logged before it (one line a second).
    pub(crate) unlogged: Option<u64>,
}

/// The router's worker sessions. Methods, quinn's way:
/// - getters: [`get`](Self::get), [`len`](Self::len), [`iter`](Self::iter);
/// - input: [`handle`](Self::handle), [`check_batch`](Self::check_batch),
///   [`handle_timeout`](Self::handle_timeout);
/// - commands: [`drain`](Self::drain), [`forget`](Self::forget);
/// - output: [`poll_transmit`](Self::poll_transmit), [`take_transmit`](Self::take_transmit)
///   (a session's frames into its outbox), [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub(crate) struct Endpoint {
    config: EndpointConfig,
    peers: Peers,
    admission: Admission,
    refusals: RefusalLog,
    /// When each unknown peer (socket, routing id) was last answered.
    unknown_answers: HashMap<(usize, Bytes), Instant>,
    sessions_made: u64,
    draining: bool,
    transmits: VecDeque<Transmit>,
    timers: Timers,
    /// Sessions whose outbox the socket refused, due a retry on a short
    /// tick; some may have been unblocked since (checked when handled).
    blocked: Vec<ConnectionHandle>,
}

impl Endpoint {
    pub(crate) fn new(config: EndpointConfig, now: Instant) -> Self {
        Self {
            admission: Admission::new(config.admission, now),
            config,
            peers: Peers::default(),
            refusals: RefusalLog::default(),
            unknown_answers: HashMap::default(),
            sessions_made: 0,
            draining: false,
            transmits: VecDeque::new(),
            timers: Timers::default(),
            blocked: Vec::new(),
        }
    }

    // ---- getters ----

    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    pub(crate) fn get(&self, h: ConnectionHandle) -> Option<&Peer> {
        self.peers.get(h)
    }

    pub(crate) fn get_mut(&mut self, h: ConnectionHandle) -> Option<&mut Peer> {
        self.peers.get_mut(h)
    }

    /// The session of a routing id on a socket, live or closed.
    #[cfg(test)]
    pub(crate) fn find(&self, socket: usize, routing_id: &[u8]) -> Option<ConnectionHandle> {
        self.peers.find(socket, routing_id)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (ConnectionHandle, &Peer)> {
        self.peers.iter()
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining
    }

    // ---- input ----

    /// Spec #security-dos: a message of more parts than
    /// --max-frames-per-message is not handled at all, and its sender's
    /// session ends with GOAWAY(PROTOCOL_ERROR), so that one batch cannot
    /// hold the router. `Err(Some(h))`: session `h` has that GOAWAY to send.
    pub(crate) fn check_batch(
        &mut self,
        now: Instant,
        socket: usize,
        routing_id: &[u8],
        parts: usize,
    ) -> Result<(), Option<ConnectionHandle>> {
        let limit = self.config.max_frames_per_message;
        if parts <= limit {
            return Ok(());
        }
        let live = self
            .peers
            .find(socket, routing_id)
            .filter(|h| self.peers.get(*h).is_some_and(|p| !p.session.is_closed()));
        match live {
            Some(h) => {
                let peer = self.peers.get_mut(h).expect("found");
                warn!(worker = %peer.worker_id, session = %peer.session_id, parts, limit, "message with too many frames: session ended");
                peer.session.go_away(GoAwayStatus::PROTOCOL_ERROR);
                self.take_transmit(h, now);
                Err(Some(h))
            }
            // No session: nothing is kept, nothing is answered.
            None => {
                debug!(peer = %hex(routing_id), parts, limit, "message with too many frames from an unknown peer: ignored");
                Err(None)
            }
        }
    }

    /// One part from `routing_id` on workers socket `socket`. `origin` is
    /// where it came from, when libzmq said (for HELLOs).
    pub(crate) fn handle(
        &mut self,
        now: Instant,
        socket: usize,
        routing_id: &Bytes,
        origin: Option<Origin<'_>>,
        part: Bytes,
    ) -> Outcome {
        if let Some(h) = self.peers.find(socket, routing_id) {
            let peer = self.peers.get_mut(h).expect("indexed peers exist");
            if peer.session.is_closed() {
                return Outcome::Ended(h, part);
            }
            peer.last_heard = now;
            peer.session.handle_part(now, part);
            self.take_transmit(h, now);
            return Outcome::Session(h);
        }
        self.handle_unknown(now, socket, routing_id, origin, part)
    }

    /// Fires every session's due timers (heartbeats, spec #heartbeat; the
    /// death of a silent one) and forgets old unknown-peer answers. Pushes
    /// to `due` each session with something to do: a timer fired, or its
    /// outbox is blocked and due a retry.
    pub(crate) fn handle_timeout(&mut self, now: Instant, due: &mut Vec<ConnectionHandle>) {
        let start = due.len();
        self.timers.take_due(&mut self.peers, now, due);
        for &h in &due[start..] {
            if let Some(peer) = self.peers.get_mut(h) {
                peer.session.handle_timeout(now);
            }
            self.timers.arm(&mut self.peers, h);
        }
        let peers = &self.peers;
        self.blocked
            .retain(|&h| peers.get(h).is_some_and(|p| p.blocked_since.is_some()));
        due.extend_from_slice(&self.blocked);
        let interval = self.config.session.heartbeat_interval;
        self.unknown_answers
            .retain(|_, t| now.saturating_duration_since(*t) < interval);
    }

    // ---- commands ----

    /// Spec #router-shutdown: no new sessions (a HELLO gets GOAWAY(0, OK)),
    /// and GOAWAY(OK) to every session. Returns the sessions that have it
    /// to send; false the second time.
    pub(crate) fn drain(&mut self, now: Instant, sessions: &mut Vec<ConnectionHandle>) -> bool {
        if self.draining {
            return false;
        }
        self.draining = true;
        let handles: Vec<ConnectionHandle> = self.peers.iter().map(|(h, _)| h).collect();
        for h in handles {
            self.peers
                .get_mut(h)
                .expect("listed")
                .session
                .go_away(GoAwayStatus::OK);
            self.take_transmit(h, now);
            sessions.push(h);
        }
        true
    }

    /// Removes a session from the table, its admission count with it.
    pub(crate) fn forget(&mut self, h: ConnectionHandle) -> Option<Peer> {
        let peer = self.peers.remove(h)?;
        self.admission.closed(&peer.source);
        Some(peer)
    }

    /// A worker's declared capacity, within --max-streams-per-worker.
    pub(crate) fn capped(&self, declared: u32, h: ConnectionHandle) -> u32 {
        let limit = self.config.max_streams_per_worker;
        if declared > limit {
            let (worker, session) = self
                .peers
                .get(h)
                .map_or(("", ""), |p| (p.worker_id.as_str(), p.session_id.as_str()));
            info!(%worker, %session, declared, limit, "worker capacity capped");
        }
        declared.min(limit)
    }

    // ---- output ----

    /// The next frame for a peer without a session.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Moves a session's queued frames to its outbox, and logs the protocol
    /// errors they answer (spec #error-reporting), whichever input raised them.
    pub(crate) fn take_transmit(&mut self, h: ConnectionHandle, now: Instant) {
        if let Some(peer) = self.peers.get_mut(h) {
            while let Some(frame) = peer.session.poll_transmit(now) {
                peer.outbox.push_back(frame.to_bytes());
            }
            while let Some(error) = peer.session.poll_protocol_error() {
                report_protocol_error(peer, &error, now);
            }
            // Whatever the caller did to the session since, this is where
            // its deadline may have moved earlier.
            self.timers.arm(&mut self.peers, h);
        }
    }

    /// The earliest session timer, without visiting every session.
    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        self.timers.next(&mut self.peers)
    }

    /// Records that the socket refused `h`'s outbox (its `blocked_since`
    /// just set): [`handle_timeout`](Self::handle_timeout) hands it back for
    /// a retry while it stays blocked.
    pub(crate) fn note_blocked(&mut self, h: ConnectionHandle) {
        self.blocked.push(h);
    }

    /// Whether some session waits to retry its outbox.
    pub(crate) fn has_blocked(&self) -> bool {
        !self.blocked.is_empty()
    }

    // ---- unknown peers and registration ----

    fn handle_unknown(
        &mut self,
        now: Instant,
        socket: usize,
        routing_id: &Bytes,
        origin: Option<Origin<'_>>,
        part: Bytes,
    ) -> Outcome {
        let hello = match UnknownPeer::classify(part) {
            UnknownPeer::Hello(hello) => hello,
            UnknownPeer::Ignore => return Outcome::Unknown,
            UnknownPeer::Answer(frame) => {
                self.answer_unknown(now, socket, routing_id, &frame);
                return Outcome::Unknown;
            }
        };
        if self.draining {
            self.refuse_hello(socket, routing_id, GoAwayStatus::OK);
            return Outcome::Unknown;
        }
        let source = origin.map_or(Source::Unknown, |o| Source::from_peer_address(o.address));
        let fd = origin.and_then(|o| o.fd);
        if let Err(reason) = self.admission.admit(self.peers.len(), &source, now) {
            self.refuse_hello(socket, routing_id, GoAwayStatus::REFUSED);
            return Outcome::Refused(Refused {
                socket,
                routing_id: routing_id.clone(),
                worker: worker_id(&hello).into_owned(),
                source,
                fd,
                reason,
                sessions: self.peers.len(),
                unlogged: self.refusals.take(now),
            });
        }
        self.sessions_made += 1;
        let session_id = format!("{}-{}", self.config.session.router_id, self.sessions_made);
        match Session::accept(&self.config.session, hello, &session_id, now) {
            Ok(session) => {
                let hello = session.hello().expect("accepted sessions keep their HELLO");
                let worker_id = worker_id(hello).into_owned();
                self.admission.opened(&source);
                let peer = Peer {
                    session,
                    socket,
                    routing_id: routing_id.clone(),
                    session_id,
                    worker_id,
                    last_heard: now,
                    rtt: None,
                    outbox: VecDeque::new(),
                    blocked_since: None,
                    timer_at: None,
                    source,
                    fd,
                    dirty: false,
                    reports: (now, 0),
                };
                let h = self.peers.insert(self.sessions_made, peer);
                self.take_transmit(h, now);
                Outcome::Registered(h)
            }
            Err(rejection) => {
                warn!(peer = %hex(routing_id), status = %rejection.status, reason = %rejection.reason, "HELLO refused");
                self.push_transmit(socket, routing_id, &rejection.frame());
                Outcome::Unknown
            }
        }
    }

    /// Spec #unknown-peer: rate-limited, one answer per peer per heartbeat interval.
    fn answer_unknown(&mut self, now: Instant, socket: usize, routing_id: &Bytes, frame: &Frame) {
        let interval = self.config.session.heartbeat_interval;
        let key = (socket, routing_id.clone());
        let last = self.unknown_answers.get(&key).copied();
        if last.is_some_and(|t| now.saturating_duration_since(t) < interval) {
            return;
        }
        if self.unknown_answers.len() > MAX_UNKNOWN_ANSWERS {
            self.unknown_answers
                .retain(|_, t| now.saturating_duration_since(*t) < interval);
        }
        self.unknown_answers.insert(key, now);
        debug!(peer = %hex(routing_id), "frame from an unknown peer: answered GOAWAY");
        self.push_transmit(socket, routing_id, frame);
    }

    /// Answers a HELLO that will not become a session with GOAWAY(0, status).
    fn refuse_hello(&mut self, socket: usize, routing_id: &Bytes, status: GoAwayStatus) {
        let goaway: Frame = GoAway::new(StreamId::ZERO, status).into();
        self.push_transmit(socket, routing_id, &goaway);
    }

    fn push_transmit(&mut self, socket: usize, routing_id: &Bytes, frame: &Frame) {
        self.transmits.push_back(Transmit {
            socket,
            routing_id: routing_id.clone(),
            frame: frame.to_bytes(),
        });
    }
}

/// The `id` attribute of a HELLO, as logged.
fn worker_id(hello: &Hello) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(hello.attributes().get("id").map_or(&b""[..], |v| v))
}

/// A routing id for a log line: libzmq's generated ids are binary.
pub(crate) fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}
