//! The dispatcher: one task that owns the ROUTER sockets, drives the
//! [`Endpoint`] (every worker session, sans-IO) quinn's way, and carries
//! streams between the sessions and the HTTP side.
//!
//! It owns the I/O: the sockets and their monitors ([`monitor`]), the
//! channels to the HTTP tasks, the timers, the worker table that picks a
//! session for each request ([`table`]) and the queue of requests waiting
//! for one. It must not decide who may register, what answers an unknown
//! peer, or how a session is named: that is the endpoint's. Its files:
//! [`workers`] (parts in), [`requests`] (the HTTP side in), [`sessions`]
//! (session events out to the streams), [`lifecycle`] (frames out, timers,
//! drain and stop).
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

mod connections;
mod lifecycle;
mod monitor;
mod requests;
mod sessions;
mod table;
mod workers;

use std::collections::VecDeque;
use std::future::Future;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use foldhash::HashMap;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tracing::warn;
use zroute_proto::session::RouterConfig;
use zroute_proto::{HeaderBlock, RstCode, StreamId};
use zroute_transport::Incoming;

use crate::transport::Socket;

use self::connections::{Connections, LogLimit};
use self::monitor::display_peer;
use self::table::Table;
use crate::endpoint::{AdmissionLimits, ConnectionHandle, Endpoint, EndpointConfig};
use crate::metrics::Metrics;
use crate::record::Recorder;

/// A worker session, as the dispatcher and the HTTP side name it.
type PeerKey = ConnectionHandle;

/// Most frames sent to one worker in one message.
const MAX_PARTS_PER_MESSAGE: usize = 256;

/// A connection's lines (closes, failed handshakes) are logged per peer host
/// in bursts of this many, then one a second: a peer that is refused or
/// dropped reconnects at once, and the first few lines say the most.
const CONNECTION_LOG_BURST: u32 = 5;
const CONNECTION_LOG_EVERY: Duration = Duration::from_secs(1);

/// One stream as the HTTP side names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// Its `:host` and `:path` choose the pool.
    pub(crate) head: HeaderBlock,
    pub(crate) fin: bool,
    /// First [`StreamEvent::Opened`], then what happens on the stream.
    pub(crate) events: mpsc::UnboundedSender<StreamEvent>,
    /// The request body's credit; none for a request without a body.
    pub(crate) credit: Option<Arc<Semaphore>>,
    /// The streams this request already had, on workers that did not answer
    /// it: a retry goes to another session where the pool has one.
    pub(crate) tried: Vec<StreamKey>,
    /// A WebSocket stream: only workers that announced `websocket` take it.
    pub(crate) websocket: bool,
}

impl OpenRequest {
    pub(crate) fn refuse(self, why: OpenError) {
        let _ = self.events.send(StreamEvent::Opened(Err(why)));
    }

    /// The `:host` the HTTP side checked; "" if the block has none.
    fn host(&self) -> &str {
        self.head
            .get(zroute_proto::http::HOST)
            .and_then(|v| std::str::from_utf8(v).ok())
            .unwrap_or_default()
    }

    /// The `:path` without its query, as routes match it.
    fn path(&self) -> &str {
        let target = self
            .head
            .get(zroute_proto::http::PATH)
            .and_then(|v| std::str::from_utf8(v).ok())
            .unwrap_or("/");
        target.split_once('?').map_or(target, |(path, _)| path)
    }
}

#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) key: StreamKey,
    /// The pool that took the stream: the route's text, or "" for the default pool.
    pub(crate) pool: Arc<str>,
    pub(crate) worker: Arc<str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// No connected worker serves this request.
    NoWorkers,
    /// Every worker of the pool is busy and the queue is full.
    QueueFull,
    /// The router is shutting down.
    ShuttingDown,
    /// A WebSocket, and no worker of its pool announced the feature.
    NoWebSocketWorkers,
    /// The head cannot be sent (the HTTP side built an invalid block).
    BadRequest,
}

/// What happens on a stream, in order, as the HTTP task sees it.
#[derive(Debug)]
pub(crate) enum StreamEvent {
    /// Always the first: the stream is open on a worker, or why not.
    Opened(Result<Opened, OpenError>),
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
    /// The router address the worker's connection reached: with a router
    /// bound to a wildcard, the address the worker resolved and dialled.
    pub(crate) router_address: String,
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

struct StreamCtx {
    events: mpsc::UnboundedSender<StreamEvent>,
    credit: Option<Arc<Semaphore>>,
    /// Request bytes waiting for the worker's window.
    pending: VecDeque<Bytes>,
    pending_fin: bool,
    pending_trailers: Option<HeaderBlock>,
    /// HEAD, 204 or 304: any DATA the worker sends is discarded.
    discard_body: bool,
    is_head: bool,
    /// Listed in its session's `Entry::parked`: its body waits for window.
    parked: bool,
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
    /// Every worker session: the sans-IO half of this task.
    endpoint: Endpoint,
    table: Table,
    streams: HashMap<StreamKey, StreamCtx>,
    queue: VecDeque<Pending>,
    queue_limit: usize,
    session_config: RouterConfig,
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
    /// When GOAWAY went to every worker (`drain`).
    drained_at: Option<Instant>,
    /// A new router takes over: its workers are to reach it at once.
    handing_over: bool,
    /// Peers whose sessions have frames or events to handle.
    dirty: Vec<PeerKey>,
    /// Streams whose request side just ended: they may have finished without an event.
    ended: Vec<StreamKey>,
    /// Sessions whose worker is no longer connected (a send found no route):
    /// dropped once everything already received from them is handled.
    departed: Vec<PeerKey>,
    metrics: Arc<Metrics>,
    /// `--record`: every session's frames, both ways.
    recorder: Option<Recorder>,
}

impl Dispatcher {
    /// `sockets` should be watched (`Socket::watch`) and ask for the origin
    /// of HELLOs (`Hello::PREFIX`): the source a HELLO is counted against;
    /// `curve` says whether they use CURVE.
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
            endpoint: Endpoint::new(
                EndpointConfig {
                    session: session_config.clone(),
                    max_frames_per_message: limits.frames_per_message,
                    max_streams_per_worker: limits.streams_per_worker,
                    admission,
                },
                Instant::now().into_std(),
            ),
            table: Table::default(),
            streams: HashMap::default(),
            queue: VecDeque::new(),
            queue_limit: limits.queue,
            session_config,
            grace_until: Some(Instant::now() + limits.startup_grace),
            drained_at: None,
            handing_over: false,
            dirty: Vec::new(),
            ended: Vec::new(),
            departed: Vec::new(),
            metrics,
            recorder,
        };
        (dispatcher, Handle { tx })
    }

    pub(crate) async fn run(mut self) {
        // One timer for the task's life, moved only when the next deadline
        // does: a new one each turn cost a registration and a removal in
        // tokio's timer wheel per turn (callgrind, bench/NOTES.md).
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            let deadline = self.next_deadline();
            if deadline != armed {
                if let Some(at) = deadline {
                    timer.as_mut().reset(at);
                }
                armed = deadline;
            }
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
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    self.handle_timeouts();
                }
            }
            self.settle();
            self.drop_departed();
            // Everything this turn queued for a worker leaves in one write
            // (the native sockets batch until their flush).
            for socket in &mut self.sockets {
                socket.flush();
            }
        }
    }
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
