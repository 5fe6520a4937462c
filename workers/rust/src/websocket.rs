//! WebSockets: the router owns RFC 6455 towards the client, and a handler
//! sees whole messages ([spec](../../../spec/PROTOCOL.md#websocket)).
//!
//! A WebSocket arrives as an ordinary request to the service. A handler that
//! wants it takes a [`WebSocketUpgrade`] from the request, answers with the
//! 101 response [`WebSocketUpgrade::accept`] gives, and serves the
//! [`WebSocket`] in a task of its own, as axum's `WebSocketUpgrade` does:
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use http::{Request, Response, StatusCode};
//! use zroute_worker::websocket::{Message, WebSocketUpgrade};
//! use zroute_worker::{Body, service_fn};
//!
//! # fn demo() {
//! let echo = service_fn(|req: Request<Body>| async move {
//!     let Ok(upgrade) = WebSocketUpgrade::from_request(req) else {
//!         let mut res = Response::new(zroute_worker::websocket::WebSocketBody::empty());
//!         *res.status_mut() = StatusCode::NOT_FOUND;
//!         return Ok::<_, Infallible>(res);
//!     };
//!     let (res, mut ws) = upgrade.accept(None);
//!     tokio::spawn(async move {
//!         while let Some(Ok(msg)) = ws.recv().await {
//!             if matches!(msg, Message::Close(_)) || ws.send(msg).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//!     Ok(res)
//! });
//! # let _ = echo;
//! # }
//! ```
//!
//! The worker must announce the feature with [`Builder::feature`]`("websocket")`,
//! or the router sends it no WebSocket.
//!
//! [`Builder::feature`]: crate::Builder::feature

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use http::{Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::{mpsc, watch};
use zroute_proto::websocket::{
    Record, RecordError, RecordKind, RecordReader, is_sendable_close_code,
};

use crate::Body;

pub use zroute_proto::websocket::close_code;

/// The largest message a [`WebSocket`] accepts by default: the reference
/// router's default, so that whatever it forwards fits.
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

/// How many records the handler may queue ahead of the router's window.
const OUTGOING_QUEUE: usize = 4;

/// The mark the driver puts on a WebSocket stream's request: it turns true
/// when the session drains.
#[derive(Clone, Debug)]
pub(crate) struct WebSocketStream {
    pub(crate) going_away: watch::Receiver<bool>,
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary(Bytes),
    /// The peer closed, with its code and reason if it gave one. Received
    /// once; the close is answered for the handler.
    Close(Option<(u16, String)>),
}

/// Why a [`WebSocket`] failed.
#[derive(Debug)]
pub enum WebSocketError {
    /// The router broke the record rules; the stream is reset.
    Protocol(RecordError),
    /// The stream ended without a close (the client vanished, or the router reset it).
    Gone,
    /// The socket was closed already.
    Closed,
    /// A close code that may not be sent (RFC 6455 §7.4).
    InvalidCloseCode(u16),
}

impl fmt::Display for WebSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Gone => f.write_str("the WebSocket's stream ended without a close"),
            Self::Closed => f.write_str("the WebSocket is closed"),
            Self::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
        }
    }
}

impl std::error::Error for WebSocketError {}

/// A request that opens a WebSocket, not yet accepted.
pub struct WebSocketUpgrade {
    body: Body,
    offered: Option<HeaderValue>,
    max_message: usize,
    going_away: watch::Receiver<bool>,
}

impl WebSocketUpgrade {
    /// The upgrade, if `req` opens a WebSocket; the request back if not.
    #[allow(clippy::result_large_err)]
    pub fn from_request(mut req: Request<Body>) -> Result<Self, Request<Body>> {
        let Some(mark) = req.extensions_mut().remove::<WebSocketStream>() else {
            return Err(req);
        };
        let offered = req.headers().get(SEC_WEBSOCKET_PROTOCOL).cloned();
        Ok(Self {
            body: req.into_body(),
            offered,
            max_message: DEFAULT_MAX_MESSAGE,
            going_away: mark.going_away,
        })
    }

    /// Whether a request opens a WebSocket.
    pub fn is_upgrade<B>(req: &Request<B>) -> bool {
        req.extensions().get::<WebSocketStream>().is_some()
    }

