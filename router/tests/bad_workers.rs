//! Misbehaving workers: a worker written here with `zroute-transport` and
//! `zroute-proto` registers for `/bad` and answers each request wrongly,
//! next to a good `hello` worker serving the default pool. Each time the
//! client of `/bad` gets a 502 (or, once a head went out, an aborted body,
//! never a clean truncated success), the router logs the problem, and the
//! good worker keeps answering.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use zroute_proto::frame::{Data, Frame, Ping, RstStream, SynReply};
use zroute_proto::{GoAwayStatus, HeaderBlock, RstCode, StreamId};
use zroute_test_support::bad_worker::{BadWorker, WAIT, hello, ok_head};
use zroute_test_support::http::{client, get, h2_client, request};
use zroute_test_support::process::{Proc, worker};
use zroute_test_support::router_process::{Router, metric};
use zroute_test_support::wait::wait_until;

const STARTUP: Duration = Duration::from_secs(20);

/// A router, a good `hello` worker on the default pool, and a bad worker on `/bad`.
async fn setup(extra: &[&str]) -> (Router, Proc, BadWorker) {
    let router = Router::start("tcp://127.0.0.1:*", extra);
    let good = worker("hello", "good", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    let bad = BadWorker::register(&router.endpoint, "bad", &["/bad"], 8).await;
    router.wait_workers(2, WAIT).await;
    (router, good, bad)
}

/// The good worker answers `/`.
async fn good_serves(router: &Router) {
    assert_eq!(
        get(&router.url("/")).await.expect("GET /"),
        (200, Bytes::from_static(b"Hello from good")),
        "the good worker keeps serving"
    );
}

/// A request to the bad route, in the background.
fn client_of_bad(
    router: &Router,
    method: &'static str,
) -> tokio::task::JoinHandle<Result<(u16, Bytes), String>> {
    let url = router.url("/bad");
    tokio::spawn(async move {
        let body = if method == "POST" {
            Bytes::from_static(b"payload")
        } else {
            Bytes::new()
        };
        tokio::time::timeout(WAIT, request(&client(), method, &url, body))
            .await
            .unwrap_or_else(|_| Err("the client of /bad hung".to_owned()))
    })
}

/// A part whose length field says 4 while it carries 5 payload bytes.
fn malformed() -> Bytes {
    let mut part = BytesMut::from(&Frame::from(Ping::new(2)).to_bytes()[..]);
    part.put_u8(0);
    part.freeze()
}

/// (a) A malformed frame is a session error: GOAWAY(PROTOCOL_ERROR), the
/// session is forgotten (what follows from that peer, even in the same
/// message, is from an unknown peer: GOAWAY(UNKNOWN_SESSION)), and the
/// request it held fails with 502 (a POST: not retried).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frame_ends_the_session() {
    let (router, _good, mut bad) = setup(&[]).await;
    let pending = client_of_bad(&router, "POST");
    bad.expect_syn().await;
    good_serves(&router).await;

    bad.send(&[malformed(), Frame::from(Ping::new(4)).to_bytes()]);
    assert_eq!(bad.expect_goaway().await, GoAwayStatus::PROTOCOL_ERROR);
    assert_eq!(
        bad.expect_goaway().await,
        GoAwayStatus::UNKNOWN_SESSION,
        "after the session error, the next frame is from an unknown peer"
    );
    assert_eq!(pending.await.unwrap().expect("an answer").0, 502);
    router
        .proc
        .logs
        .wait_for(&["WARN", "length-mismatch"], WAIT);
    router.wait_workers(1, WAIT).await;
    good_serves(&router).await;
}

