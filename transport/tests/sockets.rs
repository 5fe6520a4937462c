//! Real sockets over loopback TCP and IPC. Nothing here sleeps to
//! synchronise: every wait is for an event, under a deadline; the few short
//! timeouts assert that something does *not* happen.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::timeout;
use zroute_transport::{
    Context, DealerOptions, Multipart, PeerId, RouterOptions, SendError, Socket, SocketKind,
};

/// Generous: a loaded 2-core CI machine must not turn into a flaky test.
const DEADLINE: Duration = Duration::from_secs(20);

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match timeout(DEADLINE, f).await {
        Ok(out) => out,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

fn part(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn strs(m: &Multipart) -> Vec<&str> {
    m.iter()
        .map(|p| std::str::from_utf8(p).expect("utf-8 part"))
        .collect()
}

/// A router bound to `endpoint` and a dealer connected to it, with the
/// connection complete and the router knowing the dealer's id.
async fn pair(
    ctx: &Context,
    endpoint: &str,
    ropts: RouterOptions,
    dopts: DealerOptions,
) -> (Socket, Socket, PeerId) {
    let mut router = Socket::router(ctx, &ropts).unwrap();
    let bound = router.bind(endpoint).unwrap();
    let mut dealer = Socket::dealer(ctx, &dopts).unwrap();
    dealer.connect(&bound).unwrap();
    within("the dealer's connection", dealer.writable())
        .await
        .unwrap();
    dealer.try_send(&[part("hello")]).unwrap();
    let (peer, body) = within("hello", router.recv())
        .await
        .unwrap()
        .split_peer()
        .unwrap();
    assert_eq!(strs(&body), ["hello"]);
    (router, dealer, peer)
}

async fn tcp_pair(ctx: &Context) -> (Socket, Socket, PeerId) {
    pair(
        ctx,
        "tcp://127.0.0.1:*",
        RouterOptions::default(),
        DealerOptions::default(),
    )
    .await
}

async fn round_trip(endpoint: &str) {
    let ctx = Context::new();
    let (mut router, mut dealer, peer) = pair(
        &ctx,
        endpoint,
        RouterOptions::default(),
        DealerOptions::default(),
    )
    .await;
    assert_eq!(router.kind(), SocketKind::Router);
    assert_eq!(dealer.kind(), SocketKind::Dealer);

    dealer.send(&[part("ping"), part("1")]).await.unwrap();
    let (from, body) = within("ping", router.recv())
        .await
        .unwrap()
        .split_peer()
        .unwrap();
    assert_eq!(from, peer);
    assert_eq!(strs(&body), ["ping", "1"]);

    router.send_to(&peer, &[part("pong")]).await.unwrap();
    let m = within("pong", dealer.recv()).await.unwrap();
    assert_eq!(strs(&m), ["pong"]);

    // The routing id can also be passed as the first part.
    router
        .send(&[peer.as_bytes().clone(), part("pong"), part("2")])
        .await
        .unwrap();
    let m = within("second pong", dealer.recv()).await.unwrap();
    assert_eq!(strs(&m), ["pong", "2"]);
}

/// spec: #transport-sockets — tcp:// endpoints.
#[tokio::test]
async fn round_trip_over_tcp() {
    round_trip("tcp://127.0.0.1:*").await;
}

/// spec: #transport-sockets — ipc:// endpoints.
#[tokio::test]
async fn round_trip_over_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("ipc://{}", dir.path().join("router.sock").display());
    round_trip(&endpoint).await;
}

/// spec: #transport-messages — one frame per part, several parts per message, in order.
#[tokio::test]
async fn multipart_messages_keep_part_and_message_order() {
    let ctx = Context::new();
    let (mut router, mut dealer, _peer) = tcp_pair(&ctx).await;

    // Sizes straddle libzmq's inline (< 33 bytes), shared-batch (< 8 KiB)
    // and own-allocation storage (up to a ROUTER's part limit), so both the copying and the zero-copy
    // receive paths are exercised; one part is empty.
    let sizes = [0usize, 1, 32, 33, 100, 8191, 8192, 8193, 65_544];
    let mut sent = Vec::new();
    for n in 1..=sizes.len() {
        let parts: Vec<Bytes> = sizes[..n]
            .iter()
            .enumerate()
            .map(|(i, &len)| Bytes::from(vec![(n * 16 + i) as u8; len]))
            .collect();
        dealer.send(&parts).await.unwrap();
        sent.push(parts);
    }
    for expected in sent {
        let (_, got) = within("a multipart message", router.recv())
            .await
            .unwrap()
            .split_peer()
            .unwrap();
        assert_eq!(got.parts(), &expected[..]);
    }
    assert!(router.try_recv().unwrap().is_none());
}

#[tokio::test]
async fn try_recv_drains_a_batch_after_one_wakeup() {
    const N: usize = 2000;
    let ctx = Context::new();
    let (mut router, mut dealer, _peer) = tcp_pair(&ctx).await;

    for i in 0..N {
        dealer.try_send(&[(i as u32).to_be_bytes()]).unwrap();
    }
    let mut wakeups = 0;
    let mut drained_without_waiting = 0;
    let mut next = 0u32;
    while (next as usize) < N {
        let first = within("a batch", router.recv()).await.unwrap();
        wakeups += 1;
        let mut batch = vec![first];
        while let Some(m) = router.try_recv().unwrap() {
            drained_without_waiting += 1;
            batch.push(m);
        }
        for m in batch {
            assert_eq!(&m[1][..], &next.to_be_bytes());
            next += 1;
        }
    }
    // libzmq moves ~8 KiB per read, hundreds of these messages: most arrive
    // in bulk and are taken without another wait.
    assert!(
        wakeups <= N / 10,
        "{wakeups} waits for {N} messages: try_recv is not batching"
    );
    assert!(drained_without_waiting >= N - N / 10);
}

/// spec: #transport-options, #handshake — with ZMQ_IMMEDIATE a worker waits for the connection before HELLO.
#[tokio::test]
async fn dealer_started_before_router_waits_for_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("ipc://{}", dir.path().join("late.sock").display());
    let ctx = Context::new();

    let mut dealer = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
    dealer.connect(&endpoint).unwrap();
    // IMMEDIATE=1: no connection, so nothing may be queued and the socket is
    // not writable.
    assert!(matches!(
        dealer.try_send(&[part("early")]),
        Err(SendError::WouldBlock)
    ));
    assert!(
        timeout(Duration::from_millis(300), dealer.writable())
            .await
            .is_err(),
        "writable() completed with no router"
    );

    let mut router = Socket::router(&ctx, &RouterOptions::default()).unwrap();
    router.bind(&endpoint).unwrap();
    within("the connection to the late router", dealer.writable())
        .await
        .unwrap();
    dealer.try_send(&[part("first")]).unwrap();
    let (_, body) = within("the first message", router.recv())
        .await
        .unwrap()
        .split_peer()
        .unwrap();
    // The refused "early" message was never queued.
    assert_eq!(strs(&body), ["first"]);
}

