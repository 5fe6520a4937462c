//! The native ZMTP sockets against libzmq's, over real loopback TCP and
//! ipc: both directions, NULL and CURVE, multipart and LONG frames,
//! reconnects, peer death, high-water marks, memory bounds and heartbeats.
//! libzmq is the implementation we did not write; every wait is for an
//! event, under a deadline.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::timeout;
use zroute_transport::native;
use zroute_transport::{
    Context, CurveClient, CurveKeyPair, CurveServer, DealerOptions, HandshakeFailure, Heartbeat,
    Incoming, Multipart, PeerId, RouterOptions, SendError, Socket, SocketEvent,
};

const DEADLINE: Duration = Duration::from_secs(20);

fn parts(msg: &Multipart) -> Vec<&[u8]> {
    msg.parts().iter().map(|p| &p[..]).collect()
}

/// Runs `fut` while the native socket's owner waits on it, as the router's
/// loop does: a native socket moves bytes only then. What arrives
/// meanwhile is returned with the output.
async fn driven<T>(
    socket: &mut native::Socket,
    fut: impl std::future::Future<Output = T>,
) -> (T, Vec<Incoming>) {
    let mut got = Vec::new();
    tokio::pin!(fut);
    timeout(DEADLINE, async {
        loop {
            tokio::select! {
                out = &mut fut => return (out, got),
                incoming = socket.next() => got.push(incoming.unwrap()),
            }
        }
    })
    .await
    .expect("done in time")
}

/// Sends `body` from a libzmq DEALER once it is connected, and returns it
/// as the native ROUTER received it (driven while the dealer sends).
async fn deliver(router: &mut native::Socket, dealer: &mut Socket, body: &[&[u8]]) -> Multipart {
    let (_, mut got) = driven(router, async {
        dealer.writable().await.unwrap();
        dealer.send(body).await.unwrap();
    })
    .await;
    match got.pop() {
        Some(Incoming::Message(m)) => m,
        _ => timeout(DEADLINE, router.recv()).await.unwrap().unwrap(),
    }
}

async fn next_event(socket: &mut native::Socket) -> SocketEvent {
    let incoming = timeout(DEADLINE, socket.next())
        .await
        .expect("an event in time");
    match incoming.unwrap() {
        Incoming::Event(e) => e,
        Incoming::Message(m) => panic!("unexpected message {m:?}"),
    }
}

#[tokio::test]
async fn native_router_and_libzmq_dealer_talk_both_ways() {
    let ctx = Context::new();
    let mut router = native::Socket::router(&RouterOptions {
        max_msg_size: None,
        ..RouterOptions::default()
    })
    .unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();

    let mut dealer = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
    dealer.connect(&endpoint).unwrap();
    // Multipart, an empty part, and a LONG frame (over 255 octets).
    let big = vec![7u8; 100_000];
    let msg = deliver(&mut router, &mut dealer, &[&b"hello"[..], b"", &big[..]]).await;
    let (peer, body) = msg.split_peer().unwrap();
    assert_eq!(
        peer.as_ref().len(),
        5,
        "a generated id: 0x00 and four octets"
    );
    assert_eq!(peer.as_ref()[0], 0);
    assert_eq!(parts(&body), [&b"hello"[..], b"", &big[..]]);

    // Many messages back, queued in one wake-up, leave in order.
    for i in 0..1000u32 {
        router.try_send_to(&peer, &[i.to_be_bytes()]).unwrap();
    }
    router.flush();
    driven(&mut router, async {
        for i in 0..1000u32 {
            let m = dealer.recv().await.unwrap();
            assert_eq!(parts(&m), [&i.to_be_bytes()[..]]);
        }
    })
    .await;
    // While the router is not waiting on its socket, replies still wait
    // for the flush that the next wait does.
    router.try_send_to(&peer, &[&b"last"[..]]).unwrap();
    let pending = tokio::spawn(async move {
        let m = timeout(DEADLINE, dealer.recv()).await.unwrap().unwrap();
        (dealer, m)
    });
    let _ = timeout(Duration::from_millis(1), router.recv()).await;
    let (_dealer, m) = pending.await.unwrap();
    assert_eq!(parts(&m), [&b"last"[..]]);

    // An unknown routing id: EHOSTUNREACH, as ROUTER_MANDATORY gives.
    assert!(matches!(
        router.try_send_to(&PeerId::new(Bytes::from_static(b"\0nope")), &[&b"x"[..]]),
        Err(SendError::HostUnreachable)
    ));
}

