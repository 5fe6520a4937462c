//! WebSockets end to end (spec #websocket): a real client (tokio-tungstenite)
//! through the real router to the Rust test app's `/ws/echo`, over HTTP/1.1.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};
use zroute_test_support::cert::tls_connect;
use zroute_test_support::process::worker;
use zroute_test_support::router_process::Router;

const STARTUP: Duration = Duration::from_secs(20);
/// Any one exchange must finish within this.
const BOUND: Duration = Duration::from_secs(20);

type Client = WebSocketStream<TcpStream>;

async fn connect(
    router: &Router,
    path: &str,
    protocols: Option<&str>,
) -> Result<Client, tungstenite::Error> {
    let tcp = TcpStream::connect(router.http)
        .await
        .expect("router accepts");
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{}{path}",
        router.http
    ))?;
    if let Some(p) = protocols {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", p.parse().unwrap());
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let (client, response) = client_async_with_config(request, tcp, Some(config)).await?;
    // The test app selects `echo` when offered, and nothing otherwise.
    let selected = response.headers().get("sec-websocket-protocol");
    let offered_echo = protocols.is_some_and(|p| p.split(',').any(|p| p.trim() == "echo"));
    assert_eq!(selected.is_some_and(|v| v == "echo"), offered_echo);
    assert_eq!(selected.is_some(), offered_echo);
    Ok(client)
}

async fn next(client: &mut Client) -> Message {
    match tokio::time::timeout(BOUND, client.next()).await {
        Ok(Some(Ok(message))) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The close frame the client gets, skipping nothing else.
/// Then reads on until the connection ends, which sends the client's
/// answer to the close (tungstenite queues it as it reads the close).
async fn close_of(client: &mut Client) -> Option<CloseFrame> {
    let frame = match next(client).await {
        Message::Close(frame) => frame,
        other => panic!("expected a close, got {other:?}"),
    };
    let end = tokio::time::timeout(BOUND, async {
        while let Some(Ok(_)) = client.next().await {}
    });
    end.await.expect("the connection ends after the close");
    frame
}

/// Prints the router's log when a test fails.
struct DumpLogs<'a>(&'a Router);
impl Drop for DumpLogs<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for l in self.0.proc.logs.lines() {
                eprintln!("router: {l}");
            }
        }
    }
}

async fn start() -> (Router, zroute_test_support::process::Proc) {
    let router = Router::start(
        "tcp://127.0.0.1:*",
        &["--ws-max-message", "17000000", "--log-level", "debug"],
    );
    let app = worker("testapp", "app", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    (router, app)
}

/// spec: #test-app-ws-echo — the Rust test app's echo, through the router.
#[tokio::test]
async fn echo_text_binary_and_a_16_mib_message_then_client_close() {
    let (router, _app) = start().await;
    let _logs = DumpLogs(&router);
    let mut client = connect(&router, "/ws/echo", Some("chat, echo"))
        .await
        .unwrap();
    client.send(Message::text("héllo")).await.unwrap();
    assert_eq!(next(&mut client).await, Message::text("héllo"));
    client
        .send(Message::binary(vec![0u8, 255, 7]))
        .await
        .unwrap();
    assert_eq!(next(&mut client).await, Message::binary(vec![0u8, 255, 7]));
    let big: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    client.send(Message::binary(big.clone())).await.unwrap();
    match next(&mut client).await {
        Message::Binary(got) => assert!(got[..] == big[..], "the 16 MiB echo differs"),
        other => panic!("expected the 16 MiB echo, got {other:?}"),
    }
    // A fragmented message, with a ping between its fragments: the router
    // reassembles it and answers the ping itself.
    let fragments = [
        Frame::message("frag", OpCode::Data(Data::Text), false),
        Frame::ping(b"p".to_vec()),
        Frame::message("mented", OpCode::Data(Data::Continue), true),
    ];
    for frame in fragments {
        client.send(Message::Frame(frame)).await.unwrap();
    }
    let mut saw_pong = false;
    loop {
        match next(&mut client).await {
            Message::Pong(p) => {
                assert_eq!(&p[..], b"p");
                saw_pong = true;
            }
            Message::Text(t) => {
                assert_eq!(t.as_str(), "fragmented");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_pong, "the router answers pings");
    client
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        }))
        .await
        .unwrap();
    let frame = close_of(&mut client).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1000);
}