/// (a') A malformed frame followed in the same message by a new HELLO: the
/// old session's streams still fail at once (not at the first-byte timeout),
/// its GOAWAY still goes out, and the HELLO starts a fresh session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frame_then_hello_in_one_message() {
    let (router, _good, mut bad) = setup(&[]).await;
    let pending = client_of_bad(&router, "POST");
    bad.expect_syn().await;
    let began = Instant::now();
    bad.send(&[malformed(), hello("bad", &["/bad"], 8)]);
    assert_eq!(bad.expect_goaway().await, GoAwayStatus::PROTOCOL_ERROR);
    bad.expect("WELCOME", |f| matches!(f, Frame::Welcome(_)))
        .await;
    assert_eq!(pending.await.unwrap().expect("an answer").0, 502);
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "the stream failed with its session"
    );
    // The new session serves: its stream ids start again at 1.
    let pending = client_of_bad(&router, "GET");
    let syn = bad.expect_syn().await;
    assert_eq!(syn.stream_id(), StreamId::new(1));
    bad.answer_ok(syn.stream_id(), b"again");
    assert_eq!(
        pending.await.unwrap().unwrap(),
        (200, Bytes::from_static(b"again"))
    );
    router.wait_workers(2, WAIT).await;
    good_serves(&router).await;
}

/// (b) SYN_REPLY on a stream the router never opened: RST_STREAM
/// INVALID_STREAM, and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syn_reply_for_an_unknown_stream() {
    let (router, _good, mut bad) = setup(&[]).await;
    let pending = client_of_bad(&router, "GET");
    let id = bad.expect_syn().await.stream_id();
    let unknown = StreamId::new(id.get() + 100);
    bad.send_frames([SynReply::new(unknown, ok_head()).into()]);
    bad.expect_rst(unknown, RstCode::INVALID_STREAM).await;
    router.proc.logs.wait_for(&["WARN", "INVALID_STREAM"], WAIT);
    good_serves(&router).await;
    // The real stream is still open; the worker gives it up.
    bad.send_frames([RstStream::new(id, RstCode::INTERNAL_ERROR).into()]);
    assert_eq!(pending.await.unwrap().expect("an answer").0, 502);
    // A stream error leaves the session up.
    let pending = client_of_bad(&router, "GET");
    let id = bad.expect_syn().await.stream_id();
    bad.answer_ok(id, b"fine");
    assert_eq!(
        pending.await.unwrap().unwrap(),
        (200, Bytes::from_static(b"fine"))
    );
    good_serves(&router).await;
}

/// (c) SYN_REPLY without `:status`: RST_STREAM PROTOCOL_ERROR and 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syn_reply_without_status() {
    let (router, _good, mut bad) = setup(&[]).await;
    let pending = client_of_bad(&router, "GET");
    let id = bad.expect_syn().await.stream_id();
    good_serves(&router).await;
    let head = HeaderBlock::from_pairs([(":version", "HTTP/1.1"), ("content-type", "text/plain")])
        .unwrap();
    bad.send_frames([SynReply::new(id, head).into()]);
    bad.expect_rst(id, RstCode::PROTOCOL_ERROR).await;
    assert_eq!(pending.await.unwrap().expect("an answer").0, 502);
    router
        .proc
        .logs
        .wait_for(&["WARN", "PROTOCOL_ERROR", "SYN_REPLY"], WAIT);
    router.wait_workers(2, WAIT).await;
    good_serves(&router).await;
}

/// (d) DATA beyond the stream window the router announced: RST_STREAM
/// FLOW_CONTROL_ERROR; the client sees 502 or a broken body, never a whole one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_beyond_the_window() {
    let (router, _good, mut bad) = setup(&["--stream-window", "1024"]).await;
    let pending = client_of_bad(&router, "GET");
    let id = bad.expect_syn().await.stream_id();
    good_serves(&router).await;
    bad.send_frames([
        SynReply::new(id, ok_head()).into(),
        Data::new(id, Bytes::from(vec![b'o'; 2000])).into(),
    ]);
    bad.expect_rst(id, RstCode::FLOW_CONTROL_ERROR).await;
    match pending.await.unwrap() {
        Ok((502, _)) | Err(_) => {}
        Ok(other) => panic!("the client got {other:?}"),
    }
    router
        .proc
        .logs
        .wait_for(&["WARN", "FLOW_CONTROL_ERROR"], WAIT);
    router.wait_workers(2, WAIT).await;
    good_serves(&router).await;
}