/// spec: #transport-send-failures — ROUTER_MANDATORY turns an unroutable send into an error.
#[tokio::test]
async fn router_send_to_unknown_peer_is_host_unreachable() {
    let ctx = Context::new();
    let (mut router, _dealer, peer) = tcp_pair(&ctx).await;
    let nobody = PeerId::new(&b"nobody"[..]);
    assert!(matches!(
        router.try_send_to(&nobody, &[part("x")]),
        Err(SendError::HostUnreachable)
    ));
    let err = within("send_to", router.send_to(&nobody, &[part("x")]))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::HostUnreachable));
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::HostUnreachable
    );
    // The socket is still fine for known peers.
    router.try_send_to(&peer, &[part("x")]).unwrap();
}

/// spec: #transport-send-failures — a full queue is EAGAIN, never a silent drop.
#[tokio::test]
async fn full_queue_gives_would_block_and_send_waits_for_room() {
    let ctx = Context::new();
    let (mut router, mut dealer, peer) = pair(
        &ctx,
        "tcp://127.0.0.1:*",
        RouterOptions {
            sndhwm: 1,
            ..RouterOptions::default()
        },
        DealerOptions {
            rcvhwm: 1,
            max_msg_size: None,
            ..DealerOptions::default()
        },
    )
    .await;

    // Large messages fill the kernel's loopback buffers quickly; the dealer
    // reads nothing.
    let big = [Bytes::from(vec![7u8; 256 * 1024])];
    let mut queued = 0usize;
    let mut would_block = 0usize;
    loop {
        match router.try_send_to(&peer, &big) {
            Ok(()) => queued += 1,
            Err(SendError::WouldBlock) => {
                would_block += 1;
                // libzmq's I/O thread may still be moving earlier messages
                // into the kernel, which makes room again; the queue is
                // really full once a waiting send() gets none for a while.
                match timeout(Duration::from_millis(300), router.send_to(&peer, &big)).await {
                    Ok(sent) => {
                        sent.unwrap();
                        queued += 1;
                    }
                    Err(_) => break,
                }
            }
            Err(e) => panic!("unexpected send error: {e}"),
        }
        assert!(queued < 10_000, "the high-water mark never applied");
    }
    assert!(queued > 0 && would_block > 0);
    assert!(matches!(
        router.try_send_to(&peer, &big),
        Err(SendError::WouldBlock)
    ));

    // Reading on the dealer makes room; the pending send must then complete.
    let drain = async {
        let mut got = 0usize;
        loop {
            let m = dealer.recv().await.unwrap();
            if &m[0][..] == b"last" {
                return got;
            }
            assert_eq!(m[0].len(), big[0].len());
            got += 1;
        }
    };
    let last = [part("last")];
    let (sent, got) = within("send to complete once the peer reads", async {
        tokio::join!(router.send_to(&peer, &last), drain)
    })
    .await;
    sent.unwrap();
    assert_eq!(got, queued);
}

