//! Connection events and message origins, with real sockets over loopback
//! TCP and IPC: who connected, when a connection ends, why a handshake
//! failed, and the part-size bound of a ROUTER. Every wait is for an event,
//! under a deadline.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::timeout;
use zroute_transport::{
    Context, CurveClient, CurveKeyPair, CurveServer, DealerOptions, HandshakeFailure, Incoming,
    PeerAddr, ROUTER_MAX_MSG_SIZE, RouterOptions, Socket, SocketEvent,
};

const DEADLINE: Duration = Duration::from_secs(20);

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match timeout(DEADLINE, f).await {
        Ok(out) => out,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// The next event of a watched socket; messages in between fail the test.
async fn next_event(socket: &mut Socket) -> SocketEvent {
    match within("an event", socket.next()).await.unwrap() {
        Incoming::Event(event) => event,
        Incoming::Message(msg) => panic!("a message, not an event: {msg:?}"),
    }
}

/// Events until one matches `want`; returns it.
async fn event_where(socket: &mut Socket, want: impl Fn(&SocketEvent) -> bool) -> SocketEvent {
    loop {
        let event = next_event(socket).await;
        if want(&event) {
            return event;
        }
    }
}

#[tokio::test]
async fn a_watched_router_sees_who_connects_and_when_they_leave() {
    let ctx = Context::new();
    let mut router = Socket::router(&ctx, &RouterOptions::default()).unwrap();
    router.watch(&ctx).unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    let mut dealer = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
    dealer.connect(&endpoint).unwrap();
    within("connection", dealer.writable()).await.unwrap();

    let SocketEvent::Accepted { fd, peer, local } = next_event(&mut router).await else {
        panic!("the first event is the accept");
    };
    // The router's own end: the address the worker reached.
    assert_eq!(
        local.map(|l| format!("tcp://{l}")),
        Some(endpoint.clone()),
        "the accept names the address reached"
    );
    match peer {
        Some(PeerAddr::Tcp(addr)) => assert!(addr.ip().is_loopback(), "{addr}"),
        other => panic!("the peer of a live tcp connection: {other:?}"),
    }
    assert_eq!(
        next_event(&mut router).await,
        SocketEvent::HandshakeSucceeded
    );
    drop(dealer);
    assert_eq!(
        next_event(&mut router).await,
        SocketEvent::Disconnected { fd },
        "the connection that ends is the one accepted"
    );
}

#[tokio::test]
async fn an_ipc_peer_is_a_process() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("ipc://{}/w.sock", dir.path().display());
    let ctx = Context::new();
    let mut router = Socket::router(&ctx, &RouterOptions::default()).unwrap();
    router.watch(&ctx).unwrap();
    router.bind(&endpoint).unwrap();
    let mut dealer = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
    dealer.connect(&endpoint).unwrap();
    within("connection", dealer.writable()).await.unwrap();
    let event = event_where(&mut router, |e| matches!(e, SocketEvent::Accepted { .. })).await;
    let SocketEvent::Accepted {
        peer: Some(PeerAddr::Local { uid, pid, .. }),
        ..
    } = event
    else {
        panic!("{event:?}");
    };
    assert_eq!(pid, i32::try_from(std::process::id()).unwrap());
    assert_eq!(
        uid,
        std::fs::metadata("/proc/self").map_or(0, |m| {
            use std::os::unix::fs::MetadataExt;
            m.uid()
        })
    );
}

#[tokio::test]
async fn messages_say_where_they_came_from_when_asked() {
    let ctx = Context::new();
    let options = RouterOptions {
        origin_prefix: Some(b"HELLO".to_vec()),
        ..RouterOptions::default()
    };
    let mut router = Socket::router(&ctx, &options).unwrap();
    router.watch(&ctx).unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    let mut dealer = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
    dealer.connect(&endpoint).unwrap();
    within("connection", dealer.writable()).await.unwrap();
    let SocketEvent::Accepted { fd, .. } =
        event_where(&mut router, |e| matches!(e, SocketEvent::Accepted { .. })).await
    else {
        unreachable!()
    };

    dealer
        .try_send(&[Bytes::from_static(b"other"), Bytes::from_static(b"HELLO 1")])
        .unwrap();
    dealer.try_send(&[Bytes::from_static(b"other")]).unwrap();
    let asked = within("message", router.recv()).await.unwrap();
    let origin = asked
        .origin()
        .expect("a HELLO-like part: the origin is read");
    assert_eq!(origin.address, "127.0.0.1");
    assert_eq!(origin.fd, Some(fd), "the connection the monitor named");
    let (_, body) = asked.split_peer().unwrap();
    assert!(body.origin().is_some(), "split_peer keeps it");
    let plain = within("message", router.recv()).await.unwrap();
    assert_eq!(plain.origin(), None, "not asked: not read");
}