/// (e) REFUSED_STREAM: the request goes to another worker of the same route
/// and succeeds, one at a time and under concurrent load (where the refusing
/// worker, always idle, is the least-loaded choice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_stream_is_retried_elsewhere() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let _good = worker("hello", "good", &router.endpoint, &[]);
    let _other = worker("hello", "good-bad", &router.endpoint, &["--route", "/bad"]);
    router.wait_workers(2, STARTUP).await;
    let mut refusers = Vec::new();
    let refused = Arc::new(AtomicUsize::new(0));
    for n in 0..2 {
        let mut bad =
            BadWorker::register(&router.endpoint, &format!("bad-{n}"), &["/bad"], 64).await;
        let refused = refused.clone();
        refusers.push(tokio::spawn(async move {
            while let Some(frame) = bad.frames.recv().await {
                if let Frame::SynStream(syn) = frame {
                    refused.fetch_add(1, Ordering::Relaxed);
                    bad.send_frames([
                        RstStream::new(syn.stream_id(), RstCode::REFUSED_STREAM).into()
                    ]);
                }
            }
        }));
    }
    router.wait_workers(4, WAIT).await;

    let expected = (200, Bytes::from_static(b"Hello from good-bad"));
    let mut sent = 0;
    while refused.load(Ordering::Relaxed) < 3 {
        assert!(sent < 30, "the refusing workers got no request");
        assert_eq!(get(&router.url("/bad")).await.unwrap(), expected);
        sent += 1;
    }
    router
        .proc
        .logs
        .wait_for(&["stream refused by the worker: trying another"], WAIT);

    // Concurrent clients: every request still ends on the good worker.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = router.url("/bad");
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut out = Vec::new();
            for _ in 0..10 {
                out.push(request(&c, "GET", &url, Bytes::new()).await);
            }
            out
        }));
    }
    for task in tasks {
        for result in task.await.unwrap() {
            assert_eq!(result.unwrap(), expected);
        }
    }
    good_serves(&router).await;
    for task in refusers {
        task.abort();
    }
}

/// (f) Part of a response, then RST_STREAM INTERNAL_ERROR: the client's body
/// breaks off (HTTP/1.1 and HTTP/2); it never looks complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_response_then_reset_is_an_aborted_body() {
    let (router, _good, mut bad) = setup(&[]).await;
    for h2 in [false, true] {
        let url = router.url("/bad");
        let pending = tokio::spawn(async move {
            let c = if h2 { h2_client() } else { client() };
            tokio::time::timeout(WAIT, request(&c, "GET", &url, Bytes::new()))
                .await
                .unwrap_or_else(|_| Err("hung".to_owned()))
        });
        let id = bad.expect_syn().await.stream_id();
        bad.send_frames([
            SynReply::new(id, ok_head()).into(),
            Data::new(id, Bytes::from_static(b"partial")).into(),
        ]);
        good_serves(&router).await;
        bad.send_frames([RstStream::new(id, RstCode::INTERNAL_ERROR).into()]);
        match pending.await.unwrap() {
            Err(e) => eprintln!("h2={h2}: aborted as it should be: {e}"),
            Ok(r) => panic!("h2={h2}: a reset response looked complete: {r:?}"),
        }
    }
    router
        .proc
        .logs
        .wait_for(&["WARN", "worker reset the stream", "INTERNAL_ERROR"], WAIT);
    router.wait_workers(2, WAIT).await;
    good_serves(&router).await;
}