/// Waits for `event` on a monitor socket (blocking; run it off the runtime).
fn wait_monitor_event(mon: &zmq::Socket, event: zmq::SocketEvent) -> bool {
    mon.set_rcvtimeo(DEADLINE.as_millis() as i32).unwrap();
    loop {
        let Ok(frames) = mon.recv_multipart(0) else {
            return false;
        };
        let id = u16::from_le_bytes([frames[0][0], frames[0][1]]);
        if id == event.to_raw() {
            return true;
        }
    }
}

/// spec: #transport-options, #security-dos — ZMQ_MAXMSGSIZE bounds what a peer can make the router buffer.
#[tokio::test]
async fn oversized_message_drops_the_connection_and_nothing_else() {
    let ctx = Context::new();
    let mut router = Socket::router(
        &ctx,
        &RouterOptions {
            max_msg_size: Some(1024),
            ..RouterOptions::default()
        },
    )
    .unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:*").unwrap();

    // A plain libzmq dealer, so that the test can watch its connection.
    let raw_ctx = zmq::Context::new();
    let raw = raw_ctx.socket(zmq::DEALER).unwrap();
    raw.set_linger(0).unwrap();
    raw.set_reconnect_ivl(-1).unwrap();
    raw.monitor(
        "inproc://oversized-monitor",
        zmq::SocketEvent::DISCONNECTED.to_raw() as i32,
    )
    .unwrap();
    let mon = raw_ctx.socket(zmq::PAIR).unwrap();
    mon.connect("inproc://oversized-monitor").unwrap();
    raw.connect(&endpoint).unwrap();
    raw.send(vec![1u8; 2048], 0).unwrap();

    let disconnected = within(
        "the router to drop the connection",
        tokio::task::spawn_blocking(move || {
            let seen = wait_monitor_event(&mon, zmq::SocketEvent::DISCONNECTED);
            drop(mon);
            drop(raw);
            seen
        }),
    )
    .await
    .unwrap();
    assert!(disconnected, "no DISCONNECTED event on the sender");
    assert!(router.try_recv().unwrap().is_none());

    // The router itself is unharmed: a well-behaved peer gets through, and
    // its message is the first and only one the router has.
    let mut dealer = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
    dealer.connect(&endpoint).unwrap();
    within("connection", dealer.writable()).await.unwrap();
    dealer.try_send(&[part("small")]).unwrap();
    let (_, body) = within("small", router.recv())
        .await
        .unwrap()
        .split_peer()
        .unwrap();
    assert_eq!(strs(&body), ["small"]);
    assert!(router.try_recv().unwrap().is_none());
}

struct NotifyWaker(Notify);

impl Wake for NotifyWaker {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }
}

#[tokio::test]
async fn dropping_a_woken_recv_future_loses_no_message() {
    let ctx = Context::new();
    let (mut router, mut dealer, _peer) = tcp_pair(&ctx).await;
    let signal = Arc::new(NotifyWaker(Notify::new()));
    let waker = Waker::from(signal.clone());

    for i in 0..50u32 {
        {
            let mut fut = pin!(router.recv());
            let mut cx = TaskContext::from_waker(&waker);
            assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Pending));
            dealer.try_send(&[i.to_be_bytes()]).unwrap();
            // The reactor wakes the waiting future because the message
            // arrived; it is dropped without ever being polled again.
            within("the recv future's wakeup", signal.0.notified()).await;
        }
        let m = within("the message", router.recv()).await.unwrap();
        assert_eq!(&m[1][..], &i.to_be_bytes());
    }
}

