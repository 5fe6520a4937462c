//! The response body the worker pumps out: chunks the app queued, under the
//! stream's flow control (the worker takes the next chunk only once the
//! previous one is in the session).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;
use tokio::time::Sleep;
use zroute_worker::BoxError;

/// What the app queues after the response head.
#[derive(Debug)]
pub(crate) enum Out {
    Data(Bytes),
    Trailers(HeaderMap),
}

/// Tells the app, when dropped, that the stream is over: the worker drops the
/// request's future and body when the router resets the stream or the
/// session ends, and once the response is out.
/// What a response body needs from the request it answers. The exchange
/// implements it; this module does not name the exchange, so the imports
/// run one way (exchange -> outbody).
pub(crate) trait Answering: Send + Sync + 'static {
    /// The app returned: a closed queue is the end of the body, not a failure.
    fn is_finished(&self) -> bool;
    /// The stream is over: reset, session ended, or answered in full.
    fn on_disconnect(&self);
}

#[derive(Debug)]
pub(crate) struct Guard<E: Answering>(Arc<E>);

impl<E: Answering> Guard<E> {
    pub(crate) fn new(ex: Arc<E>) -> Self {
        Self(ex)
    }
}

impl<E: Answering> Drop for Guard<E> {
    fn drop(&mut self) {
        self.0.on_disconnect();
    }
}

#[derive(Debug)]
pub(crate) struct OutBody<E: Answering> {
    kind: Kind,
    _guard: Option<Guard<E>>,
}

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    Stream {
        first: Option<Bytes>,
        rx: mpsc::Receiver<Out>,
        deadline: Option<Pin<Box<Sleep>>>,
        done: bool,
    },
}

impl<E: Answering> OutBody<E> {
    pub(crate) fn empty() -> Self {
        Self {
            kind: Kind::Full(None),
            _guard: None,
        }
    }

    pub(crate) fn full(body: Option<Bytes>, guard: Guard<E>) -> Self {
        Self {
            kind: Kind::Full(body),
            _guard: Some(guard),
        }
    }

    pub(crate) fn stream(
        first: Option<Bytes>,
        rx: mpsc::Receiver<Out>,
        guard: Guard<E>,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            kind: Kind::Stream {
                first,
                rx,
                deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d.into()))),
                done: false,
            },
            _guard: Some(guard),
        }
    }
}

impl<E: Answering> http_body::Body for OutBody<E> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Self {
            kind,
            _guard: guard,
        } = self.get_mut();
        match kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream {
                first,
                rx,
                deadline,
                done,
            } => {
                if *done {
                    return Poll::Ready(None);
                }
                if let Some(data) = first.take() {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                if let Some(sleep) = deadline
                    && sleep.as_mut().poll(cx).is_ready()
                {
                    *done = true;
                    return Poll::Ready(Some(Err("request timeout".into())));
                }
                let frame = match rx.poll_recv(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Out::Data(data))) => {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Poll::Ready(Some(Out::Trailers(t))) => Some(Ok(Frame::trailers(t))),
                    // The app finished: the end. Otherwise it failed mid-response.
                    Poll::Ready(None) if guard.as_ref().is_some_and(|g| g.0.is_finished()) => None,
                    Poll::Ready(None) => Some(Err("the app failed during the response".into())),
                };
                *done = true;
                Poll::Ready(frame)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Stream { done, .. } => *done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream { .. } => SizeHint::default(),
        }
    }
}
