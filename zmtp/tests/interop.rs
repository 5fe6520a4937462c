//! Interop with libzmq over real loopback TCP: the acceptance of this crate,
//! over NULL and, at the end, CURVE (libzmq 4.3.4 built with CURVE).
//!
//! One side is a libzmq socket (through the `zmq` crate), the other a
//! [`Connection`] driven over a plain blocking `TcpStream`. Every wait has a
//! deadline: libzmq's through `ZMQ_RCVTIMEO`, ours through the stream's read
//! timeout and a clock checked between reads.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use zroute_zmtp::{
    Config, Connection, CurveError, Error, Event, HandshakeError, LimitExceeded, LimitKind, Limits,
    Role, SocketType, Version,
};

const DEADLINE: Duration = Duration::from_secs(10);

/// A native connection on a blocking stream.
struct Native {
    stream: TcpStream,
    conn: Connection,
    out: BytesMut,
    buf: Vec<u8>,
    /// Octets read from the peer, for the bounds tests.
    read: usize,
}

impl Native {
    fn new(stream: TcpStream, role: Role, config: Config) -> Self {
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        Self {
            stream,
            conn: Connection::new(role, config),
            out: BytesMut::new(),
            buf: vec![0; 64 << 10],
            read: 0,
        }
    }

    fn flush(&mut self) {
        let _ = self.conn.poll_transmit(&mut self.out);
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).unwrap();
            self.out.clear();
        }
    }

    fn send(&mut self, parts: &[&[u8]]) {
        self.conn.send_message(parts, &mut self.out).unwrap();
        self.flush();
    }

    /// The next event, or the error the peer caused; panics at the
    /// deadline or if the peer closes first.
    fn next_event(&mut self) -> Result<Event, Error> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(event) = self.conn.poll_event() {
                return Ok(event);
            }
            self.flush();
            assert!(Instant::now() < deadline, "no event within {DEADLINE:?}");
            match self.stream.read(&mut self.buf) {
                Ok(0) => panic!("the peer closed the connection"),
                Ok(n) => {
                    self.read += n;
                    self.conn.handle_bytes(&self.buf[..n])?;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// The next message, answering heartbeats on the way.
    fn next_message(&mut self) -> Vec<Bytes> {
        loop {
            match self.next_event().unwrap() {
                Event::Message(parts) => return parts,
                Event::Ping { .. } | Event::Pong { .. } => {}
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// The error the peer causes; messages before it are skipped.
    fn next_error(&mut self) -> Error {
        loop {
            match self.next_event() {
                Ok(Event::Message(_) | Event::Ping { .. }) => {}
                Ok(other) => panic!("expected an error, got {other:?}"),
                Err(e) => return e,
            }
        }
    }

    fn ready(&mut self) -> zroute_zmtp::Peer {
        match self.next_event().unwrap() {
            Event::Ready(peer) => peer,
            other => panic!("expected Ready, got {other:?}"),
        }
    }

    /// Waits for the peer to close the connection.
    fn expect_close(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            assert!(
                Instant::now() < deadline,
                "the peer did not close within {DEADLINE:?}"
            );
            match self.stream.read(&mut self.buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
                Err(e) => panic!("read: {e}"),
            }
        }
    }
}

fn socket(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_linger(0).unwrap();
    s.set_rcvtimeo(DEADLINE.as_millis() as i32).unwrap();
    s.set_sndtimeo(DEADLINE.as_millis() as i32).unwrap();
    s
}

/// A libzmq socket bound on 127.0.0.1:0, and the address it got.
fn bound(ctx: &zmq::Context, kind: zmq::SocketType) -> (zmq::Socket, String) {
    bound_with(ctx, kind, |_| {})
}

/// The same, with options set before the bind (libzmq copies a socket's
/// options into its listener at bind time).
fn bound_with(
    ctx: &zmq::Context,
    kind: zmq::SocketType,
    setup: impl FnOnce(&zmq::Socket),
) -> (zmq::Socket, String) {
    let s = socket(ctx, kind);
    setup(&s);
    s.bind("tcp://127.0.0.1:0").unwrap();
    let endpoint = s.get_last_endpoint().unwrap().unwrap();
    let addr = endpoint.strip_prefix("tcp://").unwrap().to_owned();
    (s, addr)
}

/// A libzmq socket connected to a listener of ours, and the accepted stream.
fn connected(
    ctx: &zmq::Context,
    kind: zmq::SocketType,
    identity: &[u8],
) -> (zmq::Socket, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(listener.accept().map(|(s, _)| s));
    });
    let s = socket(ctx, kind);
    if !identity.is_empty() {
        s.set_identity(identity).unwrap();
    }
    s.connect(&format!("tcp://{addr}")).unwrap();
    let stream = rx.recv_timeout(DEADLINE).expect("libzmq connects").unwrap();
    (s, stream)
}

fn parts_of(message: &[Bytes]) -> Vec<&[u8]> {
    message.iter().map(|b| &b[..]).collect()
}

fn many_parts() -> Vec<Vec<u8>> {
    (0..64).map(|i| vec![i as u8; i * 3]).collect()
}

/// (a) libzmq ROUTER bound, native DEALER connecting.
#[test]
fn native_dealer_talks_to_a_libzmq_router() {
    let ctx = zmq::Context::new();
    let (router, addr) = bound(&ctx, zmq::ROUTER);
    router.set_router_mandatory(true).unwrap();
    let config = Config::dealer().with_identity("native-dealer").unwrap();
    let mut native = Native::new(TcpStream::connect(&addr).unwrap(), Role::Client, config);

    let peer = native.ready();
    assert_eq!(peer.socket_type(), SocketType::ROUTER);
    // libzmq 4.3 speaks 3.1, so PING/PONG is tested below.
    assert_eq!(native.conn.peer_version(), Some(Version::V3_1));

    // The ROUTER prefixes our messages with the identity we announced.
    native.send(&[b"hello", b"", b"world"]);
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(
        got,
        vec![
            b"native-dealer".to_vec(),
            b"hello".to_vec(),
            vec![],
            b"world".to_vec()
        ]
    );
    router
        .send_multipart([&b"native-dealer"[..], b"reply", b"two"], 0)
        .unwrap();
    assert_eq!(
        parts_of(&native.next_message()),
        vec![&b"reply"[..], b"two"]
    );

    // LONG frames (100 kB) both ways.
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    native.send(&[b"big", &big]);
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2], big);
    router
        .send_multipart([&b"native-dealer"[..], &big, b"tail"], 0)
        .unwrap();
    let got = native.next_message();
    assert_eq!(parts_of(&got), vec![&big[..], b"tail"]);

    // 64 parts both ways.
    let many = many_parts();
    let refs: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
    native.send(&refs);
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(got[0], b"native-dealer");
    assert_eq!(&got[1..], &many[..]);
    let mut back = vec![b"native-dealer".to_vec()];
    back.extend(many.iter().cloned());
    router.send_multipart(back, 0).unwrap();
    assert_eq!(parts_of(&native.next_message()), refs);

    // libzmq answers our PING with a PONG echoing its context.
    native
        .conn
        .send_ping(Duration::from_secs(5), b"ctx-42", &mut native.out)
        .unwrap();
    native.flush();
    match native.next_event().unwrap() {
        Event::Pong { context } => assert_eq!(&context[..], b"ctx-42"),
        other => panic!("expected PONG, got {other:?}"),
    }
}

