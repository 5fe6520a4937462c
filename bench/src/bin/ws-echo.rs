//! The WebSocket peer of the bench's `websocket` scenario: a hyper HTTP/1.1
//! server that accepts every WebSocket upgrade and echoes each message, on a
//! one-worker-thread tokio runtime, as `hyper-hello` is for plain requests. It
//! is the upstream nginx proxies to; the router's side of the comparison is
//! the Rust test app's `/ws/echo`, the same echo behind zroute's worker API.
//! With `fastwebsockets` it echoes through that crate instead of
//! tokio-tungstenite (the router's): the bench measures both directly, which
//! is the measurement behind the router's choice (docs/websocket.md).
//!
//! Usage: `ws-echo [ADDR] [tungstenite|fastwebsockets]` (default 127.0.0.1:9200, tungstenite)

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

#[derive(Clone, Copy)]
enum Crate {
    Tungstenite,
    FastWebSockets,
}

async fn echo_tungstenite(upgraded: hyper::upgrade::Upgraded) {
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
    while let Some(Ok(message)) = ws.next().await {
        if message.is_close() {
            break;
        }
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            break;
        }
    }
}

async fn echo_fastwebsockets(upgraded: hyper::upgrade::Upgraded) {
    use fastwebsockets::{FragmentCollector, OpCode, Role as FastRole, WebSocket};
    let mut ws = WebSocket::after_handshake(TokioIo::new(upgraded), FastRole::Server);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let mut ws = FragmentCollector::new(ws);
    while let Ok(frame) = ws.read_frame().await {
        let echo = match frame.opcode {
            OpCode::Close => break,
            OpCode::Text | OpCode::Binary => true,
            _ => false,
        };
        if echo && ws.write_frame(frame).await.is_err() {
            break;
        }
    }
}

async fn upgrade(
    which: Crate,
    mut req: Request<hyper::body::Incoming>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    // A plain GET gets 200: the bench polls it to know the server is up.
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).cloned() else {
        return Ok(Response::new(Empty::new()));
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        match which {
            Crate::Tungstenite => echo_tungstenite(upgraded).await,
            Crate::FastWebSockets => echo_fastwebsockets(upgraded).await,
        }
    });
    let mut res = Response::new(Empty::new());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    let accept = derive_accept_key(key.as_bytes());
    h.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::try_from(accept).expect("base64"),
    );
    Ok(res)
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9200".to_owned());
    let which = match std::env::args().nth(2).as_deref() {
        None | Some("tungstenite") => Crate::Tungstenite,
        Some("fastwebsockets") => Crate::FastWebSockets,
        Some(other) => {
            eprintln!("usage: ws-echo [ADDR] [tungstenite|fastwebsockets], not {other}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        eprintln!("ws-echo listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(
                        TokioIo::new(stream),
                        service_fn(move |req| upgrade(which, req)),
                    )
                    .with_upgrades()
                    .await;
            });
        }
    })
}
