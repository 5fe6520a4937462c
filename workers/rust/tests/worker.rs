//! The worker library against a test router over real ZeroMQ sockets.
//!
//! Kept as one file of about 800 lines on purpose: every test binary links
//! tokio, hyper and libzmq again, and these tests share one set of services
//! and the `Running` helper. They run in the order a worker meets things:
//! registration, requests and bodies, limits, re-registration, shutdown.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body::{Body as HttpBody, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use zroute_proto::session::CommandError;
use zroute_proto::{Event, GoAwayStatus, RstCode};
use zroute_test_support::fake_router::{Options, TestRouter};
use zroute_test_support::fields::routed_request as request;
use zroute_test_support::wait::{init_tracing, within};
use zroute_worker::{Body, BoxError, Builder, Error, HttpService, Service, Worker, service_fn};

/// A worker serving in the background until `shutdown`.
struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), Error>>,
}

impl Running {
    fn start<S>(router: &TestRouter, builder: Builder, service: S) -> Self
    where
        S: HttpService,
    {
        init_tracing();
        let (stop, stopped) = oneshot::channel::<()>();
        let signal = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(
            builder
                .connect(router.endpoint())
                .serve_with_shutdown(service, signal),
        );
        Self {
            stop: Some(stop),
            task,
        }
    }

    fn signal(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    async fn shutdown(mut self) {
        self.signal();
        within("serve to return", &mut self.task)
            .await
            .expect("serve task")
            .expect("serve");
    }
}

type Reply = Response<BoxBody<Bytes, BoxError>>;

fn full(status: u16, body: impl Into<Bytes>) -> Reply {
    let mut res = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    *res.status_mut() = StatusCode::from_u16(status).unwrap();
    res
}

fn hello_service() -> impl Service<
    Request<Body>,
    Response = Reply,
    Error = Infallible,
    Future = impl Future<Output = Result<Reply, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    service_fn(|_req: Request<Body>| async {
        let mut res = full(200, "Hello from worker-1");
        res.headers_mut()
            .insert("content-type", "text/plain".parse().unwrap());
        Ok::<_, Infallible>(res)
    })
}

/// Echoes the request body as it reads it: the request `Body` is itself a
/// response body.
fn echo_service() -> impl Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    service_fn(
        |req: Request<Body>| async move { Ok::<_, Infallible>(Response::new(req.into_body())) },
    )
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// spec: #handshake #frame-hello #http-response #http-body — HELLO carries id, capacity, window, features and labels; HEAD gets FIN on SYN_REPLY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_and_answers_hello() {
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let worker = Running::start(
        &router,
        Worker::builder("worker-1")
            .capacity(8)
            .feature("trailers")
            .label("version", "1.2.3"),
        hello_service(),
    );
    let mut session = router.next_session().await;
    assert_eq!(session.attribute("id").as_deref(), Some("worker-1"));
    assert_eq!(session.attribute("feature").as_deref(), Some("trailers"));
    assert_eq!(session.attribute("version").as_deref(), Some("1.2.3"));
    assert_eq!(session.attribute("route"), None);
    assert_eq!(session.hello.max_concurrent_streams(), 8);
    assert_eq!(session.hello.initial_window_size(), 65_536);

    let mut stream = session.open(request("GET", "/hello", &[]), true).await;
    let res = stream.response().await.expect("response");
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(res.header("content-length").as_deref(), Some("19"));
    assert_eq!(res.text(), "Hello from worker-1");

    // HEAD: the same head, no body, FIN on SYN_REPLY.
    let mut stream = session.open(request("HEAD", "/hello", &[]), true).await;
    let res = stream.response().await.expect("response");
    assert_eq!(res.status(), 200);
    assert!(res.head_fin && res.body.is_empty());

    worker.shutdown().await;
    let status = session
        .wait_event(|e| match e {
            Event::GoAway { status, .. } => Some(*status),
            _ => None,
        })
        .await;
    assert_eq!(status, GoAwayStatus::OK);
}

