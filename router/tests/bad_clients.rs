//! Hostile HTTP clients at the router: slowloris, oversized heads, invalid
//! HTTP and an HTTP/2 rapid-reset flood. Each gets a bounded answer (a status
//! or a closed connection), the rejection is logged with the client's
//! address, and a well-behaved client is served while the attack goes on.
//!
//! Real processes on loopback: the router binary and the test app.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zroute_test_support::http::{get, h2_client};
use zroute_test_support::process::{Proc, worker};
use zroute_test_support::router_process::Router;

const STARTUP: Duration = Duration::from_secs(20);

async fn router_with_app(extra: &[&str]) -> (Router, Proc) {
    let router = Router::start("tcp://127.0.0.1:*", extra);
    let app = worker("testapp", "app", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    (router, app)
}

/// A well-behaved client: `n` GETs of /hello, each must be 200.
async fn served(router: &Router, n: usize) {
    for _ in 0..n {
        let (status, body) = get(&router.url("/hello")).await.expect("GET /hello");
        assert_eq!((status, &body[..]), (200, &b"Hello from app"[..]));
    }
}

/// The router's log line that rejects `client`, waited for.
fn rejection_logged(router: &Router, client: SocketAddr, what: &str) -> String {
    router.proc.logs.wait_for(
        &[&format!("\"client\":\"{client}\""), what],
        Duration::from_secs(10),
    )
}

/// Sends `bytes` and reads until the router closes: the whole answer.
async fn answer_to(router: &Router, bytes: &[u8]) -> (SocketAddr, String) {
    let mut conn = TcpStream::connect(router.http).await.expect("connect");
    let me = conn.local_addr().expect("local addr");
    // The router may close before it has read everything: ignore write errors.
    let _ = conn.write_all(bytes).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
        .await
        .expect("the router closed the connection");
    (me, String::from_utf8_lossy(&answer).into_owned())
}

/// Slowloris: heads sent a byte at a time, never finished. The router closes
/// each connection once --idle-timeout (also the head-read timeout) passes,
/// and serves other clients meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_cut_off_and_others_are_served() {
    let (router, _app) = router_with_app(&["--idle-timeout", "1s"]).await;
    let mut attackers = Vec::new();
    for _ in 0..20 {
        let mut conn = TcpStream::connect(router.http).await.expect("connect");
        let me = conn.local_addr().expect("local addr");
        attackers.push((
            me,
            tokio::spawn(async move {
                conn.write_all(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                    .await
                    .expect("first bytes");
                // One byte per 50 ms for as long as the router takes them
                // (pacing the attack, not waiting for an event).
                let mut sent = 0_u32;
                loop {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if conn.write_all(b"a").await.is_err() {
                        return sent;
                    }
                    sent += 1;
                    let mut byte = [0u8; 1];
                    if let Ok(Ok(0)) =
                        tokio::time::timeout(Duration::from_millis(1), conn.read(&mut byte)).await
                    {
                        return sent;
                    }
                    assert!(sent < 1200, "a slow head was still read after 60 s");
                }
            }),
        ));
    }
    served(&router, 10).await;
    for (client, attacker) in attackers {
        let sent = tokio::time::timeout(Duration::from_secs(70), attacker)
            .await
            .expect("the router closed the slow connection")
            .expect("attacker task");
        assert!(sent < 1200);
        let line = rejection_logged(&router, client, "client rejected");
        assert!(
            line.contains("timeout") || line.contains("timed out"),
            "{line}"
        );
    }
    served(&router, 3).await;
}

/// Heads above --max-header-size, and with more fields than hyper's 100, are
/// 431; the client's address is in the log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_are_431_and_logged() {
    let (router, _app) = router_with_app(&["--max-header-size", "4096"]).await;
    let big = format!(
        "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "v".repeat(64 * 1024)
    );
    let many: String = (0..200).map(|i| format!("X-F{i}: v\r\n")).collect();
    let many = format!("GET /hello HTTP/1.1\r\nHost: t\r\n{many}\r\n");
    for head in [big, many] {
        let ((client, answer), ()) =
            tokio::join!(answer_to(&router, head.as_bytes()), served(&router, 3));
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
        rejection_logged(&router, client, "client rejected");
    }
    served(&router, 1).await;
}

/// A malformed HTTP/1 request gets 400 and a closed connection, logged with
/// the client's address; bytes that are no request line at all get the
/// connection closed without an answer (they are taken for an invalid HTTP/2
/// preface, RFC 9113 §3.4), logged the same way; a request the router itself
/// refuses (no Host) is logged too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_http_is_400_and_logged() {
    let (router, _app) = router_with_app(&[]).await;
    let not_http = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n";
    let ((client, answer), ()) = tokio::join!(answer_to(&router, not_http), served(&router, 2));
    assert_eq!(
        answer, "",
        "no HTTP/1.1 answer to bytes that are not HTTP/1"
    );
    rejection_logged(&router, client, "client rejected");
    let cases: [&[u8]; 3] = [
        b"GET /hello HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n",
        b"GET /hello HTTP/9.9\r\nHost: t\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    ];
    for case in cases {
        let ((client, answer), ()) = tokio::join!(answer_to(&router, case), served(&router, 2));
        assert!(
            answer.starts_with("HTTP/1.1 400 ") || answer.starts_with("HTTP/1.1 505 "),
            "{:?}: {answer}",
            String::from_utf8_lossy(case)
        );
        rejection_logged(&router, client, "client rejected");
    }
    let (client, answer) = answer_to(&router, b"GET /hello HTTP/1.0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.0 400 "), "{answer}");
    rejection_logged(&router, client, "request rejected");
}

/// HTTP/2 rapid reset: a client opens streams and resets each at once. The
/// connection gets GOAWAY after --h2-max-reset-streams such resets, so the
/// flood is cut short; nothing stays in flight; another client is served
/// throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_rapid_reset_flood_gets_goaway() {
    const FLOOD: usize = 5_000;
    let (router, _app) = router_with_app(&["--h2-max-reset-streams", "10"]).await;
    let tcp = TcpStream::connect(router.http).await.expect("connect");
    let client = tcp.local_addr().expect("local addr");
    let (mut h2, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let connection = tokio::spawn(connection);
    let url = router.url("/slow?ms=5000");
    let flood = async {
        let mut opened = 0;
        while opened < FLOOD {
            let Ok(ready) = h2.clone().ready().await else {
                break;
            };
            h2 = ready;
            let req = http::Request::get(&url).body(()).unwrap();
            let Ok((_response, mut stream)) = h2.send_request(req, false) else {
                break;
            };
            stream.send_reset(h2::Reason::CANCEL);
            opened += 1;
        }
        opened
    };
    let (opened, ()) = tokio::join!(flood, served(&router, 5));
    let ended = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the router ended the flooding connection")
        .expect("connection task");
    let error = ended.expect_err("the flooding connection ends with an error");
    // The router sends GOAWAY(ENHANCE_YOUR_CALM) and closes; a client still
    // writing resets may hit the closed socket (EPIPE) before it reads the
    // GOAWAY. Either way the router ended the connection.
    assert!(
        (error.is_go_away() && error.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM))
            || error.is_io(),
        "{error:?}"
    );
    assert!(opened < FLOOD, "all {opened} streams were accepted");
    rejection_logged(&router, client, "client rejected");
    // Whatever reached a worker is cancelled and accounted for.
    router.wait_in_flight(0, Duration::from_secs(10)).await;
    // HTTP/2 on a fresh connection still works.
    let req = http::Request::get(router.url("/hello"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = h2_client().request(req).await.expect("h2 request");
    assert_eq!(res.status(), 200);
}
