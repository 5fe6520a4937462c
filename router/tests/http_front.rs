//! The HTTP front end to end: HTTP/2 (cleartext and TLS with ALPN), bodiless
//! responses, `Expect: 100-continue`, the request limits and timeouts, the
//! headers the router adds and removes, queueing, the admin listener, the
//! router's own shutdown, and its settings from a file and the environment.
//!
//! Real processes on loopback: the router binary and the worker examples.
//! Where a client library would hide what is tested (no Host, hop-by-hop
//! fields, the exact bytes of a response) the test speaks HTTP/1 by hand.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Version;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use zroute_test_support::cert::{self_signed, tls_connect};
use zroute_test_support::http::{RawConn, RawResponse, client, get, h2_client, request};
use zroute_test_support::process::{Proc, worker};
use zroute_test_support::router_process::{Router, metric};
use zroute_test_support::wait::wait_until;

const STARTUP: Duration = Duration::from_secs(20);

/// The test app's `/headers` answer.
fn headers_json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("/headers is JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// The single value of header `name` as the worker saw it, if it saw one.
fn seen(json: &serde_json::Value, name: &str) -> Option<String> {
    let values = json["headers"][name].as_array()?;
    assert_eq!(
        values.len(),
        1,
        "{name}: one value expected, got {values:?}"
    );
    values[0].as_str().map(str::to_owned)
}

/// A router with one test app worker (`app`), ready to serve.
async fn router_with_app(extra: &[&str], app_args: &[&str]) -> (Router, Proc) {
    let router = Router::start("tcp://127.0.0.1:*", extra);
    let app = worker("testapp", "app", &router.endpoint, app_args);
    router.wait_workers(1, STARTUP).await;
    (router, app)
}

// ---- HTTP/2 and TLS ----

/// HTTP/2 over cleartext with prior knowledge (h2c): hyper's auto builder
/// takes it on the same port as HTTP/1, and the worker sees `HTTP/2`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_with_prior_knowledge() {
    let (router, _app) = router_with_app(&[], &[]).await;
    let client = h2_client();
    for _ in 0..3 {
        let req = http::Request::get(router.url("/headers"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let res = client.request(req).await.expect("h2c request");
        assert_eq!(res.version(), Version::HTTP_2);
        assert_eq!(res.status(), 200);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let json = headers_json(&body);
        assert_eq!(json["version"], "HTTP/2", "{json}");
        assert_eq!(json["scheme"], "http", "{json}");
        assert_eq!(seen(&json, "x-forwarded-proto").as_deref(), Some("http"));
    }
    // A streamed upload over the same HTTP/2 connection.
    let (status, body) = request(
        &client,
        "POST",
        &router.url("/echo"),
        Bytes::from(vec![b'x'; 100_000]),
    )
    .await
    .unwrap();
    assert_eq!((status, body.len()), (200, 100_000));
}

/// TLS with ALPN: a client offering h2 gets HTTP/2, one offering http/1.1
/// gets HTTP/1.1, and the worker sees `https` both times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_h2_and_http11_by_alpn() {
    let cert = self_signed();
    let (router, _app) = router_with_app(
        &[
            "--tls-cert",
            cert.cert.to_str().unwrap(),
            "--tls-key",
            cert.key.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(
        router.proc.logs.contains("\"tls\":true"),
        "the router says it serves TLS"
    );

    // h2
    let (tls, alpn) = tls_connect(router.http, &cert, &[b"h2"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let req = http::Request::get("https://localhost/headers")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = sender.send_request(req).await.expect("h2 over TLS");
    assert_eq!(
        (res.status().as_u16(), res.version()),
        (200, Version::HTTP_2)
    );
    let json = headers_json(&res.into_body().collect().await.unwrap().to_bytes());
    assert_eq!(json["version"], "HTTP/2", "{json}");
    assert_eq!(json["scheme"], "https", "{json}");
    assert_eq!(seen(&json, "x-forwarded-proto").as_deref(), Some("https"));

    // http/1.1
    let (tls, alpn) = tls_connect(router.http, &cert, &[b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("http/1.1 handshake");
    tokio::spawn(conn);
    let req = http::Request::get("/headers")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = sender.send_request(req).await.expect("http/1.1 over TLS");
    assert_eq!(
        (res.status().as_u16(), res.version()),
        (200, Version::HTTP_11)
    );
    let json = headers_json(&res.into_body().collect().await.unwrap().to_bytes());
    assert_eq!(json["version"], "HTTP/1.1", "{json}");
    assert_eq!(json["scheme"], "https", "{json}");

    // Cleartext on the TLS port is not served (at most a TLS alert comes back).
    let mut raw = RawConn::connect(router.http).await;
    raw.send(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answer = raw.read_to_end().await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP on the TLS port is not served: {:?}",
        String::from_utf8_lossy(&answer)
    );
}

// ---- bodiless responses, 100-continue ----

/// HTTP/1.1 starts on the router's lean path and moves to hyper at the
/// first request the lean path does not take: pipelined in one write, bodiless
/// GETs (lean), a POST with a body (hyper from there on) and GETs again, each
/// answered in order on the one connection, and the connection still kept
/// alive after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_cross_from_the_lean_path_to_hyper_in_order() {
    let (router, _app) = router_with_app(&[], &[]).await;
    let mut conn = RawConn::connect(router.http).await;
    conn.send(
        b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /status/201 HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
          GET /status/202 HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await;
    let statuses_and_bodies: Vec<(u16, Vec<u8>)> = {
        let mut all = Vec::new();
        for _ in 0..4 {
            let res = conn.read_response(false).await;
            all.push((res.status, res.body));
        }
        all
    };
    assert_eq!(statuses_and_bodies[0].0, 200);
    assert_eq!(statuses_and_bodies[1].0, 201);
    assert_eq!(statuses_and_bodies[2], (200, b"hello".to_vec()));
    assert_eq!(statuses_and_bodies[3].0, 202);
    // Still open, now on hyper: one more exchange, then the client closes.
    conn.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await;
    let last = conn.read_response(false).await;
    assert_eq!(last.status, 200);
    assert_eq!(last.header("connection"), Some("close"));
    assert!(conn.closes_within(Duration::from_secs(2)).await);
}

/// The lean HTTP/1.1 path and hyper's agree, request by request. Each request
/// goes once as the lean path takes it, and once with a `Keep-Alive` field,
/// which sends it to hyper and which the router removes as hop-by-hop before
/// the worker. Both get the same answer (status, fields other than `date`
/// and a fresh request id, framing, body), and the worker sees the same head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lean_path_and_hyper_answer_alike() {
    let (router, _app) = router_with_app(&[], &[]).await;
    let cases: &[(&str, &str, &str)] = &[
        ("GET", "/hello", ""),
        ("HEAD", "/hello", ""),
        ("DELETE", "/hello", ""),
        ("GET", "/status/204", ""),
        ("GET", "/status/304", ""),
        ("GET", "/status/404", ""),
        ("GET", "/nowhere", ""),
        ("GET", "/stream?n=3&size=10", ""),
        ("HEAD", "/stream?n=3&size=10", ""),
        ("GET", "/large?bytes=100000", ""),
        ("GET", "/trailers", ""),
        (
            "GET",
            "/headers?x=1",
            "X-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.9.9.9\r\nX-Request-Id: abc-123\r\n\
             Accept: a\r\nX-Dup: 1\r\nAccept: b\r\nUser-Agent: t/1\r\nX-Text: café\r\n",
        ),
        (
            "GET",
            "/headers",
            "X-Request-Id: has space\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\n\
             Connection: close\r\n",
        ),
    ];
    for (method, target, fields) in cases {
        let lean = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n{fields}\r\n");
        let hyper =
            format!("{method} {target} HTTP/1.1\r\nHost: t\r\nKeep-Alive: 5\r\n{fields}\r\n");
        let (a, b) = (
            exchange_once(&router, &lean, *method == "HEAD").await,
            exchange_once(&router, &hyper, *method == "HEAD").await,
        );
        let case = format!("{method} {target}");
        assert_eq!(a.status, b.status, "{case}");
        assert_eq!(comparable(&a), comparable(&b), "{case}: fields");
        if target.starts_with("/headers") {
            let seen = |body: &[u8]| {
                let mut json = headers_json(body);
                // A fresh id differs between the two; a kept one must not.
                if !fields.contains("abc-123") {
                    json["headers"]["x-request-id"] = serde_json::Value::Null;
                }
                // So does the client's port, the router's last `forwarded` node.
                if let Some(forwarded) = seen(&json, "forwarded") {
                    let (rest, node) = forwarded.rsplit_once("for=").expect("the router's element");
                    let port = node.split_once(':').and_then(|(_, p)| p.split_once('"'));
                    assert!(
                        port.is_some_and(|(p, _)| p.parse::<u16>().is_ok()),
                        "{forwarded}"
                    );
                    json["headers"]["forwarded"] = rest.into();
                }
                json
            };
            assert_eq!(seen(&a.body), seen(&b.body), "{case}: what the worker saw");
        } else {
            assert_eq!(a.body, b.body, "{case}: body");
        }
    }
}

/// spec: #reason-phrase. The worker's own reason phrase is the status line's,
/// by the lean path and by hyper alike; without one, the registered phrase,
/// and none for a code that has none. HTTP/2 has no reason phrase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_reason_phrase_reaches_http1_clients() {
    let (router, _app) = router_with_app(&[], &[]).await;
    let cases = [
        ("/status/200?reason=Totally+Fine", "200 Totally Fine"),
        ("/status/404?reason=Gone+Fishing", "404 Gone Fishing"),
        ("/status/503?reason=Back+at+5", "503 Back at 5"),
        ("/status/200", "200 OK"),
        ("/status/404", "404 Not Found"),
        ("/status/299", "299 "),
    ];
    for (target, status) in cases {
        for (path, extra) in [("lean", ""), ("hyper", "Keep-Alive: 5\r\n")] {
            let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n");
            let res = exchange_once(&router, &request, false).await;
            let line = res.head.lines().next().unwrap_or_default();
            assert_eq!(line, format!("HTTP/1.1 {status}"), "{path}: {target}");
        }
        let url = format!("http://{}{target}", router.http);
        let (code, _) = request(&h2_client(), "GET", &url, Bytes::new())
            .await
            .expect("an h2 answer");
        assert_eq!(code.to_string(), status[..3], "h2: {target}");
    }
}

/// One request on its own connection; the answer.
async fn exchange_once(router: &Router, request: &str, bodiless: bool) -> RawResponse {
    let mut conn = RawConn::connect(router.http).await;
    conn.send(request.as_bytes()).await;
    conn.read_response(bodiless).await
}

/// A response's fields, sorted, without `date` (the clock) and without a
/// fresh request id (each request gets its own).
fn comparable(res: &RawResponse) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = res
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
        .map(|(n, v)| {
            let n = n.to_ascii_lowercase();
            let v = if n == "x-request-id" && v != "abc-123" {
                String::new()
            } else {
                v.clone()
            };
            (n, v)
        })
        .collect();
    fields.sort();
    fields
}

/// A head that httparse reads but `http` refuses (a `<` in the target) is
/// hyper's to answer: 400 and a closed connection, so the request pipelined
/// behind it is not served, exactly as without the lean path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_the_lean_path_cannot_map_is_refused_by_hyper_with_what_follows() {
    let (router, _app) = router_with_app(&[], &[]).await;
    let mut conn = RawConn::connect(router.http).await;
    conn.send(b"GET /< HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    let res = conn.read_response(false).await;
    assert_eq!(res.status, 400);
    assert!(
        conn.closes_within(Duration::from_secs(2)).await,
        "closed after the 400: the pipelined request is not read"
    );
}

/// On the lean path: `Connection: close` is answered with it and the
/// connection closes; a client that goes away while its request waits for
/// the worker has the stream cancelled (the worker is told, and is free
/// again), as on hyper's path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lean_path_closes_when_asked_and_cancels_for_a_client_that_left() {
    let (router, app) = router_with_app(&[], &[]).await;
    let mut conn = RawConn::connect(router.http).await;
    conn.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await;
    let res = conn.read_response(false).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("connection"), Some("close"));
    assert!(conn.closes_within(Duration::from_secs(2)).await);

    let mut conn = RawConn::connect(router.http).await;
    conn.send(b"GET /slow?ms=10000 HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    router.wait_in_flight(1, Duration::from_secs(5)).await;
    drop(conn);
    app.logs.wait_for(
        &["router reset the stream", "CANCEL"],
        Duration::from_secs(5),
    );
    router.wait_in_flight(0, Duration::from_secs(5)).await;
    assert_eq!(get(&router.url("/hello")).await.unwrap().0, 200);
}

/// HEAD keeps the worker's content-length and sends no body; a 204 has no
/// body either. Each answer is followed on the same connection by the next
/// one, so a stray body byte would break the next status line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_and_204_have_no_body() {
    let (router, _app) = router_with_app(&[], &[]).await;
    let mut conn = RawConn::connect(router.http).await;
    conn.send(b"HEAD /large?bytes=5000 HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    let head = conn.read_response(true).await;
    assert_eq!(head.status, 200, "{}", head.head);
    assert_eq!(head.header("content-length"), Some("5000"), "{}", head.head);
    assert_eq!(head.header("transfer-encoding"), None, "{}", head.head);

    conn.send(b"GET /status/204 HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    let no_content = conn.read_response(true).await;
    assert_eq!(no_content.status, 204, "{}", no_content.head);
    assert_eq!(no_content.header("transfer-encoding"), None);
    assert!(
        no_content.header("content-length").is_none_or(|v| v == "0"),
        "{}",
        no_content.head
    );

    conn.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let hello = conn.read_response(false).await;
    assert_eq!(hello.status, 200, "{}", hello.head);
    assert_eq!(hello.body, b"Hello from app");

    // The same over HTTP/2, where the framing is the router's too.
    let h2 = h2_client();
    let req = http::Request::head(router.url("/large?bytes=5000"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = h2.request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-length"], "5000");
    assert!(
        res.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .is_empty()
    );
}

/// `Expect: 100-continue`: the router says `100 Continue` before it reads
/// the body, then the worker's answer comes back. `/drain-body` answers only
/// after the whole body (spec #test-app-drain-body), so the only head that can
/// come before the client sends its body is the router's 100 (an echo could
/// answer first, and a final status without a 100 is allowed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue() {
    let (router, _app) = router_with_app(&[], &[]).await;
    let body: Vec<u8> = (0..2000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut conn = RawConn::connect(router.http).await;
    conn.send(
        format!(
            "POST /drain-body HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await;
    let interim = conn.read_head().await;
    assert_eq!(interim.status, 100, "{}", interim.head);
    conn.send(&body).await;
    let res = conn.read_response(false).await;
    assert_eq!(res.status, 200, "{}", res.head);
    assert_eq!(res.body, b"2000");
}

// ---- limits and timeouts ----

/// `--max-body-size`: 413 for a declared length above it and for a chunked
/// body that grows above it; a body within it goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_the_limit_is_413() {
    let (router, _app) = router_with_app(&["--max-body-size", "1000"], &[]).await;

    let mut conn = RawConn::connect(router.http).await;
    conn.send(b"POST /drain-body HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n")
        .await;
    conn.send(&[b'd'; 2000]).await;
    let res = conn.read_response(false).await;
    assert_eq!(res.status, 413, "declared: {}", res.head);

    let mut conn = RawConn::connect(router.http).await;
    let mut req =
        b"POST /drain-body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        req.extend_from_slice(b"258\r\n"); // 600 bytes
        req.extend_from_slice(&[b'c'; 600]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    conn.send(&req).await;
    let res = conn.read_response(false).await;
    assert_eq!(res.status, 413, "chunked: {}", res.head);

    let mut conn = RawConn::connect(router.http).await;
    conn.send(b"POST /drain-body HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
        .await;
    conn.send(&[b'd'; 1000]).await;
    let res = conn.read_response(false).await;
    assert_eq!(
        (res.status, &res.body[..]),
        (200, &b"1000"[..]),
        "at the limit"
    );
}

/// `--max-header-size`: a request head above it is 431, below it is served,
/// even for a limit under hyper's own 8 KiB floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_over_the_limit_is_431() {
    let (router, _app) = router_with_app(&["--max-header-size", "2048"], &[]).await;
    for (size, expected) in [(1000, 200), (3000, 431), (20_000, 431)] {
        let mut conn = RawConn::connect(router.http).await;
        let filler = "v".repeat(size);
        conn.send(
            format!("GET /hello HTTP/1.1\r\nHost: t\r\nX-Filler: {filler}\r\n\r\n").as_bytes(),
        )
        .await;
        let res = conn.read_response(false).await;
        assert_eq!(res.status, expected, "a {size}-byte field: {}", res.head);
    }
    // HTTP/2 too.
    let h2 = h2_client();
    let req = http::Request::get(router.url("/hello"))
        .header("x-filler", "v".repeat(3000))
        .body(Full::new(Bytes::new()))
        .unwrap();
    match h2.request(req).await {
        Ok(res) => assert_eq!(res.status(), 431),
        Err(e) => panic!("h2 request with a large head: {e:?}"),
    }
}

/// `--first-byte-timeout`: 504 when the worker is slow to answer, and the
/// worker sees its stream cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_byte_timeout_is_504_and_cancels() {
    let (router, app) = router_with_app(&["--first-byte-timeout", "300ms"], &[]).await;
    let began = Instant::now();
    let (status, _) = get(&router.url("/slow?ms=5000")).await.unwrap();
    let took = began.elapsed();
    assert_eq!(status, 504);
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "504 after {took:?}"
    );
    app.logs.wait_for(
        &["router reset the stream", "CANCEL"],
        Duration::from_secs(5),
    );
    router.wait_in_flight(0, Duration::from_secs(2)).await;
    // The worker is free for the next request.
    assert_eq!(get(&router.url("/hello")).await.unwrap().0, 200);
}

/// `--request-timeout`: the whole request's deadline, 504 after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout_is_504() {
    let (router, app) = router_with_app(&["--request-timeout", "500ms"], &[]).await;
    let began = Instant::now();
    let (status, _) = get(&router.url("/slow?ms=5000")).await.unwrap();
    let took = began.elapsed();
    assert_eq!(status, 504);
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "504 after {took:?}"
    );
    app.logs.wait_for(
        &["router reset the stream", "CANCEL"],
        Duration::from_secs(5),
    );
    assert_eq!(get(&router.url("/slow?ms=10")).await.unwrap().0, 200);
}

/// An HTTP/1.0 request without Host names no authority: 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_host_is_400() {
    let (router, _app) = router_with_app(&[], &[]).await;
    let mut conn = RawConn::connect(router.http).await;
    conn.send(b"GET /hello HTTP/1.0\r\n\r\n").await;
    let res = conn.read_response(false).await;
    assert_eq!(res.status, 400, "{}", res.head);
    // With a Host it is served.
    let mut conn = RawConn::connect(router.http).await;
    conn.send(b"GET /hello HTTP/1.0\r\nHost: t\r\n\r\n").await;
    let res = conn.read_response(false).await;
    assert_eq!((res.status, &res.body[..]), (200, &b"Hello from app"[..]));
}

// ---- headers ----

/// What the router adds (x-forwarded-*, forwarded, x-request-id) and removes
/// (hop-by-hop fields and the ones Connection names), as the worker sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_and_request_ids() {
    let (router, _app) = router_with_app(&[], &[]).await;

    let mut conn = RawConn::connect(router.http).await;
    conn.send(
        b"GET /headers HTTP/1.1\r\n\
          Host: example.test\r\n\
          X-Request-Id: abc-123\r\n\
          X-Forwarded-For: 10.1.2.3\r\n\
          X-Forwarded-Proto: https\r\n\
          Connection: keep-alive, X-Secret\r\n\
          X-Secret: hush\r\n\
          Keep-Alive: timeout=5\r\n\
          Proxy-Connection: keep-alive\r\n\
          TE: gzip\r\n\
          Upgrade: example/1\r\n\
          X-Kept: yes\r\n\r\n",
    )
    .await;
    let res = conn.read_response(false).await;
    assert_eq!(res.status, 200, "{}", res.head);
    assert_eq!(res.header("x-request-id"), Some("abc-123"), "echoed");
    let json = headers_json(&res.body);
    let xff = seen(&json, "x-forwarded-for").expect("x-forwarded-for");
    assert_eq!(xff, "10.1.2.3, 127.0.0.1");
    assert_eq!(
        seen(&json, "x-forwarded-proto").as_deref(),
        Some("http"),
        "the client's claim is replaced"
    );
    let forwarded = seen(&json, "forwarded").expect("forwarded");
    // The client's port travels only here (spec #router-headers).
    assert_eq!(
        forwarded,
        format!(
            "for=\"127.0.0.1:{}\";proto=http;host=example.test",
            conn.local_port()
        )
    );
    assert_eq!(seen(&json, "x-request-id").as_deref(), Some("abc-123"));
    assert_eq!(seen(&json, "x-kept").as_deref(), Some("yes"));
    assert_eq!(json["host"], "example.test");
    for hop in [
        "connection",
        "x-secret",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
        "transfer-encoding",
    ] {
        assert!(
            json["headers"].get(hop).is_none(),
            "{hop} reached the worker: {json}"
        );
    }

    // No id (or an invalid one): a fresh one, 32 lowercase hex, the same on
    // both sides; `te: trailers` is the one TE that passes.
    for extra in ["", "X-Request-Id: has space\r\n"] {
        conn.send(
            format!("GET /headers HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n{extra}\r\n").as_bytes(),
        )
        .await;
        let res = conn.read_response(false).await;
        assert_eq!(res.status, 200, "{}", res.head);
        let id = res.header("x-request-id").expect("x-request-id").to_owned();
        assert_eq!(id.len(), 32, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{id}"
        );
        let json = headers_json(&res.body);
        assert_eq!(seen(&json, "x-request-id"), Some(id));
        assert_eq!(seen(&json, "te").as_deref(), Some("trailers"));
        assert_eq!(seen(&json, "x-forwarded-for").as_deref(), Some("127.0.0.1"));
    }

    // Local answers carry the id too.
    let (status, _) = get(&router.url("/hello")).await.unwrap();
    assert_eq!(status, 200);
    let req = http::Request::get(router.url("/hello"))
        .header("x-request-id", "mine")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = client().request(req).await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "mine");
}

// ---- queueing ----

/// Capacity 1, busy: a second request waits in the queue and is served when
/// the first ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_worker_queues_the_next_request() {
    let (router, _app) = router_with_app(&[], &["--capacity", "1"]).await;
    assert_eq!(router.workers().await[0]["capacity"], 1);
    let slow_url = router.url("/slow?ms=1500");
    let slow = tokio::spawn(async move { get(&slow_url).await });
    router.wait_in_flight(1, Duration::from_secs(5)).await;
    let hello_url = router.url("/hello");
    let queued = tokio::spawn(async move { get(&hello_url).await });
    router
        .wait_metric("zroute_queue_depth", 1.0, Duration::from_secs(5))
        .await;
    assert!(
        !slow.is_finished() && !queued.is_finished(),
        "the second request waits while the first runs"
    );
    assert_eq!(
        router.workers().await[0]["in_flight"],
        1,
        "never over capacity"
    );
    assert_eq!(
        slow.await.unwrap().unwrap(),
        (200, Bytes::from_static(b"slow"))
    );
    assert_eq!(
        queued.await.unwrap().unwrap(),
        (200, Bytes::from_static(b"Hello from app"))
    );
    router
        .wait_metric("zroute_queue_depth", 0.0, Duration::from_secs(2))
        .await;
}

