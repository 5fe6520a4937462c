//! One ZMTP connection, sans IO: 37/ZMTP, "Overall Behavior".
//!
//! ```text
//!   new ──▶ Greeting ──(peer's 64 octets)──▶ Handshake ──(peer's READY)──▶ Ready
//!             │ our greeting queued            │ our READY queued            │ messages,
//!             │                                │                             │ PING/PONG
//!             └──────────────┴── any error ──▶ Failed ◀────────────────────┘
//! ```
//!
//! "A peer MAY start to send messages immediately after completing its
//! handshake, that is, having both sent and received a READY command."
//! Under CURVE the handshake is HELLO, WELCOME, INITIATE and READY
//! (`mechanism/curve.rs`), and once ready every frame either way is a
//! MESSAGE box: the caller sends and receives plaintext parts as under NULL.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::command::{Command, MAX_PING_CONTEXT};
use crate::error::{CurveError, Error, HandshakeError, InvalidIdentity, SendError};
use crate::frame::{Flags, FrameDecoder, header_len, put_message_frame};
use crate::greeting::{Greeting, GreetingDecoder, Mechanism, OPENING_LEN, Version};
use crate::limits::Limits;
use crate::mechanism::curve::{
    Authorizer, CurveCodec, CurveConfig, CurveHandshake, INITIATE_OVERHEAD, KEY_LEN,
    MESSAGE_OVERHEAD, Opened,
};
use crate::mechanism::null::{NullHandshake, Peer};
use crate::metadata::{IDENTITY, Metadata, SOCKET_TYPE, SocketType};

/// Which end of the TCP connection we are. 37/ZMTP, "Topology": "The peer
/// that binds SHALL be the server, and connecting peer SHALL be the client."
/// Under NULL the server answers the client's READY rather than sending its
/// own first, and the as-server flag stays zero ("MUST be zero"); under
/// CURVE the [`Config`] decides who is the CURVE client and says HELLO,
/// whatever the TCP role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We connected.
    Client,
    /// We accepted.
    Server,
}

/// What a [`Connection`] announces and enforces; one serves many
/// connections.
#[derive(Clone, Debug)]
pub struct Config {
    socket_type: SocketType,
    identity: Option<Bytes>,
    curve: Option<CurveConfig>,
    /// The bounds on what the peer may make us buffer.
    pub limits: Limits,
}

impl Config {
    /// A ROUTER (the zroute router), pairing with DEALERs.
    pub fn router() -> Self {
        Self {
            socket_type: SocketType::ROUTER,
            identity: None,
            curve: None,
            limits: Limits::default(),
        }
    }

    /// A DEALER (a zroute worker), pairing with ROUTERs.
    pub fn dealer() -> Self {
        Self {
            socket_type: SocketType::DEALER,
            identity: None,
            curve: None,
            limits: Limits::default(),
        }
    }

    /// Announces `identity` as our `Identity`, which a ROUTER peer routes by.
    /// It must be 1 to 255 octets and not start with a zero octet (37/ZMTP,
    /// "The Identity Property").
    pub fn with_identity(mut self, identity: impl Into<Bytes>) -> Result<Self, InvalidIdentity> {
        let identity = identity.into();
        if identity.is_empty() || identity.len() > 255 || identity[0] == 0 {
            return Err(InvalidIdentity);
        }
        self.identity = Some(identity);
        Ok(self)
    }

    /// Speaks CURVE as its client (25/ZMTP-CURVE; as-server 0; we send
    /// HELLO): `server_public` is the server's long-term public key, which
    /// WELCOME must prove the server holds, and `client_secret` our
    /// long-term secret key, which the server's allowlist judges by its
    /// public half. Both are raw 32-octet Curve25519 keys (decode Z85 text
    /// first).
    pub fn with_curve_client(
        mut self,
        server_public: [u8; KEY_LEN],
        client_secret: [u8; KEY_LEN],
    ) -> Self {
        self.curve = Some(CurveConfig::Client {
            server_public: server_public.into(),
            secret: client_secret.into(),
        });
        self
    }

    /// Speaks CURVE as its server (as-server 1): `server_secret` is our
    /// long-term secret key, and `allow` decides whether a client that
    /// proved it holds a long-term public key may connect, the role of a
    /// ZAP handler (27/ZAP). A refused client gets ERROR in place of READY.
    pub fn with_curve_server(
        mut self,
        server_secret: [u8; KEY_LEN],
        allow: impl Fn(&[u8; KEY_LEN]) -> bool + Send + Sync + 'static,
    ) -> Self {
        let allow: Authorizer = std::sync::Arc::new(allow);
        self.curve = Some(CurveConfig::Server {
            secret: server_secret.into(),
            allow,
        });
        self
    }

