//! The HTTP/1.1 robustness battery: smuggling, framing, Host, trailers, line
//! endings and sizes, sent as raw bytes to the real router with the test app
//! behind it. Every ambiguous request gets 400, 501, 414 or 431 and the
//! connection closes; every request that is forwarded shows the worker only
//! the router's own word for host, forwarding headers and request id.
//!
//! The comments give nginx's answer (1.24, default settings) where the router
//! differs from it or where it is the reference; the router is never laxer.
//!
//! Further down: what a worker's broken response framing gives the client,
//! answers to clients still sending (lingering close), and the retry cap.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use zroute_proto::HeaderBlock;
use zroute_proto::frame::{Data, Frame, SynReply};
use zroute_test_support::bad_worker::{BadWorker, WAIT, ok_head};
use zroute_test_support::http::{RawConn, RawResponse, get};
use zroute_test_support::process::{Proc, worker};
use zroute_test_support::router_process::{Router, metric};

const STARTUP: Duration = Duration::from_secs(20);

async fn router_with_app(extra: &[&str]) -> (Router, Proc) {
    let router = Router::start("tcp://127.0.0.1:*", extra);
    let app = worker("testapp", "app", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    (router, app)
}

/// Sends `request` on a new connection; returns the answer and whether the
/// router closed the connection after it.
async fn exchange(addr: SocketAddr, request: &[u8]) -> (RawResponse, bool) {
    let mut conn = RawConn::connect(addr).await;
    conn.send(request).await;
    let res = conn.read_response(false).await;
    let closed = conn.closes_within(Duration::from_secs(2)).await;
    (res, closed)
}

/// Requests the router must refuse, with the status and why.
fn refused() -> Vec<(&'static str, Vec<u8>, u16)> {
    let get = |fields: &str| format!("GET /headers HTTP/1.1\r\n{fields}\r\n").into_bytes();
    let post = |fields: &str, body: &str| {
        format!("POST /headers HTTP/1.1\r\nHost: a\r\n{fields}\r\n{body}").into_bytes()
    };
    vec![
        // RFC 9112 §3.2; nginx: 400 "client sent duplicate host header".
        ("two equal Host fields", get("Host: a\r\nHost: a\r\n"), 400),
        (
            "two different Host fields",
            get("Host: a\r\nHost: b\r\n"),
            400,
        ),
        // nginx: 400 "client sent invalid host header".
        ("Host with a space", get("Host: a b\r\n"), 400),
        ("Host with a path and query", get("Host: t/x?y\r\n"), 400),
        ("Host with userinfo", get("Host: u@a\r\n"), 400),
        (
            "Host with a port that is not a number",
            get("Host: a:b\r\n"),
            400,
        ),
        ("empty Host", get("Host:\r\n"), 400),
        // nginx: 400 "client sent HTTP/1.1 request without Host header".
        ("HTTP/1.1 without Host", get(""), 400),
        // nginx takes the absolute form's host and lets Host go missing: stricter.
        (
            "absolute form without Host",
            b"GET http://a/headers HTTP/1.1\r\n\r\n".to_vec(),
            400,
        ),
        (
            "absolute form with userinfo",
            b"GET http://u@a/headers HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            400,
        ),
        // RFC 9112 §6.1; nginx: 501 "client sent unknown Transfer-Encoding".
        (
            "a coding before chunked",
            post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
            501,
        ),
        (
            "identity before chunked",
            post("Transfer-Encoding: identity, chunked\r\n", "0\r\n\r\n"),
            501,
        ),
        (
            "an unknown coding on its own line",
            post(
                "Transfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            501,
        ),
        (
            "chunked twice",
            post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"),
            501,
        ),
        // RFC 9112 §6.3: chunked not last leaves the length unknown: 400
        // (hyper's own answer).
        (
            "chunked not last",
            post("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"),
            400,
        ),
        // RFC 9112 §6.1: a 1.0 request with a transfer coding has faulty framing.
        (
            "Transfer-Encoding in HTTP/1.0",
            b"POST /headers HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            400,
        ),
        // RFC 9112 §6.3: an invalid Content-Length is unrecoverable.
        (
            "two Content-Length values",
            post("Content-Length: 3\r\nContent-Length: 4\r\n", "abcd"),
            400,
        ),
        (
            "a Content-Length list",
            post("Content-Length: 3, 3\r\n", "abc"),
            400,
        ),
        (
            "a signed Content-Length",
            post("Content-Length: +3\r\n", "abc"),
            400,
        ),
        (
            "a hex Content-Length",
            post("Content-Length: 0x3\r\n", "abc"),
            400,
        ),
        (
            "a chunk size that overflows",
            post(
                "Transfer-Encoding: chunked\r\n",
                "FFFFFFFFFFFFFFFFF1\r\nx\r\n0\r\n\r\n",
            ),
            400,
        ),
        // RFC 9112 §5.1: no white space between name and colon; §5.2: no obs-fold.
        ("space before the colon", get("Host: a\r\nX-A : b\r\n"), 400),
        ("an obs-fold line", get("Host: a\r\nX-A: b\r\n c\r\n"), 400),
        // RFC 9110 §5.5: no NUL, CR or LF inside a value.
        ("NUL in a value", get("Host: a\r\nX-A: b\u{0}c\r\n"), 400),
        ("bare CR in a value", get("Host: a\r\nX-A: b\rc\r\n"), 400),
        // RFC 9110 §2.5 says to read 1.2 as 1.1; hyper's parser knows only
        // 1.0 and 1.1, so the router refuses it (nginx accepts): stricter.
        (
            "HTTP/1.2",
            b"GET /headers HTTP/1.2\r\nHost: a\r\n\r\n".to_vec(),
            400,
        ),
        (
            "an HTTP/2.0 request line",
            b"GET /headers HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a request line with two spaces",
            b"GET  /headers HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            400,
        ),
        // RFC 9112 §3.2 and §3: the target is origin form or absolute form.
        // Authority form is for CONNECT only: taken as the host, it would
        // override Host.
        (
            "an authority-form target",
            b"GET evil.example HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            400,
        ),
        (
            "an authority-form target with a port",
            b"GET evil.example:80 HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            400,
        ),
        (
            "asterisk form with GET",
            b"GET * HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            400,
        ),
        (
            "an absolute form that is not http",
            b"GET ftp://a/headers HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            400,
        ),
        // The limits: nginx answers 414 to a request line over 8 KiB and 400
        // (not 431) to an oversized header line.
        (
            "a 10 KiB target",
            format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(10 * 1024)).into_bytes(),
            414,
        ),
        (
            "a 40 KiB header",
            format!(
                "GET /headers HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
                "b".repeat(40 * 1024)
            )
            .into_bytes(),
            431,
        ),
        (
            "a 40 KiB target, past the head limit",
            format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(40 * 1024)).into_bytes(),
            431,
        ),
        (
            "CONNECT",
            b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n".to_vec(),
            405,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_requests_are_refused_and_the_connection_closes() {
    let (router, _app) = router_with_app(&[]).await;
    let mut failures = Vec::new();
    for (name, request, status) in refused() {
        let (res, closed) = exchange(router.http, &request).await;
        if res.status != status || !closed {
            failures.push(format!(
                "{name}: got {} (closed: {closed}), want {status} and close",
                res.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // None of them reached the worker.
    let metrics = router.metrics().await;
    assert!(
        metric(&metrics, "zroute_requests_total{class=\"2xx\"").is_none(),
        "a refused request was forwarded:\n{metrics}"
    );
}

/// The `/headers` answer for a request that must be forwarded.
async fn forwarded(router: &Router, request: &[u8]) -> (serde_json::Value, bool) {
    let (res, closed) = exchange(router.http, request).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let json = serde_json::from_slice(&res.body).expect("/headers is JSON");
    (json, closed)
}

fn values(json: &serde_json::Value, name: &str) -> Vec<String> {
    json["headers"][name]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// The fields the router vouches for are exactly its own, whatever the
/// client sent: `:host` is the validated host, the last element of
/// `x-forwarded-for` and `forwarded` is the TCP peer, and `x-forwarded-proto`,
/// `x-forwarded-host` and `x-request-id` are the router's.
fn assert_vouched(json: &serde_json::Value, host: &str, case: &str) {
    assert_eq!(json["host"], host, "{case}: :host");
    let xff = values(json, "x-forwarded-for");
    assert_eq!(xff.len(), 1, "{case}: one x-forwarded-for value");
    assert_eq!(
        xff[0].rsplit(", ").next(),
        Some("127.0.0.1"),
        "{case}: {xff:?}"
    );
    let fwd = values(json, "forwarded");
    assert_eq!(fwd.len(), 1, "{case}: one forwarded value");
    let last = fwd[0].rsplit(", ").next().unwrap_or_default();
    let port = last
        .strip_prefix("for=\"127.0.0.1:")
        .and_then(|rest| rest.split_once('"'))
        .and_then(|(port, _)| port.parse::<u16>().ok());
    assert!(port.is_some_and(|p| p > 0), "{case}: {fwd:?}");
    assert!(
        last.ends_with(&format!(";proto=http;host={host}"))
            || last.ends_with(&format!(";proto=http;host=\"{host}\"")),
        "{case}: {fwd:?}"
    );
    assert_eq!(values(json, "x-forwarded-proto"), ["http"], "{case}");
    assert_eq!(values(json, "x-forwarded-host"), [host], "{case}");
    let id = values(json, "x-request-id");
    assert_eq!(id.len(), 1, "{case}: one x-request-id");
    assert_ne!(id[0], "forged", "{case}");
    assert!(
        !values(json, "host").iter().any(|h| h != host),
        "{case}: a second host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_worker_sees_is_what_the_router_vouches_for() {
    let (router, _app) = router_with_app(&[]).await;
    let forged = "X-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6;host=evil\r\n\
                  X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n\
                  X-Request-Id: forged\r\nX-Request-Id: forged\r\n";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "forged forwarding fields",
            format!("GET /headers HTTP/1.1\r\nHost: a\r\n{forged}\r\n"),
            "a",
        ),
        // RFC 9110 §7.6.1 lets a client name fields for removal; the router
        // removes them before it adds its own, so it cannot be made to drop those.
        (
            "Connection naming the router's fields",
            format!(
                "GET /headers HTTP/1.1\r\nHost: a\r\n\
                 Connection: X-Request-Id, Forwarded, X-Forwarded-For, X-Forwarded-Host\r\n{forged}\r\n"
            ),
            "a",
        ),
        // RFC 9112 §3.2.2: the absolute-form target wins over Host (nginx too).
        (
            "absolute form and Host",
            "GET http://abs.example/headers HTTP/1.1\r\nHost: other\r\n\r\n".to_owned(),
            "abs.example",
        ),
        (
            "Host with a port",
            "GET /headers HTTP/1.1\r\nHost: a:8080\r\n\r\n".to_owned(),
            "a:8080",
        ),
        (
            "Host as an IPv6 literal",
            "GET /headers HTTP/1.1\r\nHost: [::1]:80\r\n\r\n".to_owned(),
            "[::1]:80",
        ),
        // RFC 9112 §2.2: a recipient MAY take a bare LF as a line end; nginx does.
        (
            "bare LF line ends",
            "GET /headers HTTP/1.1\nHost: a\n\n".to_owned(),
            "a",
        ),
        // Underscored names pass as sent, under their own name: nginx drops
        // them, and the WSGI adapter does (where `_` and `-` would meet).
        (
            "an underscored look-alike",
            "GET /headers HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 6.6.6.6\r\n\r\n".to_owned(),
            "a",
        ),
    ];
    for (case, request, host) in &cases {
        let (json, _) = forwarded(&router, request.as_bytes()).await;
        assert_vouched(&json, host, case);
    }
    let (json, _) = forwarded(&router, cases[6].1.as_bytes()).await;
    assert_eq!(values(&json, "x_forwarded_for"), ["6.6.6.6"]);
    let (json, _) = forwarded(&router, cases[1].1.as_bytes()).await;
    assert!(
        !json["headers"]
            .as_object()
            .unwrap()
            .contains_key("connection"),
        "hop-by-hop"
    );

    // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and the
    // connection closes after (hyper hides the Content-Length, so the router
    // cannot refuse the pair as nginx does).
    let (json, closed) = forwarded(
        &router,
        b"POST /headers HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert!(closed, "a request framed two ways closes its connection");
    assert!(values(&json, "content-length").is_empty());
    assert_vouched(&json, "a", "Content-Length and chunked");
}

// ---- Trailers ----

/// RFC 9110 §6.5.1: request trailers lose every field that may not follow the
/// content, and every field the router vouches for; the rest reach the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_trailers_cannot_carry_router_fields() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let mut bad = BadWorker::register(&router.endpoint, "bad", &[], 8).await;
    router.wait_workers(1, STARTUP).await;
    let forged = [
        ("x-forwarded-for", "6.6.6.6"),
        ("forwarded", "for=6.6.6.6"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil"),
        ("x-request-id", "forged"),
        ("host", "evil"),
        ("content-length", "1"),
        ("authorization", "Basic Zm9yZ2Vk"),
        ("x-checksum", "1"),
    ];
    for h2 in [false, true] {
        let client = if h2 {
            let url = router.url("/t");
            tokio::spawn(async move { send_h2_with_trailers(&url, &forged).await })
        } else {
            let addr = router.http;
            tokio::spawn(async move {
                let mut conn = RawConn::connect(addr).await;
                let mut request = b"POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n".to_vec();
                for (n, v) in forged {
                    request.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
                }
                request.extend_from_slice(b"\r\n");
                conn.send(&request).await;
                conn.read_response(false).await.status
            })
        };
        let id = bad.expect_syn().await.stream_id();
        let trailers = loop {
            match bad
                .expect("HEADERS", |f| {
                    matches!(f, Frame::Headers(_) | Frame::Data(_))
                })
                .await
            {
                Frame::Headers(h) => break h.headers().clone(),
                Frame::Data(d) => assert!(!d.is_fin(), "h2={h2}: FIN before the trailers"),
                _ => unreachable!(),
            }
        };
        let names: Vec<String> = trailers
            .iter()
            .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
            .collect();
        assert_eq!(names, ["x-checksum"], "h2={h2}: {trailers:?}");
        bad.answer_ok(id, b"ok");
        assert_eq!(client.await.unwrap(), 200);
    }
}

async fn send_h2_with_trailers(url: &str, fields: &[(&'static str, &'static str)]) -> u16 {
    use http_body_util::BodyExt;
    let mut trailers = http::HeaderMap::new();
    for (n, v) in fields {
        // HTTP/2 forbids a connection-specific field anywhere: leave those to HTTP/1.
        if *n != "host" {
            trailers.insert(*n, v.parse().unwrap());
        }
    }
    let body = http_body_util::Full::new(Bytes::from_static(b"abc"))
        .with_trailers(async move { Some(Ok(trailers)) });
    let req = http::Request::post(url).body(body.boxed()).unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let res = tokio::time::timeout(WAIT, client.request(req))
        .await
        .expect("answered in time")
        .expect("request");
    res.status().as_u16()
}

// ---- A worker's broken response framing ----

fn head_with_length(n: &str) -> HeaderBlock {
    let mut head = ok_head();
    head.insert("content-length", n.to_owned()).unwrap();
    head
}

/// A worker that sends more than its content-length: the client gets the
/// declared bytes as a complete response (as nginx and gunicorn give), and
/// the router logs the worker's protocol error by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_past_its_content_length_is_cut_at_it() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let mut bad = BadWorker::register(&router.endpoint, "bad", &[], 8).await;
    router.wait_workers(1, STARTUP).await;
    let mut conn = RawConn::connect(router.http).await;
    conn.send(b"GET /over HTTP/1.1\r\nHost: a\r\n\r\n").await;
    let id = bad.expect_syn().await.stream_id();
    let mut data = Data::new(id, Bytes::from_static(b"01234567890123456789"));
    data.set_fin(true);
    bad.send_frames([SynReply::new(id, head_with_length("5")).into(), data.into()]);
    let res = conn.read_response(false).await;
    assert_eq!((res.status, res.body.as_slice()), (200, &b"01234"[..]));
    router.proc.logs.wait_for(
        &["WARN", "worker broke the protocol", "bad", "PROTOCOL_ERROR"],
        WAIT,
    );
    // The response was framed right: the connection serves the next request.
    conn.send(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n").await;
    let id = bad.expect_syn().await.stream_id();
    bad.answer_ok(id, b"next");
    assert_eq!(conn.read_response(false).await.body, b"next");
}

/// A worker that ends short of its content-length: the client gets the bytes
/// that came, then the connection closes (no reset, no silent success).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_short_of_its_content_length_is_sent_then_closed() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let mut bad = BadWorker::register(&router.endpoint, "bad", &[], 8).await;
    router.wait_workers(1, STARTUP).await;
    let mut conn = RawConn::connect(router.http).await;
    conn.send(b"GET /short HTTP/1.1\r\nHost: a\r\n\r\n").await;
    let id = bad.expect_syn().await.stream_id();
    let mut data = Data::new(id, Bytes::from_static(b"0123456789"));
    data.set_fin(true);
    bad.send_frames([
        SynReply::new(id, head_with_length("100")).into(),
        data.into(),
    ]);
    let head = conn.read_head().await;
    assert_eq!(head.status, 200);
    assert_eq!(
        conn.read_to_end().await,
        b"0123456789",
        "the bytes that came, then the close"
    );
    router.proc.logs.wait_for(
        &["WARN", "worker broke the protocol", "bad", "PROTOCOL_ERROR"],
        WAIT,
    );
}

// ---- Answers to clients that are still sending ----

/// A client that writes its whole body before it reads (as most libraries
/// do) and gets an early answer: blocking std I/O, like Python's http.client.
fn post_then_read(addr: SocketAddr, path: &str, size: usize) -> Result<String, String> {
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {size}\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let chunk = vec![b'x'; 64 * 1024];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        s.write_all(&chunk[..n])
            .map_err(|e| format!("write: {e}"))?;
        left -= n;
    }
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// RFC 9112 §9.6: 413 before the body is read reaches clients that are still
/// sending 5–10 MB, instead of a reset (which 50 of 50 such clients got).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_413_reaches_a_client_still_sending() {
    let (router, _app) = router_with_app(&["--max-body-size", "1000000"]).await;
    let addr = router.http;
    let clients: Vec<_> = (0..8)
        .map(|i| {
            tokio::task::spawn_blocking(move || {
                post_then_read(addr, "/echo", 5_000_000 + i * 600_000)
            })
        })
        .collect();
    for client in clients {
        assert_eq!(
            client.await.unwrap().as_deref(),
            Ok("HTTP/1.1 413 Payload Too Large")
        );
    }
}

/// A worker that dies mid-upload: the 502 reaches the client that is still
/// sending, and the request (a POST) is not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_502_after_a_worker_death_mid_upload_reaches_the_client() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let mut bad = BadWorker::register(&router.endpoint, "bad", &[], 8).await;
    router.wait_workers(1, STARTUP).await;
    let addr = router.http;
    let client = tokio::task::spawn_blocking(move || post_then_read(addr, "/upload", 8_000_000));
    bad.expect_syn().await;
    drop(bad);
    assert_eq!(
        client.await.unwrap().as_deref(),
        Ok("HTTP/1.1 502 Bad Gateway")
    );
}

// ---- Retries after worker deaths ----

/// A request that kills each worker it reaches (a query of death) is retried
/// at most --max-retries times (default 1): it costs two workers, not the
/// pool, and the router logs it with its request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_of_death_is_retried_once() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let mut pool = Vec::new();
    for i in 0..3 {
        pool.push(BadWorker::register(&router.endpoint, &format!("w{i}"), &[], 1).await);
    }
    router.wait_workers(3, STARTUP).await;
    let url = router.url("/death");
    let client = tokio::spawn(async move { get(&url).await });
    // Each worker that gets the request dies (its socket closes).
    let deadline = std::time::Instant::now() + WAIT;
    let mut died = 0;
    while died < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{died} workers got the request"
        );
        let mut got = None;
        for (i, w) in pool.iter_mut().enumerate() {
            if let Some(Frame::SynStream(_)) = w.next(Duration::from_millis(50)).await {
                got = Some(i);
                break;
            }
        }
        if let Some(i) = got {
            drop(pool.remove(i));
            died += 1;
        }
    }
    let (status, _) = tokio::time::timeout(WAIT, client)
        .await
        .expect("answered in time")
        .unwrap()
        .expect("answered");
    assert_eq!(status, 502);
    router
        .proc
        .logs
        .wait_for(&["not retried", "max-retries", "request_id"], WAIT);
    // The survivor never saw it: its first request is the next one.
    let survivor = &mut pool[0];
    let url = router.url("/after");
    let next = tokio::spawn(async move { get(&url).await });
    let syn = survivor.expect_syn().await;
    assert_eq!(
        syn.headers().get(":path").map(|v| v.to_vec()),
        Some(b"/after".to_vec()),
        "the survivor's first request"
    );
    survivor.answer_ok(syn.stream_id(), b"ok");
    assert_eq!(next.await.unwrap().unwrap().0, 200);
}

// ---- HTTP/2 ----

/// RFC 9113 §8.3.1: a `host` field naming another authority than
/// `:authority`, or two of them, make the request malformed: 400, not
/// forwarded. A `host` equal to `:authority` (in any case) is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_host_must_agree_with_authority() {
    let (router, _app) = router_with_app(&[]).await;
    let tcp = tokio::net::TcpStream::connect(router.http)
        .await
        .expect("connect");
    let (h2, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(connection);
    let mut h2 = h2.ready().await.expect("h2 ready");
    for (hosts, status) in [
        (&["evil"][..], 400),
        (&["a", "evil"][..], 400),
        (&["a", "a"][..], 400),
        (&["A"][..], 200),
        (&[][..], 200),
    ] {
        let mut req = http::Request::get("http://a/headers").body(()).unwrap();
        for h in hosts {
            req.headers_mut()
                .append(http::header::HOST, h.parse().unwrap());
        }
        let (res, _) = h2.send_request(req, true).expect("send");
        let res = tokio::time::timeout(WAIT, res)
            .await
            .expect("answered in time")
            .expect("response");
        assert_eq!(res.status().as_u16(), status, "host fields {hosts:?}");
        if status == 200 {
            let mut body = res.into_body();
            let mut bytes = Vec::new();
            while let Some(chunk) = body.data().await {
                bytes.extend_from_slice(&chunk.expect("body"));
            }
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_vouched(&json, "a", "h2");
        }
        h2 = h2.ready().await.expect("the connection stays usable");
    }
}