#[tokio::test]
async fn libzmq_router_and_native_dealer_talk_both_ways_with_an_identity() {
    let ctx = Context::new();
    let mut router = Socket::router(
        &ctx,
        &RouterOptions {
            max_msg_size: None,
            ..RouterOptions::default()
        },
    )
    .unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();

    let mut dealer = native::Socket::dealer(&DealerOptions {
        routing_id: Some(b"worker-7".to_vec()),
        ..DealerOptions::default()
    })
    .unwrap();
    // Nothing to send to before the handshake: WouldBlock, as IMMEDIATE gives.
    assert!(matches!(
        dealer.try_send(&[&b"early"[..]]),
        Err(SendError::WouldBlock)
    ));
    dealer.connect(&endpoint).unwrap();
    timeout(DEADLINE, dealer.writable()).await.unwrap().unwrap();
    let big = vec![9u8; 300_000];
    dealer.send(&[&b"a"[..], &big[..]]).await.unwrap();
    let msg = timeout(DEADLINE, router.recv()).await.unwrap().unwrap();
    let (peer, body) = msg.split_peer().unwrap();
    assert_eq!(peer.as_ref(), b"worker-7");
    assert_eq!(parts(&body), [&b"a"[..], &big[..]]);

    let many: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 10]).collect();
    router.send_to(&peer, &many).await.unwrap();
    let m = timeout(DEADLINE, dealer.recv()).await.unwrap().unwrap();
    assert_eq!(m.len(), 64);
    assert_eq!(&m[63][..], &[63u8; 10]);
}

#[tokio::test]
async fn native_sockets_talk_over_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("ipc://{}/z.sock", dir.path().display());
    let mut router = native::Socket::router(&RouterOptions {
        origin_prefix: Some(b"over".to_vec()),
        ..RouterOptions::default()
    })
    .unwrap();
    router.watch();
    assert_eq!(router.bind(&endpoint).unwrap(), endpoint);
    let mut dealer = native::Socket::dealer(&DealerOptions::default()).unwrap();
    dealer.connect(&endpoint).unwrap();
    let (sent, got) = tokio::join!(
        async {
            timeout(DEADLINE, dealer.writable()).await.unwrap().unwrap();
            dealer.send(&[&b"over ipc"[..]]).await.unwrap();
            dealer
        },
        async {
            // An ipc:// connection has no tcp address of its own.
            assert!(matches!(
                next_event(&mut router).await,
                SocketEvent::Accepted { local: None, .. }
            ));
            assert_eq!(
                next_event(&mut router).await,
                SocketEvent::HandshakeSucceeded
            );
            timeout(DEADLINE, router.recv()).await.unwrap().unwrap()
        }
    );
    drop(sent);
    assert_eq!(parts(&got)[1..], [&b"over ipc"[..]]);
    // Where it came from, in libzmq's `Peer-Address` form for ipc://.
    // Our uid, as the owner of the directory we just made.
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(dir.path()).unwrap());
    let address = &got.origin().expect("the prefix matched").address;
    assert!(address.starts_with(&format!(":{uid}:")), "{address}");
    assert_eq!(address.split(':').count(), 4, "{address}");
    // The dealer is gone: the router hears of it.
    assert!(matches!(
        next_event(&mut router).await,
        SocketEvent::Disconnected { .. }
    ));
}

