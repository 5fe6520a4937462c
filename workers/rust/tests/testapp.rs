//! The conformance test app (spec Appendix A, `examples/testapp`) route by
//! route, through the worker library and a test router.

#[path = "../examples/testapp/app.rs"]
mod app;

use std::sync::Arc;
use std::time::Duration;

use http::Request;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use zroute_proto::{Event, RstCode};
use zroute_test_support::fake_router::{PeerSession, TestResponse, TestRouter, TestStream};
use zroute_test_support::fields::routed_request as request;
use zroute_test_support::wait::{init_tracing, within};
use zroute_worker::{Body, Error, Worker, service_fn};

struct App {
    router: TestRouter,
    session: PeerSession,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), Error>>,
}

impl App {
    async fn start() -> Self {
        init_tracing();
        let mut router = TestRouter::bind("tcp://127.0.0.1:*").await;
        let id: Arc<str> = "app-1".into();
        let service = service_fn(move |req: Request<Body>| app::handle(id.clone(), req));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            Worker::builder("app-1")
                .feature("trailers")
                .connect(router.endpoint())
                .serve_with_shutdown(service, async move {
                    let _ = stopped.await;
                }),
        );
        let session = router.next_session().await;
        Self {
            router,
            session,
            stop,
            task,
        }
    }

    async fn get(&self, path: &str) -> TestResponse {
        self.open("GET", path, &[], true)
            .await
            .response()
            .await
            .expect("response")
    }

    async fn open(
        &self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        fin: bool,
    ) -> TestStream {
        self.session.open(request(method, path, extra), fin).await
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        within("serve to return", self.task).await.unwrap().unwrap();
        drop(self.router);
    }
}

/// spec: #test-app-general — the feature `trailers`, no route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announces_trailers_and_no_route() {
    let app = App::start().await;
    assert_eq!(
        app.session.attribute("feature").as_deref(),
        Some("trailers")
    );
    assert_eq!(app.session.attribute("route"), None);
    app.stop().await;
}

/// spec: #test-app-hello #test-app-not-found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_and_not_found() {
    let app = App::start().await;
    let res = app.get("/hello").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(res.text(), "Hello from app-1");

    for (method, path) in [
        ("GET", "/nope"),
        ("POST", "/hello"),
        ("GET", "/echo"),
        ("GET", "/hello/"),
    ] {
        let res = app
            .open(method, path, &[], true)
            .await
            .response()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{method} {path}");
        assert_eq!(res.header("content-type").as_deref(), Some("text/plain"));
        assert_eq!(res.text(), "not found");
    }
    app.stop().await;
}

/// spec: #test-app-echo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_streams_under_both_windows() {
    let app = App::start().await;
    // Larger than both initial windows together (A.3).
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let mut stream = app
        .open(
            "POST",
            "/echo",
            &[("content-type", "application/x-test")],
            false,
        )
        .await;
    let upload = {
        let sender = stream.sender();
        let body = body.clone();
        tokio::spawn(async move { sender.send(body, true).await })
    };
    let res = stream.response().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.header("content-type").as_deref(),
        Some("application/x-test")
    );
    assert!(res.body == body);
    within("the upload", upload).await.unwrap();

    // The head goes out before the request ends.
    let mut stream = app.open("POST", "/echo", &[], false).await;
    match stream.next_event().await {
        Event::Response { headers, fin, .. } => {
            assert!(!fin);
            assert_eq!(
                headers.get("content-type").unwrap(),
                "application/octet-stream"
            );
        }
        other => panic!("{other:?}"),
    }
    stream.send(&b"abc"[..], false).await;
    match stream.next_event().await {
        Event::Data { data, .. } => assert_eq!(&data[..], b"abc"),
        other => panic!("{other:?}"),
    }
    stream.send(&b""[..], true).await;
    match stream.next_event().await {
        Event::Data { data, fin, .. } => assert!(fin && data.is_empty()),
        other => panic!("{other:?}"),
    }

    // An empty body: the whole answer in the SYN_REPLY or one empty DATA.
    let res = app
        .open("POST", "/echo", &[], true)
        .await
        .response()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.body.is_empty());
    app.stop().await;
}

/// spec: #test-app-headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_as_json() {
    let app = App::start().await;
    let mut stream = app
        .open(
            "GET",
            "/headers?x=1",
            &[("accept", "*/*"), ("x-multi", "a\0b"), ("x-empty", "")],
            true,
        )
        .await;
    let res = stream.response().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.header("content-type").as_deref(),
        Some("application/json")
    );
    let json: Value = serde_json::from_slice(&res.body).expect("JSON");
    assert_eq!(json["method"], "GET");
    assert_eq!(json["path"], "/headers?x=1");
    assert_eq!(json["version"], "HTTP/1.1");
    assert_eq!(json["host"], "example.com");
    assert_eq!(json["scheme"], "http");
    let headers = json["headers"].as_object().unwrap();
    assert_eq!(headers["accept"], serde_json::json!(["*/*"]));
    assert_eq!(headers["x-multi"], serde_json::json!(["a", "b"]));
    assert_eq!(headers["x-empty"], serde_json::json!([""]));
    assert_eq!(
        headers["x-request-id"],
        serde_json::json!(["0af7651916cd43dd8448eb211c80319c"])
    );
    assert!(!headers.contains_key("host"), "host is :host, not a header");
    assert!(headers.keys().all(|k| !k.starts_with(':')));

    let res = app
        .open("POST", "/headers", &[], true)
        .await
        .response()
        .await
        .unwrap();
    let json: Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(json["method"], "POST");
    app.stop().await;
}

