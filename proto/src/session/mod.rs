//! One router–worker session, in either role ([spec](../../../spec/PROTOCOL.md#session)).
//!
//! [`Session`] is a pure state machine: it reads no clock and owns no socket.
//! The caller feeds it message parts and the current time, and drains what it
//! wants sent and what it has to say.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

mod backoff;
mod config;
mod event;
mod flow;
mod stream;
mod unknown_peer;

pub use backoff::Backoff;
pub use config::{
    DEFAULT_MAX_HEADER_PAIRS, DEFAULT_WORKER_MAX_HEADER_PAIRS, RouterConfig, WorkerConfig,
};
pub use event::{CloseReason, Event, ResetOrigin};
pub use flow::DEFAULT_WINDOW;
pub use stream::StreamState;
pub use unknown_peer::UnknownPeer;

use self::flow::{RecvWindow, SendWindow};
use self::stream::Stream;
use crate::frame::{
    Data, Frame, GoAway, Headers, Hello, MAX_PAYLOAD_LEN, MAX_WINDOW, Ping, Reaction, RstStream,
    Settings, SynReply, SynStream, Welcome, WindowUpdate,
};
use crate::routing::Route;
use crate::{
    FrameType, GoAwayStatus, HeaderBlock, PROTOCOL_VERSION, RstCode, SettingId, StreamId, http,
};

/// HELLO attribute names with a meaning of their own; labels may not use them.
const RESERVED_ATTRIBUTES: [&str; 3] = ["id", "route", "feature"];

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

#[derive(Clone, Copy, Debug)]
struct Heartbeat {
    interval: Duration,
    liveness: u32,
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
/// - output: [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout).
///
/// After any input or command, drain `poll_transmit` until `None` and send each
/// frame as a message part, then drain `poll_event`, then arm a timer for
/// `poll_timeout`. Both queues only grow by a bounded amount per input, so
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
    events: VecDeque<Event>,
}

/// Why a router turned a HELLO down, and the GOAWAY that says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub status: GoAwayStatus,
    pub reason: String,
}

impl Rejection {
    /// The frame to send back to the worker.
    pub fn frame(&self) -> Frame {
        GoAway::new(StreamId::ZERO, self.status).into()
    }
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

enum Lookup {
    Active,
    Closed,
    NeverOpened,
}

impl Session {
    /// Starts a worker's session: HELLO is queued at once. The handshake
    /// timeout counts from when `poll_transmit` hands HELLO out, so the caller
    /// may create the session before its socket is writable.
    pub fn worker(config: &WorkerConfig, now: Instant) -> Result<Self, CommandError> {
        let mut attributes = HeaderBlock::new();
        let mut add = |name: &str, value: &str| attributes.append(name.to_owned(), value);
        // Spec #routing-syntax: a worker sends only routes that match the grammar.
        let valid = add("id", &config.id).is_ok()
            && config
                .routes
                .iter()
                .all(|r| Route::parse(r).is_ok() && add("route", r).is_ok())
            && config.features.iter().all(|f| add("feature", f).is_ok())
            && config.labels.iter().all(|(k, v)| {
                !k.starts_with(':')
                    && !RESERVED_ATTRIBUTES.contains(&k.as_str())
                    && add(k, v).is_ok()
            });
        if !valid || !is_valid_worker_id(config.id.as_bytes()) || config.max_concurrent_streams == 0
        {
            return Err(CommandError::InvalidMessage);
        }
        if !fits_in_frame(HELLO_FIXED_LEN, &attributes) {
            return Err(CommandError::InvalidMessage);
        }
        let hello = Hello::new(
            PROTOCOL_VERSION,
            config.max_concurrent_streams,
            config.initial_window_size.clamp(1, MAX_WINDOW),
            attributes,
        );
        let mut session = Self::new(
            Role::Worker,
            State::Handshake {
                deadline: now + config.handshake_timeout,
                timeout: config.handshake_timeout,
            },
            now,
        );
        session.capacity = hello.max_concurrent_streams();
        session.local_initial_window = hello.initial_window_size();
        session.session_window_target = config.session_window.clamp(DEFAULT_WINDOW, MAX_WINDOW);
        session.max_header_pairs = config.max_header_pairs;
        session.queue(hello.clone());
        session.hello = Some(hello);
        Ok(session)
    }