    /// The subprotocols the client offered, in its order.
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.offered
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }

    /// The largest message to accept from the router; a larger one resets the
    /// stream. Default [`DEFAULT_MAX_MESSAGE`].
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// Accepts: the 101 response for the service to return, and the socket.
    /// `protocol` must be one of [`protocols`](Self::protocols), or the router
    /// refuses the answer.
    pub fn accept(self, protocol: Option<&str>) -> (Response<WebSocketBody>, WebSocket) {
        let (tx, rx) = mpsc::channel(OUTGOING_QUEUE);
        let mut res = Response::new(WebSocketBody { rx: Some(rx) });
        *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        if let Some(value) = protocol.and_then(|p| HeaderValue::from_str(p).ok()) {
            res.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, value);
        }
        let sender = WebSocketSender {
            tx,
            closed: Arc::new(AtomicBool::new(false)),
        };
        let socket = WebSocket {
            receiver: WebSocketReceiver {
                incoming: Some(self.body),
                reader: RecordReader::new(self.max_message),
                going_away: Some(self.going_away),
                sender: sender.clone(),
            },
            sender,
        };
        (res, socket)
    }
}

impl fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("offered", &self.offered)
            .finish_non_exhaustive()
    }
}

/// What the socket hands the response body.
enum Outgoing {
    Record(Bytes),
    /// The close record: the last thing the body yields.
    Close(Bytes),
    /// Reset the stream: the router broke the rules.
    Fail(RecordError),
}

/// An accepted WebSocket: messages in, messages out.
///
/// [`split`](Self::split) gives a receiver for one task and a cloneable
/// sender for any number of others, as a chat server wants. Dropping every
/// half without a [`close`](Self::close) ends the worker's direction without
/// a code, which the router passes on as a close without one.
pub struct WebSocket {
    receiver: WebSocketReceiver,
    sender: WebSocketSender,
}

impl WebSocket {
    /// The next message; `None` after the close, or once the stream is gone.
    /// A close from the router comes once, and is answered for the handler.
    pub async fn recv(&mut self) -> Option<Result<Message, WebSocketError>> {
        self.receiver.recv().await
    }

    /// Sends a text or binary message (a `Close` closes, as [`close`](Self::close)).
    pub async fn send(&mut self, msg: Message) -> Result<(), WebSocketError> {
        self.sender.send(msg).await
    }

    /// Closes with a code and a reason (cut to 123 bytes). Messages may still
    /// arrive until the router answers the close.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), WebSocketError> {
        self.sender.close(code, reason).await
    }

    /// The two directions apart: the sender is `Clone`, so several tasks may
    /// send while one receives.
    pub fn split(self) -> (WebSocketSender, WebSocketReceiver) {
        (self.sender, self.receiver)
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("open_in", &self.receiver.incoming.is_some())
            .field("open_out", &!self.sender.is_closed())
            .finish()
    }
}

/// The sending half of a [`WebSocket`]; clones share the socket.
#[derive(Clone)]
pub struct WebSocketSender {
    tx: mpsc::Sender<Outgoing>,
    /// A close went out (from any clone, or as the answer to the router's).
    closed: Arc<AtomicBool>,
}

impl WebSocketSender {
    /// Sends a text or binary message (a `Close` closes, as [`close`](Self::close)).
    /// Waits while the router's window is full.
    pub async fn send(&self, msg: Message) -> Result<(), WebSocketError> {
        let record = match msg {
            Message::Text(text) => Record::text(text),
            Message::Binary(data) => Record::binary(data),
            Message::Close(reason) => {
                return match reason {
                    Some((code, reason)) => self.close(code, &reason).await,
                    None => self.end_with(Record::close(None, "")).await,
                };
            }
        };
        if self.is_closed() {
            return Err(WebSocketError::Closed);
        }
        self.tx
            .send(Outgoing::Record(record.encode()))
            .await
            .map_err(|_| WebSocketError::Gone)
    }

    /// Closes with a code and a reason (cut to 123 bytes), which ends the
    /// worker's direction. Messages may still arrive until the router answers.
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), WebSocketError> {
        if !is_sendable_close_code(code) {
            return Err(WebSocketError::InvalidCloseCode(code));
        }
        self.end_with(Record::close(Some(code), reason)).await
    }

    /// Whether a close has gone out.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Sends `close` as the direction's last record, once: a message queued
    /// behind it by another clone is never sent.
    async fn end_with(&self, close: Record) -> Result<(), WebSocketError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Err(WebSocketError::Closed);
        }
        self.tx
            .send(Outgoing::Close(close.encode()))
            .await
            .map_err(|_| WebSocketError::Gone)
    }
}

