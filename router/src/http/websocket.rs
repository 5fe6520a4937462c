//! WebSockets towards the client ([spec](../../../spec/PROTOCOL.md#websocket)):
//! the opening handshake's checks, and the bridge between the client's
//! RFC 6455 frames and the stream's records once the worker accepted.
//!
//! tokio-tungstenite does the RFC 6455 side (unmasking, fragments, ping and
//! pong, UTF-8 of text, the size limit); this module only moves whole
//! messages between it and the stream, under the stream's flow control.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{
    CONNECTION, HeaderMap, HeaderValue, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{Method, Request, Version};
use http_body_util::BodyExt;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::debug;
use zroute_proto::websocket::{Record, RecordKind, RecordReader, close_code};

use super::body::ProxyBody;
use super::cancel::CancelGuard;
use crate::dispatch::{Handle, Msg, StreamKey};
use crate::error::Error;
use crate::metrics::{DirectionLabels, Metrics};

/// The read buffer a WebSocket starts with.
const READ_BUFFER: usize = 4096;

/// What the router keeps of a client's opening handshake.
pub(crate) struct Handshake {
    /// `Sec-WebSocket-Key` (HTTP/1.1); `None` for HTTP/2's extended CONNECT
    /// (RFC 8441 §5), which the router accepts with 200 and no key.
    key: Option<HeaderValue>,
    /// The client's `Sec-WebSocket-Protocol`, as sent.
    offered: Option<HeaderValue>,
    upgrade: OnUpgrade,
}

fn has_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// `Ok(None)`: not a WebSocket opening handshake (no `Upgrade: websocket`,
/// no extended CONNECT for `websocket`). An error is a handshake that asks
/// for a WebSocket but breaks RFC 6455 §4.2.1 or RFC 8441 §4.
pub(crate) fn handshake<B>(req: &mut Request<B>) -> Result<Option<Handshake>, Error> {
    let bad = |why| Err(Error::Invalid(http::StatusCode::BAD_REQUEST, why));
    if req.version() == Version::HTTP_2 && req.method() == Method::CONNECT {
        let Some(protocol) = req.extensions().get::<hyper::ext::Protocol>() else {
            return Ok(None);
        };
        if !protocol.as_str().eq_ignore_ascii_case("websocket") {
            return bad("the only extended CONNECT protocol served is websocket");
        }
        if req
            .headers()
            .get(SEC_WEBSOCKET_VERSION)
            .map(HeaderValue::as_bytes)
            != Some(b"13")
        {
            return Err(Error::WebSocketVersion);
        }
        let offered = req.headers().get(SEC_WEBSOCKET_PROTOCOL).cloned();
        let upgrade = hyper::upgrade::on(&mut *req);
        // Forwarded as the GET it stands for (spec #websocket-open).
        *req.method_mut() = Method::GET;
        return Ok(Some(Handshake {
            key: None,
            offered,
            upgrade,
        }));
    }
    if !has_token(req.headers(), UPGRADE, "websocket") {
        return Ok(None);
    }
    if req.version() != Version::HTTP_11 || req.method() != Method::GET {
        return bad("a WebSocket handshake is an HTTP/1.1 GET");
    }
    if !has_token(req.headers(), CONNECTION, "upgrade") {
        return bad("a WebSocket handshake needs `Connection: upgrade`");
    }
    let headers = req.headers();
    if headers.contains_key(http::header::CONTENT_LENGTH)
        || headers.contains_key(http::header::TRANSFER_ENCODING)
    {
        return bad("a WebSocket handshake has no body");
    }
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(Error::WebSocketVersion);
    }
    let mut keys = headers.get_all(SEC_WEBSOCKET_KEY).iter();
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) if is_key(key.as_bytes()) => key.clone(),
        _ => return bad("`Sec-WebSocket-Key` is not one base64-encoded 16-byte value"),
    };
    let offered = headers.get(SEC_WEBSOCKET_PROTOCOL).cloned();
    let upgrade = hyper::upgrade::on(&mut *req);
    Ok(Some(Handshake {
        key: Some(key),
        offered,
        upgrade,
    }))
}

/// 16 bytes in base64: 22 characters and `==`.
fn is_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// The client's fields that the router consumes itself (spec #websocket-open).
pub(crate) fn strip_handshake_fields(headers: &mut HeaderMap) {
    headers.remove(SEC_WEBSOCKET_KEY);
    headers.remove(SEC_WEBSOCKET_VERSION);
    headers.remove(http::header::SEC_WEBSOCKET_EXTENSIONS);
}

