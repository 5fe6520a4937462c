//! The response body the router hands hyper: a local message, or the
//! worker's DATA as it arrives, crediting the worker as the client takes it.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Method;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::info;
use zroute_proto::mapping;

use super::cancel::CancelGuard;
use crate::dispatch::{Handle, Msg, ResetCause, StreamEvent, StreamKey};
use crate::metrics::Metrics;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) enum ProxyBody {
    Full(Option<Bytes>),
    Stream(Box<StreamBody>),
}

pub(crate) struct StreamBody {
    events: mpsc::UnboundedReceiver<StreamEvent>,
    key: StreamKey,
    dispatch: Handle,
    guard: CancelGuard,
    length: Option<u64>,
    sent: u64,
    done: bool,
    /// The body ended as the worker meant it to (FIN or trailers), not cut off.
    complete: bool,
    /// Why the body is cut short, once hyper has had a chance to flush what
    /// came before: see `poll_frame`.
    abort: Option<&'static str>,
    pub(crate) access: Option<AccessLog>,
}

impl ProxyBody {
    pub(crate) fn full(bytes: Bytes) -> Self {
        Self::Full(Some(bytes))
    }

    pub(crate) fn empty() -> Self {
        Self::Full(None)
    }

    pub(crate) fn stream(
        events: mpsc::UnboundedReceiver<StreamEvent>,
        key: StreamKey,
        dispatch: Handle,
        guard: CancelGuard,
        length: Option<u64>,
    ) -> Self {
        Self::Stream(Box::new(StreamBody {
            events,
            key,
            dispatch,
            guard,
            length,
            sent: 0,
            done: false,
            complete: false,
            abort: None,
            access: None,
        }))
    }
}

/// Why a response was cut short: hyper then aborts the client connection (or
/// the HTTP/2 stream) instead of ending the body as if it were complete.
#[derive(Debug)]
struct Aborted(&'static str);

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Aborted {}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let body = match self.get_mut() {
            Self::Full(bytes) => return Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream(body) => body,
        };
        if body.done {
            return Poll::Ready(None);
        }
        if let Some(why) = body.abort.take() {
            body.done = true;
            return Poll::Ready(Some(Err(Aborted(why).into())));
        }
        let Some(event) = std::task::ready!(body.events.poll_recv(cx)) else {
            body.done = true;
            return Poll::Ready(Some(Err(
                Aborted("the worker's stream ended without FIN").into()
            )));
        };
        match event {
            StreamEvent::Data { data, fin } => {
                let n = data.len();
                body.sent += n as u64;
                if n > 0 {
                    body.dispatch.send(Msg::Release { key: body.key, n });
                }
                // A body that reached its content-length is complete, even if the
                // worker's FIN follows on an empty DATA frame hyper will not wait for.
                if fin || body.length == Some(body.sent) {
                    body.finish();
                }
                if n == 0 && fin {
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            StreamEvent::Trailers(block) => {
                body.finish();
                match mapping::trailers_from_block(&block) {
                    Ok(map) => Poll::Ready(Some(Ok(Frame::trailers(map)))),
                    Err(_) => Poll::Ready(None),
                }
            }
            StreamEvent::Reset(cause) => {
                body.guard.disarm();
                let why = match cause {
                    ResetCause::WorkerLost => "the worker was lost mid-response",
                    _ => "the worker reset the stream mid-response",
                };
                if body.sent > 0 {
                    // hyper drops what it has not written yet when a body
                    // fails: yield once so it flushes the bytes that came
                    // before, and the client gets them before the close.
                    body.abort = Some(why);
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                body.done = true;
                Poll::Ready(Some(Err(Aborted(why).into())))
            }
            StreamEvent::Head { .. } | StreamEvent::Opened(_) => {
                body.done = true;
                Poll::Ready(Some(Err(Aborted("a second response head").into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Stream(body) => body.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Stream(body) => match body.length {
                Some(n) => SizeHint::with_exact(n.saturating_sub(body.sent)),
                None => SizeHint::default(),
            },
        }
    }
}

impl StreamBody {
    fn finish(&mut self) {
        self.done = true;
        self.complete = true;
        self.guard.disarm();
    }
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        if let Some(mut access) = self.access.take() {
            access.finish(self.sent, self.complete);
        }
    }
}

/// What the access log says about one request, written when its response
/// ends; a request dropped before that (the client left) is logged as 499.
pub(crate) struct AccessLog {
    pub(crate) enabled: bool,
    pub(crate) start: Instant,
    pub(crate) client: SocketAddr,
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) status: u16,
    /// The pool that took the request ("" for the default pool); none if no worker did.
    pub(crate) route: Option<Arc<str>>,
    pub(crate) worker: Option<Arc<str>>,
    pub(crate) request_id: String,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) finished: bool,
}

impl AccessLog {
    /// The route as the access log and the metrics name it.
    pub(crate) fn route(&self) -> &str {
        match self.route.as_deref() {
            None => "none",
            Some("") => "default",
            Some(route) => route,
        }
    }

    pub(crate) fn worker(&self) -> &str {
        self.worker.as_deref().unwrap_or_default()
    }

    pub(crate) fn finish(&mut self, bytes: u64, complete: bool) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.metrics.in_flight.dec();
        if !self.enabled {
            return;
        }
        info!(
            target: "access",
            client = %self.client,
            method = %self.method,
            path = %self.path,
            status = self.status,
            bytes,
            complete,
            ms = self.start.elapsed().as_secs_f64() * 1000.0,
            route = self.route(),
            worker = self.worker(),
            request_id = %self.request_id,
        );
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        if !self.finished {
            if self.status == 0 {
                self.status = 499;
            }
            self.finish(0, false);
        }
    }
}