/// `ipc://*` (a socket in a private directory, removed with the socket)
/// and an abstract `ipc://@name`, as libzmq binds them, reached by libzmq.
#[tokio::test]
async fn ipc_any_and_abstract_names_bind_and_libzmq_connects_to_them() {
    use std::os::unix::fs::PermissionsExt;
    let ctx = Context::new();
    let name = format!("ipc://@zroute-test-{}", std::process::id());
    for asked in ["ipc://*", name.as_str()] {
        let mut router = native::Socket::router(&RouterOptions::default()).unwrap();
        let bound = router.bind(asked).unwrap();
        let dir = if asked == "ipc://*" {
            let path = std::path::PathBuf::from(bound.strip_prefix("ipc://").unwrap());
            let dir = path.parent().unwrap().to_owned();
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{bound}");
            Some(dir)
        } else {
            assert_eq!(bound, asked);
            None
        };
        let mut dealer = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
        dealer.connect(&bound).unwrap();
        let msg = deliver(&mut router, &mut dealer, &[&b"hi"[..]]).await;
        assert_eq!(parts(&msg)[1..], [&b"hi"[..]], "{bound}");
        drop(router);
        if let Some(dir) = dir {
            assert!(!dir.exists(), "{} is left behind", dir.display());
        }
    }
}

#[tokio::test]
async fn a_native_dealer_waits_for_its_router_and_reconnects_after_it_restarts() {
    let ctx = Context::new();
    // A free port, then nobody on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let mut dealer = native::Socket::dealer(&DealerOptions {
        reconnect_ivl: Some(Duration::from_millis(20)),
        reconnect_ivl_max: Some(Duration::from_millis(200)),
        ..DealerOptions::default()
    })
    .unwrap();
    dealer.watch();
    dealer.connect(&endpoint).unwrap();

    for round in 0..2 {
        let mut router = Socket::router(&ctx, &RouterOptions::default()).unwrap();
        router.bind(&endpoint).unwrap();
        timeout(DEADLINE, dealer.writable()).await.unwrap().unwrap();
        dealer
            .send(&[format!("round {round}").as_bytes()])
            .await
            .unwrap();
        let msg = timeout(DEADLINE, router.recv()).await.unwrap().unwrap();
        assert_eq!(&msg[1][..], format!("round {round}").as_bytes());
        drop(router);
        // The loss is seen, and sends are refused until the next router.
        loop {
            if let SocketEvent::Disconnected { .. } = next_event(&mut dealer).await {
                break;
            }
        }
        assert!(matches!(
            dealer.try_send(&[&b"x"[..]]),
            Err(SendError::WouldBlock)
        ));
    }
}

#[tokio::test]
async fn curve_native_router_admits_its_allowlist_and_libzmq_clients_see_the_refusal() {
    let ctx = Context::new();
    let server = CurveKeyPair::generate().unwrap();
    let allowed = CurveKeyPair::generate().unwrap();
    let stranger = CurveKeyPair::generate().unwrap();
    let mut router = native::Socket::router(&RouterOptions {
        curve: Some(CurveServer {
            keypair: server.clone(),
            zap_domain: String::new(),
        }),
        ..RouterOptions::default()
    })
    .unwrap();
    let allowed_key = *allowed.public().as_bytes();
    router
        .set_curve_allow(move |key, address| {
            assert_eq!(address, "127.0.0.1");
            *key.as_bytes() == allowed_key
        })
        .unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();

    let client = |keypair: &CurveKeyPair| DealerOptions {
        curve: Some(CurveClient {
            server_key: server.public(),
            keypair: keypair.clone(),
        }),
        ..DealerOptions::default()
    };
    let mut refused = Socket::dealer(&ctx, &client(&stranger)).unwrap();
    refused.watch(&ctx).unwrap();
    refused.connect(&endpoint).unwrap();
    let mut admitted = Socket::dealer(&ctx, &client(&allowed)).unwrap();
    admitted.connect(&endpoint).unwrap();

    let (outcome, msg) = tokio::join!(
        async {
            let outcome = timeout(DEADLINE, refused.connected())
                .await
                .unwrap()
                .unwrap();
            timeout(DEADLINE, admitted.writable())
                .await
                .unwrap()
                .unwrap();
            admitted.send(&[&b"secret"[..]]).await.unwrap();
            outcome
        },
        async { timeout(DEADLINE, router.recv()).await.unwrap().unwrap() }
    );
    assert_eq!(outcome, Err(HandshakeFailure::Auth(400)));
    assert_eq!(&msg[1][..], b"secret");
    let (peer, _) = msg.split_peer().unwrap();
    router.send_to(&peer, &[&b"boxed"[..]]).await.unwrap();
    let (reply, _) = tokio::join!(
        async { timeout(DEADLINE, admitted.recv()).await.unwrap().unwrap() },
        async {
            let _ = timeout(Duration::from_millis(200), router.recv()).await;
        }
    );
    assert_eq!(&reply[0][..], b"boxed");
}

