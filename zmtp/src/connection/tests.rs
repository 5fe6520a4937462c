// The connection's unit tests, in one file of about 850 lines on purpose:
// they share the back-to-back harness below, and run in the order a
// connection lives (greeting, handshake, messages, heartbeats, limits,
// errors), so each reads as a script of one stage.

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
    assert_eq!(
        from_client.len(),
        64,
        "the client's whole greeting, once ours has opened"
    );
    conn.handle_bytes(&from_client).unwrap();
    // The rest of ours (left unpolled: the send below must carry it first).
    let mut rest = BytesMut::new();
    assert!(conn.poll_transmit(&mut rest));
    client.handle_bytes(&rest).unwrap();
    let mut from_client = BytesMut::new();
    assert!(client.poll_transmit(&mut from_client));
    assert!(from_client.len() > 10, "the client's READY");
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
        let out = whole_greeting(&mut conn);
        assert_eq!(
            Greeting::decode(&out, Mechanism::NULL).unwrap(),
            Greeting::new(Mechanism::NULL, false)
        );
        let mut more = BytesMut::new();
        assert!(!conn.poll_transmit(&mut more), "sent once");
        assert_eq!(conn.role(), role);
    }
}

#[test]
fn the_rest_of_our_greeting_waits_for_the_peers_opening() {
    let mut conn = Connection::new(Role::Client, Config::dealer());
    let mut out = BytesMut::new();
    assert!(conn.poll_transmit(&mut out));
    assert_eq!(out.len(), 11, "signature and major version first");
    let mut peer = BytesMut::new();
    Greeting::new(Mechanism::NULL, false).encode(&mut peer);
    conn.handle_bytes(&peer[..10]).unwrap();
    assert!(
        !conn.poll_transmit(&mut out),
        "not before the peer's major version"
    );
    conn.handle_bytes(&peer[10..11]).unwrap();
    assert!(conn.poll_transmit(&mut out));
    assert_eq!(out.len(), 64);
}

/// Our whole greeting: its opening, then the rest once a peer's opening is in.
fn whole_greeting(conn: &mut Connection) -> BytesMut {
    let mut out = BytesMut::new();
    assert!(conn.poll_transmit(&mut out));
    let mut peer = BytesMut::new();
    Greeting::new(Mechanism::NULL, false).encode(&mut peer);
    conn.handle_bytes(&peer[..11]).unwrap();
    assert!(conn.poll_transmit(&mut out));
    assert_eq!(out.len(), 64);
    out
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
            let out = super::whole_greeting(&mut conn);
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
        let out = super::whole_greeting(&mut null);
        let mut curve = Connection::new(
            Role::Server,
            Config::router().with_curve_server(keys.server.1, |_| true),
        );
        assert!(matches!(curve.handle_bytes(&out), Err(Error::Greeting(_))));
        // Failing, it still sends the rest of its greeting: the NULL peer
        // learns why too.
        let mut from_curve = BytesMut::new();
        assert!(curve.poll_transmit(&mut from_curve));
        assert_eq!(from_curve.len(), 64);
        assert!(matches!(
            null.handle_bytes(&from_curve),
            Err(Error::Greeting(_))
        ));
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
        // The openings both ways, then the rest of the greetings, and HELLO.
        let mut from_client = BytesMut::new();
        assert!(pair.dealer.poll_transmit(&mut from_client));
        let mut from_server = BytesMut::new();
        assert!(pair.router.poll_transmit(&mut from_server));
        pair.dealer.handle_bytes(&from_server).unwrap();
        pair.router.handle_bytes(&from_client).unwrap();
        let mut rest = BytesMut::new();
        assert!(pair.router.poll_transmit(&mut rest));
        pair.dealer.handle_bytes(&rest).unwrap();
        let mut from_client = BytesMut::new();
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