/// (a) with libzmq's heartbeats on: we answer its PINGs, so it keeps the
/// connection past its heartbeat timeout although we send nothing else.
#[test]
fn native_dealer_answers_libzmq_heartbeats() {
    let ctx = zmq::Context::new();
    let (router, addr) = bound_with(&ctx, zmq::ROUTER, |s| {
        s.set_heartbeat_ivl(20).unwrap();
        s.set_heartbeat_timeout(250).unwrap();
        s.set_heartbeat_ttl(2_000).unwrap();
    });
    let config = Config::dealer().with_identity("beating").unwrap();
    let mut native = Native::new(TcpStream::connect(&addr).unwrap(), Role::Client, config);
    native.ready();
    assert_eq!(native.conn.peer_version(), Some(Version::V3_1));

    // 30 PINGs at 20 ms span 600 ms, more than twice the 250 ms timeout.
    let mut pings = 0;
    while pings < 30 {
        match native.next_event().unwrap() {
            Event::Ping { ttl } => {
                assert_eq!(
                    ttl,
                    Duration::from_secs(2),
                    "libzmq sends the TTL in tenths of a second"
                );
                pings += 1;
            }
            other => panic!("expected PING, got {other:?}"),
        }
    }
    native.send(&[b"still", b"here"]);
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(
        got,
        vec![b"beating".to_vec(), b"still".to_vec(), b"here".to_vec()]
    );
}