/// `--queue-size 0`: no waiting at all, 503 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_size_zero_is_503_at_once() {
    let (router, _app) = router_with_app(&["--queue-size", "0"], &["--capacity", "1"]).await;
    let slow_url = router.url("/slow?ms=3000");
    let slow = tokio::spawn(async move { get(&slow_url).await });
    router.wait_in_flight(1, Duration::from_secs(5)).await;
    let began = Instant::now();
    let (status, body) = get(&router.url("/hello")).await.unwrap();
    let took = began.elapsed();
    assert_eq!(status, 503, "{body:?}");
    assert!(took < Duration::from_secs(1), "503 after {took:?}");
    assert!(!slow.is_finished(), "the first request is still running");
    assert_eq!(slow.await.unwrap().unwrap().0, 200);
}

/// `--queue-timeout`: a request waits that long for room, then 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_timeout_is_503_after_it() {
    let (router, _app) = router_with_app(&["--queue-timeout", "200ms"], &["--capacity", "1"]).await;
    let slow_url = router.url("/slow?ms=3000");
    let slow = tokio::spawn(async move { get(&slow_url).await });
    router.wait_in_flight(1, Duration::from_secs(5)).await;
    let began = Instant::now();
    let (status, _) = get(&router.url("/hello")).await.unwrap();
    let took = began.elapsed();
    assert_eq!(status, 503);
    assert!(
        took >= Duration::from_millis(180) && took < Duration::from_millis(2000),
        "503 after {took:?}"
    );
    assert!(!slow.is_finished(), "the first request is still running");
    assert_eq!(slow.await.unwrap().unwrap().0, 200);
}