    /// The security mechanism we announce and require: NULL or CURVE.
    pub fn mechanism(&self) -> Mechanism {
        if self.curve.is_some() {
            Mechanism::CURVE
        } else {
            Mechanism::NULL
        }
    }

    /// Sets the bounds.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Our socket type.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// The identity we announce.
    pub fn identity(&self) -> Option<&Bytes> {
        self.identity.as_ref()
    }

    fn metadata(&self) -> Metadata {
        let mut metadata = Metadata::new();
        let insert = |m: &mut Metadata, n: &'static str, v: Bytes| {
            m.insert(n, v).expect("names are constants, inserted once");
        };
        insert(
            &mut metadata,
            SOCKET_TYPE,
            Bytes::from_static(self.socket_type.name().as_bytes()),
        );
        if let Some(identity) = &self.identity {
            insert(&mut metadata, IDENTITY, identity.clone());
        }
        metadata
    }
}

/// What a [`Connection`] has to tell its caller.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed: messages may flow both ways.
    Ready(Peer),
    /// A whole message, its frames in order (at least one). Bodies share the
    /// receive buffer's allocations: no copy after the one into it.
    Message(Vec<Bytes>),
    /// The peer sent PING; the PONG is already queued. A non-zero `ttl` is
    /// the peer's hint to close if nothing more arrives within it
    /// (37/ZMTP, "Connection Heartbeating"); the caller owns the clock.
    Ping {
        /// The PING's time to live; zero for none.
        ttl: Duration,
    },
    /// The peer answered a PING with this context.
    Pong {
        /// The context echoed.
        context: Bytes,
    },
}

/// The mechanism's handshake.
#[derive(Debug)]
enum Handshake {
    Null(NullHandshake),
    Curve(Box<CurveHandshake>),
}