#[tokio::test]
async fn curve_native_dealer_talks_to_a_libzmq_router_and_a_wrong_server_key_never_connects() {
    let ctx = Context::new();
    let server = CurveKeyPair::generate().unwrap();
    let impostor = CurveKeyPair::generate().unwrap();
    // libzmq asks a ZAP handler once a domain is set; this one admits all.
    let zap = zroute_transport::ZapHandler::bind(&ctx).unwrap();
    let _zap = tokio::spawn(zap.serve(|_| true));
    let mut router = Socket::router(
        &ctx,
        &RouterOptions {
            curve: Some(CurveServer {
                keypair: server.clone(),
                zap_domain: "zroute-test".to_owned(),
            }),
            max_msg_size: None,
            ..RouterOptions::default()
        },
    )
    .unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    let me = CurveKeyPair::generate().unwrap();
    let mut dealer = native::Socket::dealer(&DealerOptions {
        curve: Some(CurveClient {
            server_key: server.public(),
            keypair: me.clone(),
        }),
        ..DealerOptions::default()
    })
    .unwrap();
    dealer.connect(&endpoint).unwrap();
    timeout(DEADLINE, dealer.writable()).await.unwrap().unwrap();
    dealer
        .send(&[&b"via curve"[..], &[1u8; 70_000][..]])
        .await
        .unwrap();
    let msg = timeout(DEADLINE, router.recv()).await.unwrap().unwrap();
    assert_eq!(&msg[1][..], b"via curve");
    assert_eq!(msg[2].len(), 70_000);

    // A client that expects another server key cannot finish the
    // handshake: libzmq cannot open its HELLO and closes without a word,
    // as it does for its own clients, and the client retries.
    let mut wrong = native::Socket::dealer(&DealerOptions {
        curve: Some(CurveClient {
            server_key: impostor.public(),
            keypair: me,
        }),
        ..DealerOptions::default()
    })
    .unwrap();
    wrong.watch();
    wrong.connect(&endpoint).unwrap();
    for _ in 0..2 {
        loop {
            if let SocketEvent::HandshakeFailed(why) = next_event(&mut wrong).await {
                assert!(matches!(why, HandshakeFailure::NoDetail(_)), "{why:?}");
                break;
            }
        }
        assert!(matches!(
            wrong.try_send(&[&b"x"[..]]),
            Err(SendError::WouldBlock)
        ));
    }
}

#[tokio::test]
async fn a_rogue_peer_is_dropped_as_soon_as_it_announces_too_much() {
    let mut router = native::Socket::router(&RouterOptions::default()).unwrap();
    router.watch();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    let addr = endpoint.trim_start_matches("tcp://").to_owned();

    // A handshake by hand, then one frame header announcing 1 MB: refused at
    // the header, before any of its body is buffered.
    let rogue = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&null_greeting()).unwrap();
        s.write_all(&ready_command(b"DEALER")).unwrap();
        let mut header = vec![0x03u8]; // LONG, MORE
        header.extend_from_slice(&(1u64 << 20).to_be_bytes());
        s.write_all(&header).unwrap();
        s.write_all(&[0u8; 4096]).unwrap();
        // The router closes: the read ends (after its greeting and READY).
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    });
    loop {
        if let SocketEvent::LimitExceeded { what, .. } = next_event(&mut router).await {
            assert!(what.contains("1048576"), "{what}");
            break;
        }
    }
    assert_eq!(router.limit_drops(), 1);
    assert!(matches!(
        next_event(&mut router).await,
        SocketEvent::Disconnected { .. }
    ));
    rogue.join().unwrap();
}