// ---- admin ----

/// `--startup-grace`: right after the router starts, a request that no
/// registered worker serves waits for one to register (after a router
/// restart the workers are reconnecting) instead of getting 503 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_the_startup_grace_waits_for_a_worker() {
    let router = Router::start("tcp://127.0.0.1:*", &["--startup-grace", "30s"]);
    let url = router.url("/");
    let early = tokio::spawn(async move { get(&url).await });
    router.wait_metric("zroute_queue_depth", 1.0, STARTUP).await;
    let _w = worker("hello", "late", &router.endpoint, &[]);
    assert_eq!(
        early.await.unwrap().unwrap(),
        (200, Bytes::from_static(b"Hello from late"))
    );
}

/// No worker, and no startup grace (or after it): 503 at once. Then the
/// admin listener: metrics by status class, workers gauge, health, and the
/// worker list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_worker_is_503_and_admin_reports() {
    let router = Router::start("tcp://127.0.0.1:*", &["--startup-grace", "0s"]);
    let began = Instant::now();
    let (status, _) = get(&router.url("/")).await.unwrap();
    assert_eq!(status, 503, "no worker at all");
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "503 after {:?}",
        began.elapsed()
    );
    let _w = worker(
        "hello",
        "w-api",
        &router.endpoint,
        &["--route", "/api", "--capacity", "3"],
    );
    router.wait_workers(1, STARTUP).await;
    assert_eq!(
        get(&router.url("/api/users")).await.unwrap(),
        (200, Bytes::from_static(b"Hello from w-api"))
    );

    let text = router.metrics().await;
    assert!(
        metric(&text, "zroute_requests_total{class=\"2xx\"").is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(
        metric(&text, "zroute_requests_total{class=\"5xx\"").is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert_eq!(metric(&text, "zroute_workers "), Some(1.0), "{text}");

    let (status, body) = get(&router.admin_url("/healthz")).await.unwrap();
    assert_eq!((status, &body[..]), (200, &b"ok\n"[..]));

    let list = router.workers().await;
    let list = list.as_array().expect("a list");
    assert_eq!(list.len(), 1);
    let w = &list[0];
    assert_eq!(w["id"], "w-api");
    assert_eq!(w["routes"], serde_json::json!(["/api"]));
    assert_eq!(w["capacity"], 3);
    assert_eq!(w["in_flight"], 0);
    assert_eq!(w["draining"], false);

    assert_eq!(get(&router.admin_url("/nope")).await.unwrap().0, 404);
}

// ---- the router's own shutdown ----

/// SIGTERM to the router: the request in flight completes, health turns 503,
/// new requests are refused (503 or no connection, never a hang), the worker
/// is told with GOAWAY, and the router exits 0 in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_sigterm_drains_and_exits_0() {
    let (mut router, app) = router_with_app(&["--shutdown-timeout", "5s"], &[]).await;
    let slow_url = router.url("/slow?ms=2500");
    let slow = tokio::spawn(async move { get(&slow_url).await });
    router.wait_in_flight(1, Duration::from_secs(5)).await;

    router.proc.signal("TERM");
    let signalled = Instant::now();
    router
        .proc
        .logs
        .wait_for(&["shutting down"], Duration::from_secs(5));
    let health = router.admin_url("/healthz");
    wait_until("/healthz turns 503", Duration::from_secs(2), || {
        let health = health.clone();
        async move { matches!(get(&health).await, Ok((503, _))) }
    })
    .await;

    // A new connection: refused or 503, and never left hanging.
    let fresh = tokio::time::timeout(Duration::from_secs(1), get(&router.url("/hello"))).await;
    match fresh {
        Err(_) => panic!("a new request hung while the router drained"),
        Ok(Ok((status, _))) => assert_eq!(status, 503),
        Ok(Err(e)) => eprintln!("new request while draining: {e}"),
    }
    // GOAWAY(OK) on the session with the request in flight, and the HELLO of
    // its re-registration refused the same way while the router shuts down.
    app.logs.wait_for(
        &["router is draining the session", "open=1"],
        Duration::from_secs(3),
    );
    app.logs.wait_for(
        &["router is shutting down: registration refused"],
        Duration::from_secs(3),
    );

    assert!(!slow.is_finished(), "the slow request is still in flight");
    assert_eq!(
        slow.await.unwrap().unwrap(),
        (200, Bytes::from_static(b"slow")),
        "the request in flight completes"
    );
    let code = tokio::task::spawn_blocking(move || {
        let code = router.proc.wait_exit(Duration::from_secs(6));
        (code, router)
    })
    .await
    .unwrap()
    .0;
    assert_eq!(code, Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "exited within the shutdown timeout ({:?})",
        signalled.elapsed()
    );
}

