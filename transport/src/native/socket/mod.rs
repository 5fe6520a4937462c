//! The native ROUTER and DEALER socket: listeners, connectors and links,
//! driven by the task that owns the socket.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::hash::BuildHasher;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use foldhash::HashMap;
use tokio::task::coop;
use tokio::time::{Instant, Sleep};
use zroute_zmtp::{
    Config, Connection, CurveError, Error as ZmtpError, Event, GreetingError, HandshakeError,
    Limits, Role,
};

use self::drive::Closing;
use super::endpoint::{Endpoint, Listener, Stream};
use super::link::{Link, ReadOutcome};
use super::wake::{ReadySet, SlotWaker};

mod drive;
use crate::curve::CurveKey;
use crate::error::SendError;
use crate::message::SocketKind;
use crate::message::{Multipart, Origin, PeerId};
use crate::monitor::{HandshakeFailure, SocketEvent};
use crate::options::{DealerOptions, Heartbeat, RouterOptions};

/// Octets one visit reads from a link before it lets the others have a turn.
const READ_BUDGET: usize = 256 << 10;
/// Octets one drive reads in all before its owner takes what they brought:
/// what the socket holds for its owner stays bounded whatever the peers send.
const DRIVE_BUDGET: usize = 1 << 20;
/// The read buffer, shared by every link of the socket.
const SCRATCH: usize = 64 << 10;
/// A link's queue is written at once, without waiting for the next flush,
/// when it grows past this.
const EAGER_FLUSH: usize = 64 << 10;
/// Visits one drive makes before it yields to other tasks.
const VISITS_PER_DRIVE: usize = 1024;
/// What libzmq calls ZMQ_HANDSHAKE_IVL: a peer that has not finished its
/// handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connection events kept for a reader that falls behind, as libzmq's
/// monitor queue does.
const EVENTS_MAX: usize = 100_000;
/// libzmq's code for a protocol error without a more precise one.
const PROTOCOL_ERROR_UNSPECIFIED: u32 = 0x1000_0000;

// Slot numbers: links count up from 0, listeners and connectors down from
// the top, so one woken list serves all three.
const LISTENER_TOP: usize = usize::MAX;
const CONNECTOR_TOP: usize = usize::MAX / 2;
const CONNECTOR_FLOOR: usize = CONNECTOR_TOP - (1 << 24);

/// A ZeroMQ ROUTER or DEALER socket speaking ZMTP 3.1 itself, on the tokio
/// reactor of the task that owns it: no I/O thread, no channel between
/// the socket and its owner.
///
/// It offers the API of [`crate::Socket`], the libzmq socket, and behaves
/// as `spec/PROTOCOL.md` §3 relies on libzmq's sockets to behave.
/// `docs/transport.md` says where the two differ.
///
/// # Batching
///
/// Sends only queue: the octets leave at the next [`flush`](Self::flush),
/// which every wait of the socket ([`recv`](Self::recv),
/// [`next`](Self::next), [`send`](Self::send)) does first, so everything
/// sent to a peer between two waits leaves in one `write`. A queue that
/// grows past 64 KiB is written at once.
///
/// # Memory
///
/// A peer's inbound message is bounded as it arrives (parts, octets per
/// part, octets per message; [`RouterOptions::max_msg_parts`]), and a peer
/// that passes a bound is dropped with [`SocketEvent::LimitExceeded`].
/// Outbound, each peer's queue holds at most `sndhwm` messages; inbound,
/// the socket stops reading once `rcvhwm` messages wait for its owner.
pub struct Socket {
    kind: SocketKind,
    config: Config,
    mandatory: bool,
    sndhwm: usize,
    rcvhwm: usize,
    heartbeat: Option<Heartbeat>,
    linger: Duration,
    origin_prefix: Option<Vec<u8>>,
    reconnect_ivl: Option<Duration>,
    reconnect_ivl_max: Option<Duration>,