#[tokio::test]
async fn recv_in_select_loses_no_message() {
    const N: u32 = 2000;
    let ctx = Context::new();
    let (mut router, mut dealer, _peer) = tcp_pair(&ctx).await;
    let mut next = 0u32;
    let mut sent = 0u32;
    let mut cancelled = 0u32;
    within("all messages through a cancelling select", async {
        while next < N {
            if sent < N {
                dealer.try_send(&[sent.to_be_bytes()]).unwrap();
                sent += 1;
            }
            // yield_now() is ready on its second poll, so recv loses the race
            // whenever nothing is queued yet, in whatever state it was.
            tokio::select! {
                m = router.recv() => {
                    let m = m.unwrap();
                    assert_eq!(&m[1][..], &next.to_be_bytes());
                    next += 1;
                }
                () = tokio::task::yield_now() => cancelled += 1,
            }
        }
    })
    .await;
    assert!(cancelled > 0, "the select never cancelled recv");
}

fn payload(seq: u32) -> Vec<Bytes> {
    let len = if seq % 1000 == 999 {
        20_000
    } else {
        (seq % 200) as usize
    };
    vec![
        Bytes::copy_from_slice(&seq.to_be_bytes()),
        Bytes::from(vec![seq as u8; len]),
    ]
}

fn check(m: &[Bytes], seq: u32) {
    assert_eq!(m.len(), 2, "message {seq}: wrong part count");
    assert_eq!(&m[0][..], &seq.to_be_bytes(), "message out of order");
    assert_eq!(m[1], payload(seq)[1], "message {seq}: wrong body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_each_way_arrive_complete_and_in_order() {
    const N: u32 = 10_000;
    let ctx = Context::new();
    let (mut router, mut dealer, peer) = tcp_pair(&ctx).await;

    // The dealer streams its N messages without waiting for answers, taking
    // whatever has come back in between.
    let dealer_task = tokio::spawn(async move {
        let mut received = 0u32;
        for seq in 0..N {
            dealer.send(&payload(seq)).await.unwrap();
            while let Some(m) = dealer.try_recv().unwrap() {
                check(&m, received);
                received += 1;
            }
        }
        while received < N {
            let m = dealer.recv().await.unwrap();
            check(&m, received);
            received += 1;
        }
        received
    });
    // The router sends its own stream, one message per message received. It
    // hands its socket back rather than dropping it: with the router's
    // default linger of 0, closing would discard replies still queued.
    let router_task = tokio::spawn(async move {
        for seq in 0..N {
            let m = router.recv().await.unwrap();
            let (from, body) = m.split_peer().unwrap();
            assert_eq!(from, peer);
            check(&body, seq);
            router.send_to(&peer, &payload(seq)).await.unwrap();
        }
        router
    });
    let (d, r) = within("both streams", async {
        tokio::join!(dealer_task, router_task)
    })
    .await;
    assert_eq!(d.unwrap(), N);
    drop(r.unwrap());
}

#[tokio::test]
async fn closing_with_queued_messages_is_bounded_by_linger() {
    let ctx = Context::new();
    let (mut router, mut dealer, peer) = tcp_pair(&ctx).await;
    for _ in 0..100 {
        router.try_send_to(&peer, &[part("unread")]).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    // A dealer whose router never comes has nothing queued (IMMEDIATE) and
    // must not hold up the context either.
    let orphan = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
    orphan
        .connect(&format!("ipc://{}", dir.path().join("none").display()))
        .unwrap();
    dealer.try_send(&[part("unanswered")]).unwrap();
    dealer.set_linger(Duration::from_millis(50)).unwrap();
    router.close();
    dealer.close();
    orphan.close();
    // Terminating the context waits for lingering sockets: it must return.
    within(
        "context termination",
        tokio::task::spawn_blocking(move || drop(ctx)),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn bad_endpoints_are_errors_not_panics() {
    let ctx = Context::new();
    let router = Socket::router(&ctx, &RouterOptions::default()).unwrap();
    let bound = router.bind("tcp://127.0.0.1:*").unwrap();
    assert!(bound.starts_with("tcp://127.0.0.1:"));
    let again = Socket::router(&ctx, &RouterOptions::default()).unwrap();
    assert_eq!(
        again.bind(&bound).unwrap_err().kind(),
        std::io::ErrorKind::AddrInUse
    );
    assert_eq!(
        again.bind("tcp://127.0.0.1:\0").unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    assert!(again.connect("nonsense").is_err());
    let mut dealer = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
    let empty: [Bytes; 0] = [];
    assert!(matches!(dealer.try_send(&empty), Err(SendError::Io(_))));
    let mut router = again;
    assert!(matches!(
        router.try_send_to(&PeerId::new(&b"x"[..]), &empty),
        Err(SendError::Io(_))
    ));
    assert_eq!(
        Context::with_io_threads(2).unwrap().io_threads().unwrap(),
        2
    );
    assert!(Context::with_io_threads(0).is_err());
}
