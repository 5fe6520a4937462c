//! One router–worker session, in either role ([spec](../../../spec/PROTOCOL.md#session)).
//!
//! [`Session`] is a pure state machine: it reads no clock and owns no socket.
//! The caller feeds it message parts and the current time, and drains what it
//! wants sent and what it has to say.
//!
//! The type and its getters and output live here; its other methods are
//! split by concern, as h2 splits its connection:
//!
//! - `handshake`: HELLO and WELCOME, both roles (spec #handshake);
//! - `recv`: frames from the peer, stream by stream;
//! - `credit`: WINDOW_UPDATE and SETTINGS from the peer, and the receive
//!   credit given back (spec #flow-control);
//! - `send`: the commands that put streams and data on the wire;
//! - `heartbeat`: PING and the timers (spec #heartbeat);
//! - `go_away`: GOAWAY both ways, errors, drain and the end of the session;
//! - `error`: [`ProtocolError`], why the session reset a stream or went away.
//!
//! Those files add methods to [`Session`], so they import it from here while
//! this file names their types (`Heartbeat`, `Rejection`): a circle between
//! parent and children that is Rust's way of splitting one type's methods
//! by concern. Nothing outside `session` takes part in it.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

mod backoff;
mod config;
mod credit;
mod error;
mod event;
mod flow;
mod go_away;
mod handshake;
mod heartbeat;
mod recv;
mod send;
mod stream;
mod unknown_peer;

pub use backoff::Backoff;
pub use config::{
    DEFAULT_MAX_HEADER_PAIRS, DEFAULT_WORKER_MAX_HEADER_PAIRS, RouterConfig, WorkerConfig,
};
pub use error::{ErrorCode, ProtocolError};
pub use event::{CloseReason, Event, ResetOrigin};
pub use flow::DEFAULT_WINDOW;
pub use handshake::Rejection;
pub use stream::StreamState;
pub use unknown_peer::UnknownPeer;

use self::flow::{RecvWindow, SendWindow};
use self::heartbeat::Heartbeat;
use self::stream::Stream;
use crate::frame::{Frame, Hello, MAX_PAYLOAD_LEN, Welcome};
use crate::routing::Route;
use crate::{GoAwayStatus, HeaderBlock, StreamId};

/// How many errors [`Session::poll_protocol_error`] keeps for a caller that
/// does not poll it. One part raises at most one error, so a caller that
/// polls after each message loses none unless the message has more parts.
pub const MAX_QUEUED_ERRORS: usize = 64;

/// Which end of the session this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Router,
    Worker,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Worker: HELLO queued, waiting for WELCOME until the deadline, which
    /// restarts when HELLO is actually sent (spec #handshake).
    Handshake {
        deadline: Instant,
        timeout: Duration,
    },
    Established,
    Closed,
}

/// One session between a router and a worker.
///
/// Methods come in four groups:
/// - getters: [`role`](Self::role), [`is_established`](Self::is_established),
///   [`send_capacity`](Self::send_capacity), …;
/// - input: [`handle_part`](Self::handle_part) for each received message part,
///   [`handle_timeout`](Self::handle_timeout) when [`poll_timeout`](Self::poll_timeout) is reached;
/// - commands: [`open_stream`](Self::open_stream) (router), [`reply`](Self::reply) (worker),
///   [`send_data`](Self::send_data), [`send_trailers`](Self::send_trailers),
///   [`reset`](Self::reset), [`release_capacity`](Self::release_capacity),
///   [`go_away`](Self::go_away), [`set_capacity`](Self::set_capacity) (worker),
///   [`abandon`](Self::abandon);
/// - output: [`poll_transmit`](Self::poll_transmit),
///   [`poll_protocol_error`](Self::poll_protocol_error), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout).
///
/// After any input or command, drain `poll_transmit` until `None` and send each
/// frame as a message part, then drain `poll_protocol_error` (to log why the
/// session reset a stream or went away), then `poll_event`, then arm a timer
/// for `poll_timeout`. The queues only grow by a bounded amount per input, so
/// draining after each input keeps memory bounded.
#[derive(Debug)]
pub struct Session {
    role: Role,
    state: State,
    streams: BTreeMap<StreamId, Stream>,
    /// Router: the last id allocated. Worker: the highest SYN_STREAM id that
    /// passed the id checks (spec #stream-closed's H), accepted or not.
    highest_stream: StreamId,
    /// Worker: the highest stream it accepted for processing, GOAWAY's last-good.
    last_accepted: StreamId,
    /// The most pairs accepted in a received name/value block.
    max_header_pairs: usize,
    /// Set once we sent GOAWAY: we start or accept no new streams.
    local_goaway: bool,
    /// Set once the peer sent GOAWAY.
    remote_goaway: Option<GoAwayStatus>,
    close_reason: Option<CloseReason>,