/// spec: #test-app-status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes() {
    let app = App::start().await;
    for (path, status, head_fin) in [
        ("/status/204", 204, true),
        ("/status/304", 304, true),
        ("/status/418", 418, true),
        ("/status/200", 200, true),
        ("/status/599", 599, true),
        ("/status/600", 400, true),
        ("/status/199", 400, true),
        ("/status/20", 400, true),
        ("/status/abc", 400, true),
        ("/status/", 400, true),
        ("/status/x/204", 400, true),
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), status, "{path}");
        assert!(res.body.is_empty(), "{path}");
        assert_eq!(res.head_fin, head_fin, "{path}");
    }
    app.stop().await;
}

/// spec: #test-app-stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_sends_whole_frames() {
    let app = App::start().await;
    // Three 40,000-byte frames do not fit one 65,536-byte window: the app
    // waits for credit instead of splitting a frame (A.6).
    let res = app.get("/stream?n=3&size=40000").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    let frames: Vec<usize> = res.frames.iter().copied().filter(|n| *n > 0).collect();
    assert_eq!(frames, [40_000, 40_000, 40_000]);
    for (k, chunk) in res.body.chunks(40_000).enumerate() {
        assert!(chunk.iter().all(|b| *b == b'a' + k as u8), "frame {k}");
    }

    let res = app.get("/stream").await;
    assert_eq!(res.frames.iter().filter(|n| **n > 0).count(), 10);
    assert_eq!(res.body.len(), 10 * 1024);
    assert_eq!(res.body[2 * 1024], b'c');

    let res = app.get("/stream?n=0").await;
    assert_eq!(res.status(), 200);
    assert!(res.body.is_empty());

    for bad in [
        "/stream?size=0",
        "/stream?size=65537",
        "/stream?n=x",
        "/stream?n=",
        "/stream?n=-1",
    ] {
        let res = app.get(bad).await;
        assert_eq!((res.status(), res.body.len()), (400, 0), "{bad}");
    }
    app.stop().await;
}

/// spec: #test-app-slow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_waits_and_can_be_cancelled() {
    let app = App::start().await;
    let res = app.get("/slow?ms=30").await;
    assert_eq!((res.status(), res.text().as_str()), (200, "slow"));
    assert_eq!(app.get("/slow").await.status(), 400);
    assert_eq!(app.get("/slow?ms=1x").await.status(), 400);

    let mut stream = app.open("GET", "/slow?ms=60000", &[], true).await;
    stream.reset(RstCode::CANCEL);
    // Nothing more on the stream, and the session goes on.
    assert!(
        stream
            .event_within(Duration::from_millis(100))
            .await
            .is_none()
    );
    assert_eq!(app.get("/hello").await.status(), 200);
    app.stop().await;
}

/// spec: #test-app-large.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_has_exact_length() {
    let app = App::start().await;
    let res = app.get("/large?bytes=200000").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("content-length").as_deref(), Some("200000"));
    assert_eq!(res.body.len(), 200_000);
    assert!(res.body.iter().enumerate().all(|(i, b)| *b == i as u8));

    let res = app.get("/large").await;
    assert_eq!(res.body.len(), 1_048_576);
    let res = app.get("/large?bytes=0").await;
    assert_eq!((res.status(), res.body.len()), (200, 0));
    assert_eq!(res.header("content-length").as_deref(), Some("0"));
    assert_eq!(app.get("/large?bytes=big").await.status(), 400);
    app.stop().await;
}

/// spec: #test-app-trailers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailers_follow_the_body() {
    let app = App::start().await;
    let res = app.get("/trailers").await;
    assert_eq!(res.status(), 200);
    assert!(!res.head_fin);
    assert_eq!(res.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(res.text(), "ok");
    let trailers = res.trailers.expect("trailers");
    assert_eq!(trailers.len(), 1);
    assert_eq!(trailers.get("x-trailer").unwrap(), "done");
    app.stop().await;
}

/// spec: #test-app-drain-body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_body_counts_and_answers_after_fin() {
    let app = App::start().await;
    let mut stream = app.open("POST", "/drain-body", &[], false).await;
    stream.send(vec![9u8; 300_000], false).await;
    // A.10: SYN_REPLY only after the request's FIN.
    assert!(
        stream
            .event_within(Duration::from_millis(100))
            .await
            .is_none()
    );
    stream.send(vec![9u8; 1], true).await;
    let res = stream.response().await.unwrap();
    assert_eq!((res.status(), res.text().as_str()), (200, "300001"));
    assert_eq!(res.header("content-type").as_deref(), Some("text/plain"));

    let res = app
        .open("POST", "/drain-body", &[], true)
        .await
        .response()
        .await
        .unwrap();
    assert_eq!(res.text(), "0");
    app.stop().await;
}

/// spec: #test-app-general #stream-response — unread bodies are discarded and still credited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_other_routes_are_read_and_discarded() {
    let app = App::start().await;
    // More than the worker's window: it only completes if the app keeps
    // crediting what it throws away (A.1), with request trailers at the end.
    let mut stream = app.open("GET", "/hello", &[], false).await;
    let sender = stream.sender();
    let upload = tokio::spawn(async move {
        sender.send(vec![1u8; 300_000], false).await;
        sender.trailers(zroute_proto::HeaderBlock::from_pairs([("x-done", "1")]).unwrap());
    });
    let res = stream.response().await.unwrap();
    assert_eq!(res.text(), "Hello from app-1");
    within("the upload", upload).await.unwrap();
    app.stop().await;
}
