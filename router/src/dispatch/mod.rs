//! The dispatcher: one task that owns the ROUTER sockets and every worker
//! session, and carries streams between them and the HTTP side.
//!
//! HTTP tasks talk to it through one channel ([`Msg`]); it answers each stream
//! through that stream's own event channel. Every wakeup is drained in full
//! (all queued messages, all queued parts) before frames are flushed, and each
//! worker gets all of one flush's frames as one multipart message, so a busy
//! router sends few, large messages.
//!
//! Memory per stream stays bounded: request bytes wait here only up to the
//! stream's credit (a semaphore the HTTP task acquires before sending), and
//! response bytes reach the HTTP task only as fast as the worker's window,
//! which the HTTP task reopens as the client takes them.

mod admission;
mod connections;
mod table;

use std::collections::VecDeque;
use std::future::Future;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use foldhash::HashMap;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use zroute_proto::frame::{Frame, Hello};
use zroute_proto::session::{CloseReason, Event, ResetOrigin, RouterConfig, Session, UnknownPeer};
use zroute_proto::{FrameType, GoAwayStatus, HeaderBlock, RstCode, StreamId, http};
use zroute_transport::{
    HandshakeFailure, Incoming, Multipart, Origin, PeerId, SendError, Socket, SocketEvent,
};

use self::admission::{Admission, AdmissionLimits, RefusalLog, Source};
use self::connections::{Connections, LogLimit, log_key};
use self::table::{Entry, Table};
use crate::metrics::{Metrics, ReasonLabels};
use crate::record::Recorder;
use zroute_trace::Direction;

/// A worker session's key: the index of the socket it came in on, then its routing id.
type PeerKey = Bytes;

/// Most frames sent to one worker in one message.
const MAX_PARTS_PER_MESSAGE: usize = 256;

/// How a part that is a HELLO starts (spec #frame-header, #frame-types): a
/// control frame of version 3 and type HELLO. The workers sockets read the
/// origin of such messages only: the source a HELLO is counted against.
pub(crate) fn hello_prefix() -> Vec<u8> {
    let [hi, lo] = FrameType::HELLO.to_wire().to_be_bytes();
    vec![0x80, 0x03, hi, lo]
}

/// A connection's lines (closes, failed handshakes) are logged per peer host
/// in bursts of this many, then one a second: a peer that is refused or
/// dropped reconnects at once, and the first few lines say the most.
const CONNECTION_LOG_BURST: u32 = 5;
const CONNECTION_LOG_EVERY: Duration = Duration::from_secs(1);

/// One stream as the HTTP side names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct StreamKey {
    peer: PeerKey,
    id: StreamId,
}

/// What HTTP tasks ask of the dispatcher.
#[derive(Debug)]
pub(crate) enum Msg {
    Open(OpenRequest),
    /// Request body bytes; their credit was acquired first.
    Data {
        key: StreamKey,
        data: Bytes,
        fin: bool,
    },
    Trailers {
        key: StreamKey,
        block: HeaderBlock,
    },
    /// The client took `n` response bytes: the worker may send that many more.
    Release {
        key: StreamKey,
        n: usize,
    },
    /// The client is gone, or the router gives up on the stream.
    Cancel {
        key: StreamKey,
    },
    Workers(oneshot::Sender<Vec<WorkerInfo>>),
    /// Stop taking new streams and drain every session.
    Drain,
    /// The same, for a new router that takes over: at the stop, wait for the
    /// workers to leave (see `let_workers_leave`).
    Handover,
    /// Reset what is left and stop.
    Stop(oneshot::Sender<()>),
}

#[derive(Debug)]
pub(crate) struct OpenRequest {
    pub(crate) head: HeaderBlock,
    pub(crate) fin: bool,
    pub(crate) host: String,
    pub(crate) path: String,
    pub(crate) events: mpsc::UnboundedSender<StreamEvent>,
    pub(crate) credit: Arc<Semaphore>,
    pub(crate) reply: oneshot::Sender<Result<Opened, OpenError>>,
    /// The streams this request already had, on workers that did not answer
    /// it: a retry goes to another session where the pool has one.
    pub(crate) tried: Vec<StreamKey>,
}

#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) key: StreamKey,
    /// The pool that took the stream: the route's text, or "" for the default pool.
    pub(crate) pool: String,
    pub(crate) worker: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// No connected worker serves this request.
    NoWorkers,
    /// Every worker of the pool is busy and the queue is full.
    QueueFull,
    /// The router is shutting down.
    ShuttingDown,
    /// The head cannot be sent (the HTTP side built an invalid block).
    BadRequest,
}

/// What happens on a stream, in order, as the HTTP task sees it.
#[derive(Debug)]
pub(crate) enum StreamEvent {
    Head {
        block: HeaderBlock,
        fin: bool,
    },
    Data {
        data: Bytes,
        fin: bool,
    },
    Trailers(HeaderBlock),
    /// The stream ended before both sides finished.
    Reset(ResetCause),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResetCause {
    /// The worker did not process it: safe to send elsewhere (REFUSED_STREAM, or above a GOAWAY's last-good).
    Refused,
    /// The worker's session died or ended in error; the worker may have processed it.
    WorkerLost,
    /// The worker reset it, or broke the protocol on it.
    Error(RstCode),
}

/// One row of the admin `/workers` listing.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct WorkerInfo {
    pub(crate) id: String,
    pub(crate) session: String,
    pub(crate) endpoint: String,
    pub(crate) routes: Vec<String>,
    pub(crate) capacity: u32,
    pub(crate) in_flight: u32,
    pub(crate) draining: bool,
    pub(crate) last_heard_ms_ago: u64,
    pub(crate) rtt_ms: Option<f64>,
}

/// The HTTP side's handle on the dispatcher.
#[derive(Clone, Debug)]
pub(crate) struct Handle {
    tx: mpsc::UnboundedSender<Msg>,
}

impl Handle {
    pub(crate) fn send(&self, msg: Msg) -> bool {
        self.tx.send(msg).is_ok()
    }
}

struct Peer {
    session: Session,
    socket: usize,
    routing_id: PeerId,
    session_id: String,
    last_heard: Instant,
    rtt: Option<Duration>,
    /// Frames that could not be handed to libzmq yet (the peer's queue was full).
    outbox: VecDeque<Bytes>,
    blocked_since: Option<Instant>,
    /// Protocol errors logged in the current second, for rate-limiting them
    /// (spec #error-reporting).
    reports: (Instant, u32),
    /// Where its HELLO came from, as --max-workers-per-source counts it.
    source: Source,
    /// The descriptor of its connection, if libzmq said.
    fd: Option<RawFd>,
}