    /// Worker: its own capacity. Router: the worker's declared capacity.
    capacity: u32,
    /// The initial send window for streams we open or accept from now on.
    peer_initial_window: u32,
    /// Our receive window for each stream.
    local_initial_window: u32,
    session_send: SendWindow,
    session_recv: RecvWindow,
    session_window_target: u32,

    heartbeat: Option<Heartbeat>,
    last_recv: Instant,
    last_send: Instant,
    ping_queued: bool,
    next_ping_id: u32,
    outstanding_ping: Option<(u32, Instant)>,

    hello: Option<Hello>,
    welcome: Option<Welcome>,
    routes: Vec<Route>,

    transmit: VecDeque<Frame>,
    /// Why the session sent the RST_STREAMs and the GOAWAY in `transmit`.
    errors: VecDeque<ProtocolError>,
    events: VecDeque<Event>,
}

/// Why a command was refused. Nothing was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// The session is not established, or is over.
    NotEstablished,
    /// A GOAWAY was sent or received: no new streams.
    Draining,
    /// The worker has no free capacity.
    AtCapacity,
    /// The session has used up its stream ids; it is draining now.
    IdsExhausted,
    /// No such stream, or it was reset or finished.
    UnknownStream,
    /// That direction of the stream has already ended.
    AlreadyFinished,
    /// The command does not fit this role or this point of the stream.
    OutOfOrder,
    /// The data exceeds what the windows allow (see `send_capacity`).
    WindowExceeded,
    /// The head breaks the HTTP mapping rules or does not fit in one frame,
    /// or the body breaks its content-length.
    InvalidMessage,
}

impl Session {
    fn new(role: Role, state: State, now: Instant) -> Self {
        Self {
            role,
            state,
            streams: BTreeMap::new(),
            highest_stream: StreamId::ZERO,
            last_accepted: StreamId::ZERO,
            max_header_pairs: DEFAULT_MAX_HEADER_PAIRS,
            local_goaway: false,
            remote_goaway: None,
            close_reason: None,
            capacity: 0,
            peer_initial_window: DEFAULT_WINDOW,
            local_initial_window: DEFAULT_WINDOW,
            session_send: SendWindow::new(DEFAULT_WINDOW),
            session_recv: RecvWindow::new(DEFAULT_WINDOW, DEFAULT_WINDOW),
            session_window_target: DEFAULT_WINDOW,
            heartbeat: None,
            last_recv: now,
            last_send: now,
            ping_queued: false,
            next_ping_id: match role {
                Role::Router => 1,
                Role::Worker => 2,
            },
            outstanding_ping: None,
            hello: None,
            welcome: None,
            routes: Vec::new(),
            transmit: VecDeque::new(),
            errors: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    // ---- getters ----

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason
    }

    /// A GOAWAY went one way or the other: the session takes no new streams.
    pub fn is_draining(&self) -> bool {
        self.local_goaway || self.remote_goaway.is_some()
    }

    /// Streams not yet finished in both directions.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    pub fn stream_state(&self, id: StreamId) -> Option<StreamState> {
        self.streams.get(&id).map(Stream::state)
    }

    /// Router: the worker's declared capacity. Worker: its own.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Router: whether `open_stream` would succeed now.
    pub fn can_open_stream(&self) -> bool {
        self.role == Role::Router
            && self.is_established()
            && !self.is_draining()
            && self.streams.len() < self.capacity as usize
    }

    /// The most DATA payload `send_data` accepts on `id` right now.
    pub fn send_capacity(&self, id: StreamId) -> usize {
        self.streams
            .get(&id)
            .filter(|s| !s.local_fin && (self.role == Role::Router || s.replied))
            .map_or(0, |s| {
                s.send
                    .available()
                    .min(self.session_send.available())
                    .min(MAX_PAYLOAD_LEN)
            })
    }