/// spec: #http-request #http-fields #router-headers — the SYN_STREAM block becomes the request hyper would give a server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_head_looks_like_hyper_would_give_it() {
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let service = service_fn(move |req: Request<Body>| {
        let seen_tx = seen_tx.clone();
        async move {
            let scheme = req.extensions().get::<Scheme>().cloned();
            let (parts, _) = req.into_parts();
            let _ = seen_tx.send((
                parts.method,
                parts.uri,
                parts.version,
                parts.headers,
                scheme,
            ));
            Ok::<_, Infallible>(full(204, ""))
        }
    });
    let worker = Running::start(&router, Worker::builder("w"), service);
    let session = router.next_session().await;

    let mut head = request("POST", "/a/b?x=1&y", &[("accept", "a\0b"), ("x-empty", "")]);
    head.insert(":scheme_", "ignored").ok();
    let mut stream = session.open(head, true).await;
    assert_eq!(stream.response().await.expect("response").status(), 204);
    let (method, uri, version, headers, scheme): (Method, Uri, Version, HeaderMap, _) =
        within("the handler", seen.recv()).await.unwrap();
    assert_eq!(method, Method::POST);
    assert_eq!(uri, "/a/b?x=1&y");
    assert!(
        uri.scheme().is_none() && uri.authority().is_none(),
        "origin form"
    );
    assert_eq!(version, Version::HTTP_11);
    assert_eq!(headers["host"], "example.com");
    assert_eq!(headers["x-request-id"], "0af7651916cd43dd8448eb211c80319c");
    let accepts: Vec<_> = headers.get_all("accept").iter().collect();
    assert_eq!(accepts, ["a", "b"]);
    assert_eq!(headers["x-empty"], "");
    assert_eq!(scheme, Some(Scheme::HTTP));

    let mut head = request("GET", "/", &[]);
    head = replace(&head, ":scheme", "https");
    head = replace(&head, ":version", "HTTP/2");
    let mut stream = session.open(head, true).await;
    stream.response().await.expect("response");
    let (_, _, version, _, scheme) = within("the handler", seen.recv()).await.unwrap();
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(scheme, Some(Scheme::HTTPS));
    worker.shutdown().await;
}

fn replace(
    block: &zroute_proto::HeaderBlock,
    name: &str,
    value: &str,
) -> zroute_proto::HeaderBlock {
    let pairs = block.iter().map(|(n, v)| {
        if &n[..] == name.as_bytes() {
            (n.clone(), Bytes::copy_from_slice(value.as_bytes()))
        } else {
            (n.clone(), v.clone())
        }
    });
    zroute_proto::HeaderBlock::from_pairs(pairs).unwrap()
}

/// spec: #flow-control-windows #flow-control-updates #http-trailers — a body larger than both windows streams through; trailers pass both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoes_a_body_larger_than_both_windows() {
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let worker = Running::start(&router, Worker::builder("w"), echo_service());
    let session = router.next_session().await;

    let body = pattern(1 << 20);
    let mut stream = session.open(request("POST", "/echo", &[]), false).await;
    let upload = {
        let sender = stream.sender();
        let body = Bytes::from(body.clone());
        tokio::spawn(async move {
            sender.send(body, false).await;
            let trailers = zroute_proto::HeaderBlock::from_pairs([("x-sum", "42")]).unwrap();
            sender.trailers(trailers);
        })
    };
    let res = stream.response().await.expect("response");
    assert_eq!(res.status(), 200);
    assert_eq!(res.body.len(), body.len());
    assert!(res.body == body, "echoed bytes differ");
    // Request trailers reach the handler's body, which passes them on.
    let trailers = res.trailers.expect("trailers");
    assert_eq!(trailers.get("x-sum").unwrap(), "42");
    within("the upload", upload).await.unwrap();
    worker.shutdown().await;
}

