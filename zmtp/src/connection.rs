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
use crate::greeting::{Greeting, GreetingDecoder, Mechanism, Version};
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
    failed: Option<Error>,
}

impl Connection {
    /// A connection whose greeting is queued for
    /// [`poll_transmit`](Self::poll_transmit). We send all 64 octets at once
    /// ("demand ZMTP capabilities"): no peer waits on us for more of it.
    pub fn new(role: Role, config: Config) -> Self {
        let mut tx = BytesMut::new();
        // "When a peer uses the NULL security mechanism, the as-server field
        // MUST be zero", whatever its role; under CURVE it says which end is
        // the CURVE server (25/ZMTP-CURVE).
        let mechanism = config.mechanism();
        let as_server = config.curve.as_ref().is_some_and(CurveConfig::is_server);
        Greeting::new(mechanism, as_server).encode(&mut tx);
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
                    if let Some(greeting) = self.greeting.decode(input)? {
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
mod tests {
    use super::*;
    use crate::frame::{Flags, put_header};
    use crate::limits::{LimitExceeded, LimitKind};

    /// Two connections wired back to back: each side's output is the
    /// other's input, delivered in pieces of `chunk` octets.
    struct Pair {
        router: Connection,
        dealer: Connection,
        to_router: BytesMut,
        to_dealer: BytesMut,
        chunk: usize,
    }

    impl Pair {
        fn new(router: Config, dealer: Config, chunk: usize) -> Self {
            Self {
                router: Connection::new(Role::Server, router),
                dealer: Connection::new(Role::Client, dealer),
                to_router: BytesMut::new(),
                to_dealer: BytesMut::new(),
                chunk,
            }
        }

        /// Moves bytes until both sides are quiet; returns each side's
        /// first error. Bounded, so a livelock fails the test.
        fn drive(&mut self) -> (Result<(), Error>, Result<(), Error>) {
            let (mut r, mut d) = (Ok(()), Ok(()));
            for _ in 0..100_000 {
                let _ = self.router.poll_transmit(&mut self.to_dealer);
                let _ = self.dealer.poll_transmit(&mut self.to_router);
                if self.to_router.is_empty() && self.to_dealer.is_empty() {
                    return (r, d);
                }
                let n = self.chunk.min(self.to_router.len());
                let piece = self.to_router.split_to(n);
                if r.is_ok() {
                    r = self.router.handle_bytes(&piece);
                }
                let n = self.chunk.min(self.to_dealer.len());
                let piece = self.to_dealer.split_to(n);
                if d.is_ok() {
                    d = self.dealer.handle_bytes(&piece);
                }
            }
            panic!("no quiescence after 100,000 steps");
        }

        fn handshake(&mut self) -> (Peer, Peer) {
            let (r, d) = self.drive();
            r.unwrap();
            d.unwrap();
            let Some(Event::Ready(dealer)) = self.router.poll_event() else {
                panic!("router not ready")
            };
            let Some(Event::Ready(router)) = self.dealer.poll_event() else {
                panic!("dealer not ready")
            };
            (dealer, router)
        }
    }

    fn dealer_with_id() -> Config {
        Config::dealer().with_identity("worker-1").unwrap()
    }

    #[test]
    fn hands_shake_and_carries_multipart_messages_in_any_split() {
        for chunk in [1, 2, 3, 7, 64, 65, 100, 4096] {
            let mut pair = Pair::new(Config::router(), dealer_with_id(), chunk);
            let (dealer, router) = pair.handshake();
            assert_eq!(dealer.socket_type(), SocketType::DEALER);
            assert_eq!(dealer.identity().unwrap().as_ref(), b"worker-1");
            assert_eq!(router.socket_type(), SocketType::ROUTER);
            assert_eq!(router.identity(), None);
            assert!(pair.router.is_ready() && pair.dealer.is_ready());
            assert_eq!(pair.router.peer_version(), Some(Version::V3_1));

            let big = vec![0x5A; 70_000];
            let parts: Vec<&[u8]> = vec![b"", b"hello", &big, b"x"];
            pair.dealer
                .send_message(&parts, &mut pair.to_router)
                .unwrap();
            pair.router
                .send_message(&[&b"reply"[..]], &mut pair.to_dealer)
                .unwrap();
            let (r, d) = pair.drive();
            r.unwrap();
            d.unwrap();
            let Some(Event::Message(got)) = pair.router.poll_event() else {
                panic!("no message at chunk {chunk}")
            };
            assert_eq!(got.iter().map(|b| &b[..]).collect::<Vec<_>>(), parts);
            assert_eq!(
                pair.dealer.poll_event(),
                Some(Event::Message(vec![Bytes::from_static(b"reply")]))
            );
            assert_eq!(pair.router.poll_event(), None);
            assert_eq!(pair.router.buffered(), 0);
        }
    }

    #[test]
    fn answers_ping_with_pong_echoing_the_context() {
        let mut pair = Pair::new(Config::router(), Config::dealer(), 5);
        pair.handshake();
        pair.dealer
            .send_ping(Duration::from_millis(1_550), b"ctx-1", &mut pair.to_router)
            .unwrap();
        let (r, d) = pair.drive();
        r.unwrap();
        d.unwrap();
        assert_eq!(
            pair.router.poll_event(),
            Some(Event::Ping {
                ttl: Duration::from_millis(1_500)
            })
        );
        assert_eq!(
            pair.dealer.poll_event(),
            Some(Event::Pong {
                context: Bytes::from_static(b"ctx-1")
            })
        );
        assert_eq!(
            pair.dealer
                .send_ping(Duration::ZERO, &[0; 17], &mut BytesMut::new()),
            Err(SendError::ContextTooLong)
        );
    }

    #[test]
    fn sends_nothing_before_ready_and_flushes_control_bytes_first() {
        let mut conn = Connection::new(Role::Server, Config::router());
        let mut out = BytesMut::new();
        assert_eq!(
            conn.send_message(&[b"x"], &mut out),
            Err(SendError::NotReady)
        );
        // The client's greeting and READY arrive in one read and we send at
        // once, without polling: our READY must still go out first.
        let mut client = Connection::new(Role::Client, Config::dealer());
        let mut ours = BytesMut::new();
        assert!(conn.poll_transmit(&mut ours));
        client.handle_bytes(&ours).unwrap();
        let mut from_client = BytesMut::new();
        assert!(client.poll_transmit(&mut from_client));
        assert!(from_client.len() > 64, "greeting and READY");
        conn.handle_bytes(&from_client).unwrap();
        assert!(conn.is_ready());
        let mut out = BytesMut::new();
        conn.send_message(&[b"after ready"], &mut out).unwrap();
        assert_eq!(&out[..9], b"\x04\x1c\x05READY\x0b", "READY leads");
        client.handle_bytes(&out).unwrap();
        assert!(matches!(client.poll_event(), Some(Event::Ready(_))));
        assert!(matches!(client.poll_event(), Some(Event::Message(m)) if m[0] == "after ready"));
        assert_eq!(
            conn.send_message::<&[u8]>(&[], &mut out),
            Err(SendError::EmptyMessage)
        );
    }

    #[test]
    fn refuses_a_dealer_pairing_with_a_dealer_with_error_commands() {
        let mut pair = Pair {
            router: Connection::new(Role::Server, Config::dealer()),
            ..Pair::new(Config::router(), Config::dealer(), 1000)
        };
        let (server, client) = pair.drive();
        let want = Err(Error::Handshake(HandshakeError::IncompatibleSocketType {
            ours: SocketType::DEALER,
            peer: SocketType::DEALER,
        }));
        assert_eq!(server, want);
        assert_eq!(
            client,
            Err(Error::Handshake(HandshakeError::PeerError {
                reason: Bytes::from_static(b"Invalid socket type")
            })),
            "the server answers ERROR in place of READY"
        );
        assert_eq!(
            pair.router.send_message(&[b"x"], &mut BytesMut::new()),
            Err(SendError::Failed)
        );
        assert_eq!(pair.router.handle_bytes(b"more"), want, "the error sticks");
    }

    #[test]
    fn an_error_command_is_fatal() {
        let mut conn = Connection::new(Role::Client, Config::dealer());
        let mut peer_bytes = BytesMut::new();
        Greeting::new(Mechanism::NULL, false).encode(&mut peer_bytes);
        Command::Error {
            reason: Bytes::from_static(b"no"),
        }
        .encode(&mut peer_bytes);
        let err = conn.handle_bytes(&peer_bytes).unwrap_err();
        assert!(err.is_peer_error(), "{err}");
        assert_eq!(conn.error(), Some(&err));
    }

    /// A peer's greeting (3.1 unless said) and READY as a ROUTER.
    fn router_preamble(version: Version) -> BytesMut {
        let mut out = BytesMut::new();
        let mut greeting = Vec::new();
        Greeting::new(Mechanism::NULL, false).encode(&mut greeting);
        greeting[10] = version.major;
        greeting[11] = version.minor;
        out.extend_from_slice(&greeting);
        let mut metadata = Metadata::new();
        metadata.insert("Socket-Type", "ROUTER").unwrap();
        Command::Ready(metadata).encode(&mut out);
        out
    }

    #[test]
    fn talks_to_a_3_0_peer_without_ping() {
        let mut conn = Connection::new(Role::Client, Config::dealer());
        conn.handle_bytes(&router_preamble(Version::V3_0)).unwrap();
        assert!(conn.is_ready());
        assert_eq!(conn.peer_version(), Some(Version::V3_0));
        assert_eq!(
            conn.send_ping(Duration::ZERO, b"", &mut BytesMut::new()),
            Err(SendError::NoHeartbeats)
        );
        assert!(conn.send_message(&[b"ok"], &mut BytesMut::new()).is_ok());
    }

    #[test]
    fn refuses_a_message_before_ready_and_a_second_ready() {
        let mut conn = Connection::new(Role::Client, Config::dealer());
        let mut bytes = BytesMut::new();
        Greeting::new(Mechanism::NULL, false).encode(&mut bytes);
        put_message_frame(&mut bytes, b"early", false);
        assert_eq!(
            conn.handle_bytes(&bytes),
            Err(Error::Handshake(HandshakeError::MessageBeforeReady))
        );
        let mut conn = Connection::new(Role::Client, Config::dealer());
        let mut bytes = router_preamble(Version::V3_1);
        let again = bytes.clone().split_off(64);
        bytes.extend_from_slice(&again);
        assert!(matches!(
            conn.handle_bytes(&bytes),
            Err(Error::Handshake(HandshakeError::UnexpectedCommand { .. }))
        ));
    }

    #[test]
    fn drops_a_peer_past_the_part_bound_holding_only_the_parts_so_far() {
        let limits = Limits {
            max_message_parts: 10,
            ..Limits::default()
        };
        let mut conn = Connection::new(Role::Client, Config::dealer().with_limits(limits));
        let mut bytes = router_preamble(Version::V3_1);
        for _ in 0..600 {
            put_message_frame(&mut bytes, &[0; 100], true);
        }
        let err = conn.handle_bytes(&bytes).unwrap_err();
        assert_eq!(
            err,
            Error::Limit(LimitExceeded {
                kind: LimitKind::MessageParts,
                limit: 10,
                attempted: 11
            })
        );
        assert!(err.is_limit());
        assert_eq!(conn.buffered(), 0, "the partial message is released");
        assert!(matches!(conn.poll_event(), Some(Event::Ready(_))));
        assert_eq!(
            conn.poll_event(),
            None,
            "no part of the message is delivered"
        );
    }

    #[test]
    fn drops_a_peer_announcing_a_huge_frame_before_its_body() {
        let mut conn = Connection::new(Role::Client, Config::dealer());
        let mut bytes = router_preamble(Version::V3_1);
        put_header(&mut bytes, Flags::NONE, false, 600 << 20);
        bytes.extend_from_slice(&[0; 4096]);
        let err = conn.handle_bytes(&bytes).unwrap_err();
        assert!(matches!(
            err,
            Error::Limit(LimitExceeded {
                kind: LimitKind::FrameBytes,
                ..
            })
        ));
        assert_eq!(conn.buffered(), 0);
    }

    #[test]
    fn ignores_commands_that_mean_nothing_here() {
        let mut conn = Connection::new(Role::Client, Config::dealer());
        let mut bytes = router_preamble(Version::V3_1);
        Command::Other {
            name: crate::command::CommandName::SUBSCRIBE,
            data: Bytes::from_static(b"topic"),
        }
        .encode(&mut bytes);
        put_message_frame(&mut bytes, b"still here", false);
        conn.handle_bytes(&bytes).unwrap();
        assert!(matches!(conn.poll_event(), Some(Event::Ready(_))));
        assert!(matches!(conn.poll_event(), Some(Event::Message(_))));
    }

    #[test]
    fn announces_only_valid_identities() {
        assert_eq!(
            Config::dealer().with_identity("").unwrap_err(),
            InvalidIdentity
        );
        assert!(Config::dealer().with_identity(&b"\x00id"[..]).is_err());
        assert!(Config::dealer().with_identity(vec![b'i'; 256]).is_err());
        assert_eq!(
            Config::dealer()
                .with_identity(vec![b'i'; 255])
                .unwrap()
                .identity()
                .unwrap()
                .len(),
            255
        );
    }

    #[test]
    fn our_greeting_is_null_with_as_server_zero_in_both_roles() {
        for role in [Role::Client, Role::Server] {
            let mut conn = Connection::new(role, Config::router());
            let mut out = BytesMut::new();
            assert!(conn.poll_transmit(&mut out));
            assert_eq!(out.len(), 64);
            assert_eq!(
                Greeting::decode(&out, Mechanism::NULL).unwrap(),
                Greeting::new(Mechanism::NULL, false)
            );
            assert!(!conn.poll_transmit(&mut out), "sent once");
            assert_eq!(conn.role(), role);
        }
    }

    fn tight() -> Limits {
        Limits {
            max_frame_bytes: 300,
            max_message_bytes: 1_000,
            max_message_parts: 8,
            max_command_bytes: 200,
        }
    }

    /// Feeds `bytes` one octet at a time; returns the first error and the
    /// most octets the connection held at any point.
    fn feed_octets(conn: &mut Connection, bytes: &[u8]) -> (Result<(), Error>, usize) {
        let mut most = 0;
        for byte in bytes {
            if let Err(e) = conn.handle_bytes(std::slice::from_ref(byte)) {
                return (Err(e), most);
            }
            most = most.max(conn.buffered());
        }
        (Ok(()), most)
    }

    #[test]
    fn holds_at_most_the_bounds_whatever_the_split() {
        // A message exactly at every bound passes, octet by octet, and the
        // connection never holds more than the message bound plus one header.
        let mut bytes = router_preamble(Version::V3_1);
        for _ in 0..3 {
            put_message_frame(&mut bytes, &[1; 300], true);
        }
        put_message_frame(&mut bytes, &[2; 100], true);
        for _ in 0..3 {
            put_message_frame(&mut bytes, b"", true);
        }
        put_message_frame(&mut bytes, b"", false);
        for chunk in [1, 2, 9, 301, bytes.len()] {
            let mut conn = Connection::new(Role::Client, Config::dealer().with_limits(tight()));
            let mut most = 0;
            for piece in bytes.chunks(chunk) {
                conn.handle_bytes(piece).unwrap();
                most = most.max(conn.buffered());
            }
            assert!(most <= 1_000 + 9, "held {most} octets at chunk {chunk}");
            assert!(matches!(conn.poll_event(), Some(Event::Ready(_))));
            let Some(Event::Message(parts)) = conn.poll_event() else {
                panic!("the message at the bounds is delivered")
            };
            assert_eq!(parts.len(), 8);
            assert_eq!(parts.iter().map(Bytes::len).sum::<usize>(), 1_000);
        }
    }

    #[test]
    fn refuses_one_octet_or_one_part_past_each_bound_in_any_split() {
        // How to write the offending frames, the bound, what it would become.
        type Case<'a> = (&'a dyn Fn(&mut BytesMut), LimitKind, u64);
        let cases: [Case<'_>; 4] = [
            (
                &|b| put_message_frame(b, &[0; 301], false),
                LimitKind::FrameBytes,
                301,
            ),
            (
                &|b| {
                    for _ in 0..3 {
                        put_message_frame(b, &[0; 300], true);
                    }
                    put_message_frame(b, &[0; 101], false);
                },
                LimitKind::MessageBytes,
                1_001,
            ),
            (
                &|b| {
                    for _ in 0..9 {
                        put_message_frame(b, b"p", true);
                    }
                },
                LimitKind::MessageParts,
                9,
            ),
            (
                &|b| {
                    put_header(b, Flags::COMMAND, false, 201);
                    b.extend_from_slice(&[b'X'; 201]);
                },
                LimitKind::CommandBytes,
                201,
            ),
        ];
        for (write, kind, attempted) in cases {
            let mut bytes = router_preamble(Version::V3_1);
            write(&mut bytes);
            for chunk in [1, 3, 64, bytes.len()] {
                let mut conn = Connection::new(Role::Client, Config::dealer().with_limits(tight()));
                let err = bytes
                    .chunks(chunk)
                    .find_map(|piece| conn.handle_bytes(piece).err())
                    .expect("refused");
                let Error::Limit(limit) = err else {
                    panic!("{kind:?}: not a limit error: {err}")
                };
                assert_eq!(
                    (limit.kind, limit.attempted),
                    (kind, attempted),
                    "chunk {chunk}"
                );
                assert_eq!(conn.buffered(), 0);
            }
            let mut conn = Connection::new(Role::Client, Config::dealer().with_limits(tight()));
            let (result, most) = feed_octets(&mut conn, &bytes);
            assert!(result.unwrap_err().is_limit());
            assert!(most <= 1_000, "held {most} octets before refusing");
        }
    }

    #[test]
    fn refuses_an_oversized_ready_during_the_handshake() {
        let mut bytes = BytesMut::new();
        Greeting::new(Mechanism::NULL, false).encode(&mut bytes);
        let mut metadata = Metadata::new();
        metadata.insert("Socket-Type", "ROUTER").unwrap();
        metadata.insert("X-Padding", vec![0; 500]).unwrap();
        Command::Ready(metadata).encode(&mut bytes);
        let mut conn = Connection::new(Role::Client, Config::dealer().with_limits(tight()));
        let err = conn.handle_bytes(&bytes).unwrap_err();
        assert!(matches!(
            err,
            Error::Limit(LimitExceeded {
                kind: LimitKind::CommandBytes,
                limit: 200,
                ..
            })
        ));
        assert!(!conn.is_ready());
    }

    #[test]
    fn many_messages_leave_in_one_buffer_and_arrive_from_one_read() {
        let mut pair = Pair::new(Config::router(), Config::dealer(), usize::MAX);
        pair.handshake();
        let mut out = BytesMut::new();
        for i in 0..100u8 {
            pair.dealer
                .send_message(&[&[i][..], b"body"], &mut out)
                .unwrap();
        }
        pair.router.handle_bytes(&out).unwrap();
        for i in 0..100u8 {
            let Some(Event::Message(parts)) = pair.router.poll_event() else {
                panic!("message {i}")
            };
            assert_eq!(parts[0].as_ref(), &[i]);
        }
        assert_eq!(pair.router.poll_event(), None);
    }

    mod curve {
        use super::*;
        use crypto_box::SecretKey;
        use crypto_box::aead::OsRng;

        /// A fresh long-term key pair: (public, secret).
        fn keypair() -> ([u8; 32], [u8; 32]) {
            let secret = SecretKey::generate(&mut OsRng);
            (secret.public_key().to_bytes(), secret.to_bytes())
        }

        struct Keys {
            server: ([u8; 32], [u8; 32]),
            client: ([u8; 32], [u8; 32]),
        }

        fn keys() -> Keys {
            Keys {
                server: keypair(),
                client: keypair(),
            }
        }

        /// A CURVE server ROUTER that admits only `allowed`, and a CURVE
        /// client DEALER that believes the server's key is `server_public`.
        fn pair(keys: &Keys, allowed: [u8; 32], server_public: [u8; 32], chunk: usize) -> Pair {
            Pair::new(
                Config::router().with_curve_server(keys.server.1, move |k| *k == allowed),
                dealer_with_id().with_curve_client(server_public, keys.client.1),
                chunk,
            )
        }

        fn good(keys: &Keys, chunk: usize) -> Pair {
            pair(keys, keys.client.0, keys.server.0, chunk)
        }

        #[test]
        fn hands_shake_and_carries_boxed_messages_in_any_split() {
            let keys = keys();
            for chunk in [1, 2, 7, 64, 200, 4096, usize::MAX] {
                let mut pair = good(&keys, chunk);
                let (dealer, router) = pair.handshake();
                assert_eq!(dealer.socket_type(), SocketType::DEALER);
                assert_eq!(dealer.identity().unwrap().as_ref(), b"worker-1");
                assert_eq!(dealer.curve_key(), Some(&keys.client.0), "the proven key");
                assert_eq!(router.socket_type(), SocketType::ROUTER);
                assert_eq!(router.curve_key(), None);

                let big = vec![0x5A; 70_000];
                let parts: Vec<&[u8]> = vec![b"", b"hello", &big, &[7; 300], b"x"];
                let mut wire = BytesMut::new();
                pair.dealer.send_message(&parts, &mut wire).unwrap();
                assert!(
                    !wire.windows(5).any(|w| w == b"hello"),
                    "plaintext never reaches the wire"
                );
                pair.to_router.extend_from_slice(&wire);
                pair.router
                    .send_message(&[&b"reply"[..], b"two"], &mut pair.to_dealer)
                    .unwrap();
                let (r, d) = pair.drive();
                r.unwrap();
                d.unwrap();
                let Some(Event::Message(got)) = pair.router.poll_event() else {
                    panic!("no message at chunk {chunk}")
                };
                assert_eq!(got.iter().map(|b| &b[..]).collect::<Vec<_>>(), parts);
                assert_eq!(
                    pair.dealer.poll_event(),
                    Some(Event::Message(vec![
                        Bytes::from_static(b"reply"),
                        Bytes::from_static(b"two")
                    ]))
                );
                assert_eq!(pair.router.buffered(), 0);
            }
        }

        #[test]
        fn boxes_ping_and_pong() {
            let keys = keys();
            let mut pair = good(&keys, 5);
            pair.handshake();
            let mut wire = BytesMut::new();
            pair.dealer
                .send_ping(Duration::from_millis(1_000), b"ctx-9", &mut wire)
                .unwrap();
            assert!(!wire.windows(4).any(|w| w == b"PING"), "boxed");
            pair.to_router.extend_from_slice(&wire);
            let (r, d) = pair.drive();
            r.unwrap();
            d.unwrap();
            assert_eq!(
                pair.router.poll_event(),
                Some(Event::Ping {
                    ttl: Duration::from_millis(1_000)
                })
            );
            assert_eq!(
                pair.dealer.poll_event(),
                Some(Event::Pong {
                    context: Bytes::from_static(b"ctx-9")
                })
            );
        }

        #[test]
        fn announces_curve_with_the_as_server_flag_of_its_curve_role() {
            let keys = keys();
            let pair = good(&keys, 1);
            for (mut conn, as_server) in [(pair.router, true), (pair.dealer, false)] {
                let mut out = BytesMut::new();
                assert!(conn.poll_transmit(&mut out));
                assert_eq!(
                    Greeting::decode(&out[..64], Mechanism::CURVE).unwrap(),
                    Greeting::new(Mechanism::CURVE, as_server)
                );
                assert_eq!(conn.config().mechanism(), Mechanism::CURVE);
            }
            // Two CURVE clients: each refuses the other's HELLO.
            let mut a = Pair::new(
                Config::router().with_curve_client(keys.server.0, keys.client.1),
                Config::dealer().with_curve_client(keys.server.0, keys.client.1),
                64,
            );
            let (r, d) = a.drive();
            for side in [r, d] {
                assert_eq!(
                    side,
                    Err(Error::Handshake(HandshakeError::UnexpectedCommand {
                        name: Bytes::from_static(b"HELLO")
                    }))
                );
            }
            // A NULL peer is refused by mechanism.
            let mut null = Connection::new(Role::Client, Config::dealer());
            let mut out = BytesMut::new();
            assert!(null.poll_transmit(&mut out));
            let mut curve = Connection::new(
                Role::Server,
                Config::router().with_curve_server(keys.server.1, |_| true),
            );
            assert!(matches!(curve.handle_bytes(&out), Err(Error::Greeting(_))));
        }

        #[test]
        fn a_client_with_the_wrong_server_key_fails_the_handshake() {
            let keys = keys();
            let (other, _) = keypair();
            let mut pair = pair(&keys, keys.client.0, other, 4096);
            let (r, d) = pair.drive();
            assert_eq!(
                r,
                Err(Error::Curve(CurveError::BadBox { command: "HELLO" })),
                "the server cannot open a HELLO boxed for another key"
            );
            assert!(d.is_ok(), "the client just waits for a WELCOME");
            assert!(!pair.router.is_ready() && !pair.dealer.is_ready());
            assert_eq!(pair.router.poll_event(), None);
        }

        #[test]
        fn a_refused_client_key_gets_error_in_place_of_ready() {
            let keys = keys();
            let (stranger, _) = keypair();
            let mut pair = pair(&keys, stranger, keys.server.0, 64);
            let (r, d) = pair.drive();
            assert_eq!(
                r,
                Err(Error::Curve(CurveError::RefusedKey { key: keys.client.0 }))
            );
            assert_eq!(
                d,
                Err(Error::Handshake(HandshakeError::PeerError {
                    reason: Bytes::from_static(b"400")
                }))
            );
            assert!(!pair.router.is_ready() && !pair.dealer.is_ready());
        }

        #[test]
        fn a_tampered_box_is_refused() {
            let keys = keys();
            // Flip one octet of a MESSAGE box: the tag, the ciphertext, the
            // short nonce (which feeds the box's nonce).
            for offset_from_end in [1, 20, 40] {
                let mut pair = good(&keys, 4096);
                pair.handshake();
                let mut wire = BytesMut::new();
                pair.dealer
                    .send_message(&[&[1u8; 30][..]], &mut wire)
                    .unwrap();
                let at = wire.len() - offset_from_end;
                wire[at] ^= 0x01;
                assert_eq!(
                    pair.router.handle_bytes(&wire),
                    Err(Error::Curve(CurveError::BadBox { command: "MESSAGE" })),
                    "flipped {offset_from_end} from the end"
                );
                assert_eq!(pair.router.poll_event(), None);
            }
            // And in the handshake: flip the last octet of HELLO.
            let mut pair = good(&keys, 4096);
            let mut from_client = BytesMut::new();
            assert!(pair.dealer.poll_transmit(&mut from_client));
            let mut from_server = BytesMut::new();
            assert!(pair.router.poll_transmit(&mut from_server));
            pair.dealer.handle_bytes(&from_server).unwrap();
            assert!(pair.dealer.poll_transmit(&mut from_client));
            let last = from_client.len() - 1;
            from_client[last] ^= 0x80;
            assert_eq!(
                pair.router.handle_bytes(&from_client),
                Err(Error::Curve(CurveError::BadBox { command: "HELLO" }))
            );
        }

        #[test]
        fn accepts_a_message_framed_as_a_command_and_refuses_an_outer_more() {
            // 25/ZMTP-CURVE's grammar makes MESSAGE a command; libzmq sends
            // it as a data frame. Either is accepted.
            let keys = keys();
            let mut pair = good(&keys, 4096);
            pair.handshake();
            let mut wire = BytesMut::new();
            pair.dealer
                .send_message(&[b"as a command"], &mut wire)
                .unwrap();
            assert_eq!(wire[0], 0x00, "sent as libzmq sends it");
            wire[0] = Flags::COMMAND.bits();
            pair.router.handle_bytes(&wire).unwrap();
            assert!(
                matches!(pair.router.poll_event(), Some(Event::Message(m)) if m[0] == "as a command")
            );
            let mut wire = BytesMut::new();
            pair.dealer.send_message(&[b"x"], &mut wire).unwrap();
            wire[0] = Flags::MORE.bits();
            assert!(matches!(
                pair.router.handle_bytes(&wire),
                Err(Error::Curve(CurveError::Malformed { .. }))
            ));
        }

        #[test]
        fn a_replayed_message_is_refused() {
            let keys = keys();
            let mut pair = good(&keys, 4096);
            pair.handshake();
            let mut wire = BytesMut::new();
            pair.dealer.send_message(&[b"pay me"], &mut wire).unwrap();
            pair.router.handle_bytes(&wire).unwrap();
            assert!(matches!(pair.router.poll_event(), Some(Event::Message(_))));
            let err = pair.router.handle_bytes(&wire).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Curve(CurveError::NonceNotIncreasing { last, got }) if got == last
                ),
                "{err}"
            );
            assert_eq!(
                pair.router.poll_event(),
                None,
                "the replay is not delivered"
            );
        }

        #[test]
        fn counts_the_plaintext_against_the_message_bounds() {
            let keys = keys();
            let limits = Limits {
                max_frame_bytes: 300,
                max_message_bytes: 1_000,
                max_message_parts: 8,
                max_command_bytes: 200,
            };
            // At the bounds: passes (and the handshake fits a 200-octet
            // command bound, the box overhead aside).
            let mut pair = Pair::new(
                Config::router()
                    .with_curve_server(keys.server.1, |_| true)
                    .with_limits(limits),
                Config::dealer().with_curve_client(keys.server.0, keys.client.1),
                1,
            );
            pair.handshake();
            let parts: Vec<&[u8]> = vec![
                &[1; 300], &[1; 300], &[1; 300], &[1; 100], b"", b"", b"", b"",
            ];
            pair.dealer
                .send_message(&parts, &mut pair.to_router)
                .unwrap();
            let (r, _) = pair.drive();
            r.unwrap();
            assert!(matches!(pair.router.poll_event(), Some(Event::Message(p)) if p.len() == 8));
            // One octet past the message bound.
            let too_many: Vec<&[u8]> = vec![&[1; 300], &[1; 300], &[1; 300], &[1; 101]];
            pair.dealer
                .send_message(&too_many, &mut pair.to_router)
                .unwrap();
            let (r, _) = pair.drive();
            assert_eq!(
                r,
                Err(Error::Limit(LimitExceeded {
                    kind: LimitKind::MessageBytes,
                    limit: 1_000,
                    attempted: 1_001
                }))
            );
            assert_eq!(pair.router.buffered(), 0);
        }

        #[test]
        fn a_frame_past_the_bound_is_refused_at_its_header() {
            let keys = keys();
            let limits = Limits {
                max_frame_bytes: 300,
                ..Limits::default()
            };
            let mut pair = Pair::new(
                Config::router()
                    .with_curve_server(keys.server.1, |_| true)
                    .with_limits(limits),
                Config::dealer().with_curve_client(keys.server.0, keys.client.1),
                4096,
            );
            pair.handshake();
            let mut wire = BytesMut::new();
            pair.dealer
                .send_message(&[&[0u8; 100_000][..]], &mut wire)
                .unwrap();
            // Only the header and a little of the box arrive.
            let err = pair.router.handle_bytes(&wire[..64]).unwrap_err();
            assert!(err.is_limit(), "{err}");
            assert!(pair.router.buffered() < 300);
        }
    }
}