    listeners: Vec<(Listener, Arc<SlotWaker>)>,
    connectors: Vec<Connector>,
    links: Vec<Option<Link>>,
    free: Vec<usize>,
    by_id: HashMap<Bytes, usize>,
    // Links whose handshake completed, in the order a DEALER sends to them.
    ready: Vec<usize>,
    next_ready: usize,
    next_routing_id: u32,

    set: Arc<ReadySet>,
    woken: Vec<usize>,
    visit: VecDeque<usize>,
    dirty: Vec<usize>,
    inbox: VecDeque<Multipart>,
    events: Option<VecDeque<SocketEvent>>,
    tick: Option<Pin<Box<Sleep>>>,
    scratch: Box<[u8]>,
    read_this_drive: usize,
    limit_drops: u64,
    curve_server_secret: Option<[u8; 32]>,
    curve_allow: Option<CurveAllow>,
}

type CurveAllow = Arc<dyn Fn(&CurveKey, &str) -> bool + Send + Sync>;

/// A DEALER's connection to one endpoint, reconnecting with backoff.
struct Connector {
    endpoint: Endpoint,
    waker: Arc<SlotWaker>,
    state: ConnectState,
    backoff: Duration,
}

enum ConnectState {
    Connecting(Pin<Box<dyn Future<Output = io::Result<Stream>> + Send>>),
    Linked,
    Waiting(Pin<Box<Sleep>>),
}

impl Socket {
    /// A ROUTER socket with `opts` applied. Bind it next.
    ///
    /// Under CURVE (`opts.curve`) every client key is admitted until
    /// [`set_curve_allow`](Self::set_curve_allow) says otherwise.
    pub fn router(opts: &RouterOptions) -> io::Result<Self> {
        let limits = limits(opts.max_msg_size, opts.max_msg_parts, opts.max_msg_bytes);
        let mut config = Config::router().with_limits(limits);
        if let Some(curve) = &opts.curve {
            config = config.with_curve_server(*curve.keypair.secret_bytes(), |_| true);
        }
        let mut socket = Self::new(SocketKind::Router, config, opts.sndhwm, opts.rcvhwm);
        socket.curve_server_secret = opts.curve.as_ref().map(|c| *c.keypair.secret_bytes());
        socket.mandatory = opts.mandatory;
        socket.heartbeat = opts.heartbeat;
        socket.linger = opts.linger;
        socket.origin_prefix.clone_from(&opts.origin_prefix);
        Ok(socket)
    }