/// spec: #flow-control-sending — the worker never sends beyond the router's stream window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_waits_for_router_credit() {
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let service = service_fn(|_req: Request<Body>| async {
        // One big chunk: the worker has to cut it to the window.
        Ok::<_, Infallible>(Response::new(Body::from(vec![7u8; 300_000])))
    });
    let worker = Running::start(&router, Worker::builder("w"), service);
    let session = router.next_session().await;

    let mut stream = session
        .try_open(request("GET", "/big", &[]), true, false)
        .await
        .unwrap();
    match stream.next_event().await {
        Event::Response { headers, fin, .. } => {
            assert!(!fin);
            assert_eq!(headers.get("content-length").unwrap(), "300000");
        }
        other => panic!("{other:?}"),
    }
    let mut received = 0;
    while received < 65_536 {
        match stream.next_event().await {
            Event::Data { data, fin, .. } => {
                assert!(!fin);
                received += data.len();
            }
            other => panic!("{other:?}"),
        }
    }
    // The router's stream window (65,536) is used up: the worker must wait.
    assert_eq!(received, 65_536);
    assert!(
        stream
            .event_within(Duration::from_millis(300))
            .await
            .is_none(),
        "worker sent beyond the window"
    );
    stream.release(received);
    loop {
        match stream.next_event().await {
            Event::Data { data, fin, .. } => {
                received += data.len();
                stream.release(data.len());
                if fin {
                    break;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(received, 300_000);
    worker.shutdown().await;
}

/// spec: #flow-control-updates — credit goes back only as the handler reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_backpressure_follows_the_handler() {
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let go = Arc::new(Mutex::new(Some(go_rx)));
    let service = service_fn(move |req: Request<Body>| {
        let go = go.lock().unwrap().take();
        async move {
            if let Some(go) = go {
                let _ = go.await;
            }
            let mut body = req.into_body();
            let mut total = 0usize;
            let mut largest = 0usize;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.expect("body").into_data() {
                    total += data.len();
                    largest = largest.max(data.len());
                }
            }
            Ok::<_, Infallible>(full(200, format!("{total} {largest}")))
        }
    });
    let worker = Running::start(&router, Worker::builder("w"), service);
    let session = router.next_session().await;

    let mut stream = session.open(request("POST", "/upload", &[]), false).await;
    let mut sent = stream.sent();
    let upload = {
        let sender = stream.sender();
        tokio::spawn(async move { sender.send(pattern(1 << 20), true).await })
    };
    within("the first window", sent.wait_for(|n| *n >= 65_536))
        .await
        .unwrap();
    // The handler reads nothing yet: no credit comes back, the upload stalls
    // at the worker's stream window.
    let more = tokio::time::timeout(Duration::from_millis(300), sent.wait_for(|n| *n > 65_536))
        .await
        .is_ok();
    assert!(!more, "router could send beyond the worker's window");
    assert_eq!(*sent.borrow(), 65_536);

    go_tx.send(()).unwrap();
    let res = stream.response().await.expect("response");
    let text = res.text();
    let (total, largest) = text.split_once(' ').unwrap();
    assert_eq!(total, "1048576");
    assert!(largest.parse::<usize>().unwrap() <= 65_536);
    within("the upload", upload).await.unwrap();
    worker.shutdown().await;
}

/// Signals when dropped: the handler's task is gone.
struct DropGuard(Option<oneshot::Sender<()>>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// A handler that says it started and then never finishes; its guard says
/// when it is dropped.
#[allow(clippy::type_complexity)]
fn blocking_service() -> (
    impl Service<
        Request<Body>,
        Response = Reply,
        Error = Infallible,
        Future = impl Future<Output = Result<Reply, Infallible>> + Send,
    > + Clone
    + Send
    + 'static,
    mpsc::UnboundedReceiver<(String, oneshot::Receiver<()>)>,
) {
    let (started_tx, started) = mpsc::unbounded_channel();
    let service = service_fn(move |req: Request<Body>| {
        let started_tx = started_tx.clone();
        async move {
            let (dropped_tx, dropped) = oneshot::channel();
            let _guard = DropGuard(Some(dropped_tx));
            let _ = started_tx.send((req.uri().path().to_owned(), dropped));
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(full(200, ""))
        }
    });
    (service, started)
}

/// spec: #stream-reset #rst-codes — RST_STREAM(CANCEL) stops the handler's work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_cancel_drops_the_handler() {
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let (service, mut started) = blocking_service();
    let worker = Running::start(&router, Worker::builder("w"), service);
    let session = router.next_session().await;

    let stream = session.open(request("GET", "/slow", &[]), true).await;
    let (_, dropped) = within("the handler to start", started.recv())
        .await
        .unwrap();
    stream.reset(RstCode::CANCEL);
    within("the handler to be dropped", dropped).await.unwrap();
    worker.shutdown().await;
}

/// spec: #capacity — a stream beyond the declared capacity is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_capacity_are_refused() {
    let options = Options {
        inflate_capacity: 2,
        ..Options::default()
    };
    let mut router = TestRouter::bind_with("tcp://127.0.0.1:*", options).await;
    let (service, mut started) = blocking_service();
    let worker = Running::start(&router, Worker::builder("w").capacity(2), service);
    let session = router.next_session().await;

    let a = session.open(request("GET", "/a", &[]), true).await;
    let b = session.open(request("GET", "/b", &[]), true).await;
    within("handler a", started.recv()).await.unwrap();
    within("handler b", started.recv()).await.unwrap();
    let mut c = session.open(request("GET", "/c", &[]), true).await;
    assert_eq!(c.response().await.unwrap_err(), RstCode::REFUSED_STREAM);
    // Once a stream ends, there is room again.
    a.reset(RstCode::CANCEL);
    let d = session.open(request("GET", "/d", &[]), true).await;
    let (path, _) = within("handler d", started.recv()).await.unwrap();
    assert_eq!(path, "/d");
    b.reset(RstCode::CANCEL);
    d.reset(RstCode::CANCEL);
    worker.shutdown().await;
}