/// spec: #websocket-close — the worker's CLOSE record reaches the client as its close frame.
#[tokio::test]
async fn the_worker_closes_with_its_code_and_reason() {
    let (router, _app) = start().await;
    let mut client = connect(&router, "/ws/echo", None).await.unwrap();
    client.send(Message::text("hello")).await.unwrap();
    assert_eq!(next(&mut client).await, Message::text("hello"));
    router
        .wait_metric("zroute_websockets_open", 1.0, BOUND)
        .await;
    let text = router.metrics().await;
    let sample = |prefix| zroute_test_support::router_process::metric(&text, prefix);
    assert_eq!(
        sample("zroute_websocket_messages_total{direction=\"in\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample("zroute_websocket_bytes_total{direction=\"out\"}"),
        Some(5.0)
    );
    client.send(Message::text("close:4000:done")).await.unwrap();
    let frame = close_of(&mut client).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 4000);
    assert_eq!(frame.reason.as_str(), "done");
    router
        .wait_metric("zroute_websockets_open", 0.0, BOUND)
        .await;
}

#[tokio::test]
async fn a_dead_worker_closes_with_1011() {
    let (router, mut app) = start().await;
    let mut client = connect(&router, "/ws/echo", None).await.unwrap();
    client.send(Message::text("x")).await.unwrap();
    assert_eq!(next(&mut client).await, Message::text("x"));
    app.child.kill().expect("kill -9");
    let frame = close_of(&mut client).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1011);
}

#[tokio::test]
async fn oversized_and_invalid_messages_are_refused_with_their_codes() {
    let (router, _app) = start().await;
    let mut client = connect(&router, "/ws/echo", None).await.unwrap();
    client
        .send(Message::binary(vec![1u8; 17_000_001]))
        .await
        .unwrap();
    let frame = close_of(&mut client).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1009);

    let mut client = connect(&router, "/ws/echo", None).await.unwrap();
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Text),
        ..FrameHeader::default()
    };
    let invalid = Frame::from_payload(header, vec![0xc3u8, 0x28].into());
    client.send(Message::Frame(invalid)).await.unwrap();
    let frame = close_of(&mut client).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1007);
}

#[tokio::test]
async fn refusals_are_http_responses() {
    let (router, _app) = start().await;
    // The app refuses other paths with 404.
    match connect(&router, "/ws/other", None).await {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 404),
        other => panic!("expected a 404 refusal, got {other:?}"),
    }
    // A worker that did not announce `websocket` gets no WebSocket: 501, not a GET.
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let _hello = worker("hello", "plain", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    match connect(&router, "/ws/echo", None).await {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 501),
        other => panic!("expected 501, got {other:?}"),
    }
    // The log line comes through the router's stderr, read by another
    // thread: wait for it rather than look once.
    router.proc.logs.wait_for(
        &["no worker for this route accepts WebSockets"],
        Duration::from_secs(10),
    );
}

/// spec: #websocket-close — a draining worker closes its WebSockets with 1001.
#[tokio::test]
async fn a_draining_worker_closes_with_1001() {
    let (router, app) = start().await;
    let mut client = connect(&router, "/ws/echo", None).await.unwrap();
    client.send(Message::text("x")).await.unwrap();
    assert_eq!(next(&mut client).await, Message::text("x"));
    app.signal("TERM");
    let frame = close_of(&mut client).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1001);
}

#[tokio::test]
async fn a_draining_router_closes_with_1001_after_the_grace() {
    let router = Router::start("tcp://127.0.0.1:*", &["--ws-drain-grace", "100ms"]);
    let _app = worker("testapp", "app", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    let mut client = connect(&router, "/ws/echo", None).await.unwrap();
    client.send(Message::text("x")).await.unwrap();
    assert_eq!(next(&mut client).await, Message::text("x"));
    router.proc.signal("TERM");
    let frame = close_of(&mut client).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1001);
    assert_eq!(frame.reason.as_str(), "the router is going away");
}