/// Most protocol errors logged per worker session per second.
const REPORTS_PER_SECOND: u32 = 10;

struct StreamCtx {
    events: mpsc::UnboundedSender<StreamEvent>,
    credit: Arc<Semaphore>,
    /// Request bytes waiting for the worker's window.
    pending: VecDeque<Bytes>,
    pending_fin: bool,
    pending_trailers: Option<HeaderBlock>,
    /// HEAD, 204 or 304: any DATA the worker sends is discarded.
    discard_body: bool,
    is_head: bool,
}

struct Pending {
    request: OpenRequest,
    queued_at: Instant,
}

/// The dispatcher's limits on what peers may make it hold.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Requests waiting for a worker with spare capacity.
    pub(crate) queue: usize,
    /// Parts handled in one message from a worker.
    pub(crate) frames_per_message: usize,
    /// Streams open on one worker session at once.
    pub(crate) streams_per_worker: u32,
    /// Worker sessions at once.
    pub(crate) workers: usize,
    /// Worker sessions at once from one source (host, or ipc:// user).
    pub(crate) workers_per_source: usize,
    /// New worker sessions per second (and per burst).
    pub(crate) hello_rate: u32,
    /// New worker sessions per second (and per burst) from one source.
    pub(crate) hello_rate_per_source: u32,
    /// After start, how long a request no worker serves yet waits in the queue.
    pub(crate) startup_grace: Duration,
}

pub(crate) struct Dispatcher {
    sockets: Vec<Socket>,
    endpoints: Vec<String>,
    rx: mpsc::UnboundedReceiver<Msg>,
    peers: HashMap<PeerKey, Peer>,
    table: Table,
    streams: HashMap<StreamKey, StreamCtx>,
    queue: VecDeque<Pending>,
    queue_limit: usize,
    /// Most parts handled in one message from a worker (spec #security-dos).
    max_frames_per_message: usize,
    /// Most streams open on one worker session, whatever capacity it declares.
    max_streams_per_worker: u32,
    session_config: RouterConfig,
    /// --max-workers, --hello-rate and their per-source forms.
    admission: Admission,
    /// Every workers endpoint uses CURVE: what a failed handshake means.
    curve: bool,
    /// The connections the sockets' monitors reported.
    connections: Connections,
    /// Sessions by their connection, to name the worker whose connection closed.
    by_fd: HashMap<(usize, RawFd), PeerKey>,
    connection_logs: LogLimit,
    /// Until then (--startup-grace after start) a request no registered
    /// worker serves waits in the queue: after a router restart, the
    /// workers are on their way back. None once it has ended and the
    /// requests still waiting have had their answer.
    grace_until: Option<Instant>,
    refusals: RefusalLog,
    draining: bool,
    /// When GOAWAY went to every worker (`drain`).
    drained_at: Option<Instant>,
    /// A new router takes over: its workers are to reach it at once.
    handing_over: bool,
    sessions_made: u64,
    /// Peers whose sessions have frames or events to handle.
    dirty: Vec<PeerKey>,
    /// Streams whose request side just ended: they may have finished without an event.
    ended: Vec<StreamKey>,
    /// Sessions whose worker is no longer connected (a send found no route):
    /// dropped once everything already received from them is handled.
    departed: Vec<PeerKey>,
    metrics: Arc<Metrics>,
    unknown_answers: HashMap<PeerKey, Instant>,
    /// `--record`: every session's frames, both ways.
    recorder: Option<Recorder>,
}

impl Dispatcher {
    /// `sockets` should be watched (`Socket::watch`) and ask for the origin
    /// of HELLOs ([`hello_prefix`]); `curve` says whether they use CURVE.
    pub(crate) fn new(
        sockets: Vec<Socket>,
        endpoints: Vec<String>,
        curve: bool,
        session_config: RouterConfig,
        limits: Limits,
        metrics: Arc<Metrics>,
        recorder: Option<Recorder>,
    ) -> (Self, Handle) {
        let (tx, rx) = mpsc::unbounded_channel();
        let admission = AdmissionLimits {
            max_workers: limits.workers,
            max_per_source: limits.workers_per_source,
            rate: limits.hello_rate,
            rate_per_source: limits.hello_rate_per_source,
        };
        let dispatcher = Self {
            connections: Connections::new(sockets.len()),
            curve,
            by_fd: HashMap::default(),
            connection_logs: LogLimit::new(CONNECTION_LOG_BURST, CONNECTION_LOG_EVERY),
            sockets,
            endpoints,
            rx,
            peers: HashMap::default(),
            table: Table::default(),
            streams: HashMap::default(),
            queue: VecDeque::new(),
            queue_limit: limits.queue,
            max_frames_per_message: limits.frames_per_message,
            max_streams_per_worker: limits.streams_per_worker,
            session_config,
            admission: Admission::new(admission, Instant::now()),
            grace_until: Some(Instant::now() + limits.startup_grace),
            refusals: RefusalLog::default(),
            draining: false,
            drained_at: None,
            handing_over: false,
            sessions_made: 0,
            dirty: Vec::new(),
            ended: Vec::new(),
            departed: Vec::new(),
            metrics,
            unknown_answers: HashMap::default(),
            recorder,
        };
        (dispatcher, Handle { tx })
    }