    /// The send window new streams start with: the peer's announced initial
    /// window, as last changed by its SETTINGS.
    pub fn peer_initial_window(&self) -> u32 {
        self.peer_initial_window
    }

    pub fn heartbeat_interval(&self) -> Option<Duration> {
        self.heartbeat.map(|h| h.interval)
    }

    /// The worker's HELLO (both roles).
    pub fn hello(&self) -> Option<&Hello> {
        self.hello.as_ref()
    }

    /// The router's WELCOME (router: as sent; worker: once received).
    pub fn welcome(&self) -> Option<&Welcome> {
        self.welcome.as_ref()
    }

    /// Router: the routes the worker announced, parsed.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn highest_stream_id(&self) -> StreamId {
        self.highest_stream
    }

    /// Test hook: pretend `id` was the last stream id allocated, to reach id
    /// exhaustion without opening a billion streams.
    #[doc(hidden)]
    pub fn skip_stream_ids_to(&mut self, id: StreamId) {
        if self.role == Role::Router && id > self.highest_stream {
            self.highest_stream = id;
        }
    }

    // ---- output ----

    /// The next frame to send, as one message part. `now` is when it goes out.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Frame> {
        let frame = self.transmit.pop_front()?;
        // Spec #handshake: the handshake timer starts when HELLO is sent.
        if let (Frame::Hello(_), State::Handshake { deadline, timeout }) = (&frame, &mut self.state)
        {
            *deadline = now + *timeout;
        }
        if let Frame::Ping(p) = &frame
            && p.id() % 2 == self.own_ping_parity()
        {
            self.ping_queued = false;
            if let Some((id, sent)) = &mut self.outstanding_ping
                && *id == p.id()
            {
                *sent = now;
            }
        }
        self.last_send = now;
        Some(frame)
    }

    /// Why the session sent an RST_STREAM or a GOAWAY of its own accord,
    /// one per frame, in the order sent: the peer broke a rule, or a stream
    /// was refused. A `Reset` or `Closed` event carries the same error when
    /// it ends a stream or the session; this queue also holds the errors that
    /// end none (a stream never opened, or refused at once).
    ///
    /// Holds at most the last [`MAX_QUEUED_ERRORS`] errors, so that a caller
    /// that never polls it keeps bounded memory.
    #[must_use]
    pub fn poll_protocol_error(&mut self) -> Option<ProtocolError> {
        self.errors.pop_front()
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::Handshake { deadline, .. } => Some(deadline),
            State::Established => {
                let hb = self.heartbeat?;
                let dead = self.last_recv + hb.interval * hb.liveness;
                if self.ping_queued {
                    Some(dead)
                } else {
                    Some(dead.min(self.last_send + hb.interval))
                }
            }
        }
    }

    // ---- helpers shared by the concerns ----

    fn queue(&mut self, frame: impl Into<Frame>) {
        self.transmit.push_back(frame.into());
    }

    /// Records why the frame about to be queued goes out.
    fn report(&mut self, error: ProtocolError) {
        if self.errors.len() == MAX_QUEUED_ERRORS {
            self.errors.pop_front();
        }
        self.errors.push_back(error);
    }

    /// Forgets a stream, crediting whatever of its body was never consumed.
    fn remove_stream(&mut self, id: StreamId) -> Option<Stream> {
        let stream = self.streams.remove(&id)?;
        self.release_session(stream.recv_pending);
        Some(stream)
    }

    fn finish_local(&mut self, id: StreamId) {
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.local_fin = true;
            if stream.remote_fin {
                self.remove_stream(id);
                self.check_drained();
            }
        }
    }

    fn finish_remote(&mut self, id: StreamId) {
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.remote_fin = true;
            if stream.local_fin {
                self.remove_stream(id);
                self.check_drained();
            }
        }
    }
}

/// Spec #frame-size: whether a frame with these fixed fields and this block
/// stays within the 65,536-byte payload limit.
fn fits_in_frame(fixed_len: usize, block: &HeaderBlock) -> bool {
    fixed_len + block.encoded_len() <= MAX_PAYLOAD_LEN
}