    /// Starts a router's session from a worker's HELLO: WELCOME is queued at
    /// once. A refused HELLO gives the GOAWAY to answer with instead.
    pub fn accept(
        config: &RouterConfig,
        hello: Hello,
        session_id: &str,
        now: Instant,
    ) -> Result<Self, Rejection> {
        let routes = check_hello(&hello, config.max_header_pairs)?;
        let mut attributes = HeaderBlock::new();
        attributes
            .insert("router", config.router_id.clone())
            .and_then(|()| attributes.insert("session", session_id.to_owned()))
            .ok()
            .filter(|()| fits_in_frame(WELCOME_FIXED_LEN, &attributes))
            .ok_or_else(|| Rejection {
                status: GoAwayStatus::INTERNAL_ERROR,
                reason: "router or session id is not a valid attribute value".to_owned(),
            })?;
        // Spec #heartbeat: both sides use the I announced in WELCOME, whole milliseconds.
        let interval_ms = u32::try_from(config.heartbeat_interval.as_millis())
            .unwrap_or(u32::MAX)
            .max(1);
        let interval = Duration::from_millis(u64::from(interval_ms));
        let welcome = Welcome::new(
            PROTOCOL_VERSION.min(hello.version()),
            interval_ms,
            config.heartbeat_liveness.max(1),
            config.initial_window_size.clamp(1, MAX_WINDOW),
            attributes,
        );
        let mut session = Self::new(Role::Router, State::Established, now);
        session.capacity = hello.max_concurrent_streams();
        session.peer_initial_window = hello.initial_window_size();
        session.local_initial_window = welcome.initial_window_size();
        session.heartbeat = Some(Heartbeat {
            interval,
            liveness: welcome.heartbeat_liveness(),
        });
        session.session_window_target = config.session_window.clamp(DEFAULT_WINDOW, MAX_WINDOW);
        session.max_header_pairs = config.max_header_pairs;
        session.routes = routes;
        session.queue(welcome.clone());
        session.welcome = Some(welcome);
        session.hello = Some(hello);
        session.grow_session_window();
        Ok(session)
    }

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

    // ---- input ----

    /// Processes one received message part (one frame).
    pub fn handle_part(&mut self, now: Instant, part: Bytes) {
        if self.is_closed() {
            return;
        }
        if part.is_empty() {
            // Spec #transport-messages: zero-length parts are ignored (REQ-style
            // envelopes); not being frames, they are no sign of life either.
            return;
        }
        self.last_recv = now;
        let data_len = (part[0] & 0x80 == 0).then(|| part.len().saturating_sub(8));
        let error = match Frame::decode(part) {
            Ok(frame) => return self.handle_frame(now, frame),
            Err(e) => e,
        };
        if let State::Handshake { .. } = self.state {
            // Spec #handshake: anything but a valid WELCOME or a GOAWAY fails it.
            return self.fail_handshake(error.frame_type() == Some(crate::FrameType::WELCOME));
        }
        match error.reaction() {
            Reaction::Session(status) => self.session_error(status),
            Reaction::Stream(id, code) => {
                // Spec #flow-control-windows: every DATA payload counts against the
                // session window, accepted or not; a session error outranks a stream error.
                if let Some(len) = data_len {
                    if !self.session_recv.receive(len) {
                        return self.session_error(GoAwayStatus::FLOW_CONTROL_ERROR);
                    }
                    self.release_session(len);
                }
                self.frame_stream_error(error.frame_type(), id, code);
            }
        }
    }

    /// A frame naming stream `id` broke a rule checked before its stream's
    /// state (spec #frame-decoding steps 4, 8 and 9, and the pair limit):
    /// `code` is the stream error, unless the stream's state says otherwise
    /// (spec #error-table, after the table).
    fn frame_stream_error(&mut self, ty: Option<FrameType>, id: StreamId, code: RstCode) {
        if self.role == Role::Worker && ty == Some(FrameType::SYN_STREAM) {
            // Spec #stream-ids: the id rules come first and are session errors;
            // an id that passes them is opened, and at once closed, by the reset.
            if !id.is_router_initiated() || id <= self.highest_stream {
                return self.session_error(GoAwayStatus::PROTOCOL_ERROR);
            }
            self.highest_stream = id;
            return self.queue(RstStream::new(id, code));
        }
        match self.lookup(id) {
            // Spec #stream-closed: never an RST_STREAM for a closed stream.
            Lookup::Closed => {}
            // Spec #stream-closed: a WINDOW_UPDATE on a never-opened stream is ignored.
            Lookup::NeverOpened if ty == Some(FrameType::WINDOW_UPDATE) => {}
            Lookup::NeverOpened | Lookup::Active => self.stream_error(id, code),
        }
    }