    pub(crate) async fn run(mut self) {
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                biased;
                msg = self.rx.recv() => match msg {
                    Some(Msg::Stop(done)) => {
                        self.stop();
                        self.let_workers_leave().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(msg) => {
                        self.handle_msg(msg);
                        // Take everything else already queued before flushing.
                        while let Ok(msg) = self.rx.try_recv() {
                            if let Msg::Stop(done) = msg {
                                self.stop();
                                self.let_workers_leave().await;
                                let _ = done.send(());
                                return;
                            }
                            self.handle_msg(msg);
                        }
                    }
                    None => return,
                },
                ready = recv_any(&mut self.sockets) => match ready {
                    Ok((index, incoming)) => self.handle_incoming(index, incoming),
                    Err(e) => {
                        warn!(error = %e, "worker socket receive failed");
                    }
                },
                () = sleep_until(deadline) => self.handle_timeouts(),
            }
            self.settle();
            self.drop_departed();
        }
    }

    // ---- input from workers ----

    fn drain_sockets(&mut self) {
        for index in 0..self.sockets.len() {
            // Bounded, so one chatty socket cannot starve the HTTP side.
            // Events first, as `Socket::next` returns them: a connection's
            // accept comes before its messages.
            for _ in 0..1024 {
                let next = match self.sockets[index].try_event() {
                    Ok(Some(event)) => Ok(Some(Incoming::Event(event))),
                    Ok(None) => self.sockets[index]
                        .try_recv()
                        .map(|m| m.map(Incoming::Message)),
                    Err(e) => Err(e),
                };
                match next {
                    Ok(Some(Incoming::Message(msg))) => self.handle_message(index, msg),
                    Ok(Some(Incoming::Event(event))) => self.handle_event(index, event),
                    Ok(None) => break,
                    Err(e) => {
                        warn!(error = %e, "worker socket receive failed");
                        break;
                    }
                }
            }
        }
    }

    /// Messages only: what a connection sent before it closed.
    fn drain_messages(&mut self, index: usize) {
        for _ in 0..1024 {
            match self.sockets[index].try_recv() {
                Ok(Some(msg)) => self.handle_message(index, msg),
                Ok(None) => break,
                Err(e) => {
                    warn!(error = %e, "worker socket receive failed");
                    break;
                }
            }
        }
    }

    /// A connection event of socket `index` (see `connections`).
    fn handle_event(&mut self, index: usize, event: SocketEvent) {
        let now = Instant::now();
        match event {
            SocketEvent::Accepted { fd, peer } => {
                self.metrics.connections_accepted.inc();
                debug!(endpoint = %self.endpoints[index], peer = %display_peer(peer.as_ref()), "worker connection accepted");
                self.connections.accepted(index, fd, peer, now);
            }
            SocketEvent::HandshakeFailed(failure) => {
                self.metrics
                    .handshake_failures
                    .get_or_create(&ReasonLabels {
                        reason: failure.as_str(),
                    })
                    .inc();
                self.connections.handshake_failed(index, failure);
            }
            SocketEvent::Disconnected { fd } => {
                self.metrics.connections_closed.inc();
                // Whatever the connection sent before it closed is handled
                // first, so that its session, if it made one, is known.
                self.drain_messages(index);
                let closed = self.connections.closed(index, fd, now);
                let peer = display_peer(closed.peer.as_ref());
                let endpoint = self.endpoints[index].as_str();
                let quiet = closed.failure.is_some_and(|f| {
                    matches!(f, HandshakeFailure::Auth(_) | HandshakeFailure::NoDetail(_))
                });
                if quiet {
                    // The ZAP handler logs a refused key; a connection lost
                    // mid-handshake says nothing an operator can act on.
                    debug!(endpoint, %peer, failure = ?closed.failure, "worker handshake failed");
                    return;
                }
                let Some(unlogged) = self
                    .connection_logs
                    .take(&log_key(closed.peer.as_ref()), now)
                else {
                    return;
                };
                match closed.failure {
                    Some(failure) => self.report_handshake_failure(index, failure, &peer, unlogged),
                    None => {
                        let session = self.by_fd.get(&(index, fd)).and_then(|key| {
                            let peer = self.peers.get(key)?;
                            let worker = self.table.get(key).map_or("", |e| e.worker_id.as_str());
                            Some(format!("{} ({worker})", peer.session_id))
                        });
                        info!(
                            endpoint,
                            %peer,
                            lived_ms = closed.lived.map(|d| d.as_millis() as u64),
                            session = session.as_deref().unwrap_or("none"),
                            unlogged,
                            "worker connection closed"
                        );
                    }
                }
            }
            // A success says nothing the session does not; a ROUTER never connects.
            _ => {}
        }
    }

    /// Says what a failed handshake means and what to do about it. A key
    /// refused by the allowlist is the ZAP handler's to log.
    fn report_handshake_failure(
        &self,
        index: usize,
        failure: HandshakeFailure,
        peer: &str,
        unlogged: u64,
    ) {
        let endpoint = self.endpoints[index].as_str();
        let reason = failure.as_str();
        match failure {
            HandshakeFailure::MechanismMismatch if self.curve => warn!(
                endpoint,
                peer,
                reason,
                unlogged,
                "a worker without CURVE tried to connect, but this endpoint requires CURVE: \
                 give the worker the router's public key and a key pair of its own \
                 (--curve-server-key router.pub --curve-key worker.key, or ZROUTE_CURVE_SERVER_KEY \
                 and ZROUTE_CURVE_KEY), and add its public key to the --curve-allow file"
            ),
            HandshakeFailure::MechanismMismatch => warn!(
                endpoint,
                peer,
                reason,
                unlogged,
                "a worker using CURVE tried to connect, but this endpoint does not use CURVE: \
                 start the router with --curve-key and --curve-allow, or the worker without CURVE keys"
            ),
            HandshakeFailure::Cryptographic => warn!(
                endpoint,
                peer,
                reason,
                unlogged,
                "a worker's CURVE handshake failed: it is probably configured with another \
                 router public key than this router's (--curve-server-key)"
            ),
            HandshakeFailure::Protocol(_) => warn!(
                endpoint, peer, reason, unlogged, error = %failure,
                "a peer's ZMTP handshake failed: not a zroute worker, or a broken one"
            ),
            HandshakeFailure::Auth(_) | HandshakeFailure::NoDetail(_) => {}
            _ => warn!(
                endpoint, peer, reason, unlogged, error = %failure,
                "a peer's ZMTP handshake failed"
            ),
        }
    }

    /// What woke the dispatcher on a socket, then whatever else is ready there.
    fn handle_incoming(&mut self, index: usize, incoming: Incoming) {
        match incoming {
            Incoming::Message(msg) => self.handle_message(index, msg),
            Incoming::Event(event) => self.handle_event(index, event),
        }
        self.drain_sockets();
    }

    fn handle_message(&mut self, index: usize, msg: Multipart) {
        let origin = msg.origin().cloned();
        let Some((routing_id, parts)) = msg.split_peer() else {
            return;
        };
        let mut key = BytesMut::with_capacity(1 + routing_id.as_bytes().len());
        key.extend_from_slice(&[index as u8]);
        key.extend_from_slice(routing_id.as_bytes());
        let key = key.freeze();
        let now = Instant::now();
        if parts.parts().len() > self.max_frames_per_message {
            self.refuse_batch(&key, &routing_id, parts.parts().len());
            return;
        }
        for part in parts.into_parts() {
            match self.peers.get_mut(&key) {
                Some(peer) if !peer.session.is_closed() => {
                    if let Some(recorder) = &mut self.recorder {
                        recorder.frame(&peer.session_id, Direction::WorkerToRouter, &part, now);
                    }
                    peer.last_heard = now;
                    // A clone of `Bytes` is a reference count, not a copy.
                    peer.session.handle_part(now.into_std(), part.clone());
                    self.take_transmit(&key, Some(&part));
                    self.mark_dirty(&key);
                }
                _ => {
                    // Spec #session-errors: a session that ended (an error in
                    // an earlier part of this very message, say) is forgotten
                    // first: its streams fail and its GOAWAY goes out, and
                    // this part then comes from an unknown peer.
                    self.retire(&key);
                    self.handle_unknown(index, &key, &routing_id, origin.as_ref(), part, now);
                }
            }
        }
    }

    /// Answers a HELLO that will not become a session with GOAWAY(0, status).
    fn refuse_hello(&mut self, index: usize, routing_id: &PeerId, status: GoAwayStatus) {
        let goaway: Frame = zroute_proto::frame::GoAway::new(StreamId::ZERO, status).into();
        let _ = self.sockets[index].try_send_to(routing_id, &[goaway.to_bytes()]);
    }

    /// A worker's declared capacity, within --max-streams-per-worker.
    fn capped(&self, declared: u32, worker: &str, session: &str) -> u32 {
        let limit = self.max_streams_per_worker;
        if declared > limit {
            info!(%worker, %session, declared, limit, "worker capacity capped");
        }
        declared.min(limit)
    }

    /// A message with more parts than --max-frames-per-message: none of it
    /// is handled, and the sender's session ends with GOAWAY(PROTOCOL_ERROR)
    /// (spec #security-dos), so that one batch cannot hold the dispatcher.
    fn refuse_batch(&mut self, key: &PeerKey, routing_id: &PeerId, parts: usize) {
        let limit = self.max_frames_per_message;
        match self.peers.get_mut(key) {
            Some(peer) if !peer.session.is_closed() => {
                let worker = self.table.get(key).map_or("", |e| e.worker_id.as_str());
                warn!(%worker, session = %peer.session_id, parts, limit, "message with too many frames: session ended");
                peer.session.go_away(GoAwayStatus::PROTOCOL_ERROR);
                self.take_transmit(key, None);
                self.mark_dirty(key);
            }
            // No session: nothing is kept, nothing is answered.
            _ => {
                debug!(peer = %hex(routing_id), parts, limit, "message with too many frames from an unknown peer: ignored")
            }
        }
    }

    /// Moves the session's queued frames to its outbox. `cause` is the part
    /// just received: any RST_STREAM or error GOAWAY queued now answers it,
    /// and is logged as the worker's protocol error (spec #error-reporting).
    fn take_transmit(&mut self, key: &PeerKey, cause: Option<&Bytes>) {
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let now = Instant::now();
        while let Some(frame) = peer.session.poll_transmit(now.into_std()) {
            if let Some(part) = cause {
                report_protocol_error(peer, self.table.get(key), &frame, part, now);
            }
            peer.outbox.push_back(frame.to_bytes());
        }
    }

    /// Forgets a session that has closed, after handling what it had left
    /// to say (stream resets, Closed) and sending what it had left to send.
    fn retire(&mut self, key: &PeerKey) {
        if !self.peers.get(key).is_some_and(|p| p.session.is_closed()) {
            return;
        }
        self.process_events(key);
        self.flush(key);
        self.forget(key);
    }

    fn handle_unknown(
        &mut self,
        index: usize,
        key: &PeerKey,
        routing_id: &PeerId,
        origin: Option<&Origin>,
        part: Bytes,
        now: Instant,
    ) {
        // A clone of `Bytes` is a reference count: kept for the recording.
        let raw = part.clone();
        let hello = match UnknownPeer::classify(part) {
            UnknownPeer::Hello(hello) => hello,
            UnknownPeer::Ignore => return,
            UnknownPeer::Answer(frame) => {
                // Spec #unknown-peer: rate-limited, one answer per peer per heartbeat interval.
                let interval = self.session_config.heartbeat_interval;
                let last = self.unknown_answers.get(key).copied();
                if last.is_some_and(|t| now.duration_since(t) < interval) {
                    return;
                }
                if self.unknown_answers.len() > 10_000 {
                    self.unknown_answers
                        .retain(|_, t| now.duration_since(*t) < interval);
                }
                self.unknown_answers.insert(key.clone(), now);
                debug!(peer = %hex(routing_id), "frame from an unknown peer: answered GOAWAY");
                let _ = self.sockets[index].try_send_to(routing_id, &[frame.to_bytes()]);
                return;
            }
        };
        if self.draining {
            self.refuse_hello(index, routing_id, GoAwayStatus::OK);
            return;
        }
        let source = origin.map_or(Source::Unknown, |o| Source::from_peer_address(&o.address));
        let fd = origin.and_then(|o| o.fd);
        if let Err(refusal) = self.admission.admit(self.peers.len(), &source, now) {
            self.metrics
                .registrations_refused
                .get_or_create(&ReasonLabels {
                    reason: refusal.as_str(),
                })
                .inc();
            if let Some(unlogged) = self.refusals.take(now) {
                let address = fd.and_then(|fd| self.connections.peer(index, fd));
                warn!(
                    peer = %hex(routing_id),
                    worker = %worker_id(&hello),
                    %source,
                    address = %display_peer(address.as_ref()),
                    reason = refusal.as_str(),
                    sessions = self.peers.len(),
                    unlogged,
                    "worker registration refused: GOAWAY REFUSED"
                );
            }
            self.refuse_hello(index, routing_id, GoAwayStatus::REFUSED);
            return;
        }
        self.sessions_made += 1;
        let session_id = format!("{}-{}", self.session_config.router_id, self.sessions_made);
        match Session::accept(&self.session_config, hello, &session_id, now.into_std()) {
            Ok(session) => {
                let hello = session.hello().expect("accepted sessions keep their HELLO");
                let worker_id = worker_id(hello).into_owned();
                let entry = Entry {
                    worker_id: worker_id.clone(),
                    routes: session.routes().to_vec(),
                    capacity: self.capped(session.capacity(), &worker_id, &session_id),
                    in_flight: 0,
                    draining: false,
                };
                let address = fd.and_then(|fd| self.connections.peer(index, fd));
                info!(
                    worker = %worker_id,
                    session = %session_id,
                    capacity = entry.capacity,
                    routes = ?entry.routes.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                    endpoint = %self.endpoints[index],
                    %source,
                    address = %display_peer(address.as_ref()),
                    "worker registered"
                );
                if let Some(recorder) = &mut self.recorder {
                    recorder.open(&session_id, &worker_id, now);
                    recorder.frame(&session_id, Direction::WorkerToRouter, &raw, now);
                }
                self.table.insert(key.clone(), entry);
                self.peers.insert(
                    key.clone(),
                    Peer {
                        session,
                        socket: index,
                        routing_id: routing_id.clone(),
                        session_id,
                        last_heard: now,
                        rtt: None,
                        outbox: VecDeque::new(),
                        blocked_since: None,
                        reports: (now, 0),
                        source: source.clone(),
                        fd,
                    },
                );
                self.admission.opened(&source);
                if let Some(fd) = fd {
                    self.by_fd.insert((index, fd), key.clone());
                }
                self.metrics.workers.set(self.table.len() as i64);
                self.mark_dirty(key);
                self.serve_queue();
            }
            Err(rejection) => {
                warn!(peer = %hex(routing_id), status = %rejection.status, reason = %rejection.reason, "HELLO refused");
                let _ =
                    self.sockets[index].try_send_to(routing_id, &[rejection.frame().to_bytes()]);
            }
        }
    }

    // ---- input from the HTTP side ----

    fn handle_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Open(request) => self.open(request),
            Msg::Data { key, data, fin } => {
                if let Some(ctx) = self.streams.get_mut(&key) {
                    if !data.is_empty() {
                        ctx.pending.push_back(data);
                    }
                    ctx.pending_fin |= fin;
                    self.mark_dirty(&key.peer);
                    self.push_request_body(&key);
                } else {
                    // The stream is gone: hand the credit back so the HTTP task is not stuck.
                    // (Its sender sees the stream's reset on its event channel.)
                }
            }
            Msg::Trailers { key, block } => {
                if let Some(ctx) = self.streams.get_mut(&key) {
                    ctx.pending_trailers = Some(block);
                    self.mark_dirty(&key.peer);
                    self.push_request_body(&key);
                }
            }
            Msg::Release { key, n } => {
                if let Some(peer) = self.peers.get_mut(&key.peer) {
                    peer.session.release_capacity(key.id, n);
                    self.mark_dirty(&key.peer);
                }
            }
            Msg::Cancel { key } => {
                if self.remove_stream(&key).is_some() {
                    if let Some(peer) = self.peers.get_mut(&key.peer) {
                        peer.session.reset(key.id, RstCode::CANCEL);
                        self.mark_dirty(&key.peer);
                    }
                    self.stream_done(&key.peer);
                }
            }
            Msg::Workers(reply) => {
                let _ = reply.send(self.worker_list());
            }
            Msg::Drain => self.drain(),
            Msg::Handover => {
                self.handing_over = true;
                self.drain();
            }
            Msg::Stop(_) => unreachable!("handled by the loop"),
        }
    }

    fn open(&mut self, request: OpenRequest) {
        if self.draining {
            let _ = request.reply.send(Err(OpenError::ShuttingDown));
            return;
        }
        let Some(pool) = self
            .table
            .pool_for(&request.host, &request.path)
            .map(str::to_owned)
        else {
            if self.in_startup_grace() && self.queue.len() < self.queue_limit {
                self.enqueue(request);
            } else {
                let _ = request.reply.send(Err(OpenError::NoWorkers));
            }
            return;
        };
        let avoid: Vec<PeerKey> = request.tried.iter().map(|k| k.peer.clone()).collect();
        match self.table.pick(&pool, &avoid) {
            Some(peer) => self.open_on(peer, pool, request),
            None if self.queue.len() < self.queue_limit => self.enqueue(request),
            None => {
                let _ = request.reply.send(Err(OpenError::QueueFull));
            }
        }
    }

    /// Parks a request until a worker can take it (the caller checked for room).
    fn enqueue(&mut self, request: OpenRequest) {
        self.queue.push_back(Pending {
            request,
            queued_at: Instant::now(),
        });
        self.metrics.queue_depth.set(self.queue.len() as i64);
    }

    fn open_on(&mut self, key: PeerKey, pool: String, request: OpenRequest) {
        let Some(peer) = self.peers.get_mut(&key) else {
            let _ = request.reply.send(Err(OpenError::NoWorkers));
            return;
        };
        let is_head = request
            .head
            .get(http::METHOD)
            .is_some_and(|m| &m[..] == b"HEAD");
        let id = match peer.session.open_stream(request.head, request.fin) {
            Ok(id) => id,
            Err(e) => {
                debug!(error = ?e, "open_stream refused");
                let _ = request.reply.send(Err(OpenError::BadRequest));
                return;
            }
        };
        let stream_key = StreamKey {
            peer: key.clone(),
            id,
        };
        let entry = self.table.get_mut(&key).expect("peers and table agree");
        entry.in_flight += 1;
        let worker = entry.worker_id.clone();
        self.streams.insert(
            stream_key.clone(),
            StreamCtx {
                events: request.events,
                credit: request.credit,
                pending: VecDeque::new(),
                pending_fin: false,
                pending_trailers: None,
                discard_body: false,
                is_head,
            },
        );
        self.mark_dirty(&key);
        if request
            .reply
            .send(Ok(Opened {
                key: stream_key.clone(),
                pool,
                worker,
            }))
            .is_err()
        {
            // The client left while the request waited: nothing to do on the worker.
            self.handle_msg(Msg::Cancel { key: stream_key });
        }
    }

    fn in_startup_grace(&self) -> bool {
        self.grace_until.is_some_and(|end| Instant::now() < end)
    }

    /// Hands waiting requests to workers that have room again.
    fn serve_queue(&mut self) {
        let now = Instant::now();
        let in_grace = self.in_startup_grace();
        let mut i = 0;
        while i < self.queue.len() {
            if self.queue[i].request.reply.is_closed() {
                self.queue.remove(i);
                continue;
            }
            let host_path = (&self.queue[i].request.host, &self.queue[i].request.path);
            let Some(pool) = self
                .table
                .pool_for(host_path.0, host_path.1)
                .map(str::to_owned)
            else {
                if in_grace {
                    i += 1;
                    continue;
                }
                let pending = self.queue.remove(i).expect("index in range");
                let _ = pending.request.reply.send(Err(OpenError::NoWorkers));
                continue;
            };
            let avoid: Vec<PeerKey> = self.queue[i]
                .request
                .tried
                .iter()
                .map(|k| k.peer.clone())
                .collect();
            match self.table.pick(&pool, &avoid) {
                Some(peer) => {
                    let pending = self.queue.remove(i).expect("index in range");
                    self.metrics
                        .queue_wait
                        .observe(now.duration_since(pending.queued_at).as_secs_f64());
                    self.open_on(peer, pool, pending.request);
                }
                None => i += 1,
            }
        }
        self.metrics.queue_depth.set(self.queue.len() as i64);
    }

    /// Moves queued request bytes into the session as far as the windows allow.
    fn push_request_body(&mut self, key: &StreamKey) {
        let (Some(ctx), Some(peer)) = (self.streams.get_mut(key), self.peers.get_mut(&key.peer))
        else {
            return;
        };
        let session = &mut peer.session;
        while let Some(front) = ctx.pending.front_mut() {
            let room = session.send_capacity(key.id);
            if room == 0 {
                return;
            }
            let chunk = if front.len() <= room {
                ctx.pending.pop_front().expect("front exists")
            } else {
                front.split_to(room)
            };
            let len = chunk.len();
            let last = ctx.pending.is_empty() && ctx.pending_fin && ctx.pending_trailers.is_none();
            if session.send_data(key.id, chunk, last).is_err() {
                return;
            }
            ctx.credit.add_permits(len);
            if last {
                ctx.pending_fin = false;
                self.ended.push(key.clone());
                return;
            }
        }
        if let Some(block) = ctx.pending_trailers.take() {
            if session.send_trailers(key.id, block).is_err() {
                session.reset(key.id, RstCode::INTERNAL_ERROR);
            }
            ctx.pending_fin = false;
            self.ended.push(key.clone());
        } else if ctx.pending_fin {
            // FIN alone: an empty DATA frame, which needs no window.
            let _ = session.send_data(key.id, Bytes::new(), true);
            ctx.pending_fin = false;
            self.ended.push(key.clone());
        }
    }

    // ---- sessions: events, frames, timers ----

    fn mark_dirty(&mut self, key: &PeerKey) {
        if !self.dirty.contains(key) {
            self.dirty.push(key.clone());
        }
    }

    /// Handles every dirty session's events, then sends its frames.
    fn settle(&mut self) {
        while let Some(key) = self.dirty.pop() {
            self.process_events(&key);
            for stream in std::mem::take(&mut self.ended) {
                self.check_finished(&stream);
            }
            self.flush(&key);
            // A failed send abandons the session: its resets and Closed come out now.
            self.process_events(&key);
            if self
                .peers
                .get(&key)
                .is_some_and(|p| p.session.is_closed() && p.outbox.is_empty())
            {
                self.forget(&key);
            }
        }
    }

    fn process_events(&mut self, key: &PeerKey) {
        loop {
            let Some(peer) = self.peers.get_mut(key) else {
                return;
            };
            let Some(event) = peer.session.poll_event() else {
                return;
            };
            match event {
                Event::Response { id, headers, fin } => {
                    let skey = StreamKey {
                        peer: key.clone(),
                        id,
                    };
                    if let Some(ctx) = self.streams.get_mut(&skey) {
                        let status = http::check_response(&headers)
                            .map(|i| i.status)
                            .unwrap_or(502);
                        ctx.discard_body = http::is_bodiless(ctx.is_head, status);
                        let _ = ctx.events.send(StreamEvent::Head {
                            block: headers,
                            fin,
                        });
                    }
                    if fin {
                        self.check_finished(&skey);
                    }
                }
                Event::Data { id, data, fin } => {
                    let skey = StreamKey {
                        peer: key.clone(),
                        id,
                    };
                    let len = data.len();
                    let mut release_now = false;
                    if let Some(ctx) = self.streams.get_mut(&skey) {
                        if ctx.discard_body {
                            release_now = true;
                            if fin {
                                let _ = ctx.events.send(StreamEvent::Data {
                                    data: Bytes::new(),
                                    fin,
                                });
                            }
                        } else if ctx.events.send(StreamEvent::Data { data, fin }).is_err() {
                            release_now = true;
                        }
                    } else {
                        release_now = true;
                    }
                    if release_now {
                        let peer = self.peers.get_mut(key).expect("peer exists");
                        peer.session.release_capacity(id, len);
                    }
                    if fin {
                        self.check_finished(&skey);
                    }
                }
                Event::Trailers { id, headers } => {
                    let skey = StreamKey {
                        peer: key.clone(),
                        id,
                    };
                    if let Some(ctx) = self.streams.get(&skey) {
                        let _ = ctx.events.send(StreamEvent::Trailers(headers));
                    }
                    self.check_finished(&skey);
                }
                Event::Reset { id, code, origin } => {
                    let skey = StreamKey {
                        peer: key.clone(),
                        id,
                    };
                    let cause = if event_is_refused(code, origin) {
                        ResetCause::Refused
                    } else if origin == zroute_proto::session::ResetOrigin::Session {
                        ResetCause::WorkerLost
                    } else {
                        ResetCause::Error(code)
                    };
                    if let Some(ctx) = self.remove_stream(&skey) {
                        match origin {
                            // Refused: retried; the HTTP side says so.
                            ResetOrigin::Peer if cause == ResetCause::Refused => {}
                            ResetOrigin::Peer => {
                                let worker =
                                    self.table.get(key).map_or("", |e| e.worker_id.as_str());
                                let session =
                                    self.peers.get(key).map_or("", |p| p.session_id.as_str());
                                warn!(%worker, %session, stream = %id, %code, "worker reset the stream");
                            }
                            // Local resets were logged as protocol errors when sent.
                            _ => debug!(stream = %id, code = %code, ?origin, "stream reset"),
                        }
                        let _ = ctx.events.send(StreamEvent::Reset(cause));
                        self.stream_done(key);
                    }
                }
                Event::WindowOpened { id } => {
                    if id.is_zero() {
                        let keys: Vec<StreamKey> = self
                            .streams
                            .keys()
                            .filter(|k| k.peer == *key)
                            .cloned()
                            .collect();
                        for k in keys {
                            self.push_request_body(&k);
                        }
                    } else {
                        self.push_request_body(&StreamKey {
                            peer: key.clone(),
                            id,
                        });
                    }
                }
                Event::CapacityChanged { capacity } => {
                    let session = self.peers.get(key).map_or("", |p| p.session_id.as_str());
                    let worker = self.table.get(key).map_or("", |e| e.worker_id.as_str());
                    let capacity = self.capped(capacity, worker, session);
                    if let Some(entry) = self.table.get_mut(key) {
                        entry.capacity = capacity;
                    }
                    self.serve_queue();
                }
                Event::GoAway { status, .. } => {
                    if let Some(entry) = self.table.get_mut(key) {
                        entry.draining = true;
                        info!(worker = %entry.worker_id, %status, "worker draining");
                    }
                }
                Event::Pong { rtt } => peer.rtt = Some(rtt),
                Event::Closed(reason) => {
                    let worker = self
                        .table
                        .get(key)
                        .map(|e| e.worker_id.clone())
                        .unwrap_or_default();
                    match reason {
                        CloseReason::Drained => info!(%worker, "worker session ended"),
                        _ => warn!(%worker, ?reason, "worker session lost"),
                    }
                    self.table.remove(key);
                    self.metrics.workers.set(self.table.len() as i64);
                    // Waiting requests may have lost their pool.
                    self.serve_queue();
                }
                // Worker-side events: a router session never emits them.
                Event::Established | Event::Request { .. } => {}
            }
        }
    }

    /// A stream that finished normally on both sides leaves the session; free its slot.
    fn check_finished(&mut self, key: &StreamKey) {
        let finished = self
            .peers
            .get(&key.peer)
            .is_none_or(|p| p.session.stream_state(key.id).is_none());
        if finished && self.remove_stream(key).is_some() {
            self.stream_done(&key.peer);
        }
    }

    /// Forgets a stream; closing its credit stops the HTTP task's body pump.
    fn remove_stream(&mut self, key: &StreamKey) -> Option<StreamCtx> {
        let ctx = self.streams.remove(key)?;
        ctx.credit.close();
        Some(ctx)
    }

    fn stream_done(&mut self, peer: &PeerKey) {
        if let Some(entry) = self.table.get_mut(peer) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
        }
        self.serve_queue();
    }

    fn flush(&mut self, key: &PeerKey) {
        self.take_transmit(key, None);
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let now = Instant::now();
        while !peer.outbox.is_empty() {
            let n = peer.outbox.len().min(MAX_PARTS_PER_MESSAGE);
            let parts: Vec<&Bytes> = peer.outbox.iter().take(n).collect();
            match self.sockets[peer.socket].try_send_to(&peer.routing_id, &parts) {
                Ok(()) => {
                    if let Some(recorder) = &mut self.recorder {
                        for part in peer.outbox.iter().take(n) {
                            recorder.frame(&peer.session_id, Direction::RouterToWorker, part, now);
                        }
                    }
                    peer.outbox.drain(..n);
                    peer.blocked_since = None;
                }
                Err(SendError::WouldBlock) => {
                    // Spec #transport-send-failures: retry for at most one heartbeat interval.
                    let since = *peer.blocked_since.get_or_insert(now);
                    if now.duration_since(since) > self.session_config.heartbeat_interval {
                        let worker = self.table.get(key).map_or("", |e| e.worker_id.as_str());
                        warn!(%worker, session = %peer.session_id, "worker does not read: session dropped");
                        peer.outbox.clear();
                        peer.session.abandon();
                        self.mark_dirty(key);
                    }
                    return;
                }
                Err(SendError::HostUnreachable) => {
                    // The worker's connection is gone, but what it sent before
                    // leaving may still wait in the socket (a response's last
                    // DATA, say): read that first, then drop the session.
                    peer.outbox.clear();
                    if !self.departed.contains(key) {
                        self.departed.push(key.clone());
                    }
                    return;
                }
                Err(e) => {
                    let worker = self.table.get(key).map_or("", |e| e.worker_id.as_str());
                    warn!(%worker, session = %peer.session_id, error = %e, "send to worker failed: session dropped");
                    peer.outbox.clear();
                    peer.session.abandon();
                    self.mark_dirty(key);
                    return;
                }
            }
        }
    }

    /// Spec #transport-send-failures: EHOSTUNREACH means the session is dead,
    /// after the frames the worker sent before it left.
    fn drop_departed(&mut self) {
        while !self.departed.is_empty() {
            self.drain_sockets();
            self.settle();
            for key in std::mem::take(&mut self.departed) {
                if let Some(peer) = self.peers.get_mut(&key)
                    && !peer.session.is_closed()
                {
                    let worker = self.table.get(&key).map_or("", |e| e.worker_id.as_str());
                    warn!(%worker, session = %peer.session_id, "worker disconnected: session dropped");
                    peer.session.abandon();
                    self.mark_dirty(&key);
                }
            }
            self.settle();
        }
    }

    fn handle_timeouts(&mut self) {
        let now = Instant::now();
        let keys: Vec<PeerKey> = self.peers.keys().cloned().collect();
        for key in keys {
            let peer = self.peers.get_mut(&key).expect("listed");
            let due = peer
                .session
                .poll_timeout()
                .is_some_and(|t| t <= now.into_std());
            if due {
                peer.session.handle_timeout(now.into_std());
            }
            if due || peer.blocked_since.is_some() {
                self.mark_dirty(&key);
            }
        }
        let interval = self.session_config.heartbeat_interval;
        self.unknown_answers
            .retain(|_, t| now.duration_since(*t) < interval);
        // Requests that waited out the startup grace for nobody get their 503.
        if self.grace_until.is_some_and(|end| now >= end) {
            self.grace_until = None;
            self.serve_queue();
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let session_timers = self
            .peers
            .values()
            .filter_map(|p| p.session.poll_timeout())
            .map(Instant::from_std);
        // A blocked outbox is retried on a short tick.
        let retries = self
            .peers
            .values()
            .filter(|p| p.blocked_since.is_some())
            .map(|_| Instant::now() + Duration::from_millis(5));
        // Requests waiting out the startup grace get their 503 when it ends.
        let grace = self.grace_until.filter(|_| !self.queue.is_empty());
        session_timers.chain(retries).chain(grace).min()
    }

    fn forget(&mut self, key: &PeerKey) {
        if let Some(peer) = self.peers.remove(key) {
            self.admission.closed(&peer.source);
            if let Some(fd) = peer.fd
                && self.by_fd.get(&(peer.socket, fd)) == Some(key)
            {
                self.by_fd.remove(&(peer.socket, fd));
            }
            if let Some(recorder) = &mut self.recorder {
                recorder.close(&peer.session_id);
            }
        }
        if self.table.remove(key).is_some() {
            self.metrics.workers.set(self.table.len() as i64);
        }
    }

    fn drain(&mut self) {
        if self.draining {
            return;
        }
        self.draining = true;
        self.drained_at = Some(Instant::now());
        info!(
            workers = self.peers.len(),
            "draining: no new streams, GOAWAY to every worker"
        );
        for pending in self.queue.drain(..) {
            let _ = pending.request.reply.send(Err(OpenError::ShuttingDown));
        }
        let keys: Vec<PeerKey> = self.peers.keys().cloned().collect();
        for key in keys {
            self.peers
                .get_mut(&key)
                .expect("listed")
                .session
                .go_away(GoAwayStatus::OK);
            self.mark_dirty(&key);
        }
        self.settle();
    }

    /// Spec #router-shutdown: what is left at the shutdown timeout is cancelled.
    fn stop(&mut self) {
        self.drain();
        let keys: Vec<StreamKey> = self.streams.keys().cloned().collect();
        for key in keys {
            self.handle_msg(Msg::Cancel { key });
        }
        self.settle();
        // The GOAWAYs and RST_STREAMs just queued are what tells each worker
        // to register again at once (with the router that replaces this one)
        // rather than a heartbeat period later: give libzmq time to deliver
        // them when the sockets close, instead of the default linger of 0
        // that drops them.
        for socket in &self.sockets {
            let _ = socket.set_linger(self.leave_time());
        }
    }

    /// Up to one heartbeat interval, at most 1 s: how long workers get, at
    /// the end, to read their GOAWAY and close their connections.
    fn leave_time(&self) -> Duration {
        self.session_config
            .heartbeat_interval
            .min(Duration::from_secs(1))
    }

    /// After a handover, keeps the sockets open and read until
    /// [`leave_time`](Self::leave_time) after the drain began, so that the
    /// workers, which close their connection once they have their GOAWAY(0,
    /// OK), go first. Closed first here, a connection whose worker's last PING
    /// was still unread would be reset, and the reset can discard the GOAWAY
    /// on its way: that worker would then find the new router only a
    /// heartbeat later (seen in router/tests/upgrade.rs, 200 ms). Not after
    /// SIGTERM: there the replacement can bind the worker port only once this
    /// process has exited, so waiting would only delay it.
    async fn let_workers_leave(&mut self) {
        let (true, Some(drained_at)) = (self.handing_over, self.drained_at) else {
            return;
        };
        let until = drained_at + self.leave_time();
        loop {
            tokio::select! {
                ready = recv_any(&mut self.sockets) => match ready {
                    Ok((index, incoming)) => self.handle_incoming(index, incoming),
                    Err(e) => {
                        warn!(error = %e, "worker socket receive failed");
                        return;
                    }
                },
                () = tokio::time::sleep_until(until) => return,
            }
        }
    }

    fn worker_list(&self) -> Vec<WorkerInfo> {
        let now = Instant::now();
        let mut list: Vec<WorkerInfo> = self
            .peers
            .iter()
            .filter_map(|(key, peer)| {
                let entry = self.table.get(key)?;
                Some(WorkerInfo {
                    id: entry.worker_id.clone(),
                    session: peer.session_id.clone(),
                    endpoint: self.endpoints[peer.socket].clone(),
                    routes: entry.routes.iter().map(|r| r.as_str().to_owned()).collect(),
                    capacity: entry.capacity,
                    in_flight: entry.in_flight,
                    draining: entry.draining,
                    last_heard_ms_ago: now.duration_since(peer.last_heard).as_millis() as u64,
                    rtt_ms: peer.rtt.map(|d| d.as_secs_f64() * 1000.0),
                })
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id).then(a.session.cmp(&b.session)));
        list
    }
}

