//! Which HTTP version a client connection is served (issue 14): over TLS the
//! version ALPN agreed on and no other; where nothing was negotiated, the
//! HTTP/2 preface gets HTTP/2, an HTTP/1.x request line HTTP/1.1, and anything
//! else a closed connection (RFC 9113 §3.4), not an HTTP/1.1 400.
//!
//! Real processes on loopback: the router binary and the `hello` worker; the
//! client side is raw bytes over TCP or rustls, so that nothing is hidden.

use std::time::Duration;

use bytes::Bytes;
use http::Version;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zroute_test_support::cert::{self_signed, tls_connect};
use zroute_test_support::http::{RawConn, h2_client, request};
use zroute_test_support::process::{Proc, worker};
use zroute_test_support::router_process::Router;

const STARTUP: Duration = Duration::from_secs(20);
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// What h2spec sends in http2/3.5/2 ("Sends invalid connection preface").
const INVALID_PREFACE: &[u8] = b"INVALID CONNECTION PREFACE\r\n\r\n";

async fn router_with_hello(extra: &[&str]) -> (Router, Proc) {
    let router = Router::start("tcp://127.0.0.1:*", extra);
    let hello = worker("hello", "w1", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    (router, hello)
}

/// Cleartext: an invalid preface is not answered with HTTP/1.1, while HTTP/1.1
/// (well-formed or not) and the HTTP/2 preface are served as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartext_closes_an_invalid_preface_and_serves_http1_and_h2c() {
    let (router, _hello) = router_with_hello(&[]).await;

    let mut conn = RawConn::connect(router.http).await;
    conn.send(INVALID_PREFACE).await;
    let answer = conn.read_to_end().await;
    assert!(
        answer.is_empty(),
        "an invalid HTTP/2 preface gets a closed connection, not {:?}",
        String::from_utf8_lossy(&answer)
    );

    let mut conn = RawConn::connect(router.http).await;
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let res = conn.read_response(false).await;
    assert_eq!(res.status, 200, "{}", res.head);
    assert_eq!(res.body, b"Hello from w1");
    // The same connection after a leading empty line (RFC 9112 §2.2 lets a
    // server skip it; a fresh connection goes through the version check).
    let mut conn = RawConn::connect(router.http).await;
    conn.send(b"\r\nGET / HTTP/1.0\r\nHost: x\r\n\r\n").await;
    assert_eq!(conn.read_response(false).await.status, 200);

    // A malformed request line of an HTTP/1.1 client still gets its 400.
    let mut conn = RawConn::connect(router.http).await;
    conn.send(b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(conn.read_head().await.status, 400);

    // h2c with prior knowledge, sent a byte at a time: the version check
    // waits for the whole first line.
    let mut conn = RawConn::connect(router.http).await;
    for byte in PREFACE {
        conn.send(std::slice::from_ref(byte)).await;
    }
    conn.send(&settings_frame()).await;
    let answer = conn.read_until(&[0x04]).await;
    assert_eq!(
        answer.len(),
        4,
        "the router's first frame is SETTINGS: {answer:?}"
    );
    let res = request(&h2_client(), "GET", &router.url("/"), Bytes::new())
        .await
        .expect("h2c request");
    assert_eq!(res, (200, Bytes::from_static(b"Hello from w1")));
}

/// An empty SETTINGS frame (RFC 9113 §6.5).
fn settings_frame() -> [u8; 9] {
    [0, 0, 0, 0x04, 0, 0, 0, 0, 0]
}

/// TLS: after ALPN picked h2 the connection is HTTP/2 only, after http/1.1
/// HTTP/1.1 only; without ALPN both are served, as on cleartext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_only_the_alpn_protocol() {
    let cert = self_signed();
    let (router, _hello) = router_with_hello(&[
        "--tls-cert",
        cert.cert.to_str().unwrap(),
        "--tls-key",
        cert.key.to_str().unwrap(),
    ])
    .await;

    // ALPN h2, then HTTP/1.1 bytes: a connection error, not an HTTP/1.1 answer.
    let (mut tls, alpn) = tls_connect(router.http, &cert, &[b"h2"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_end(&mut tls).await;
    assert!(
        !answer.windows(9).any(|w| w == b"HTTP/1.1 "),
        "HTTP/1.1 served after ALPN h2: {:?}",
        String::from_utf8_lossy(&answer)
    );
    // Also h2spec's invalid preface, after ALPN h2.
    let (mut tls, _) = tls_connect(router.http, &cert, &[b"h2"]).await;
    tls.write_all(INVALID_PREFACE).await.unwrap();
    let answer = read_to_end(&mut tls).await;
    assert!(
        !answer.windows(9).any(|w| w == b"HTTP/1.1 "),
        "HTTP/1.1 served after ALPN h2: {:?}",
        String::from_utf8_lossy(&answer)
    );

    // ALPN http/1.1, then the HTTP/2 preface: not served as HTTP/2 (the
    // router's SETTINGS frame would come first).
    let (mut tls, alpn) = tls_connect(router.http, &cert, &[b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    tls.write_all(PREFACE).await.unwrap();
    tls.write_all(&settings_frame()).await.unwrap();
    let answer = read_to_end(&mut tls).await;
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 "),
        "HTTP/2 served after ALPN http/1.1: {answer:?}"
    );

    // ALPN h2 with a real client still works.
    let (tls, _) = tls_connect(router.http, &cert, &[b"h2"]).await;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let res = sender
        .send_request(
            http::Request::get("https://localhost/")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .expect("h2 over TLS");
    assert_eq!(
        (res.status().as_u16(), res.version()),
        (200, Version::HTTP_2)
    );

    // No ALPN: the first line decides, as on cleartext.
    let (mut tls, alpn) = tls_connect(router.http, &cert, &[]).await;
    assert_eq!(alpn, None);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_end(&mut tls).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200 "),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    let (tls, _) = tls_connect(router.http, &cert, &[]).await;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake without ALPN");
    tokio::spawn(conn);
    let res = sender
        .send_request(
            http::Request::get("https://localhost/")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .expect("h2 over TLS without ALPN");
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "Hello from w1");
    let (mut tls, _) = tls_connect(router.http, &cert, &[]).await;
    tls.write_all(INVALID_PREFACE).await.unwrap();
    assert_eq!(read_to_end(&mut tls).await, b"");
}

/// Everything the router sends until it closes (5 s at most per read).
async fn read_to_end<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut all = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("the router closes the connection in time")
            .unwrap_or(0);
        if n == 0 {
            return all;
        }
        all.extend_from_slice(&chunk[..n]);
    }
}