impl fmt::Debug for WebSocketSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketSender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving half of a [`WebSocket`].
pub struct WebSocketReceiver {
    incoming: Option<Body>,
    reader: RecordReader,
    /// Until it fires: the worker drains, and the socket closes with 1001.
    going_away: Option<watch::Receiver<bool>>,
    /// To answer the router's close, and to reset the stream on a bad record.
    sender: WebSocketSender,
}

impl WebSocketReceiver {
    /// The next message; `None` after the close, or once the stream is gone.
    /// A close from the router comes once, and is answered for the handler.
    pub async fn recv(&mut self) -> Option<Result<Message, WebSocketError>> {
        loop {
            match self.reader.next_record() {
                Ok(Some(record)) => return Some(Ok(self.on_record(record).await)),
                Ok(None) => {}
                Err(e) => return Some(Err(self.fail(e).await)),
            }
            let body = self.incoming.as_mut()?;
            let frame = match self.going_away.as_mut() {
                Some(going_away) => tokio::select! {
                    frame = body.frame() => Some(frame),
                    _ = going_away.wait_for(|away| *away) => None,
                },
                None => Some(body.frame().await),
            };
            let Some(frame) = frame else {
                // The worker drains: closed for the handler, whose loop sees
                // the client's answer arrive as a close.
                self.going_away = None;
                let _ = self
                    .sender
                    .close(close_code::GOING_AWAY, "the worker is going away")
                    .await;
                continue;
            };
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.reader.push(&data);
                    }
                }
                Some(Err(_)) => {
                    self.incoming = None;
                    return Some(Err(WebSocketError::Gone));
                }
                None => {
                    self.incoming = None;
                    if let Err(e) = self.reader.finish() {
                        return Some(Err(self.fail(e).await));
                    }
                    // An end without a close record: a close without a code.
                    let _ = self.sender.end_with(Record::close(None, "")).await;
                    return Some(Ok(Message::Close(None)));
                }
            }
        }
    }

    async fn on_record(&mut self, record: Record) -> Message {
        match record.kind {
            RecordKind::TEXT => Message::Text(
                String::from_utf8(record.payload.to_vec()).expect("the reader checked UTF-8"),
            ),
            RecordKind::BINARY => Message::Binary(record.payload),
            _ => {
                let reason = record.close_reason().map(|(c, r)| (c, r.to_owned()));
                self.incoming = None;
                // Echoed unless the handler closed first (spec #websocket-close).
                let answer = match &reason {
                    Some((code, text)) => Record::close(Some(*code), text),
                    None => Record::close(None, ""),
                };
                let _ = self.sender.end_with(answer).await;
                Message::Close(reason)
            }
        }
    }

    async fn fail(&mut self, e: RecordError) -> WebSocketError {
        self.incoming = None;
        if !self.sender.closed.swap(true, Ordering::AcqRel) {
            let _ = self.sender.tx.send(Outgoing::Fail(e)).await;
        }
        WebSocketError::Protocol(e)
    }
}

impl fmt::Debug for WebSocketReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketReceiver")
            .field("open", &self.incoming.is_some())
            .finish_non_exhaustive()
    }
}

/// The 101 response's body: the records the [`WebSocket`] sends. It ends
/// when the socket closes or is dropped.
pub struct WebSocketBody {
    rx: Option<mpsc::Receiver<Outgoing>>,
}

impl WebSocketBody {
    /// A body with nothing in it, for the non-WebSocket answers of a handler
    /// that returns `Response<WebSocketBody>`.
    pub fn empty() -> Self {
        Self { rx: None }
    }
}

impl fmt::Debug for WebSocketBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketBody").finish_non_exhaustive()
    }
}

impl http_body::Body for WebSocketBody {
    type Data = Bytes;
    type Error = RecordError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RecordError>>> {
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(None);
        };
        match rx.poll_recv(cx) {
            Poll::Ready(Some(Outgoing::Record(bytes))) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Poll::Ready(Some(Outgoing::Close(bytes))) => {
                self.rx = None;
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Poll::Ready(Some(Outgoing::Fail(e))) => {
                self.rx = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.rx = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rx.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