/// A client that connected before SIGTERM and sends its request after it gets
/// an answer, not a reset: the drain lets a connection that has sent nothing
/// yet send its first request (its request may already be on its way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_opened_before_sigterm_gets_its_request_answered() {
    let (router, _app) = router_with_app(&["--shutdown-timeout", "5s"], &[]).await;
    let mut conn = RawConn::connect(router.http).await;
    router.proc.signal("TERM");
    router
        .proc
        .logs
        .wait_for(&["no longer accepting connections"], Duration::from_secs(5));
    conn.send(b"GET /hello HTTP/1.1\r\nHost: zroute.test\r\n\r\n")
        .await;
    let res = conn.read_response(false).await;
    assert!(
        matches!(res.status, 200 | 503),
        "an answer, whichever: {}",
        res.head
    );
    assert_eq!(
        res.header("connection"),
        Some("close"),
        "and the connection closes after it"
    );
}

// ---- settings ----

/// A `--config` TOML file and `ZROUTE_*` environment variables are honoured,
/// the flag beating both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zroute.toml");
    std::fs::write(
        &path,
        "admin = \"127.0.0.1:0\"\n\
         workers = [\"tcp://127.0.0.1:*\"]\n\
         router-id = \"from-file\"\n\
         max-body-size = 100\n\
         queue-size = 7\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http = format!("127.0.0.1:{port}");
    let router = Router::launch(
        &["--config", path.to_str().unwrap(), "--max-body-size", "200"],
        &[("ZROUTE_HTTP", &http), ("ZROUTE_MAX_BODY_SIZE", "50")],
    );
    assert_eq!(router.http.to_string(), http, "ZROUTE_HTTP");
    let _app = worker("testapp", "app", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    let list = router.workers().await;
    let session = list[0]["session"].as_str().unwrap().to_owned();
    assert!(
        session.starts_with("from-file-"),
        "router-id from the file: {session}"
    );
    let c = client();
    let (status, _) = request(
        &c,
        "POST",
        &router.url("/drain-body"),
        Bytes::from(vec![0; 150]),
    )
    .await
    .unwrap();
    assert_eq!(
        status, 200,
        "the flag's 200 beats the environment's 50 and the file's 100"
    );
    let (status, _) = request(
        &c,
        "POST",
        &router.url("/drain-body"),
        Bytes::from(vec![0; 250]),
    )
    .await
    .unwrap();
    assert_eq!(status, 413);
}