    /// Processes one decoded frame, as `handle_part` does after decoding.
    pub fn handle_frame(&mut self, now: Instant, frame: Frame) {
        if self.is_closed() {
            return;
        }
        self.last_recv = now;
        if let State::Handshake { .. } = self.state {
            return self.handle_handshake_frame(now, frame);
        }
        // Spec #header-block-limits: a block with more pairs than our limit is malformed.
        let over_limit = match &frame {
            Frame::SynStream(f) => Some((FrameType::SYN_STREAM, f.stream_id(), f.headers())),
            Frame::SynReply(f) => Some((FrameType::SYN_REPLY, f.stream_id(), f.headers())),
            Frame::Headers(f) => Some((FrameType::HEADERS, f.stream_id(), f.headers())),
            _ => None,
        }
        .filter(|(_, _, block)| block.len() > self.max_header_pairs);
        if let Some((ty, id, _)) = over_limit {
            return self.frame_stream_error(Some(ty), id, RstCode::PROTOCOL_ERROR);
        }
        match frame {
            Frame::SynStream(f) => self.on_syn_stream(f),
            Frame::SynReply(f) => self.on_syn_reply(f),
            Frame::Data(f) => self.on_data(f),
            Frame::Headers(f) => self.on_headers(f),
            Frame::RstStream(f) => self.on_rst_stream(&f),
            Frame::WindowUpdate(f) => self.on_window_update(&f),
            Frame::Settings(f) => self.on_settings(&f),
            Frame::Ping(f) => self.on_ping(now, &f),
            Frame::GoAway(f) => self.on_goaway(&f),
            // Registration happens once, before anything else.
            Frame::Hello(_) | Frame::Welcome(_) => self.session_error(GoAwayStatus::PROTOCOL_ERROR),
            Frame::Unknown(_) => {}
        }
    }