/// A body that yields one chunk and then fails.
struct FailingBody(bool);

impl HttpBody for FailingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(Some(Err("the body broke".into())))
        } else {
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"partial")))))
        }
    }
}

/// spec: #stream-response — a failure before the head is a 500, after it RST_STREAM(INTERNAL_ERROR).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_failures_become_500_or_a_reset() {
    handler_outcomes(Worker::builder("w")).await;
}

/// The same outcomes with each bodiless request's handler polled first on
/// the session thread: answered in that poll, answered later (spawned), and
/// panicking there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_handlers_answer_fail_and_defer_alike() {
    handler_outcomes(Worker::builder("w").inline_handlers(true)).await;
}

/// The same outcomes with every handler run on the session thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_handlers_answer_fail_and_defer_alike() {
    handler_outcomes(Worker::builder("w").local_handlers(true)).await;
}

/// With local handlers, a handler waiting on another thread's answer is
/// resumed on the session thread, with or without a request body, and a
/// reset still drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_handlers_run_on_the_session_thread() {
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let service = service_fn(move |req: Request<Body>| {
        let started_tx = started_tx.clone();
        async move {
            let first = std::thread::current().name().map(str::to_owned);
            if req.uri().path() == "/forever" {
                let (dropped_tx, dropped) = oneshot::channel();
                let _guard = DropGuard(Some(dropped_tx));
                let _ = started_tx.send(dropped);
                std::future::pending::<()>().await;
            }
            let body = req.into_body().collect().await?.to_bytes();
            // Answered by a thread of the service's own, as a binding's are.
            let (tx, rx) = oneshot::channel();
            std::thread::spawn(move || tx.send(body.len()));
            let n = rx.await?;
            let later = std::thread::current().name().map(str::to_owned);
            Ok::<_, BoxError>(full(200, format!("{first:?} {later:?} {n}")))
        }
    });
    let worker = Running::start(&router, Worker::builder("w").local_handlers(true), service);
    let session = router.next_session().await;

    let on_session = r#"Some("zroute-session") Some("zroute-session")"#;
    let mut stream = session.open(request("GET", "/", &[]), true).await;
    assert_eq!(
        stream.response().await.unwrap().text(),
        format!("{on_session} 0")
    );
    let mut stream = session.open(request("POST", "/", &[]), false).await;
    stream.send(vec![7u8; 3000], true).await;
    assert_eq!(
        stream.response().await.unwrap().text(),
        format!("{on_session} 3000")
    );

    let stream = session.open(request("GET", "/forever", &[]), true).await;
    let dropped = within("the handler to start", started.recv())
        .await
        .unwrap();
    stream.reset(RstCode::CANCEL);
    within("the handler to be dropped", dropped).await.unwrap();
    worker.shutdown().await;
}