    /// A DEALER socket with `opts` applied. Connect it next.
    pub fn dealer(opts: &DealerOptions) -> io::Result<Self> {
        let limits = limits(opts.max_msg_size, opts.max_msg_parts, opts.max_msg_bytes);
        let mut config = Config::dealer().with_limits(limits);
        if let Some(id) = &opts.routing_id {
            config = config
                .with_identity(Bytes::copy_from_slice(id))
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "a routing id is 1 to 255 octets and does not start with a zero octet",
                    )
                })?;
        }
        if let Some(curve) = &opts.curve {
            config = config
                .with_curve_client(*curve.server_key.as_bytes(), *curve.keypair.secret_bytes());
        }
        let mut socket = Self::new(SocketKind::Dealer, config, opts.sndhwm, opts.rcvhwm);
        socket.heartbeat = opts.heartbeat;
        socket.linger = opts.linger;
        socket.reconnect_ivl = opts.reconnect_ivl;
        socket.reconnect_ivl_max = opts.reconnect_ivl_max;
        Ok(socket)
    }

    fn new(kind: SocketKind, config: Config, sndhwm: u32, rcvhwm: u32) -> Self {
        // libzmq starts its generated routing ids at a random number, so a
        // restarted router does not hand out the ids of its last life.
        let seed = std::collections::hash_map::RandomState::new().hash_one(kind as u8);
        Self {
            kind,
            config,
            mandatory: true,
            sndhwm: (sndhwm as usize).max(1),
            rcvhwm: (rcvhwm as usize).max(1),
            heartbeat: None,
            linger: Duration::ZERO,
            origin_prefix: None,
            reconnect_ivl: None,
            reconnect_ivl_max: None,
            listeners: Vec::new(),
            connectors: Vec::new(),
            links: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::default(),
            ready: Vec::new(),
            next_ready: 0,
            next_routing_id: seed as u32,
            set: Arc::new(ReadySet::default()),
            woken: Vec::new(),
            visit: VecDeque::new(),
            dirty: Vec::new(),
            inbox: VecDeque::new(),
            events: None,
            tick: None,
            scratch: vec![0; SCRATCH].into_boxed_slice(),
            read_this_drive: 0,
            limit_drops: 0,
            curve_server_secret: None,
            curve_allow: None,
        }
    }

    /// Decides which CURVE clients may connect, by their long-term public
    /// key: the role libzmq gives a ZAP handler. Applies to connections
    /// accepted from now on.
    ///
    /// `allow` gets the key and the peer's address (as
    /// [`Origin::address`] gives it), where a ZAP handler gets a request.
    pub fn set_curve_allow(
        &mut self,
        allow: impl Fn(&CurveKey, &str) -> bool + Send + Sync + 'static,
    ) -> io::Result<()> {
        if self.curve_server_secret.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a CURVE server socket",
            ));
        }
        self.curve_allow = Some(Arc::new(allow));
        Ok(())
    }

    /// The configuration of a new link: a CURVE server's names the peer to
    /// its allow callback.
    fn link_config(&self, address: &str) -> Config {
        match (self.curve_server_secret, &self.curve_allow) {
            (Some(secret), Some(allow)) => {
                let allow = allow.clone();
                let address = address.to_owned();
                Config::router()
                    .with_limits(self.config.limits)
                    .with_curve_server(secret, move |key| {
                        allow(&CurveKey::from_bytes(*key), &address)
                    })
            }
            _ => self.config.clone(),
        }
    }

    /// ROUTER or DEALER.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// Starts reporting connection events, which [`next`](Self::next)
    /// and [`try_event`](Self::try_event) return (up to 100,000 unread;
    /// older ones are dropped past that).
    pub fn watch(&mut self) {
        self.events.get_or_insert_with(VecDeque::new);
    }

    /// Stops reporting connection events and drops those not read yet.
    pub fn unwatch(&mut self) {
        self.events = None;
    }

    /// Takes the next connection event, if one is queued. Never fails
    /// (the `Result` matches [`crate::Socket::try_event`]).
    pub fn try_event(&mut self) -> io::Result<Option<SocketEvent>> {
        Ok(self.take_event())
    }

    fn take_event(&mut self) -> Option<SocketEvent> {
        self.events.as_mut()?.pop_front()
    }

    /// Peers dropped for passing a bound on what they may make us hold.
    pub fn limit_drops(&self) -> u64 {
        self.limit_drops
    }

    /// Connections open (handshaking or ready).
    pub fn connections(&self) -> usize {
        self.links.len() - self.free.len()
    }

    /// Binds to `endpoint` (`tcp://host:port`, `tcp://host:*`, or
    /// `ipc://path`) and returns the endpoint bound, with the port filled in.
    pub fn bind(&mut self, endpoint: &str) -> io::Result<String> {
        let (listener, bound) = Endpoint::parse(endpoint)?.bind()?;
        self.add_listener(listener);
        Ok(bound)
    }

    /// Binds to a listening TCP socket made by the caller, such as
    /// [`reuseport_listener`](crate::reuseport_listener)'s. `endpoint` only
    /// names it in messages.
    pub fn bind_listener(&mut self, endpoint: &str, listener: OwnedFd) -> io::Result<String> {
        let _ = endpoint;
        let (listener, bound) = Listener::from_tcp_fd(listener)?;
        self.add_listener(listener);
        Ok(bound)
    }

    fn add_listener(&mut self, listener: Listener) {
        let slot = LISTENER_TOP - self.listeners.len();
        let waker = SlotWaker::new(slot, self.set.clone());
        // Accept on the next drive.
        waker.relist();
        self.listeners.push((listener, waker));
    }

    /// Connects to `endpoint` (`tcp://host:port` or `ipc://path`). Returns
    /// at once; the socket connects, and reconnects after a loss, while
    /// its owner waits on it.
    pub fn connect(&mut self, endpoint: &str) -> io::Result<()> {
        let endpoint = Endpoint::parse(endpoint)?;
        if matches!(endpoint, Endpoint::Tcp { port: None, .. }) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot connect to port *",
            ));
        }
        let slot = CONNECTOR_TOP - self.connectors.len();
        let waker = SlotWaker::new(slot, self.set.clone());
        waker.relist();
        let state = ConnectState::Connecting(connect_future(&endpoint));
        self.connectors.push(Connector {
            endpoint,
            waker,
            state,
            backoff: self.reconnect_ivl.unwrap_or(Duration::from_millis(100)),
        });
        Ok(())
    }

    /// How long [`close`](Self::close) keeps writing what is queued.
    pub fn set_linger(&mut self, linger: Duration) -> io::Result<()> {
        self.linger = linger;
        Ok(())
    }

    /// Writes what is queued for up to the linger time, then closes every
    /// connection. Dropping the socket instead writes only what the kernel
    /// takes at once.
    pub async fn close(mut self) {
        let deadline = Instant::now() + self.linger;
        let _ = tokio::time::timeout_at(
            deadline,
            poll_fn(|cx| {
                self.set.register(cx);
                self.flush();
                let mut woken = Vec::new();
                self.set.drain_into(&mut woken);
                let mut left = false;
                for link in self.links.iter_mut().flatten() {
                    link.waker.visited();
                    left |= !link.flush().unwrap_or(true);
                }
                if left { Poll::Pending } else { Poll::Ready(()) }
            }),
        )
        .await;
    }

    /// Writes everything queued for every peer, each peer's in one write
    /// where the kernel takes it. Never waits: what the kernel does not
    /// take now is written when the peer has room, while the owner waits
    /// on the socket.
    pub fn flush(&mut self) {
        let mut i = 0;
        while i < self.dirty.len() {
            let slot = self.dirty[i];
            i += 1;
            let Some(link) = self.links.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            link.dirty = false;
            if let Err(e) = link.flush() {
                self.close_link(slot, Closing::Io(e));
            }
        }
        self.dirty.clear();
    }

    /// Receives the next message, waiting for one if none is queued. On a
    /// ROUTER the first part is the sender's routing id.
    ///
    /// Cancel-safe: a message leaves the socket only in the poll that
    /// returns it.
    pub async fn recv(&mut self) -> io::Result<Multipart> {
        poll_fn(|cx| {
            let budget = std::task::ready!(coop::poll_proceed(cx));
            if let Some(msg) = self.inbox.pop_front() {
                budget.made_progress();
                return Poll::Ready(Ok(msg));
            }
            self.drive(Some(cx));
            match self.inbox.pop_front() {
                Some(msg) => {
                    budget.made_progress();
                    Poll::Ready(Ok(msg))
                }
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Waits for the next message or, on a watched socket, connection
    /// event, whichever is there first (events first). Cancel-safe.
    pub async fn next(&mut self) -> io::Result<crate::Incoming> {
        poll_fn(|cx| {
            let budget = std::task::ready!(coop::poll_proceed(cx));
            if let Some(found) = self.take_incoming() {
                budget.made_progress();
                return Poll::Ready(Ok(found));
            }
            self.drive(Some(cx));
            match self.take_incoming() {
                Some(found) => {
                    budget.made_progress();
                    Poll::Ready(Ok(found))
                }
                None => Poll::Pending,
            }
        })
        .await
    }

    fn take_incoming(&mut self) -> Option<crate::Incoming> {
        if let Some(event) = self.take_event() {
            return Some(crate::Incoming::Event(event));
        }
        self.inbox.pop_front().map(crate::Incoming::Message)
    }

    /// Takes the next message if one is already queued or readable now,
    /// without waiting. Call it in a loop after a wakeup.
    pub fn try_recv(&mut self) -> io::Result<Option<Multipart>> {
        if self.inbox.is_empty() {
            self.drive(None);
        }
        Ok(self.inbox.pop_front())
    }

    /// Queues a message without waiting; it leaves at the next
    /// [`flush`](Self::flush). On a ROUTER the first part selects the peer.
    ///
    /// Fails with [`SendError::WouldBlock`] when the peer's queue holds
    /// `sndhwm` messages (or a DEALER has no connection ready), and with
    /// [`SendError::HostUnreachable`] when a ROUTER with `mandatory` knows
    /// no such peer; in both cases nothing was queued.
    pub fn try_send<P: AsRef<[u8]>>(&mut self, parts: &[P]) -> Result<(), SendError> {
        match self.kind {
            SocketKind::Router => {
                let (head, rest) = parts.split_first().ok_or_else(empty_message)?;
                self.send_routed(head.as_ref(), rest)
            }
            SocketKind::Dealer => self.send_dealt(parts),
        }
    }

    /// [`try_send`](Self::try_send) to `peer` on a ROUTER.
    pub fn try_send_to<P: AsRef<[u8]>>(
        &mut self,
        peer: &PeerId,
        parts: &[P],
    ) -> Result<(), SendError> {
        self.send_routed(peer.as_ref(), parts)
    }

    /// Queues a message, waiting while the peer's queue is full, and
    /// writes it (with anything else queued) at once. Bound the wait with
    /// `tokio::time::timeout`.
    pub async fn send<P: AsRef<[u8]>>(&mut self, parts: &[P]) -> Result<(), SendError> {
        poll_fn(|cx| self.poll_send(cx, |s| s.try_send(parts))).await
    }

    /// [`send`](Self::send) to `peer` on a ROUTER.
    pub async fn send_to<P: AsRef<[u8]>>(
        &mut self,
        peer: &PeerId,
        parts: &[P],
    ) -> Result<(), SendError> {
        poll_fn(|cx| self.poll_send(cx, |s| s.try_send_to(peer, parts))).await
    }

    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&mut Self) -> Result<(), SendError>,
    ) -> Poll<Result<(), SendError>> {
        let budget = std::task::ready!(coop::poll_proceed(cx));
        let mut outcome = attempt(self);
        if matches!(outcome, Err(SendError::WouldBlock)) {
            self.drive(Some(cx));
            outcome = attempt(self);
            if matches!(outcome, Err(SendError::WouldBlock)) {
                return Poll::Pending;
            }
        }
        budget.made_progress();
        // A caller that awaits each send is not batching: write it now.
        self.flush();
        Poll::Ready(outcome)
    }

    /// Waits until a send would be queued, as [`writable`](Self::writable),
    /// or, on a watched socket, until a handshake fails in a way that will
    /// not heal by retrying ([`HandshakeFailure::is_final`]): a refused key,
    /// or CURVE on one side only. Consumes the events it reads.
    pub async fn connected(&mut self) -> io::Result<Result<(), HandshakeFailure>> {
        poll_fn(|cx| {
            loop {
                while let Some(event) = self.take_event() {
                    if let SocketEvent::HandshakeFailed(failure) = event
                        && failure.is_final()
                    {
                        return Poll::Ready(Ok(Err(failure)));
                    }
                }
                if self.has_room() {
                    return Poll::Ready(Ok(Ok(())));
                }
                let before = self.events.as_ref().map_or(0, VecDeque::len);
                self.drive(Some(cx));
                let after = self.events.as_ref().map_or(0, VecDeque::len);
                if after == before && !self.has_room() {
                    return Poll::Pending;
                }
            }
        })
        .await
    }

    /// Waits until a send would be queued: on a DEALER, a connection is
    /// ready and has room; on a ROUTER, some peer does.
    pub async fn writable(&mut self) -> io::Result<()> {
        poll_fn(|cx| {
            if self.has_room() {
                return Poll::Ready(Ok(()));
            }
            self.drive(Some(cx));
            if self.has_room() {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        })
        .await
    }

    fn has_room(&self) -> bool {
        self.ready.iter().any(|&slot| {
            self.links[slot]
                .as_ref()
                .is_some_and(|l| l.pending() < self.sndhwm)
        })
    }

    fn send_routed<P: AsRef<[u8]>>(&mut self, id: &[u8], parts: &[P]) -> Result<(), SendError> {
        if parts.is_empty() {
            return Err(empty_message());
        }
        let Some(&slot) = self.by_id.get(id) else {
            return if self.mandatory {
                Err(SendError::HostUnreachable)
            } else {
                Ok(())
            };
        };
        self.queue_on(slot, parts)
    }

    fn send_dealt<P: AsRef<[u8]>>(&mut self, parts: &[P]) -> Result<(), SendError> {
        if parts.is_empty() {
            return Err(empty_message());
        }
        // Round robin over the ready links, skipping full ones, as libzmq's
        // DEALER does.
        for _ in 0..self.ready.len() {
            let at = self.next_ready % self.ready.len();
            self.next_ready = at + 1;
            let slot = self.ready[at];
            match self.queue_on(slot, parts) {
                Err(SendError::WouldBlock) => {}
                other => return other,
            }
        }
        Err(SendError::WouldBlock)
    }

    fn queue_on<P: AsRef<[u8]>>(&mut self, slot: usize, parts: &[P]) -> Result<(), SendError> {
        let sndhwm = self.sndhwm;
        let link = self.links[slot].as_mut().expect("ready links are live");
        if link.pending() >= sndhwm {
            // The kernel may have taken some since the last flush.
            if let Err(e) = link.flush() {
                self.close_link(slot, Closing::Io(e));
                return Err(SendError::HostUnreachable);
            }
            if link.pending() >= sndhwm {
                return Err(SendError::WouldBlock);
            }
        }
        if let Err(e) = link.queue(parts) {
            let e = io::Error::other(e.to_string());
            return Err(SendError::Io(e));
        }
        if link.queued_octets() >= EAGER_FLUSH {
            if let Err(e) = link.flush() {
                self.close_link(slot, Closing::Io(e));
            }
        } else if !link.dirty {
            link.dirty = true;
            self.dirty.push(slot);
        }
        Ok(())
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // What the kernel takes now; `close` waits for the rest.
        for link in self.links.iter_mut().flatten() {
            let _ = link.flush();
        }
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("native::Socket")
            .field("kind", &self.kind)
            .field("listeners", &self.listeners.len())
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

fn next_backoff(now: Duration, max: Option<Duration>) -> Duration {
    match max {
        Some(max) if max > now => (now * 2).min(max),
        _ => now,
    }
}

fn connect_future(endpoint: &Endpoint) -> Pin<Box<dyn Future<Output = io::Result<Stream>> + Send>> {
    let endpoint = endpoint.clone();
    Box::pin(async move { endpoint.connect().await })
}

/// A received message as the owner sees it: the routing id first on a
/// ROUTER, and where it came from when it starts with `origin_prefix`.
fn to_multipart(link: &Link, parts: Vec<Bytes>, origin_prefix: Option<&[u8]>) -> Multipart {
    let with_origin =
        origin_prefix.is_some_and(|prefix| parts.first().is_some_and(|p| p.starts_with(prefix)));
    let mut parts = parts;
    if let Some(id) = &link.routing_id {
        parts.insert(0, id.clone());
    }
    let mut msg = Multipart::from(parts);
    if with_origin {
        msg.set_origin(Some(Box::new(Origin {
            address: link.address.clone(),
            fd: Some(link.fd),
        })));
    }
    msg
}

fn empty_message() -> SendError {
    SendError::Io(io::Error::new(
        io::ErrorKind::InvalidInput,
        "a message needs at least one part after the routing id",
    ))
}

/// The bounds a native socket puts on what one peer may make it hold.
fn limits(max_msg_size: Option<u64>, parts: usize, bytes: u64) -> Limits {
    let part = max_msg_size.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let message = usize::try_from(bytes)
        .unwrap_or(usize::MAX)
        .max(part.min(1 << 30));
    Limits {
        max_frame_bytes: part,
        max_message_bytes: message,
        max_message_parts: parts.max(1),
        ..Limits::default()
    }
}