impl Handshake {
    /// Whether the worker's 101 chose no subprotocol, or one the client offered, once.
    pub(crate) fn allows(&self, response: &HeaderMap) -> bool {
        let mut chosen = response.get_all(SEC_WEBSOCKET_PROTOCOL).iter();
        let (Some(chosen), None) = (chosen.next(), chosen.next()) else {
            return response.get(SEC_WEBSOCKET_PROTOCOL).is_none();
        };
        let Ok(chosen) = chosen.to_str() else {
            return false;
        };
        self.offered
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .is_some_and(|offered| offered.split(',').any(|p| p.trim() == chosen))
    }

    /// The client's answer, from the worker's 101 head: 101 with
    /// `Upgrade` and `Sec-WebSocket-Accept` (RFC 6455 §4.2.2), or 200 for
    /// HTTP/2 (RFC 8441 §5).
    pub(crate) fn answer(&self, parts: &mut http::response::Parts) {
        let Some(key) = &self.key else {
            parts.status = http::StatusCode::OK;
            return;
        };
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let h = &mut parts.headers;
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(
            http::header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::try_from(accept).expect("base64 is a valid header value"),
        );
    }
}

/// What the bridge needs of the stream and the router.
pub(crate) struct Bridge {
    pub(crate) key: StreamKey,
    pub(crate) dispatch: Handle,
    /// The stream's request-body credit: bytes queued for the worker.
    pub(crate) credit: Arc<Semaphore>,
    /// Largest piece queued at once (never more than the credit).
    pub(crate) piece: usize,
    pub(crate) max_message: usize,
    pub(crate) close_timeout: Duration,
    /// How long a WebSocket lives on once the router drains.
    pub(crate) drain_grace: Duration,
    /// No message either way for this long closes it with 1001; zero: never.
    pub(crate) idle_timeout: Duration,
    pub(crate) metrics: Arc<Metrics>,
    /// Counts the socket as open while it lives (the router's shutdown waits for it).
    pub(crate) _open: OpenSocket,
}

/// One open WebSocket, counted in the router's total while it lives.
pub(crate) struct OpenSocket {
    count: Arc<watch::Sender<usize>>,
    metrics: Arc<Metrics>,
}

impl OpenSocket {
    pub(crate) fn new(count: Arc<watch::Sender<usize>>, metrics: Arc<Metrics>) -> Self {
        count.send_modify(|n| *n += 1);
        metrics.websockets_open.inc();
        Self { count, metrics }
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.count.send_modify(|n| *n -= 1);
        self.metrics.websockets_open.dec();
    }
}

/// When a message last went either way, for the idle timeout: milliseconds
/// since the socket opened (the bridge's future is sent across threads, so
/// no `Cell`).
struct LastMessage {
    opened: Instant,
    millis: AtomicU64,
}

impl LastMessage {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            millis: AtomicU64::new(0),
        }
    }

    fn now(&self) {
        let millis = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.millis.store(millis, Ordering::Relaxed);
    }

    fn at(&self) -> Instant {
        self.opened + Duration::from_millis(self.millis.load(Ordering::Relaxed))
    }
}

fn count(metrics: &Metrics, direction: &'static str, payload: usize) {
    let labels = DirectionLabels { direction };
    metrics.websocket_messages.get_or_create(&labels).inc();
    metrics
        .websocket_bytes
        .get_or_create(&labels)
        .inc_by(payload as u64);
}

/// How the client's side ended.
enum ClientEnd {
    /// A close frame, forwarded to the worker with FIN.
    Closed,
    /// The connection ended without a close: the worker is reset.
    Gone,
}