/// The frame decoder's bounds for a CURVE connection. In the handshake a
/// command carries the box overhead of INITIATE beyond its metadata; once
/// ready, every frame is one MESSAGE whose box adds `MESSAGE_OVERHEAD` to a
/// part, and the message bounds are checked on the plaintext instead
/// (`Connection::handle_curve_frame`).
fn curve_limits(limits: Limits, ready: bool) -> Limits {
    if ready {
        let frame = limits.max_frame_bytes.saturating_add(MESSAGE_OVERHEAD);
        Limits {
            max_frame_bytes: frame,
            max_message_bytes: frame,
            max_message_parts: limits.max_message_parts,
            // 25/ZMTP-CURVE calls MESSAGE a command: a peer may frame it so.
            max_command_bytes: limits
                .max_command_bytes
                .max(limits.max_frame_bytes)
                .saturating_add(MESSAGE_OVERHEAD),
        }
    } else {
        Limits {
            max_command_bytes: limits.max_command_bytes.saturating_add(INITIATE_OVERHEAD),
            ..limits
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Greeting,
    Handshake,
    Ready,
    Failed,
}

/// One ZMTP 3.1 connection over the NULL or CURVE mechanism: bytes in,
/// events and bytes out. Under CURVE, messages go in and come out as
/// plaintext: each part is boxed as a MESSAGE on the way out and opened on
/// the way in.
///
/// Its methods, in four groups:
/// - getters: [`role`](Self::role), [`config`](Self::config),
///   [`is_ready`](Self::is_ready), [`peer`](Self::peer),
///   [`peer_version`](Self::peer_version), [`buffered`](Self::buffered);
/// - input: [`handle_bytes`](Self::handle_bytes), with what the socket read;
/// - commands: [`send_message`](Self::send_message) and
///   [`send_ping`](Self::send_ping), which write frames into the caller's
///   buffer, so that everything queued for a peer leaves in one write;
/// - output: [`poll_event`](Self::poll_event) and
///   [`poll_transmit`](Self::poll_transmit).
///
/// After [`new`](Self::new) and after each `handle_bytes`, drain
/// `poll_event` until `None`, then call `poll_transmit` and write what it
/// gave (the greeting, READY, PONGs, an ERROR). The send methods write any
/// such pending bytes first, so frames always leave in protocol order.
///
/// Memory: what the peer makes us hold between calls is the frame being
/// read plus the message in progress, within the [`Limits`]
/// ([`buffered`](Self::buffered)). Whole messages and PONGs queue until
/// polled; they come from the octets of one `handle_bytes`, so a caller that
/// drains both after each read holds at most one read's worth of them.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    greeting: GreetingDecoder,
    frames: FrameDecoder,
    handshake: Handshake,
    // The MESSAGE codec, once a CURVE handshake is done.
    curve: Option<CurveCodec>,
    peer_version: Option<Version>,
    peer: Option<Peer>,
    // The frames of the message in progress, and their octets.
    message: Vec<Bytes>,
    message_bytes: usize,
    events: VecDeque<Event>,
    tx: BytesMut,
    // Our greeting after its opening, until the peer's opening is in.
    greeting_rest: Option<BytesMut>,
    failed: Option<Error>,
}

impl Connection {
    /// A connection whose greeting's opening (the signature and the major
    /// version, 11 octets) is queued for [`poll_transmit`](Self::poll_transmit);
    /// the rest follows once the peer's opening is in, as libzmq sends it.
    /// libzmq reads a whole greeting sent at once before it has sent the rest
    /// of its own, and a mechanism mismatch then closes the connection before
    /// we learn its mechanism: in two steps, each side has the other's whole
    /// greeting before either can fail, so both can say why.
    pub fn new(role: Role, config: Config) -> Self {
        let mut tx = BytesMut::new();
        // "When a peer uses the NULL security mechanism, the as-server field
        // MUST be zero", whatever its role; under CURVE it says which end is
        // the CURVE server (25/ZMTP-CURVE).
        let mechanism = config.mechanism();
        let as_server = config.curve.as_ref().is_some_and(CurveConfig::is_server);
        Greeting::new(mechanism, as_server).encode(&mut tx);
        let greeting_rest = Some(tx.split_off(OPENING_LEN));
        let (handshake, limits) = match &config.curve {
            None => (
                Handshake::Null(NullHandshake::new(
                    config.socket_type,
                    role == Role::Server,
                    config.metadata(),
                )),
                config.limits,
            ),
            Some(curve) => (
                Handshake::Curve(Box::new(CurveHandshake::new(
                    config.socket_type,
                    curve,
                    config.metadata(),
                ))),
                curve_limits(config.limits, false),
            ),
        };
        Self {
            role,
            state: State::Greeting,
            greeting: GreetingDecoder::new(mechanism),
            frames: FrameDecoder::new(limits),
            handshake,
            curve: None,
            config,
            peer_version: None,
            peer: None,
            message: Vec::new(),
            message_bytes: 0,
            events: VecDeque::new(),
            tx,
            greeting_rest,
            failed: None,
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Our configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the handshake has completed and the connection has not failed.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// The error the connection failed with, if it has.
    pub fn error(&self) -> Option<&Error> {
        self.failed.as_ref()
    }

    /// The peer, once its READY is accepted.
    pub fn peer(&self) -> Option<&Peer> {
        self.peer.as_ref()
    }

    /// The ZMTP version the peer announced, once its greeting is in.
    pub fn peer_version(&self) -> Option<Version> {
        self.peer_version
    }

    /// Octets the peer has made us hold: the frame being read and the
    /// frames of the message in progress (within the [`Limits`]).
    pub fn buffered(&self) -> usize {
        self.frames.buffered() + self.message_bytes
    }

    /// Takes what the socket read. Returns the peer's error the first time
    /// it is found, and the same error after it: the connection has failed
    /// and should be closed once [`poll_transmit`](Self::poll_transmit) is
    /// flushed (it may hold an ERROR for the peer). Events decoded before
    /// the error stay in [`poll_event`](Self::poll_event).
    pub fn handle_bytes(&mut self, data: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut input = data;
        let result = self.process(&mut input);
        if let Err(e) = &result {
            self.state = State::Failed;
            self.failed = Some(e.clone());
            // Release what the peer made us hold: it is being dropped.
            self.message = Vec::new();
            self.message_bytes = 0;
            self.frames = FrameDecoder::new(self.config.limits);
            self.curve = None;
        }
        result
    }

    fn process(&mut self, input: &mut &[u8]) -> Result<(), Error> {
        while !input.is_empty() {
            match self.state {
                State::Greeting => {
                    let decoded = self.greeting.decode(input);
                    if self.greeting.received() >= OPENING_LEN
                        && let Some(rest) = self.greeting_rest.take()
                    {
                        self.tx.extend_from_slice(&rest);
                    }
                    if let Some(greeting) = decoded? {
                        self.peer_version = Some(greeting.version());
                        self.state = State::Handshake;
                        match &mut self.handshake {
                            Handshake::Null(null) => null.start(&mut self.tx),
                            // The config, not the as-server flag, says which
                            // end is the CURVE server: libzmq 4.3 sends that
                            // flag as zero from both ends.
                            Handshake::Curve(curve) => curve.start(&mut self.tx),
                        }
                    }
                }
                State::Handshake | State::Ready => {
                    if let Some(frame) = self.frames.decode(input)? {
                        if let Handshake::Curve(_) = self.handshake {
                            self.handle_curve_frame(frame.flags(), frame.into_body())?;
                        } else if frame.is_command() {
                            self.handle_command(Command::parse(frame.into_body())?)?;
                        } else {
                            self.handle_message_frame(frame.is_more(), frame.into_body())?;
                        }
                    }
                }
                State::Failed => unreachable!("handle_bytes returns before processing"),
            }
        }
        Ok(())
    }

    /// A CURVE frame: a handshake command, or a MESSAGE once ready.
    fn handle_curve_frame(&mut self, flags: Flags, body: Bytes) -> Result<(), Error> {
        let Handshake::Curve(handshake) = &mut self.handshake else {
            unreachable!("called under CURVE only")
        };
        if self.state == State::Handshake {
            if !flags.is_command() {
                return Err(HandshakeError::MessageBeforeReady.into());
            }
            if let Some((peer, codec)) = handshake.handle_command(body, &mut self.tx)? {
                self.curve = Some(codec);
                // Between frames the decoder holds nothing: swap its bounds.
                self.frames = FrameDecoder::new(curve_limits(self.config.limits, true));
                self.ready(peer);
            }
            return Ok(());
        }
        // The MORE bit travels inside the box; outside it would mean a
        // message the decoder counts but nobody opens.
        if flags.is_more() {
            return Err(CurveError::Malformed {
                command: "MESSAGE with MORE",
            }
            .into());
        }
        // "The peer SHALL treat an incoming ERROR command as fatal", boxed
        // or not.
        if flags.is_command() && body.get(1..7) == Some(&b"ERROR"[..]) && body[0] == 5 {
            return Err(match Command::parse(body)? {
                Command::Error { reason } => HandshakeError::PeerError { reason }.into(),
                _ => CurveError::Malformed { command: "ERROR" }.into(),
            });
        }
        let codec = self.curve.as_mut().expect("ready under CURVE has a codec");
        match codec.open(&body)? {
            Opened::Frame { more, body } => {
                // Count the plaintext as NULL counts a frame.
                self.config
                    .limits
                    .check_message_frame(
                        body.len() as u64,
                        self.message.len(),
                        self.message_bytes as u64,
                    )
                    .map_err(Error::Limit)?;
                self.handle_message_frame(more, body)
            }
            Opened::Command(body) => self.handle_command(Command::parse(body)?),
        }
    }

    fn ready(&mut self, peer: Peer) {
        self.state = State::Ready;
        self.peer = Some(peer.clone());
        self.events.push_back(Event::Ready(peer));
    }

    fn handle_command(&mut self, command: Command) -> Result<(), Error> {
        if self.state == State::Handshake {
            let Handshake::Null(null) = &self.handshake else {
                unreachable!("CURVE commands go through handle_curve_frame")
            };
            let peer = null.handle_command(command, &mut self.tx)?;
            self.ready(peer);
            return Ok(());
        }
        match command {
            Command::Ping { ttl, context } => {
                let pong = Command::Pong { context };
                if let Some(codec) = &mut self.curve {
                    // Cannot fail before 2^64 boxes; then drop the peer.
                    seal_command(codec, &pong, &mut self.tx)
                        .map_err(|_| CurveError::NonceExhausted)?;
                } else {
                    pong.encode(&mut self.tx);
                }
                self.events.push_back(Event::Ping {
                    ttl: Duration::from_millis(u64::from(ttl) * 100),
                });
            }
            Command::Pong { context } => self.events.push_back(Event::Pong { context }),
            // "The peer SHALL treat an incoming ERROR command as fatal."
            Command::Error { reason } => return Err(HandshakeError::PeerError { reason }.into()),
            Command::Ready(_) => {
                return Err(HandshakeError::UnexpectedCommand {
                    name: Bytes::from_static(b"READY"),
                }
                .into());
            }
            // SUBSCRIBE, CANCEL, JOIN and the like mean nothing between a
            // ROUTER and a DEALER; libzmq ignores them there too.
            _ => {}
        }
        Ok(())
    }

    fn handle_message_frame(&mut self, more: bool, body: Bytes) -> Result<(), Error> {
        if self.state != State::Ready {
            return Err(HandshakeError::MessageBeforeReady.into());
        }
        self.message_bytes += body.len();
        self.message.push(body);
        if !more {
            self.message_bytes = 0;
            let message = std::mem::take(&mut self.message);
            self.events.push_back(Event::Message(message));
        }
        Ok(())
    }

    /// Writes a message, one frame per part joined by MORE, into `out`
    /// (after any pending greeting, READY or PONG).
    pub fn send_message<B: AsRef<[u8]>>(
        &mut self,
        parts: &[B],
        out: &mut BytesMut,
    ) -> Result<(), SendError> {
        self.check_sendable()?;
        if parts.is_empty() {
            return Err(SendError::EmptyMessage);
        }
        let last = parts.len() - 1;
        if let Some(codec) = &mut self.curve {
            // All parts or none: a message is never cut short on the wire.
            if !codec.can_send(parts.len()) {
                return Err(SendError::NonceExhausted);
            }
            self.flush_into(out);
            let codec = self.curve.as_mut().expect("checked above");
            for (i, part) in parts.iter().enumerate() {
                codec.seal(part.as_ref(), i < last, false, out)?;
            }
            return Ok(());
        }
        self.flush_into(out);
        let size: usize = parts
            .iter()
            .map(|p| header_len(p.as_ref().len()) + p.as_ref().len())
            .sum();
        out.reserve(size);
        for (i, part) in parts.iter().enumerate() {
            put_message_frame(out, part.as_ref(), i < last);
        }
        Ok(())
    }

    /// Writes a PING (37/ZMTP, "Connection Heartbeating") into `out`; the
    /// peer's PONG comes back as [`Event::Pong`] with `context`. `ttl` is
    /// sent in tenths of a second, rounded down and capped at 6553.5 s.
    pub fn send_ping(
        &mut self,
        ttl: Duration,
        context: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), SendError> {
        self.check_sendable()?;
        if !self.peer_version.is_some_and(Version::has_heartbeats) {
            return Err(SendError::NoHeartbeats);
        }
        if context.len() > MAX_PING_CONTEXT {
            return Err(SendError::ContextTooLong);
        }
        self.flush_into(out);
        let ttl = u16::try_from(ttl.as_millis() / 100).unwrap_or(u16::MAX);
        let ping = Command::Ping {
            ttl,
            context: Bytes::copy_from_slice(context),
        };
        match &mut self.curve {
            Some(codec) => seal_command(codec, &ping, out),
            None => {
                ping.encode(out);
                Ok(())
            }
        }
    }

    fn check_sendable(&self) -> Result<(), SendError> {
        match self.state {
            State::Ready => Ok(()),
            State::Failed => Err(SendError::Failed),
            State::Greeting | State::Handshake => Err(SendError::NotReady),
        }
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Appends the bytes the connection itself has to send (greeting, READY,
    /// PONG, ERROR) to `out`; returns whether there were any.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut BytesMut) -> bool {
        if self.tx.is_empty() {
            return false;
        }
        self.flush_into(out);
        true
    }

    fn flush_into(&mut self, out: &mut BytesMut) {
        if self.tx.is_empty() {
            return;
        }
        if out.is_empty() {
            std::mem::swap(out, &mut self.tx);
        } else {
            out.extend_from_slice(&self.tx);
            self.tx.clear();
        }
    }
}

/// Boxes a command in a MESSAGE with the command flag, as libzmq boxes its
/// PING and PONG under CURVE.
fn seal_command(
    codec: &mut CurveCodec,
    command: &Command,
    out: &mut BytesMut,
) -> Result<(), SendError> {
    let mut frame = BytesMut::new();
    command.encode(&mut frame);
    let header = if Flags::from_bits(frame[0]).is_long() {
        9
    } else {
        2
    };
    codec.seal(&frame[header..], false, true, out)
}

#[cfg(test)]
mod tests;