/// A WebSocket over HTTP/2 on `io` (RFC 8441's extended CONNECT), with the
/// subprotocol the router's 200 selected.
async fn over_h2<I>(
    io: I,
    authority: &str,
) -> (
    WebSocketStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>,
    Option<String>,
)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(io),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("https://{authority}/ws/echo"))
        .header("sec-websocket-version", "13")
        .header("sec-websocket-protocol", "echo")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let mut res = sender.send_request(req).await.expect("extended CONNECT");
    assert_eq!(
        res.status(),
        200,
        "the router accepts an extended CONNECT with 200"
    );
    let protocol = res
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    let upgraded = hyper::upgrade::on(&mut res)
        .await
        .expect("the stream is the tunnel");
    let ws = WebSocketStream::from_raw_socket(
        hyper_util::rt::TokioIo::new(upgraded),
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    (ws, protocol)
}

/// Echo of text, binary and a fragmented message, then the worker's close
/// with its code: what every worker and every client transport must carry.
async fn echo_exchange<S>(ws: &mut WebSocketStream<S>, what: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let read =
        async |ws: &mut WebSocketStream<S>| match tokio::time::timeout(BOUND, ws.next()).await {
            Ok(Some(Ok(message))) => message,
            other => panic!("{what}: expected a message, got {other:?}"),
        };
    ws.send(Message::text(format!("hello {what}")))
        .await
        .unwrap();
    assert_eq!(
        read(ws).await,
        Message::text(format!("hello {what}")),
        "{what}"
    );
    ws.send(Message::binary(vec![0u8, 1, 255])).await.unwrap();
    assert_eq!(read(ws).await, Message::binary(vec![0u8, 1, 255]), "{what}");
    for frame in [
        Frame::message("frag", OpCode::Data(Data::Text), false),
        Frame::message("ment", OpCode::Data(Data::Continue), true),
    ] {
        ws.send(Message::Frame(frame)).await.unwrap();
    }
    assert_eq!(read(ws).await, Message::text("fragment"), "{what}");
    ws.send(Message::text("close:4005:bye")).await.unwrap();
    match read(ws).await {
        Message::Close(Some(frame)) => {
            assert_eq!(
                (u16::from(frame.code), frame.reason.as_str()),
                (4005, "bye"),
                "{what}"
            );
        }
        other => panic!("{what}: expected the worker's close, got {other:?}"),
    }
}

/// RFC 8441: the same WebSocket over HTTP/2 (h2c), as an extended CONNECT;
/// the router answers 200 and the worker sees the GET it stands for.
#[tokio::test]
async fn http2_extended_connect() {
    let (router, _app) = start().await;
    let tcp = TcpStream::connect(router.http).await.unwrap();
    let (mut ws, protocol) = over_h2(tcp, &router.http.to_string()).await;
    assert_eq!(protocol.as_deref(), Some("echo"));
    echo_exchange(&mut ws, "h2c").await;
}