/// Serves the WebSocket once hyper has switched protocols: client messages
/// become records on the stream, the worker's records become messages.
/// `going_away` turns true when the router drains: the client then gets
/// close 1001 after the drain grace.
pub(crate) async fn serve(
    handshake: Handshake,
    from_worker: ProxyBody,
    bridge: Bridge,
    mut going_away: watch::Receiver<bool>,
) {
    // Reset the stream unless both directions end cleanly.
    let mut guard = CancelGuard::new(bridge.dispatch.clone(), bridge.key);
    let io = match handshake.upgrade.await {
        Ok(upgraded) => TokioIo::new(upgraded),
        Err(e) => {
            debug!(error = %e, "the WebSocket upgrade did not complete");
            return;
        }
    };
    // tungstenite's default buffers (128 KiB each way) would be most of an
    // idle socket's cost: the read buffer grows for a large frame anyway,
    // and each message is flushed as it is sent.
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(bridge.max_message))
        .max_frame_size(Some(bridge.max_message));
    let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    let (mut sink, stream) = socket.split();
    // Closes the client side of the worker-to-client task asks for.
    let (close_tx, close_rx) = mpsc::channel(1);
    // When a message last went either way.
    let last_message = LastMessage::new();
    let clean = {
        let to_worker = client_to_worker(stream, &bridge, close_tx.clone(), &last_message);
        let to_client = worker_to_client(
            from_worker,
            &mut sink,
            close_rx,
            bridge.max_message,
            &bridge.metrics,
            going_away.clone(),
            &last_message,
        );
        tokio::pin!(to_worker, to_client);
        let (mut client_done, mut worker_done) = (false, false);
        let close_timer = tokio::time::sleep(Duration::MAX);
        let drain_timer = tokio::time::sleep(Duration::MAX);
        let idle = !bridge.idle_timeout.is_zero();
        let idle_timer = tokio::time::sleep(if idle {
            bridge.idle_timeout
        } else {
            Duration::MAX
        });
        tokio::pin!(close_timer, drain_timer, idle_timer);
        let (mut away, mut drained, mut idled) = (false, false, false);
        loop {
            tokio::select! {
                () = &mut idle_timer, if idle && !idled => {
                    let quiet_until = last_message.at() + bridge.idle_timeout;
                    if quiet_until > Instant::now() {
                        // A message went by since the timer was set: wait from it.
                        idle_timer.as_mut().reset(quiet_until);
                        continue;
                    }
                    idled = true;
                    debug!(timeout = ?bridge.idle_timeout, "WebSocket idle: closing with 1001");
                    // The client's answer goes to the worker as any close does.
                    let _ = close_tx.try_send(close_frame(close_code::GOING_AWAY, "idle timeout"));
                    close_timer.as_mut().reset(Instant::now() + bridge.close_timeout);
                }
                _ = going_away.wait_for(|away| *away), if !away => {
                    away = true;
                    drain_timer.as_mut().reset(Instant::now() + bridge.drain_grace);
                }
                () = &mut drain_timer, if away && !drained => {
                    drained = true;
                    // The client's answer goes to the worker as any close does.
                    let _ = close_tx.try_send(close_frame(close_code::GOING_AWAY, GOING_AWAY));
                    close_timer
                        .as_mut()
                        .reset(Instant::now() + bridge.close_timeout);
                }
                end = &mut to_worker, if !client_done => {
                    client_done = true;
                    match end {
                        ClientEnd::Gone => break false,
                        ClientEnd::Closed if worker_done => break true,
                        ClientEnd::Closed => close_timer
                            .as_mut()
                            .reset(Instant::now() + bridge.close_timeout),
                    }
                }
                clean = &mut to_client, if !worker_done => {
                    worker_done = true;
                    if !clean || client_done {
                        break clean;
                    }
                    close_timer
                        .as_mut()
                        .reset(Instant::now() + bridge.close_timeout);
                }
                () = &mut close_timer => {
                    debug!("the WebSocket close was not answered in time");
                    break false;
                }
            }
        }
    };
    if clean {
        guard.disarm();
    }
    // tungstenite answers a client's close as it reads it, but the answer
    // leaves only with the next flush.
    let _ = tokio::time::timeout(bridge.close_timeout, sink.close()).await;
}

/// Moves the client's messages to the worker until the client closes or goes.
async fn client_to_worker<S>(
    mut stream: S,
    bridge: &Bridge,
    close_client: mpsc::Sender<CloseFrame>,
    last_message: &LastMessage,
) -> ClientEnd
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        let record = match stream.next().await {
            Some(Ok(Message::Text(text))) => Record::text(Bytes::from(text)),
            Some(Ok(Message::Binary(data))) => Record::binary(data),
            // Answered by tungstenite as it reads.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Close(frame))) => {
                let record = match frame {
                    Some(f) => Record::close(Some(u16::from(f.code)), &f.reason),
                    None => Record::close(None, ""),
                };
                return if to_worker(bridge, record, true).await {
                    ClientEnd::Closed
                } else {
                    ClientEnd::Gone
                };
            }
            Some(Err(e)) => {
                let Some(code) = refusal(&e) else {
                    debug!(error = %e, "WebSocket client gone");
                    return ClientEnd::Gone;
                };
                debug!(error = %e, code, "WebSocket client message refused");
                let reason = match code {
                    close_code::TOO_BIG => "message too big",
                    close_code::INVALID_DATA => "invalid UTF-8",
                    _ => "protocol error",
                };
                let _ = close_client.send(close_frame(code, reason)).await;
                let sent = to_worker(bridge, Record::close(Some(code), reason), true).await;
                // The client's reply to the router's close is not waited for.
                return if sent {
                    ClientEnd::Closed
                } else {
                    ClientEnd::Gone
                };
            }
            None => return ClientEnd::Gone,
        };
        count(&bridge.metrics, "in", record.payload.len());
        last_message.now();
        if !to_worker(bridge, record, false).await {
            return ClientEnd::Gone;
        }
    }
}