async fn handler_outcomes(builder: Builder) {
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let service = service_fn(|req: Request<Body>| async move {
        match req.uri().path() {
            "/panic" => panic!("handler panic (expected by the test)"),
            "/error" => Err::<Reply, BoxError>("handler error".into()),
            "/body-error" => Ok(Response::new(FailingBody(false).boxed())),
            "/later" => {
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok(full(200, "later"))
            }
            _ => Ok(full(200, "fine")),
        }
    });
    let worker = Running::start(&router, builder, service);
    let session = router.next_session().await;

    for path in ["/panic", "/error"] {
        let mut stream = session.open(request("GET", path, &[]), true).await;
        let res = stream.response().await.expect("a response");
        assert_eq!(res.status(), 500, "{path}");
        assert!(res.body.is_empty());
    }
    let mut stream = session.open(request("GET", "/body-error", &[]), true).await;
    assert_eq!(
        stream.response().await.unwrap_err(),
        RstCode::INTERNAL_ERROR
    );
    // The session survives all of that.
    for (path, text) in [("/later", "later"), ("/", "fine")] {
        let mut stream = session.open(request("GET", path, &[]), true).await;
        assert_eq!(stream.response().await.unwrap().text(), text, "{path}");
    }
    worker.shutdown().await;
}

/// spec: #stream-response — the worker may end its response early and reset the upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_bodies_get_413() {
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let service = service_fn(|req: Request<Body>| async move {
        let n = req.into_body().collect().await?.to_bytes().len();
        Ok::<_, BoxError>(full(200, n.to_string()))
    });
    let worker = Running::start(
        &router,
        Worker::builder("w").max_request_body(1000),
        service,
    );
    let session = router.next_session().await;

    // Declared too large: answered before the handler runs.
    let mut stream = session
        .open(request("POST", "/", &[("content-length", "5000")]), false)
        .await;
    let res = stream.response().await.expect("response");
    assert_eq!((res.status(), res.head_fin), (413, true));

    // Found too large while streaming, before the handler answered.
    let mut stream = session.open(request("POST", "/", &[]), false).await;
    stream.send(vec![1u8; 5000], false).await;
    let res = stream.response().await.expect("response");
    assert_eq!(res.status(), 413);
    match stream.next_event().await {
        Event::Reset { code, .. } => assert_eq!(code, RstCode::CANCEL),
        other => panic!("{other:?}"),
    }

    let mut stream = session.open(request("POST", "/", &[]), false).await;
    stream.send(vec![1u8; 1000], true).await;
    assert_eq!(stream.response().await.unwrap().text(), "1000");
    worker.shutdown().await;
}

async fn reregisters_after_restart(bind: &str) {
    let mut router = TestRouter::bind(bind).await;
    let endpoint = router.endpoint().to_owned();
    let worker = Running::start(&router, Worker::builder("w"), hello_service());
    let first = router.next_session().await;
    let mut stream = first.open(request("GET", "/", &[]), true).await;
    assert_eq!(stream.response().await.unwrap().status(), 200);

    router.stop().await;
    let mut router = TestRouter::bind(&endpoint).await;
    let second = router.next_session().await;
    assert_ne!(first.peer, second.peer, "a new socket, so a new routing id");
    assert_eq!(second.attribute("id").as_deref(), Some("w"));
    let mut stream = second.open(request("GET", "/", &[]), true).await;
    assert_eq!(
        stream.response().await.unwrap().text(),
        "Hello from worker-1"
    );
    worker.shutdown().await;
}

/// spec: #unknown-peer #reregistration — after a router restart the worker registers again on a new socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reregisters_after_router_restart_tcp() {
    reregisters_after_restart("tcp://127.0.0.1:*").await;
}

/// spec: #unknown-peer #reregistration — the same over ipc.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reregisters_after_router_restart_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("ipc://{}", dir.path().join("router.sock").display());
    reregisters_after_restart(&endpoint).await;
}