/// A read shorter than the buffer ends a visit without a second read to
/// find the socket empty: what arrives after it must still be read, and a
/// close that came with the last octets must still be seen, after the
/// message it followed (events and messages are two queues: either may be
/// read first).
#[tokio::test]
async fn octets_after_a_short_read_and_a_close_behind_a_message_are_seen() {
    let mut router = native::Socket::router(&RouterOptions::default()).unwrap();
    router.watch();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    let addr = endpoint.trim_start_matches("tcp://").to_owned();
    let (go, wait_go) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut first = null_greeting();
        first.extend_from_slice(&ready_command(b"DEALER"));
        first.extend_from_slice(&[0x00, 3]);
        first.extend_from_slice(b"one");
        s.write_all(&first).unwrap();
        wait_go.recv().unwrap();
        // The second message and the close, in one segment if the kernel
        // keeps them together.
        s.write_all(&[0x00, 3, b't', b'w', b'o']).unwrap();
        s.shutdown(std::net::Shutdown::Both).unwrap();
    });
    let mut next = async || {
        timeout(DEADLINE, router.next())
            .await
            .expect("in time")
            .unwrap()
    };
    loop {
        match next().await {
            Incoming::Message(one) => {
                assert_eq!(parts(&one)[1..], [&b"one"[..]]);
                break;
            }
            Incoming::Event(e) => assert!(
                matches!(
                    e,
                    SocketEvent::Accepted { .. } | SocketEvent::HandshakeSucceeded
                ),
                "{e:?}"
            ),
        }
    }
    go.send(()).unwrap();
    let (mut two, mut closed) = (false, false);
    while !(two && closed) {
        match next().await {
            Incoming::Message(m) => {
                assert_eq!(parts(&m)[1..], [&b"two"[..]]);
                two = true;
            }
            Incoming::Event(SocketEvent::Disconnected { .. }) => closed = true,
            Incoming::Event(e) => panic!("{e:?}"),
        }
    }
    peer.join().unwrap();
}

#[tokio::test]
async fn a_message_of_too_many_parts_is_refused_part_by_part() {
    let ctx = Context::new();
    let mut router = native::Socket::router(&RouterOptions {
        max_msg_parts: 100,
        ..RouterOptions::default()
    })
    .unwrap();
    router.watch();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    let mut dealer = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
    dealer.connect(&endpoint).unwrap();
    let ok: Vec<&[u8]> = vec![b"p"; 100];
    let too_many: Vec<&[u8]> = vec![b"p"; 101];
    let (_, early) = driven(&mut router, async {
        dealer.writable().await.unwrap();
        dealer.send(&ok).await.unwrap();
        dealer.send(&too_many).await.unwrap();
    })
    .await;
    // The whole message before the bound was passed is delivered; the
    // event may be reported first.
    let mut got = None;
    let mut limit = None;
    let mut early = early.into_iter();
    while got.is_none() || limit.is_none() {
        let incoming = match early.next() {
            Some(incoming) => incoming,
            None => timeout(DEADLINE, router.next()).await.unwrap().unwrap(),
        };
        match incoming {
            Incoming::Message(m) => got = Some(m.len()),
            Incoming::Event(SocketEvent::LimitExceeded { what, .. }) => limit = Some(what),
            Incoming::Event(_) => {}
        }
    }
    let limit = limit.unwrap();
    assert!(limit.contains("100"), "{limit}");
    assert_eq!(got, Some(101), "the routing id and the 100 parts");
}