/// (g) Garbage and malformed HELLOs from a peer without a session: answered
/// GOAWAY(UNKNOWN_SESSION), at most about once per heartbeat interval (200
/// ms here), no session made; and a HELLO repeated on one session is a
/// session error each time, every answer still going out. The router keeps
/// serving throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_peer_flood_is_answered_sparingly() {
    let (router, _good, _bad) = setup(&[]).await;
    let mut peer = BadWorker::connect(&router.endpoint).await;
    let mut bad_hello = BytesMut::from(&hello("flood", &[], 1)[..]);
    bad_hello.put_u8(0); // the length field no longer fits: not a HELLO at all
    let bad_hello = bad_hello.freeze();
    let garbage = Bytes::from_static(b"\x01\x02\x03 not a frame");

    let began = Instant::now();
    let mut answers = Vec::new();
    let mut sent = 0;
    while began.elapsed() < Duration::from_secs(1) {
        for _ in 0..10 {
            peer.send(std::slice::from_ref(&garbage));
            peer.send(std::slice::from_ref(&bad_hello));
            sent += 2;
        }
        while let Ok(frame) = peer.frames.try_recv() {
            answers.push(frame);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    good_serves(&router).await;
    // Late answers to the last parts.
    while let Some(frame) = peer.next(Duration::from_millis(300)).await {
        answers.push(frame);
    }
    let took = began.elapsed();
    eprintln!(
        "{sent} parts from an unknown peer in {took:?}: {} answers",
        answers.len()
    );
    assert!(!answers.is_empty(), "the unknown peer is told");
    for answer in &answers {
        assert!(
            matches!(answer, Frame::GoAway(g) if g.status() == GoAwayStatus::UNKNOWN_SESSION
                && g.last_good_stream_id() == StreamId::ZERO),
            "{answer:?}"
        );
    }
    // One per 200 ms interval, plus slack for scheduling.
    let bound = (took.as_millis() / 200) as usize + 3;
    assert!(
        answers.len() <= bound,
        "{} answers to {sent} parts in {took:?}",
        answers.len()
    );
    assert_eq!(
        router.workers().await.as_array().unwrap().len(),
        2,
        "no session made"
    );

    // HELLO, HELLO, ... in one message: each second HELLO is a session error
    // on the session the first made; each first one a new handshake.
    let mut repeat = BadWorker::connect(&router.endpoint).await;
    let parts: Vec<Bytes> = (0..6).map(|_| hello("repeat", &[], 1)).collect();
    repeat.send(&parts);
    for round in 0..3 {
        repeat
            .expect(&format!("WELCOME {round}"), |f| {
                matches!(f, Frame::Welcome(_))
            })
            .await;
        assert_eq!(
            repeat.expect_goaway().await,
            GoAwayStatus::PROTOCOL_ERROR,
            "round {round}"
        );
    }
    router.wait_workers(2, WAIT).await;
    good_serves(&router).await;
}

/// (i) A message with more frames than --max-frames-per-message: none of it
/// is handled, the session ends with GOAWAY(PROTOCOL_ERROR), the log names
/// the worker and its session, and the good worker keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_frames_in_one_message_ends_the_session() {
    let (router, _good, mut bad) = setup(&["--max-frames-per-message", "64"]).await;
    // At the limit: handled (PING with even ids are the worker's: answered).
    bad.send_frames((0..64).map(|i| Frame::from(Ping::new(2 * i + 2))));
    for _ in 0..64 {
        bad.expect("PING echo", |f| matches!(f, Frame::Ping(_)))
            .await;
    }
    // Above it: refused whole.
    bad.send_frames((0..65).map(|i| Frame::from(Ping::new(2 * i + 200))));
    assert_eq!(bad.expect_goaway().await, GoAwayStatus::PROTOCOL_ERROR);
    let line = router.proc.logs.wait_for(
        &["message with too many frames", "\"worker\":\"bad\""],
        WAIT,
    );
    assert!(line.contains("\"session\":"), "{line}");
    assert!(line.contains("\"parts\":65"), "{line}");
    router.wait_workers(1, WAIT).await;
    good_serves(&router).await;
}