/// (b) native ROUTER accepting, libzmq DEALER connecting.
#[test]
fn native_router_talks_to_a_libzmq_dealer() {
    let ctx = zmq::Context::new();
    let (dealer, stream) = connected(&ctx, zmq::DEALER, b"libzmq-dealer");
    let mut native = Native::new(stream, Role::Server, Config::router());

    let peer = native.ready();
    assert_eq!(peer.socket_type(), SocketType::DEALER);
    assert_eq!(peer.identity().map(|b| &b[..]), Some(&b"libzmq-dealer"[..]));

    exchange_with_libzmq_dealer(&mut native, &dealer);
}

/// (b) without an identity: the DEALER announces none (or an empty one).
#[test]
fn native_router_sees_no_identity_from_an_anonymous_dealer() {
    let ctx = zmq::Context::new();
    let (dealer, stream) = connected(&ctx, zmq::DEALER, b"");
    let mut native = Native::new(stream, Role::Server, Config::router());
    assert_eq!(native.ready().identity(), None);
    dealer.send(&b"ping"[..], 0).unwrap();
    assert_eq!(parts_of(&native.next_message()), vec![&b"ping"[..]]);
}

/// (c) a libzmq ROUTER sends more parts than our DEALER allows.
#[test]
fn native_dealer_refuses_a_libzmq_message_past_the_part_bound() {
    let ctx = zmq::Context::new();
    let (router, addr) = bound(&ctx, zmq::ROUTER);
    let limits = Limits {
        max_message_parts: 64,
        ..Limits::default()
    };
    let config = Config::dealer()
        .with_identity("bounded")
        .unwrap()
        .with_limits(limits);
    let mut native = Native::new(TcpStream::connect(&addr).unwrap(), Role::Client, config);
    native.ready();
    native.send(&[b"hi"]);
    router.recv_multipart(0).unwrap();

    // 64 parts pass; 65 do not.
    let mut ok = vec![b"bounded".to_vec()];
    ok.extend((0..64).map(|_| b"p".to_vec()));
    router.send_multipart(ok, 0).unwrap();
    assert_eq!(native.next_message().len(), 64);
    let mut too_many = vec![b"bounded".to_vec()];
    too_many.extend((0..65).map(|_| b"p".to_vec()));
    router.send_multipart(too_many, 0).unwrap();
    assert_eq!(
        native.next_error(),
        Error::Limit(LimitExceeded {
            kind: LimitKind::MessageParts,
            limit: 64,
            attempted: 65
        })
    );
    assert_eq!(native.conn.buffered(), 0);
}

/// (c) a libzmq DEALER sends a frame above our ROUTER's frame bound, and a
/// message of many parts above its message bound: each is refused from a
/// frame header, long before the peer's bytes are all in.
#[test]
fn native_router_refuses_libzmq_frames_and_messages_past_the_byte_bounds() {
    let ctx = zmq::Context::new();
    let limits = Limits {
        max_frame_bytes: 65_544,
        max_message_bytes: 1 << 20,
        ..Limits::default()
    };

    let (dealer, stream) = connected(&ctx, zmq::DEALER, b"big-frame");
    let mut native = Native::new(stream, Role::Server, Config::router().with_limits(limits));
    native.ready();
    dealer.send(vec![7u8; 4 << 20], 0).unwrap();
    assert_eq!(
        native.next_error(),
        Error::Limit(LimitExceeded {
            kind: LimitKind::FrameBytes,
            limit: 65_544,
            attempted: 4 << 20
        })
    );
    assert!(
        native.read < 1 << 20,
        "refused after {} octets of a 4 MiB frame",
        native.read
    );

    // 600 parts of 16 KiB: the part that takes the message past 1 MiB is
    // refused at its header (part 65: 65 x 16,384 = 1,064,960).
    let (dealer, stream) = connected(&ctx, zmq::DEALER, b"many-parts");
    let mut native = Native::new(stream, Role::Server, Config::router().with_limits(limits));
    native.ready();
    let parts: Vec<Vec<u8>> = (0..600).map(|_| vec![1u8; 16 << 10]).collect();
    dealer.send_multipart(parts, 0).unwrap();
    assert_eq!(
        native.next_error(),
        Error::Limit(LimitExceeded {
            kind: LimitKind::MessageBytes,
            limit: 1 << 20,
            attempted: 65 * (16 << 10)
        })
    );
    assert!(
        native.read < 2 << 20,
        "refused after {} octets of 9.6 MB",
        native.read
    );
    assert_eq!(native.conn.buffered(), 0);
}