/// spec: #transport-options — the router's part limit is the largest frame.
#[tokio::test]
async fn a_router_drops_a_peer_at_its_first_part_over_a_frame() {
    let ctx = Context::new();
    let mut router = Socket::router(&ctx, &RouterOptions::default()).unwrap();
    router.watch(&ctx).unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    let max = usize::try_from(ROUTER_MAX_MSG_SIZE).unwrap();
    assert_eq!(max, 65_544, "the largest zroute frame");

    let mut fits = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
    fits.connect(&endpoint).unwrap();
    within("connection", fits.writable()).await.unwrap();
    fits.try_send(&[vec![7u8; max], vec![7u8; max]]).unwrap();
    let msg = loop {
        match within("the message", router.next()).await.unwrap() {
            Incoming::Message(msg) => break msg,
            Incoming::Event(_) => {}
        }
    };
    assert_eq!(msg.len(), 3, "routing id and two full-size frames");

    let mut rogue = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
    rogue.connect(&endpoint).unwrap();
    within("connection", rogue.writable()).await.unwrap();
    let SocketEvent::Accepted { fd, .. } =
        event_where(&mut router, |e| matches!(e, SocketEvent::Accepted { .. })).await
    else {
        unreachable!()
    };
    // One byte over, as the first part of a message that would be 100 MB.
    let parts: Vec<Vec<u8>> = std::iter::once(vec![0u8; max + 1])
        .chain((0..99).map(|_| vec![0u8; 1 << 20]))
        .collect();
    rogue.try_send(&parts).unwrap();
    event_where(&mut router, |e| *e == SocketEvent::Disconnected { fd }).await;
    assert!(
        router.try_recv().unwrap().is_none(),
        "nothing of it arrived"
    );
}

fn curve_router(ctx: &Context, server: &CurveKeyPair) -> Socket {
    Socket::router(
        ctx,
        &RouterOptions {
            curve: Some(CurveServer {
                keypair: server.clone(),
                zap_domain: "test".to_owned(),
            }),
            ..RouterOptions::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_plaintext_dealer_and_a_curve_router_both_learn_why() {
    if !zroute_transport::curve_available() {
        eprintln!("skipped: this libzmq has no CURVE");
        return;
    }
    let ctx = Context::new();
    let server = CurveKeyPair::generate().unwrap();
    let mut router = curve_router(&ctx, &server);
    router.watch(&ctx).unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();

    let mut dealer = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
    dealer.watch(&ctx).unwrap();
    dealer.connect(&endpoint).unwrap();
    assert_eq!(
        within("the handshake's end", dealer.connected())
            .await
            .unwrap(),
        Err(HandshakeFailure::MechanismMismatch)
    );
    let failed = event_where(&mut router, |e| {
        matches!(e, SocketEvent::HandshakeFailed(_))
    })
    .await;
    assert_eq!(
        failed,
        SocketEvent::HandshakeFailed(HandshakeFailure::MechanismMismatch)
    );
    assert!(matches!(
        next_event(&mut router).await,
        SocketEvent::Disconnected { .. }
    ));
}

#[tokio::test]
async fn a_curve_dealer_and_a_plaintext_router_both_learn_why() {
    if !zroute_transport::curve_available() {
        eprintln!("skipped: this libzmq has no CURVE");
        return;
    }
    let ctx = Context::new();
    let mut router = Socket::router(&ctx, &RouterOptions::default()).unwrap();
    router.watch(&ctx).unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    let server = CurveKeyPair::generate().unwrap();
    let options = DealerOptions {
        curve: Some(CurveClient {
            server_key: server.public(),
            keypair: CurveKeyPair::generate().unwrap(),
        }),
        ..DealerOptions::default()
    };
    let mut dealer = Socket::dealer(&ctx, &options).unwrap();
    dealer.watch(&ctx).unwrap();
    dealer.connect(&endpoint).unwrap();
    assert_eq!(
        within("the handshake's end", dealer.connected())
            .await
            .unwrap(),
        Err(HandshakeFailure::MechanismMismatch)
    );
    event_where(&mut router, |e| {
        *e == SocketEvent::HandshakeFailed(HandshakeFailure::MechanismMismatch)
    })
    .await;
}

/// A watch that is dropped while the socket lives must stop libzmq's
/// monitor first: a monitor without a reader would block libzmq's I/O thread
/// at the next event, and no connection of the context would move again.
#[tokio::test]
async fn unwatching_leaves_the_context_working() {
    let ctx = Context::new();
    let mut router = Socket::router(&ctx, &RouterOptions::default()).unwrap();
    router.watch(&ctx).unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();
    router.unwatch();
    for round in 0..3 {
        let mut dealer = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
        dealer.watch(&ctx).unwrap();
        dealer.connect(&endpoint).unwrap();
        assert_eq!(
            within("connection", dealer.connected()).await.unwrap(),
            Ok(())
        );
        dealer.unwatch();
        dealer
            .try_send(&[Bytes::from(format!("round {round}"))])
            .unwrap();
        let (_, body) = within("message", router.recv())
            .await
            .unwrap()
            .split_peer()
            .unwrap();
        assert_eq!(&body[0][..], format!("round {round}").as_bytes());
        assert!(router.try_event().unwrap().is_none(), "unwatched");
        // Each round's dealer goes, which raises events nobody reads.
    }
}