/// Over TLS: wss:// with ALPN http/1.1, and HTTP/2 with ALPN h2.
#[tokio::test]
async fn over_tls() {
    let cert = zroute_test_support::cert::self_signed();
    let router = Router::start(
        "tcp://127.0.0.1:*",
        &[
            "--tls-cert",
            cert.cert.to_str().unwrap(),
            "--tls-key",
            cert.key.to_str().unwrap(),
        ],
    );
    let _app = worker("testapp", "app", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    let stream = tls_connect(router.http, &cert, &[b"http/1.1"]).await.0;
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/ws/echo", stream)
        .await
        .expect("the WebSocket handshake over TLS");
    echo_exchange(&mut ws, "wss").await;
    let stream = tls_connect(router.http, &cert, &[b"h2"]).await.0;
    let (mut ws, _) = over_h2(stream, "localhost").await;
    echo_exchange(&mut ws, "h2 over TLS").await;
}

/// Every worker of `ZROUTE_WS_WORKERS` (`NAME=COMMAND` pairs separated by
/// `;`, `{endpoint}` in COMMAND replaced; scripts/test passes the Go, Node
/// and Python test apps) and the Rust test app, each over HTTP/1.1, TLS and
/// HTTP/2 over TLS.
#[tokio::test]
async fn every_worker_over_http1_tls_and_http2() {
    let mut workers = vec![(
        "rust".to_owned(),
        format!(
            "{} ws-rust --connect {{endpoint}}",
            zroute_test_support::process::example("testapp").display()
        ),
    )];
    if let Ok(list) = std::env::var("ZROUTE_WS_WORKERS") {
        for item in list.split(';').filter(|i| !i.trim().is_empty()) {
            let (name, command) = item.split_once('=').expect("NAME=COMMAND");
            workers.push((name.trim().to_owned(), command.trim().to_owned()));
        }
    }
    let cert = zroute_test_support::cert::self_signed();
    for (name, command) in workers {
        let plain = Router::start("tcp://127.0.0.1:*", &[]);
        let secure = Router::start(
            "tcp://127.0.0.1:*",
            &[
                "--tls-cert",
                cert.cert.to_str().unwrap(),
                "--tls-key",
                cert.key.to_str().unwrap(),
            ],
        );
        let mut procs = Vec::new();
        for router in [&plain, &secure] {
            let line = command.replace("{endpoint}", &router.endpoint);
            let mut parts = line.split_whitespace();
            let mut cmd = std::process::Command::new(parts.next().expect("a command"));
            cmd.args(parts);
            procs.push(zroute_test_support::process::spawn_worker(cmd));
            router.wait_workers(1, STARTUP).await;
        }
        let mut ws = connect(&plain, "/ws/echo", Some("echo")).await.unwrap();
        echo_exchange(&mut ws, &format!("{name} over HTTP/1.1")).await;
        let stream = tls_connect(secure.http, &cert, &[b"http/1.1"]).await.0;
        let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/ws/echo", stream)
            .await
            .expect("the WebSocket handshake over TLS");
        echo_exchange(&mut ws, &format!("{name} over TLS")).await;
        let stream = tls_connect(secure.http, &cert, &[b"h2"]).await.0;
        let (mut ws, protocol) = over_h2(stream, "localhost").await;
        assert_eq!(protocol.as_deref(), Some("echo"), "{name}");
        echo_exchange(&mut ws, &format!("{name} over HTTP/2")).await;
        eprintln!("{name}: echo and close over HTTP/1.1, TLS and HTTP/2");
    }
}

/// The router's peak resident set, from /proc (VmHWM).
fn peak_rss_kib(router: &Router) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", router.proc.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmHWM")
}

/// 1,000 idle WebSockets held open through the router: its memory per open
/// socket stays small (printed, for docs/websocket.md), and every socket
/// still answers afterwards.
#[tokio::test]
async fn a_thousand_idle_websockets() {
    const SOCKETS: usize = 1000;
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let _app = worker("testapp", "app", &router.endpoint, &["--capacity", "1000"]);
    router.wait_workers(1, STARTUP).await;
    let mut first = connect(&router, "/ws/echo", None).await.unwrap();
    first.send(Message::text("warm")).await.unwrap();
    assert_eq!(next(&mut first).await, Message::text("warm"));
    let before = router.proc.rss_kib();
    let mut clients = Vec::with_capacity(SOCKETS);
    for _ in 1..SOCKETS {
        clients.push(connect(&router, "/ws/echo", None).await.unwrap());
    }
    clients.push(first);
    router
        .wait_metric("zroute_websockets_open", SOCKETS as f64, BOUND)
        .await;
    let after = router.proc.rss_kib();
    let per_socket = after.saturating_sub(before) as f64 / SOCKETS as f64;
    eprintln!(
        "router RSS: {before} KiB with one WebSocket, {after} KiB with {SOCKETS}: {per_socket:.1} KiB per socket"
    );
    assert!(
        per_socket < 48.0,
        "{per_socket:.1} KiB per idle WebSocket ({before} -> {after} KiB)"
    );
    for (i, client) in clients.iter_mut().enumerate().step_by(97) {
        let text = format!("still here {i}");
        client.send(Message::text(text.clone())).await.unwrap();
        assert_eq!(next(client).await, Message::text(text));
    }
}

