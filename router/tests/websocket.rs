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
    assert!(
        router
            .proc
            .logs
            .contains("no worker for this route accepts WebSockets"),
        "the refusal is logged"
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