#[tokio::test]
async fn a_full_peer_queue_refuses_with_would_block_and_drains() {
    let ctx = Context::new();
    let mut router = native::Socket::router(&RouterOptions {
        sndhwm: 8,
        ..RouterOptions::default()
    })
    .unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    let mut dealer = Socket::dealer(
        &ctx,
        &DealerOptions {
            rcvhwm: 1,
            ..DealerOptions::default()
        },
    )
    .unwrap();
    dealer.connect(&endpoint).unwrap();
    let msg = deliver(&mut router, &mut dealer, &[&b"hi"[..]]).await;
    let (peer, _) = msg.split_peer().unwrap();

    // The dealer does not read: the kernel's buffers and libzmq's queue fill,
    // then ours (8 messages), and a send is refused with nothing queued.
    let chunk = vec![0u8; 60_000];
    let mut sent = 0usize;
    loop {
        match router.try_send_to(&peer, &[&chunk[..]]) {
            Ok(()) => sent += 1,
            Err(SendError::WouldBlock) => break,
            Err(e) => panic!("{e}"),
        }
        router.flush();
        assert!(sent < 100_000, "the queue never filled");
    }
    // Reading everything frees the queue again.
    let reader = tokio::spawn(async move {
        for _ in 0..sent {
            timeout(DEADLINE, dealer.recv()).await.unwrap().unwrap();
        }
        dealer
    });
    timeout(DEADLINE, router.send_to(&peer, &[&chunk[..]]))
        .await
        .unwrap()
        .unwrap();
    let _ = timeout(Duration::from_millis(50), router.recv()).await;
    reader.await.unwrap();
}

#[tokio::test]
async fn a_silent_peer_is_dropped_by_the_heartbeat() {
    let mut router = native::Socket::router(&RouterOptions {
        heartbeat: Some(Heartbeat {
            interval: Duration::from_millis(50),
            timeout: Duration::from_millis(200),
            ttl: Duration::from_millis(200),
        }),
        ..RouterOptions::default()
    })
    .unwrap();
    router.watch();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    let addr = endpoint.trim_start_matches("tcp://").to_owned();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    // Handshakes, then never answers a PING.
    let silent = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&null_greeting()).unwrap();
        s.write_all(&ready_command(b"DEALER")).unwrap();
        let _ = done_rx.recv_timeout(DEADLINE);
    });
    loop {
        if let SocketEvent::Disconnected { .. } = next_event(&mut router).await {
            break;
        }
    }
    let _ = done_tx.send(());
    silent.join().unwrap();
}

/// A ZMTP 3.1 greeting for NULL, as a client writes it.
fn null_greeting() -> Vec<u8> {
    let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
    let mut mechanism = [0u8; 20];
    mechanism[..4].copy_from_slice(b"NULL");
    g.extend_from_slice(&mechanism);
    g.push(0);
    g.extend_from_slice(&[0u8; 31]);
    g
}

/// A READY command announcing `socket_type`.
fn ready_command(socket_type: &[u8]) -> Vec<u8> {
    let mut body = vec![5];
    body.extend_from_slice(b"READY");
    body.push(11);
    body.extend_from_slice(b"Socket-Type");
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type);
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

/// libzmq closes a connection whose mechanism is not its own as soon as it
/// has the peer's whole greeting: the native socket sends its greeting in
/// two steps, as libzmq does, so it has libzmq's before that and can say
/// why, instead of seeing a connection closed without a word.
#[tokio::test]
async fn curve_on_one_side_only_is_a_final_mechanism_mismatch_both_ways() {
    let ctx = Context::new();
    let server = CurveKeyPair::generate().unwrap();
    let me = CurveKeyPair::generate().unwrap();
    let curve_client = DealerOptions {
        curve: Some(CurveClient {
            server_key: server.public(),
            keypair: me,
        }),
        ..DealerOptions::default()
    };
    let zap = zroute_transport::ZapHandler::bind(&ctx).unwrap();
    let _zap = tokio::spawn(zap.serve(|_| true));
    let curve_router = RouterOptions {
        curve: Some(CurveServer {
            keypair: server.clone(),
            zap_domain: "zroute-test".to_owned(),
        }),
        ..RouterOptions::default()
    };
    for (router_options, dealer_options) in [
        (RouterOptions::default(), curve_client.clone()),
        (curve_router, DealerOptions::default()),
    ] {
        let router = Socket::router(&ctx, &router_options).unwrap();
        let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
        let mut dealer = native::Socket::dealer(&dealer_options).unwrap();
        dealer.watch();
        dealer.connect(&endpoint).unwrap();
        let outcome = timeout(DEADLINE, dealer.connected())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome, Err(HandshakeFailure::MechanismMismatch));
    }
}