/// spec: #reregistration — a failed attempt waits 1 s (plus jitter) before the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_registration_backs_off() {
    let options = Options {
        refuse_hellos: 1,
        ..Options::default()
    };
    let mut router = TestRouter::bind_with("tcp://127.0.0.1:*", options).await;
    let worker = Running::start(&router, Worker::builder("w"), hello_service());
    let (first, accepted) = router.next_hello().await;
    assert!(!accepted);
    let (second, accepted) = router.next_hello().await;
    assert!(accepted);
    let gap = second - first;
    // Spec #reregistration: 1 s after the first failure, plus up to 25% jitter.
    assert!(gap >= Duration::from_millis(1000), "{gap:?}");
    assert!(gap < Duration::from_millis(2500), "{gap:?}");
    router.next_session().await;
    worker.shutdown().await;
}

/// spec: #drain #stream-retry — GOAWAY(last-good, OK), accepted requests finish, later ones are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_requests() {
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let (finish_tx, finish_rx) = oneshot::channel::<()>();
    let finish = Arc::new(Mutex::new(Some(finish_rx)));
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let service = service_fn(move |_req: Request<Body>| {
        let finish = finish.lock().unwrap().take();
        let started_tx = started_tx.clone();
        async move {
            let _ = started_tx.send(());
            if let Some(finish) = finish {
                let _ = finish.await;
            }
            Ok::<_, Infallible>(full(200, "done"))
        }
    });
    let mut worker = Running::start(&router, Worker::builder("w"), service);
    let mut session = router.next_session().await;
    let mut slow = session.open(request("GET", "/slow", &[]), true).await;
    within("the handler", started.recv()).await.unwrap();

    worker.signal();
    // A request racing the GOAWAY is never sent, or refused (the router
    // retries it elsewhere), or it reached the worker first and is served:
    // nothing is lost.
    let late = match session
        .try_open(request("GET", "/late", &[]), true, true)
        .await
    {
        Err(CommandError::Draining) => None,
        Err(other) => panic!("{other:?}"),
        Ok(mut late) => match late.response().await {
            Err(code) => {
                assert_eq!(code, RstCode::REFUSED_STREAM);
                None
            }
            Ok(res) => {
                assert_eq!(res.text(), "done");
                Some(late.id)
            }
        },
    };
    let last_good = session
        .wait_event(|e| match e {
            Event::GoAway { last_good, status } => Some((*last_good, *status)),
            _ => None,
        })
        .await;
    assert_eq!(last_good, (late.unwrap_or(slow.id), GoAwayStatus::OK));
    assert!(!worker.task.is_finished(), "serve waits for the request");

    finish_tx.send(()).unwrap();
    assert_eq!(slow.response().await.unwrap().text(), "done");
    worker.shutdown().await;
}

/// spec: #drain #session-errors — past the graceful timeout the rest is given up with GOAWAY(INTERNAL_ERROR).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_timeout_gives_up_stuck_requests() {
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let (service, mut started) = blocking_service();
    let mut worker = Running::start(
        &router,
        Worker::builder("w").graceful_timeout(Duration::from_millis(200)),
        service,
    );
    let mut session = router.next_session().await;
    let mut stuck = session.open(request("GET", "/stuck", &[]), true).await;
    let (_, dropped) = within("the handler", started.recv()).await.unwrap();
    worker.signal();
    let status = session
        .wait_event(|e| match e {
            Event::GoAway { status, .. } if *status != GoAwayStatus::OK => Some(*status),
            _ => None,
        })
        .await;
    assert_eq!(status, GoAwayStatus::INTERNAL_ERROR);
    within("the handler to be dropped", dropped).await.unwrap();
    assert!(matches!(stuck.next_event().await, Event::Reset { .. }));
    worker.shutdown().await;
}