/// (j) A worker that declares a huge capacity gets at most
/// --max-streams-per-worker streams; the next request waits in the queue
/// until one of them ends. The cap is logged with worker and session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_capacity_is_capped() {
    let router = Router::start("tcp://127.0.0.1:*", &["--max-streams-per-worker", "2"]);
    let mut bad = BadWorker::register(&router.endpoint, "bad", &["/bad"], 1_000_000).await;
    router.wait_workers(1, WAIT).await;
    let line = router
        .proc
        .logs
        .wait_for(&["worker capacity capped", "\"worker\":\"bad\""], WAIT);
    assert!(line.contains("\"session\":"), "{line}");
    assert_eq!(router.workers().await[0]["capacity"].as_u64(), Some(2));
    let pending: Vec<_> = (0..3).map(|_| client_of_bad(&router, "GET")).collect();
    let first = bad.expect_syn().await.stream_id();
    bad.expect_syn().await;
    router.wait_metric("zroute_queue_depth", 1.0, WAIT).await;
    bad.answer_ok(first, b"one");
    let third = bad.expect_syn().await.stream_id();
    router.wait_metric("zroute_queue_depth", 0.0, WAIT).await;
    assert_ne!(third, first);
    drop(bad);
    for p in pending {
        // One 200; the others fail when the test drops the worker.
        let _ = p.await;
    }
}

/// (k) --max-workers: a HELLO beyond the cap is answered GOAWAY(REFUSED),
/// logged with the peer's routing id and worker id, and counted; the refused
/// worker backs off (spec #reregistration) and gets in once a slot frees up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_beyond_max_workers_are_refused_until_a_slot_frees() {
    let router = Router::start("tcp://127.0.0.1:*", &["--max-workers", "1"]);
    let a = worker("hello", "a", &router.endpoint, &[]);
    router.wait_workers(1, WAIT).await;
    let b = worker("hello", "b", &router.endpoint, &[]);
    let line = router
        .proc
        .logs
        .wait_for(&["worker registration refused", "\"worker\":\"b\""], WAIT);
    assert!(line.contains("\"reason\":\"max-workers\""), "{line}");
    assert!(line.contains("\"peer\":"), "{line}");
    let refused = metric(
        &router.metrics().await,
        "zroute_worker_registrations_refused_total",
    );
    assert!(refused.is_some_and(|n| n >= 1.0), "{refused:?}");
    b.logs
        .wait_for(&["router refused the registration", "REFUSED"], WAIT);
    assert_eq!(router.workers().await.as_array().map(Vec::len), Some(1));
    assert_eq!(
        get(&router.url("/")).await,
        Ok((200, Bytes::from("Hello from a")))
    );
    drop(a);
    // b's next attempt comes within its backoff (1 s, then 2 s, ... plus jitter).
    wait_until(
        "b to serve in a's place",
        Duration::from_secs(20),
        || async { get(&router.url("/")).await == Ok((200, Bytes::from("Hello from b"))) },
    )
    .await;
}

/// (l) --hello-rate: with a budget of one HELLO per second (and bursts of
/// one), the second of two workers starting together is refused, then
/// admitted on a later attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hellos_beyond_the_rate_are_refused_then_admitted() {
    let router = Router::start("tcp://127.0.0.1:*", &["--hello-rate", "1"]);
    let _a = worker("hello", "a", &router.endpoint, &[]);
    let _b = worker("hello", "b", &router.endpoint, &[]);
    let line = router.proc.logs.wait_for(
        &["worker registration refused", "\"reason\":\"hello-rate\""],
        WAIT,
    );
    assert!(line.contains("\"sessions\":1"), "{line}");
    router.wait_workers(2, Duration::from_secs(20)).await;
}