/// Our ROUTER, the server, refuses a libzmq ROUTER (37/ZMTP allows the
/// pair, zroute does not) with ERROR in place of READY; libzmq, still in its
/// handshake, takes it as fatal and closes.
#[test]
fn native_router_refuses_a_libzmq_router_with_error() {
    let ctx = zmq::Context::new();
    let (_router, stream) = connected(&ctx, zmq::ROUTER, b"");
    let mut native = Native::new(stream, Role::Server, Config::router());
    assert_eq!(
        native.next_event(),
        Err(Error::Handshake(HandshakeError::IncompatibleSocketType {
            ours: SocketType::ROUTER,
            peer: SocketType::ROUTER
        }))
    );
    native.flush();
    native.expect_close();
}

/// Our DEALER, the client, refuses a libzmq DEALER with the typed error.
#[test]
fn native_dealer_refuses_a_libzmq_dealer() {
    let ctx = zmq::Context::new();
    let (_dealer, addr) = bound(&ctx, zmq::DEALER);
    let mut native = Native::new(
        TcpStream::connect(&addr).unwrap(),
        Role::Client,
        Config::dealer(),
    );
    assert_eq!(
        native.next_event(),
        Err(Error::Handshake(HandshakeError::IncompatibleSocketType {
            ours: SocketType::DEALER,
            peer: SocketType::DEALER
        }))
    );
    assert_eq!(
        native.conn.send_message(&[b"x"], &mut native.out),
        Err(zroute_zmtp::SendError::Failed)
    );
}

// CURVE (25/ZMTP-CURVE over 26/CURVEZMQ) against libzmq's own CURVE.

/// A key pair from libzmq itself (raw 32-octet keys), so both sides agree
/// on what a key is.
fn curve_keys() -> zmq::CurveKeyPair {
    assert_eq!(zmq::has("curve"), Some(true), "libzmq built with CURVE");
    zmq::CurveKeyPair::new().unwrap()
}

/// Watches `socket`'s events through an inproc PAIR (set before connecting,
/// so no event is missed).
fn monitor(ctx: &zmq::Context, watched: &zmq::Socket, name: &str) -> zmq::Socket {
    let endpoint = format!("inproc://{name}");
    watched
        .monitor(&endpoint, zmq::SocketEvent::ALL as i32)
        .unwrap();
    let m = socket(ctx, zmq::PAIR);
    m.connect(&endpoint).unwrap();
    m
}

/// Waits (within the monitor's receive deadline) for `wanted`; returns its
/// value. Panics if `refused` comes first.
fn wait_for_event(
    monitor: &zmq::Socket,
    wanted: zmq::SocketEvent,
    refused: zmq::SocketEvent,
) -> u32 {
    loop {
        let frames = monitor
            .recv_multipart(0)
            .expect("the monitor reports within the deadline");
        let head = &frames[0];
        let event = zmq::SocketEvent::from_raw(u16::from_le_bytes([head[0], head[1]]));
        let value = u32::from_le_bytes([head[2], head[3], head[4], head[5]]);
        assert_ne!(event, refused, "libzmq reported {event:?}");
        if event == wanted {
            return value;
        }
    }
}

/// Multipart both ways between our ROUTER and a libzmq DEALER: an empty
/// delimiter part, a 100 kB LONG frame, and a 64-part message.
fn exchange_with_libzmq_dealer(native: &mut Native, dealer: &zmq::Socket) {
    dealer
        .send_multipart([&b""[..], b"request", b"body"], 0)
        .unwrap();
    assert_eq!(
        parts_of(&native.next_message()),
        vec![&b""[..], b"request", b"body"]
    );
    native.send(&[b"", b"response"]);
    assert_eq!(
        dealer.recv_multipart(0).unwrap(),
        vec![vec![], b"response".to_vec()]
    );

    let big = vec![0xC3; 100_000];
    dealer.send_multipart([&big[..], b"x"], 0).unwrap();
    assert_eq!(parts_of(&native.next_message()), vec![&big[..], b"x"]);
    native.send(&[b"y", &big]);
    assert_eq!(
        dealer.recv_multipart(0).unwrap(),
        vec![b"y".to_vec(), big.clone()]
    );

    let many = many_parts();
    let refs: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
    dealer.send_multipart(many.clone(), 0).unwrap();
    assert_eq!(parts_of(&native.next_message()), refs);
    native.send(&refs);
    assert_eq!(dealer.recv_multipart(0).unwrap(), many);
}