fn event_is_refused(code: RstCode, origin: zroute_proto::session::ResetOrigin) -> bool {
    Event::Reset {
        id: StreamId::ZERO,
        code,
        origin,
    }
    .is_retry_safe_reset()
}

/// Waits for a message or a connection event on any of the sockets. The
/// receive futures live as long as this future does, so each keeps its
/// registration with the reactor.
async fn recv_any(sockets: &mut [Socket]) -> std::io::Result<(usize, Incoming)> {
    if let [only] = sockets {
        return only.next().await.map(|msg| (0, msg));
    }
    let mut futures: Vec<_> = sockets.iter_mut().map(|s| Box::pin(s.next())).collect();
    std::future::poll_fn(|cx| {
        for (index, fut) in futures.iter_mut().enumerate() {
            if let std::task::Poll::Ready(result) = fut.as_mut().poll(cx) {
                return std::task::Poll::Ready(result.map(|msg| (index, msg)));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The `id` attribute of a HELLO, as logged.
fn worker_id(hello: &Hello) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(hello.attributes().get("id").map_or(&b""[..], |v| v))
}

/// A peer's address for a log line.
fn display_peer(peer: Option<&zroute_transport::PeerAddr>) -> String {
    peer.map_or_else(|| "unknown".to_owned(), ToString::to_string)
}

fn hex(id: &PeerId) -> String {
    id.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Logs a frame the router queued in answer to a worker's part, if it says
/// the worker broke the protocol: an RST_STREAM (the router's own resets are
/// CANCEL, and come from commands, not parts) or a GOAWAY with an error
/// status. Names the worker, the session, the stream, the code and what was
/// wrong with the part; at most `REPORTS_PER_SECOND` lines per session.
fn report_protocol_error(
    peer: &mut Peer,
    entry: Option<&Entry>,
    frame: &Frame,
    part: &Bytes,
    now: Instant,
) {
    let (stream, code) = match frame {
        Frame::RstStream(rst) if rst.code() != RstCode::CANCEL => {
            (Some(rst.stream_id()), rst.code().to_string())
        }
        Frame::GoAway(goaway) if goaway.status() != GoAwayStatus::OK => {
            (None, goaway.status().to_string())
        }
        _ => return,
    };
    let worker = entry.map_or("", |e| e.worker_id.as_str());
    let (since, count) = &mut peer.reports;
    if now.duration_since(*since) >= Duration::from_secs(1) {
        *since = now;
        *count = 0;
    }
    *count += 1;
    if *count > REPORTS_PER_SECOND {
        return;
    }
    // The slow path: decode the part again to say what was wrong with it.
    let problem = match Frame::decode(part.clone()) {
        Ok(frame) => frame.type_name().to_owned(),
        Err(e) => format!("malformed frame: {e}"),
    };
    let session = peer.session_id.as_str();
    match stream {
        Some(stream) => warn!(
            %worker, %session, %stream, %code, %problem,
            "stream error: the worker broke the protocol; sent RST_STREAM"
        ),
        None => warn!(
            %worker, %session, %code, %problem,
            "session error: the worker broke the protocol; sent GOAWAY and dropped the session"
        ),
    }
    if *count == REPORTS_PER_SECOND {
        warn!(%worker, %session, "more protocol errors from this worker in this second are not logged");
    }
}