/// A client that reads slowly while the worker echoes 64 MiB at it: the
/// router holds a message and the windows, not what the client has not read.
#[tokio::test]
async fn a_slow_reader_does_not_grow_the_router() {
    const MESSAGES: usize = 64;
    let (router, _app) = start().await;
    let client = connect(&router, "/ws/echo", None).await.unwrap();
    let baseline = peak_rss_kib(&router);
    let (mut sink, mut stream) = client.split();
    let sender = tokio::spawn(async move {
        let message = vec![7u8; 1 << 20];
        for _ in 0..MESSAGES {
            sink.send(Message::binary(message.clone())).await.unwrap();
        }
        sink
    });
    let mut received = 0;
    while received < MESSAGES {
        match tokio::time::timeout(BOUND, stream.next()).await {
            Ok(Some(Ok(Message::Binary(data)))) => {
                assert_eq!(data.len(), 1 << 20);
                received += 1;
                // The slow reader: it takes its time over each message.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("expected an echo, got {other:?}"),
        }
    }
    let _sink = sender.await.unwrap();
    let growth = peak_rss_kib(&router).saturating_sub(baseline);
    eprintln!("router peak RSS grew {growth} KiB while 64 MiB went each way to a slow reader");
    assert!(growth < 24 << 10, "the router grew {growth} KiB");
}

/// The handshake is checked at the edge (docs/security.md): each broken one
/// gets its status and reaches no worker.
#[tokio::test]
async fn broken_handshakes_are_refused_at_the_edge() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (router, _app) = start().await;
    let good_key = "dGhlIHNhbXBsZSBub25jZQ==";
    let cases: [(&str, String); 5] = [
        (
            "HTTP/1.1 426 ",
            format!("GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {good_key}\r\nSec-WebSocket-Version: 8\r\n\r\n"),
        ),
        (
            "HTTP/1.1 400 ",
            "GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n".to_owned(),
        ),
        (
            "HTTP/1.1 400 ",
            format!("GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Key: {good_key}\r\nSec-WebSocket-Version: 13\r\n\r\n"),
        ),
        (
            "HTTP/1.1 400 ",
            format!("POST /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {good_key}\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"),
        ),
        (
            "HTTP/1.1 400 ",
            format!("GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {good_key}\r\nSec-WebSocket-Key: {good_key}\r\nSec-WebSocket-Version: 13\r\n\r\n"),
        ),
    ];
    for (want, request) in cases {
        let mut tcp = TcpStream::connect(router.http).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        // The answer's head (a 426 keeps the connection; a 400 closes it).
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::time::timeout(BOUND, tcp.read(&mut chunk))
                .await
                .expect("the router answers")
                .unwrap();
            assert!(n > 0, "closed before a whole head: {answer:?}");
            answer.extend_from_slice(&chunk[..n]);
        }
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with(want), "{request:?} got {answer:?}");
        if want.contains("426") {
            assert!(
                answer
                    .to_ascii_lowercase()
                    .contains("sec-websocket-version: 13"),
                "{answer}"
            );
        }
    }
    let text = router.metrics().await;
    assert_eq!(
        zroute_test_support::router_process::metric(&text, "zroute_websockets_open"),
        Some(0.0)
    );
}

/// `--ws-idle-timeout`: a WebSocket with no message either way closes with
/// 1001; a message puts the deadline off.
#[tokio::test]
async fn an_idle_websocket_closes_with_1001() {
    let router = Router::start("tcp://127.0.0.1:*", &["--ws-idle-timeout", "400ms"]);
    let _app = worker("testapp", "app", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    let mut client = connect(&router, "/ws/echo", None).await.unwrap();
    let opened = std::time::Instant::now();
    // Messages every 100 ms for 800 ms: twice the timeout, never idle for long.
    for i in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.send(Message::text(format!("{i}"))).await.unwrap();
        assert_eq!(next(&mut client).await, Message::text(format!("{i}")));
    }
    let frame = close_of(&mut client).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1001);
    assert_eq!(frame.reason.as_str(), "idle timeout");
    assert!(
        opened.elapsed() >= Duration::from_millis(1200),
        "closed {:?} after opening",
        opened.elapsed()
    );
}