/// The exchange every CURVE pairing below proves: multipart both ways, a
/// 100 kB (LONG) frame and a 64-part message, through the boxes.
fn exchange_with_libzmq_router(native: &mut Native, router: &zmq::Socket, id: &[u8]) {
    native.send(&[b"hello", b"", b"world"]);
    assert_eq!(
        router.recv_multipart(0).unwrap(),
        vec![id.to_vec(), b"hello".to_vec(), vec![], b"world".to_vec()]
    );
    router.send_multipart([id, b"reply", b"two"], 0).unwrap();
    assert_eq!(
        parts_of(&native.next_message()),
        vec![&b"reply"[..], b"two"]
    );

    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    native.send(&[b"big", &big]);
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2], big);
    router.send_multipart([id, &big, b"tail"], 0).unwrap();
    assert_eq!(parts_of(&native.next_message()), vec![&big[..], b"tail"]);

    let many = many_parts();
    let refs: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
    native.send(&refs);
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(got[0], id);
    assert_eq!(&got[1..], &many[..]);
    let mut back = vec![id.to_vec()];
    back.extend(many.iter().cloned());
    router.send_multipart(back, 0).unwrap();
    assert_eq!(parts_of(&native.next_message()), refs);
}

/// CURVE (a): our CURVE client DEALER against a libzmq CURVE server ROUTER.
#[test]
fn native_curve_dealer_talks_to_a_libzmq_curve_router() {
    let ctx = zmq::Context::new();
    let server = curve_keys();
    let client = curve_keys();
    let (router, addr) = bound_with(&ctx, zmq::ROUTER, |s| {
        s.set_curve_server(true).unwrap();
        s.set_curve_secretkey(&server.secret_key).unwrap();
    });
    router.set_router_mandatory(true).unwrap();
    let config = Config::dealer()
        .with_identity("curve-dealer")
        .unwrap()
        .with_curve_client(server.public_key, client.secret_key);
    let mut native = Native::new(TcpStream::connect(&addr).unwrap(), Role::Client, config);

    let peer = native.ready();
    assert_eq!(peer.socket_type(), SocketType::ROUTER);
    exchange_with_libzmq_router(&mut native, &router, b"curve-dealer");

    // libzmq boxes its PONG as it boxes messages.
    native
        .conn
        .send_ping(Duration::from_secs(5), b"ctx-curve", &mut native.out)
        .unwrap();
    native.flush();
    match native.next_event().unwrap() {
        Event::Pong { context } => assert_eq!(&context[..], b"ctx-curve"),
        other => panic!("expected PONG, got {other:?}"),
    }
}

/// CURVE (a), refused: a libzmq CURVE server cannot open the HELLO of a
/// client that has the wrong server key, and closes.
#[test]
fn libzmq_curve_router_drops_a_native_client_with_the_wrong_server_key() {
    let ctx = zmq::Context::new();
    let server = curve_keys();
    let client = curve_keys();
    let (_router, addr) = bound_with(&ctx, zmq::ROUTER, |s| {
        s.set_curve_server(true).unwrap();
        s.set_curve_secretkey(&server.secret_key).unwrap();
    });
    let wrong = curve_keys().public_key;
    let config = Config::dealer().with_curve_client(wrong, client.secret_key);
    let mut native = Native::new(TcpStream::connect(&addr).unwrap(), Role::Client, config);
    // Feed libzmq's greeting in, so that our HELLO goes out; then libzmq,
    // unable to open it, closes.
    let deadline = Instant::now() + DEADLINE;
    loop {
        native.flush();
        assert!(Instant::now() < deadline, "libzmq did not close");
        match native.stream.read(&mut native.buf) {
            Ok(0) => break,
            Ok(n) => native.conn.handle_bytes(&native.buf[..n]).unwrap(),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read: {e}"),
        }
    }
    assert!(!native.conn.is_ready());
    assert_eq!(native.conn.poll_event(), None, "no READY, no message");
}