/// The close code for a client error the router answers with a close, or
/// `None` when the connection is simply gone.
fn refusal(e: &tungstenite::Error) -> Option<u16> {
    match e {
        tungstenite::Error::Capacity(_) => Some(close_code::TOO_BIG),
        tungstenite::Error::Utf8(_) => Some(close_code::INVALID_DATA),
        tungstenite::Error::Protocol(_) => Some(close_code::PROTOCOL_ERROR),
        _ => None,
    }
}

/// Queues a record for the worker in credit-sized pieces; `fin` ends the
/// router's direction. `false` when the stream is gone.
async fn to_worker(bridge: &Bridge, record: Record, fin: bool) -> bool {
    let mut bytes = record.encode();
    while !bytes.is_empty() {
        let n = bytes.len().min(bridge.piece);
        let permits = u32::try_from(n).expect("pieces are small");
        match bridge.credit.acquire_many(permits).await {
            Ok(permit) => permit.forget(),
            Err(_) => return false,
        }
        let piece = bytes.split_to(n);
        let last = fin && bytes.is_empty();
        if !bridge.dispatch.send(Msg::Data {
            key: bridge.key,
            data: piece,
            fin: last,
        }) {
            return false;
        }
    }
    true
}

/// Moves the worker's records to the client until the worker's direction
/// ends. `true` if it ended cleanly (FIN), `false` if it broke off.
async fn worker_to_client<K>(
    mut from_worker: ProxyBody,
    sink: &mut K,
    mut close_client: mpsc::Receiver<CloseFrame>,
    max_message: usize,
    metrics: &Metrics,
    going_away: watch::Receiver<bool>,
    last_message: &LastMessage,
) -> bool
where
    K: futures_util::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let mut reader = RecordReader::new(max_message);
    // Once a close went to the client, nothing else may follow it.
    let mut closed = false;
    let worker_failed = || close_frame(close_code::INTERNAL_ERROR, WORKER_FAILED);
    // How the worker's direction ended: `None` cleanly (FIN), else the close
    // the client gets for it.
    let failure = 'frames: loop {
        let frame = tokio::select! {
            frame = from_worker.frame() => frame,
            Some(close) = close_client.recv(), if !closed => {
                closed = true;
                let _ = sink.send(Message::Close(Some(close))).await;
                continue;
            }
        };
        let data = match frame {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            // The worker reset the stream, or its session died, or the
            // router let its sessions go at shutdown.
            Some(Err(_)) if *going_away.borrow() => {
                break Some(close_frame(close_code::GOING_AWAY, GOING_AWAY));
            }
            Some(Err(_)) => break Some(worker_failed()),
            None if reader.finish().is_err() => break Some(worker_failed()),
            None => break None,
        };
        reader.push(&data);
        loop {
            let record = match reader.next_record() {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(e) => {
                    debug!(error = %e, "the worker broke the WebSocket record rules");
                    break 'frames Some(worker_failed());
                }
            };
            if closed {
                continue;
            }
            if record.kind != RecordKind::CLOSE {
                count(metrics, "out", record.payload.len());
                last_message.now();
            }
            let message = match record.kind {
                RecordKind::TEXT => match String::from_utf8(record.payload.to_vec()) {
                    Ok(text) => Message::text(text),
                    Err(_) => unreachable!("the reader checked UTF-8"),
                },
                RecordKind::BINARY => Message::Binary(record.payload),
                _ => {
                    closed = true;
                    Message::Close(record.close_reason().map(|(code, reason)| CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.to_owned().into(),
                    }))
                }
            };
            if sink.send(message).await.is_err() {
                // The client is gone; its side reports it.
                closed = true;
            }
        }
    };
    let clean = failure.is_none();
    if !closed {
        // A clean end without the worker's close is a close without a code.
        let _ = sink.send(Message::Close(failure)).await;
    }
    clean
}

/// The close reasons the router gives of its own.
const GOING_AWAY: &str = "the router is going away";
const WORKER_FAILED: &str = "the worker failed";

fn close_frame(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }
}