/// spec: #router-shutdown — GOAWAY(OK) from the router: finish, and register anew meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_drain_starts_a_new_session_while_the_old_one_finishes() {
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let (finish_tx, finish_rx) = oneshot::channel::<()>();
    let finish = Arc::new(Mutex::new(Some(finish_rx)));
    let service = service_fn(move |req: Request<Body>| {
        let finish = if req.uri().path() == "/slow" {
            finish.lock().unwrap().take()
        } else {
            None
        };
        async move {
            if let Some(finish) = finish {
                let _ = finish.await;
            }
            Ok::<_, Infallible>(full(200, "done"))
        }
    });
    let worker = Running::start(&router, Worker::builder("w"), service);
    let first = router.next_session().await;
    let mut slow = first.open(request("GET", "/slow", &[]), true).await;
    first.go_away(GoAwayStatus::OK);

    let second = router.next_session().await;
    let mut quick = second.open(request("GET", "/quick", &[]), true).await;
    assert_eq!(quick.response().await.unwrap().text(), "done");
    finish_tx.send(()).unwrap();
    assert_eq!(slow.response().await.unwrap().text(), "done");
    worker.shutdown().await;
}

/// An axum Router is a tower Service like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_an_axum_router() {
    use axum::extract::Path;
    use axum::routing::{get, post};

    let app = axum::Router::new()
        .route("/hello", get(|| async { "Hello from axum" }))
        .route(
            "/users/{id}",
            get(|Path(id): Path<String>| async move { format!("user {id}") }),
        )
        .route("/echo", post(|body: axum::body::Bytes| async move { body }));
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let worker = Running::start(&router, Worker::builder("axum"), app);
    let session = router.next_session().await;

    let mut stream = session.open(request("GET", "/hello", &[]), true).await;
    let res = stream.response().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text(), "Hello from axum");
    assert!(
        res.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );

    let mut stream = session.open(request("GET", "/users/42", &[]), true).await;
    assert_eq!(stream.response().await.unwrap().text(), "user 42");

    let body = pattern(200_000);
    let mut stream = session.open(request("POST", "/echo", &[]), false).await;
    stream.send(body.clone(), true).await;
    assert!(stream.response().await.unwrap().body == body);

    let mut stream = session.open(request("GET", "/nope", &[]), true).await;
    assert_eq!(stream.response().await.unwrap().status(), 404);
    worker.shutdown().await;
}

/// Bad ids, routes and endpoints are reported by `serve`, not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configuration_fails_at_once() {
    let svc = hello_service();
    let bad_id = Worker::builder("has space")
        .connect("tcp://127.0.0.1:1")
        .serve_with_shutdown(svc.clone(), async {})
        .await;
    assert!(bad_id.is_err());
    let bad_route = Worker::builder("w")
        .route("no route")
        .connect("tcp://127.0.0.1:1")
        .serve_with_shutdown(svc.clone(), async {})
        .await;
    assert!(bad_route.is_err());
    let bad_endpoint = Worker::builder("w")
        .connect("bogus://x")
        .serve_with_shutdown(svc, async {})
        .await;
    assert!(bad_endpoint.is_err());
}

/// spec: #transport-sockets — one socket, and one session, per endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_every_endpoint() {
    let mut tcp = TestRouter::bind("tcp://127.0.0.1:*").await;
    let dir = tempfile::tempdir().unwrap();
    let ipc = format!("ipc://{}", dir.path().join("r.sock").display());
    let mut ipc = TestRouter::bind(&ipc).await;
    let worker = Running::start(
        &tcp,
        Worker::builder("w").connect(ipc.endpoint()),
        hello_service(),
    );
    for router in [&mut tcp, &mut ipc] {
        let session = router.next_session().await;
        let mut stream = session.open(request("GET", "/", &[]), true).await;
        assert_eq!(stream.response().await.unwrap().status(), 200);
    }
    worker.shutdown().await;
}

/// spec: #heartbeat #session-dead — a router that goes silent is declared
/// dead after I × L, and the worker registers again on a new socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_router_is_declared_dead() {
    let mut options = Options::default();
    options.config.heartbeat_interval = Duration::from_millis(100);
    options.config.heartbeat_liveness = 3;
    let mut router = TestRouter::bind_with("tcp://127.0.0.1:*", options).await;
    let worker = Running::start(&router, Worker::builder("w"), hello_service());
    let first = router.next_session().await;
    first.mute();
    let second = router.next_session().await;
    assert_ne!(first.peer, second.peer);
    let mut stream = second.open(request("GET", "/", &[]), true).await;
    assert_eq!(stream.response().await.unwrap().status(), 200);
    worker.shutdown().await;
}