/// CURVE (b): our CURVE server ROUTER against a libzmq CURVE client DEALER.
#[test]
fn native_curve_router_talks_to_a_libzmq_curve_dealer() {
    let ctx = zmq::Context::new();
    let server = curve_keys();
    let client = curve_keys();
    let allowed = client.public_key;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dealer = socket(&ctx, zmq::DEALER);
    dealer.set_identity(b"curve-libzmq").unwrap();
    dealer.set_curve_serverkey(&server.public_key).unwrap();
    dealer.set_curve_publickey(&client.public_key).unwrap();
    dealer.set_curve_secretkey(&client.secret_key).unwrap();
    let events = monitor(&ctx, &dealer, "curve-b");
    dealer.connect(&format!("tcp://{addr}")).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let config = Config::router().with_curve_server(server.secret_key, move |k| *k == allowed);
    let mut native = Native::new(stream, Role::Server, config);

    let peer = native.ready();
    assert_eq!(peer.socket_type(), SocketType::DEALER);
    assert_eq!(peer.identity().map(|b| &b[..]), Some(&b"curve-libzmq"[..]));
    assert_eq!(peer.curve_key(), Some(&client.public_key));
    native.flush();
    wait_for_event(
        &events,
        zmq::SocketEvent::HANDSHAKE_SUCCEEDED,
        zmq::SocketEvent::HANDSHAKE_FAILED_AUTH,
    );

    exchange_with_libzmq_dealer(&mut native, &dealer);
}

/// CURVE (b) with libzmq's heartbeats: its PINGs arrive boxed, and our
/// boxed PONGs keep the connection past its heartbeat timeout.
#[test]
fn native_curve_router_answers_boxed_libzmq_heartbeats() {
    let ctx = zmq::Context::new();
    let server = curve_keys();
    let client = curve_keys();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dealer = socket(&ctx, zmq::DEALER);
    dealer.set_heartbeat_ivl(20).unwrap();
    dealer.set_heartbeat_timeout(250).unwrap();
    dealer.set_curve_serverkey(&server.public_key).unwrap();
    dealer.set_curve_publickey(&client.public_key).unwrap();
    dealer.set_curve_secretkey(&client.secret_key).unwrap();
    dealer.connect(&format!("tcp://{addr}")).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let config = Config::router().with_curve_server(server.secret_key, |_| true);
    let mut native = Native::new(stream, Role::Server, config);
    native.ready();
    let mut pings = 0;
    while pings < 30 {
        match native.next_event().unwrap() {
            Event::Ping { .. } => pings += 1,
            other => panic!("expected PING, got {other:?}"),
        }
    }
    dealer.send(&b"still here"[..], 0).unwrap();
    assert_eq!(parts_of(&native.next_message()), vec![&b"still here"[..]]);
}

/// CURVE (c): a libzmq client whose key our allowlist refuses gets ERROR in
/// place of READY, which libzmq reports as an authentication failure with
/// ZAP's status code 400.
#[test]
fn native_curve_router_refuses_a_libzmq_client_key_with_error() {
    let ctx = zmq::Context::new();
    let server = curve_keys();
    let client = curve_keys();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dealer = socket(&ctx, zmq::DEALER);
    dealer.set_curve_serverkey(&server.public_key).unwrap();
    dealer.set_curve_publickey(&client.public_key).unwrap();
    dealer.set_curve_secretkey(&client.secret_key).unwrap();
    let events = monitor(&ctx, &dealer, "curve-c-refused");
    dealer.connect(&format!("tcp://{addr}")).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let config = Config::router().with_curve_server(server.secret_key, |_| false);
    let mut native = Native::new(stream, Role::Server, config);

    assert_eq!(
        native.next_event(),
        Err(Error::Curve(CurveError::RefusedKey {
            key: client.public_key
        }))
    );
    native.flush();
    let status = wait_for_event(
        &events,
        zmq::SocketEvent::HANDSHAKE_FAILED_AUTH,
        zmq::SocketEvent::HANDSHAKE_SUCCEEDED,
    );
    assert_eq!(status, 400, "our ERROR reached libzmq's handshake");
    native.expect_close();
}

/// CURVE (c): a libzmq client with the wrong server key: we cannot open its
/// HELLO and drop it with the typed error.
#[test]
fn native_curve_router_drops_a_libzmq_client_with_the_wrong_server_key() {
    let ctx = zmq::Context::new();
    let server = curve_keys();
    let client = curve_keys();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dealer = socket(&ctx, zmq::DEALER);
    dealer
        .set_curve_serverkey(&curve_keys().public_key)
        .unwrap();
    dealer.set_curve_publickey(&client.public_key).unwrap();
    dealer.set_curve_secretkey(&client.secret_key).unwrap();
    dealer.connect(&format!("tcp://{addr}")).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let config = Config::router().with_curve_server(server.secret_key, |_| true);
    let mut native = Native::new(stream, Role::Server, config);
    assert_eq!(
        native.next_event(),
        Err(Error::Curve(CurveError::BadBox { command: "HELLO" }))
    );
    assert!(!native.conn.is_ready());
}