    /// Fires whatever timers are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed => {}
            State::Handshake { deadline, .. } => {
                if now >= deadline {
                    self.close(CloseReason::HandshakeTimedOut);
                }
            }
            State::Established => {
                let Some(hb) = self.heartbeat else { return };
                if now >= self.last_recv + hb.interval * hb.liveness {
                    self.close(CloseReason::TimedOut);
                    return;
                }
                if !self.ping_queued && now >= self.last_send + hb.interval {
                    let id = self.next_ping_id;
                    self.next_ping_id = id.wrapping_add(2);
                    self.outstanding_ping = Some((id, now));
                    self.ping_queued = true;
                    self.queue(Ping::new(id));
                }
            }
        }
    }

    // ---- commands ----

    /// Router: opens a stream carrying a request head. `fin` when there is no body.
    pub fn open_stream(
        &mut self,
        headers: HeaderBlock,
        fin: bool,
    ) -> Result<StreamId, CommandError> {
        if self.role != Role::Router {
            return Err(CommandError::OutOfOrder);
        }
        if !self.is_established() {
            return Err(CommandError::NotEstablished);
        }
        if self.is_draining() {
            return Err(CommandError::Draining);
        }
        if self.streams.len() >= self.capacity as usize {
            return Err(CommandError::AtCapacity);
        }
        let info = http::check_request(&headers).map_err(|_| CommandError::InvalidMessage)?;
        // Spec #http-request: `:host` carries the host; #frame-size: one frame.
        if headers.get("host").is_some() || !fits_in_frame(SYN_STREAM_FIXED_LEN, &headers) {
            return Err(CommandError::InvalidMessage);
        }
        let Some(id) = self.highest_stream.next_router_id() else {
            self.go_away(GoAwayStatus::OK);
            return Err(CommandError::IdsExhausted);
        };
        if fin && info.content_length.is_some_and(|n| n > 0) {
            return Err(CommandError::InvalidMessage);
        }
        self.highest_stream = id;
        let mut stream = Stream::new(self.peer_initial_window, self.local_initial_window);
        stream.is_head = info.is_head;
        stream.send_body.expected = info.content_length;
        stream.local_fin = fin;
        self.streams.insert(id, stream);
        let mut syn = SynStream::new(id, headers);
        syn.set_fin(fin);
        self.queue(syn);
        Ok(id)
    }

    /// Worker: sends the response head. `fin` when there is no body.
    pub fn reply(
        &mut self,
        id: StreamId,
        headers: HeaderBlock,
        fin: bool,
    ) -> Result<(), CommandError> {
        if self.role != Role::Worker {
            return Err(CommandError::OutOfOrder);
        }
        let stream = self
            .streams
            .get_mut(&id)
            .ok_or(CommandError::UnknownStream)?;
        if stream.replied {
            return Err(CommandError::OutOfOrder);
        }
        let info = http::check_response(&headers).map_err(|_| CommandError::InvalidMessage)?;
        // Spec #http-response: the worker sends `:version`; #frame-size: one frame.
        if headers.get(http::VERSION).is_none() || !fits_in_frame(STREAM_BLOCK_FIXED_LEN, &headers)
        {
            return Err(CommandError::InvalidMessage);
        }
        stream.send_body.expected = info.content_length;
        stream.send_body.exempt = http::is_length_exempt(stream.is_head, info.status);
        if fin && !stream.send_body.is_complete() {
            return Err(CommandError::InvalidMessage);
        }
        stream.replied = true;
        let mut reply = SynReply::new(id, headers);
        reply.set_fin(fin);
        self.queue(reply);
        if fin {
            self.finish_local(id);
        }
        Ok(())
    }

    /// Sends body bytes; `data.len()` must not exceed [`send_capacity`](Self::send_capacity).
    pub fn send_data(&mut self, id: StreamId, data: Bytes, fin: bool) -> Result<(), CommandError> {
        let role = self.role;
        let session_room = self.session_send.available();
        let stream = self
            .streams
            .get_mut(&id)
            .ok_or(CommandError::UnknownStream)?;
        if stream.local_fin {
            return Err(CommandError::AlreadyFinished);
        }
        if role == Role::Worker && !stream.replied {
            return Err(CommandError::OutOfOrder);
        }
        let len = data.len();
        if len
            > stream
                .send
                .available()
                .min(session_room)
                .min(MAX_PAYLOAD_LEN)
        {
            return Err(CommandError::WindowExceeded);
        }
        let mut body = stream.send_body;
        if !body.add(len) || (fin && !body.is_complete()) {
            return Err(CommandError::InvalidMessage);
        }
        stream.send_body = body;
        stream.send.consume(len);
        self.session_send.consume(len);
        let mut frame = Data::new(id, data);
        frame.set_fin(fin);
        self.queue(frame);
        if fin {
            self.finish_local(id);
        }
        Ok(())
    }

    /// Sends trailers, which end our side of the stream.
    pub fn send_trailers(
        &mut self,
        id: StreamId,
        headers: HeaderBlock,
    ) -> Result<(), CommandError> {
        let role = self.role;
        let stream = self
            .streams
            .get_mut(&id)
            .ok_or(CommandError::UnknownStream)?;
        if stream.local_fin {
            return Err(CommandError::AlreadyFinished);
        }
        if role == Role::Worker && !stream.replied {
            return Err(CommandError::OutOfOrder);
        }
        if http::check_trailers(&headers).is_err()
            || !stream.send_body.is_complete()
            || !fits_in_frame(STREAM_BLOCK_FIXED_LEN, &headers)
        {
            return Err(CommandError::InvalidMessage);
        }
        self.queue(Headers::trailers(id, headers));
        self.finish_local(id);
        Ok(())
    }

    /// Ends a stream at once with RST_STREAM. Unknown or finished streams are left alone.
    /// A code the spec does not define (0, 10, ...) is sent as INTERNAL_ERROR.
    pub fn reset(&mut self, id: StreamId, code: RstCode) {
        if self.remove_stream(id).is_some() {
            self.queue(RstStream::new(id, code.effective()));
            self.check_drained();
        }
    }

    /// Tells the session the application consumed `len` bytes of `id`'s body,
    /// so the peer may send more. Bytes of finished streams are credited back
    /// when the stream ends, so late calls for them are ignored.
    pub fn release_capacity(&mut self, id: StreamId, len: usize) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        let len = len.min(stream.recv_pending);
        stream.recv_pending -= len;
        if let Some(delta) = stream.recv.release(len).filter(|_| !stream.remote_fin) {
            self.queue(WindowUpdate::new(id, delta));
        }
        self.release_session(len);
    }

    /// Sends GOAWAY. OK starts a drain: no new streams, the open ones finish.
    /// An error status ends the session now. A status the spec does not define,
    /// or one only the router may send (UNKNOWN_SESSION, REFUSED) from a
    /// worker, is sent as INTERNAL_ERROR.
    ///
    /// Worker, before WELCOME: the session ends without a frame, since nothing
    /// but HELLO may go out before WELCOME.
    pub fn go_away(&mut self, status: GoAwayStatus) {
        if self.is_closed() {
            return;
        }
        if let State::Handshake { .. } = self.state {
            return self.abandon();
        }
        let router_only = matches!(
            status,
            GoAwayStatus::UNKNOWN_SESSION | GoAwayStatus::REFUSED
        );
        let status = if self.role == Role::Worker && router_only {
            GoAwayStatus::INTERNAL_ERROR
        } else {
            status.effective()
        };
        if status.is_error() {
            return self.session_error(status);
        }
        if !self.local_goaway {
            self.local_goaway = true;
            self.queue(GoAway::new(self.last_good(), status));
        }
        self.check_drained();
    }

    /// Worker: announces a new capacity (0 = no new streams for now).
    pub fn set_capacity(&mut self, capacity: u32) -> Result<(), CommandError> {
        if self.role != Role::Worker || !self.is_established() {
            return Err(CommandError::OutOfOrder);
        }
        self.capacity = capacity;
        let mut settings = Settings::new();
        settings.push(SettingId::MAX_CONCURRENT_STREAMS, capacity);
        self.queue(settings);
        Ok(())
    }

    /// Gives the session up without a word to the peer: the transport failed.
    pub fn abandon(&mut self) {
        if !self.is_closed() {
            self.transmit.clear();
            self.close(CloseReason::Abandoned);
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

    // ---- frame handlers ----

    fn handle_handshake_frame(&mut self, now: Instant, frame: Frame) {
        match frame {
            Frame::Welcome(w) => {
                let ok = w.version() >= 1
                    && w.version() <= PROTOCOL_VERSION
                    && w.heartbeat_interval_ms() >= 1
                    && w.heartbeat_liveness() >= 1
                    && w.initial_window_size() >= 1
                    && w.attributes().len() <= self.max_header_pairs;
                if !ok {
                    return self.fail_handshake(true);
                }
                self.state = State::Established;
                self.heartbeat = Some(Heartbeat {
                    interval: Duration::from_millis(u64::from(w.heartbeat_interval_ms())),
                    liveness: w.heartbeat_liveness(),
                });
                self.peer_initial_window = w.initial_window_size();
                self.last_recv = now;
                self.welcome = Some(w);
                self.grow_session_window();
                self.events.push_back(Event::Established);
            }
            Frame::GoAway(g) => self.close(CloseReason::PeerGoAway(g.status().effective())),
            _ => self.fail_handshake(false),
        }
    }

    /// Spec #handshake: the worker gives this socket up; an invalid WELCOME is
    /// worth a GOAWAY so the router forgets the session at once.
    fn fail_handshake(&mut self, bad_welcome: bool) {
        if bad_welcome {
            self.queue(GoAway::new(StreamId::ZERO, GoAwayStatus::PROTOCOL_ERROR));
        }
        self.close(CloseReason::HandshakeFailed);
    }

    fn on_syn_stream(&mut self, f: SynStream) {
        let id = f.stream_id();
        if self.role == Role::Router {
            // Spec #frame-syn-stream: workers never open streams. A stream error
            // on the id it names: that may be one of ours, which then closes.
            return self.frame_stream_error(
                Some(FrameType::SYN_STREAM),
                id,
                RstCode::PROTOCOL_ERROR,
            );
        }
        if !id.is_router_initiated() || id <= self.highest_stream {
            return self.session_error(GoAwayStatus::PROTOCOL_ERROR);
        }
        self.highest_stream = id;
        if self.is_draining() || self.streams.len() >= self.capacity as usize {
            return self.queue(RstStream::new(id, RstCode::REFUSED_STREAM));
        }
        if f.is_unidirectional() || !f.associated_stream_id().is_zero() {
            return self.queue(RstStream::new(id, RstCode::PROTOCOL_ERROR));
        }
        let info = match http::check_request(f.headers()) {
            Ok(info) => info,
            Err(code) => return self.queue(RstStream::new(id, code)),
        };
        let fin = f.is_fin();
        if fin && info.content_length.is_some_and(|n| n > 0) {
            return self.queue(RstStream::new(id, RstCode::PROTOCOL_ERROR));
        }
        let mut stream = Stream::new(self.peer_initial_window, self.local_initial_window);
        stream.is_head = info.is_head;
        stream.recv_body.expected = info.content_length;
        stream.remote_fin = fin;
        self.streams.insert(id, stream);
        self.last_accepted = id;
        self.events.push_back(Event::Request {
            id,
            headers: f.into_headers(),
            fin,
        });
    }

    fn on_syn_reply(&mut self, f: SynReply) {
        let id = f.stream_id();
        if !self.check_active(id) {
            return;
        }
        if self.role == Role::Worker {
            return self.stream_error(id, RstCode::PROTOCOL_ERROR);
        }
        let stream = self.streams.get_mut(&id).expect("active");
        if stream.replied {
            return self.stream_error(id, RstCode::STREAM_IN_USE);
        }
        let info = match http::check_response(f.headers()) {
            Ok(info) => info,
            Err(code) => return self.stream_error(id, code),
        };
        stream.replied = true;
        stream.recv_body.expected = info.content_length;
        stream.recv_body.exempt = http::is_length_exempt(stream.is_head, info.status);
        let fin = f.is_fin();
        if fin && !stream.recv_body.is_complete() {
            return self.stream_error(id, RstCode::PROTOCOL_ERROR);
        }
        self.events.push_back(Event::Response {
            id,
            headers: f.into_headers(),
            fin,
        });
        if fin {
            self.finish_remote(id);
        }
    }

    fn on_data(&mut self, f: Data) {
        let id = f.stream_id();
        let len = f.payload().len();
        if !self.session_recv.receive(len) {
            return self.session_error(GoAwayStatus::FLOW_CONTROL_ERROR);
        }
        let verdict = match self.lookup(id) {
            Lookup::Closed => Err(None),
            Lookup::NeverOpened => Err(Some((RstCode::INVALID_STREAM, 0))),
            Lookup::Active => {
                let role = self.role;
                let stream = self.streams.get_mut(&id).expect("active");
                if role == Role::Router && !stream.replied {
                    Err(Some((RstCode::PROTOCOL_ERROR, 0)))
                } else if stream.remote_fin {
                    Err(Some((RstCode::STREAM_ALREADY_CLOSED, 0)))
                } else if !stream.recv.receive(len) {
                    Err(Some((RstCode::FLOW_CONTROL_ERROR, 0)))
                } else if !stream.recv_body.add(len)
                    || (f.is_fin() && !stream.recv_body.is_complete())
                {
                    // Spec #http-body: the bytes within the declared length
                    // are still the body as declared. Passed on before the
                    // reset, a client gets them rather than nothing.
                    let within = stream.recv_body.within_declared(len);
                    stream.recv_pending += within;
                    Err(Some((RstCode::PROTOCOL_ERROR, within)))
                } else {
                    stream.recv_pending += len;
                    Ok(())
                }
            }
        };
        if let Err(error) = verdict {
            let within = error.map_or(0, |(_, within)| within);
            // Bytes nobody will consume still count against the session:
            // credit them now (those passed on are credited with the stream).
            self.release_session(len - within);
            if within > 0 {
                self.events.push_back(Event::Data {
                    id,
                    data: f.into_payload().slice(..within),
                    fin: false,
                });
            }
            if let Some((code, _)) = error {
                self.stream_error(id, code);
            }
            return;
        }
        let fin = f.is_fin();
        self.events.push_back(Event::Data {
            id,
            data: f.into_payload(),
            fin,
        });
        if fin {
            self.finish_remote(id);
        }
    }

    fn on_headers(&mut self, f: Headers) {
        let id = f.stream_id();
        if !self.check_active(id) {
            return;
        }
        let role = self.role;
        let stream = self.streams.get_mut(&id).expect("active");
        let code = if role == Role::Router && !stream.replied {
            Some(RstCode::PROTOCOL_ERROR)
        } else if stream.remote_fin {
            Some(RstCode::STREAM_ALREADY_CLOSED)
        } else if !f.is_fin()
            || http::check_trailers(f.headers()).is_err()
            || !stream.recv_body.is_complete()
        {
            Some(RstCode::PROTOCOL_ERROR)
        } else {
            None
        };
        if let Some(code) = code {
            return self.stream_error(id, code);
        }
        self.events.push_back(Event::Trailers {
            id,
            headers: f.into_headers(),
        });
        self.finish_remote(id);
    }

    fn on_rst_stream(&mut self, f: &RstStream) {
        // Spec: an RST_STREAM is never answered with one, whatever it names.
        let id = f.stream_id();
        if self.remove_stream(id).is_some() {
            // Spec #rst-codes: 0, 10 and unknown codes mean INTERNAL_ERROR.
            self.events.push_back(Event::Reset {
                id,
                code: f.code().effective(),
                origin: ResetOrigin::Peer,
            });
            self.check_drained();
        }
    }

    fn on_window_update(&mut self, f: &WindowUpdate) {
        let id = f.stream_id();
        if id.is_zero() {
            if !self.session_send.grant(f.delta()) {
                return self.session_error(GoAwayStatus::FLOW_CONTROL_ERROR);
            }
        } else if let Some(stream) = self.streams.get_mut(&id).filter(|s| !s.local_fin) {
            if !stream.send.grant(f.delta()) {
                return self.stream_error(id, RstCode::FLOW_CONTROL_ERROR);
            }
        } else {
            // Updates race with the stream's end, or come after our FIN: ignore them.
            return;
        }
        self.events.push_back(Event::WindowOpened { id });
    }

    fn on_settings(&mut self, f: &Settings) {
        for entry in f.entries() {
            match entry.id {
                SettingId::INITIAL_WINDOW_SIZE => {
                    if entry.value > MAX_WINDOW {
                        return self.session_error(GoAwayStatus::FLOW_CONTROL_ERROR);
                    }
                    let shift = i64::from(entry.value) - i64::from(self.peer_initial_window);
                    self.peer_initial_window = entry.value;
                    // Spec #flow-control-settings: pushing any stream past 2^31-1 is a session error.
                    if !self.streams.values_mut().all(|s| s.send.shift(shift)) {
                        return self.session_error(GoAwayStatus::FLOW_CONTROL_ERROR);
                    }
                    if shift > 0 {
                        self.events
                            .push_back(Event::WindowOpened { id: StreamId::ZERO });
                    }
                }
                SettingId::MAX_CONCURRENT_STREAMS if self.role == Role::Router => {
                    self.capacity = entry.value;
                    self.events.push_back(Event::CapacityChanged {
                        capacity: entry.value,
                    });
                }
                // Spec: every other id, and MAX_CONCURRENT_STREAMS from the router, is ignored.
                _ => {}
            }
        }
    }

    fn on_ping(&mut self, now: Instant, f: &Ping) {
        if f.id() % 2 != self.own_ping_parity() {
            return self.queue(Ping::new(f.id()));
        }
        if let Some((id, sent)) = self.outstanding_ping
            && id == f.id()
        {
            self.outstanding_ping = None;
            self.events.push_back(Event::Pong {
                rtt: now.saturating_duration_since(sent),
            });
        }
        // A PING of our parity that we never sent is ignored, which stops loops.
    }

    fn on_goaway(&mut self, f: &GoAway) {
        // Spec #goaway-codes: unknown statuses mean INTERNAL_ERROR.
        let status = f.status().effective();
        let last_good = f.last_good_stream_id();
        self.remote_goaway = Some(status);
        self.events.push_back(Event::GoAway { last_good, status });
        if self.role == Role::Router {
            // Spec #drain, #stream-retry: every stream above last-good counts as
            // refused, except one the worker already answered: that one was
            // processed, must not be retried, and runs on.
            let unprocessed: Vec<StreamId> = self
                .streams
                .iter()
                .filter(|(id, s)| **id > last_good && !s.replied)
                .map(|(id, _)| *id)
                .collect();
            for id in unprocessed {
                self.remove_stream(id);
                self.events.push_back(Event::Reset {
                    id,
                    code: RstCode::REFUSED_STREAM,
                    origin: ResetOrigin::Peer,
                });
            }
        }
        if status.is_error() {
            return self.close(CloseReason::PeerGoAway(status));
        }
        self.check_drained();
    }

    // ---- helpers ----

    fn queue(&mut self, frame: impl Into<Frame>) {
        self.transmit.push_back(frame.into());
    }

    /// Spec #stream-closed, for frames that need an active stream (SYN_REPLY,
    /// HEADERS): a closed stream's are ignored, a never-opened one's get
    /// INVALID_STREAM. True when the stream is active.
    fn check_active(&mut self, id: StreamId) -> bool {
        match self.lookup(id) {
            Lookup::Active => true,
            Lookup::Closed => false,
            Lookup::NeverOpened => {
                self.queue(RstStream::new(id, RstCode::INVALID_STREAM));
                false
            }
        }
    }

    fn lookup(&self, id: StreamId) -> Lookup {
        if self.streams.contains_key(&id) {
            Lookup::Active
        } else if id.is_router_initiated() && id <= self.highest_stream {
            Lookup::Closed
        } else {
            Lookup::NeverOpened
        }
    }

    fn own_ping_parity(&self) -> u32 {
        match self.role {
            Role::Router => 1,
            Role::Worker => 0,
        }
    }

    /// GOAWAY's last-good id: a worker's is the highest stream it accepted
    /// for processing (not one it refused or reset at once); a router has
    /// accepted none.
    fn last_good(&self) -> StreamId {
        match self.role {
            Role::Router => StreamId::ZERO,
            Role::Worker => self.last_accepted,
        }
    }

    fn grow_session_window(&mut self) {
        if let Some(delta) = self.session_recv.grow_to(self.session_window_target) {
            self.queue(WindowUpdate::new(StreamId::ZERO, delta));
        }
    }

    fn release_session(&mut self, len: usize) {
        if let Some(delta) = self.session_recv.release(len) {
            self.queue(WindowUpdate::new(StreamId::ZERO, delta));
        }
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

    fn check_drained(&mut self) {
        if self.is_draining() && self.streams.is_empty() && !self.is_closed() {
            self.close(CloseReason::Drained);
        }
    }

    fn stream_error(&mut self, id: StreamId, code: RstCode) {
        self.queue(RstStream::new(id, code));
        if self.remove_stream(id).is_some() {
            self.events.push_back(Event::Reset {
                id,
                code,
                origin: ResetOrigin::Local,
            });
            self.check_drained();
        }
    }

    fn session_error(&mut self, status: GoAwayStatus) {
        self.queue(GoAway::new(self.last_good(), status));
        self.local_goaway = true;
        self.close(CloseReason::LocalError(status));
    }

    fn close(&mut self, reason: CloseReason) {
        self.state = State::Closed;
        self.close_reason = Some(reason);
        if matches!(reason, CloseReason::PeerGoAway(_)) {
            // Spec #session-errors: nothing more goes out after an error GOAWAY.
            self.transmit.clear();
        }
        // No window credit either: the session is over, and a GOAWAY must be its last frame.
        let ids: Vec<StreamId> = std::mem::take(&mut self.streams).into_keys().collect();
        for id in ids {
            self.events.push_back(Event::Reset {
                id,
                code: RstCode::CANCEL,
                origin: ResetOrigin::Session,
            });
        }
        self.events.push_back(Event::Closed(reason));
    }
}

/// Checks a HELLO as the spec's handshake section requires and parses its routes.
fn check_hello(hello: &Hello, max_pairs: usize) -> Result<Vec<Route>, Rejection> {
    let reject = |status, reason: &str| Rejection {
        status,
        reason: reason.to_owned(),
    };
    if hello.version() < 1 {
        return Err(reject(
            GoAwayStatus::UNSUPPORTED_VERSION,
            "HELLO version 0 does not exist",
        ));
    }
    if hello.max_concurrent_streams() == 0 {
        return Err(reject(GoAwayStatus::PROTOCOL_ERROR, "HELLO capacity is 0"));
    }
    if hello.initial_window_size() == 0 {
        return Err(reject(
            GoAwayStatus::PROTOCOL_ERROR,
            "HELLO initial window is 0",
        ));
    }
    let attrs = hello.attributes();
    // Spec #header-block-limits: more pairs than the limit is a malformed block.
    if attrs.len() > max_pairs {
        return Err(reject(
            GoAwayStatus::PROTOCOL_ERROR,
            "HELLO has more attributes than the router's pair limit",
        ));
    }
    if !attrs.get("id").is_some_and(|id| is_valid_worker_id(id)) {
        return Err(reject(
            GoAwayStatus::PROTOCOL_ERROR,
            "HELLO id is missing or not 1..128 visible ASCII bytes",
        ));
    }
    // Spec #frame-hello: an empty `route` value means no routes.
    attrs
        .values("route")
        .filter(|raw| !raw.is_empty())
        .map(|raw| {
            std::str::from_utf8(raw)
                .ok()
                .and_then(|raw| Route::parse(raw).ok())
                .ok_or_else(|| reject(GoAwayStatus::PROTOCOL_ERROR, "HELLO route is not valid"))
        })
        .collect()
}

/// The fixed fields before the name/value block, per frame type.
const SYN_STREAM_FIXED_LEN: usize = 10;
const STREAM_BLOCK_FIXED_LEN: usize = 4;
const HELLO_FIXED_LEN: usize = 12;
const WELCOME_FIXED_LEN: usize = 16;

/// Spec #frame-size: whether a frame with these fixed fields and this block
/// stays within the 65,536-byte payload limit.
fn fits_in_frame(fixed_len: usize, block: &HeaderBlock) -> bool {
    fixed_len + block.encoded_len() <= MAX_PAYLOAD_LEN
}

fn is_valid_worker_id(id: &[u8]) -> bool {
    (1..=128).contains(&id.len()) && id.iter().all(|b| (0x21..=0x7e).contains(b))
}