/// A WebSocket split in two: one task receives and echoes, another sends on
/// its own clone of the sender, and the router's close is answered and ends
/// the stream (spec #websocket-records, #websocket-close).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_websocket_sends_from_two_tasks() {
    use zroute_proto::websocket::Record;
    use zroute_worker::websocket::{Message, WebSocketBody, WebSocketUpgrade};
    let service = service_fn(|req: Request<Body>| async move {
        let upgrade = WebSocketUpgrade::from_request(req).expect("a WebSocket stream");
        let (res, ws) = upgrade.accept(None);
        let (sender, mut receiver) = ws.split();
        let other = sender.clone();
        // The other task's message goes first, so that the order is known.
        let (first, first_sent) = oneshot::channel();
        tokio::spawn(async move {
            other
                .send(Message::Text("from another task".into()))
                .await
                .expect("sent");
            let _ = first.send(());
        });
        tokio::spawn(async move {
            let _ = first_sent.await;
            while let Some(Ok(msg)) = receiver.recv().await {
                if matches!(msg, Message::Close(_)) || sender.send(msg).await.is_err() {
                    break;
                }
            }
        });
        Ok::<Response<WebSocketBody>, Infallible>(res)
    });
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let worker = Running::start(&router, Worker::builder("w").feature("websocket"), service);
    let session = router.next_session().await;
    let mut head = request("GET", "/chat", &[]);
    head.insert(":protocol", "websocket").unwrap();
    let mut stream = session.open(head, false).await;
    let mut sent = Record::text("echo me").encode().to_vec();
    sent.extend_from_slice(&Record::close(Some(1000), "done").encode());
    stream.sender().send(sent, true).await;
    let res = stream.response().await.expect("the 101 and its records");
    assert_eq!(res.status(), 101);
    let mut reader = zroute_proto::websocket::RecordReader::new(1 << 20);
    reader.push(&res.body);
    let mut records = Vec::new();
    while let Some(record) = reader.next_record().expect("valid records") {
        records.push(record);
    }
    reader.finish().expect("whole records");
    assert_eq!(
        records,
        [
            Record::text("from another task"),
            Record::text("echo me"),
            Record::close(Some(1000), "done"),
        ]
    );
    worker.shutdown().await;
}

/// A worker that reaches no router says so once it has tried for 5 s, with
/// the endpoint it tries and how to start a router there (a worker waiting
/// silently looks like one that hangs).
#[test]
fn a_worker_that_reaches_no_router_says_where_it_tries() {
    use zroute_test_support::process::{free_tcp_endpoint, worker};
    let endpoint = free_tcp_endpoint();
    let proc = worker("testapp", "lonely", &endpoint, &[]);
    let line = proc
        .logs
        .wait_for(&["no router reached"], Duration::from_secs(20));
    assert!(line.contains(&endpoint), "{line}");
    assert!(
        line.contains(&format!("zroute-router --workers {endpoint}")),
        "{line}"
    );
    assert!(!proc.logs.contains("registered"), "{:?}", proc.logs.lines());
}

/// The flag of `Builder::registered_flag` turns true once a router
/// welcomed the worker, not before (a supervisor waits on it before it
/// stops the worker this one replaces).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registered_flag_turns_true_once_a_router_welcomed_the_worker() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let flag = Arc::new(AtomicBool::new(false));
    let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
    let worker = Running::start(
        &router,
        Worker::builder("flagged").registered_flag(flag.clone()),
        hello_service(),
    );
    let session = router.next_session().await;
    let mut stream = session.open(request("GET", "/hello", &[]), true).await;
    assert_eq!(stream.response().await.expect("response").status(), 200);
    // The worker handles WELCOME before any stream the router opens after it.
    assert!(flag.load(Ordering::Relaxed));
    drop(session);
    worker.shutdown().await;
}
