use std::error::Error as StdError;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;
use zroute_proto::{RstCode, StreamId};

use crate::blocking::PollCount;

/// A request body, streamed from the router as it arrives.
///
/// Implements [`http_body::Body`] with `Data = Bytes`. Every data frame
/// handed out is credited back to the router (the protocol's
/// `WINDOW_UPDATE`), so reading is what lets the upload go on: a handler that
/// stops polling holds the router to one stream window of unread bytes.
/// Dropping the body discards the rest of the upload without holding it up.
///
/// Request trailers, if the router sends any, come as a final trailers frame.
pub struct Body {
    kind: Kind,
}

enum Kind {
    Empty,
    Full(Option<Bytes>),
    Incoming(Incoming),
}

/// What the session driver pushes to a streaming body.
#[derive(Debug)]
pub(crate) enum Chunk {
    Data(Bytes),
    Trailers(HeaderMap),
    /// The request ended normally (FIN); without it a closed channel means
    /// the stream or session went away and the body is cut short.
    End,
    Abort(BodyError),
}

/// What a request's task and the session driver share without messages.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Request body bytes the handler consumed and the driver has not yet
    /// credited back (see [`Credit`]). Here rather than in `stream`, its
    /// other user, so that `stream` imports `body` and not the other way too.
    pub(crate) consumed: AtomicUsize,
    /// The task's polls, for the driver's blocked-handler warning.
    pub(crate) polls: PollCount,
}

impl AsRef<PollCount> for Shared {
    fn as_ref(&self) -> &PollCount {
        &self.polls
    }
}

/// The consumer's half of a stream's flow-control credit.
///
/// Consumed bytes add up in a counter shared with the session driver; the
/// driver is told the stream id only when the counter leaves zero, so the
/// notification queue holds at most one entry per live stream however the
/// body is read.
#[derive(Debug)]
pub(crate) struct Credit {
    pub(crate) id: StreamId,
    /// Its `consumed` counter.
    pub(crate) shared: Arc<Shared>,
    pub(crate) notify: mpsc::UnboundedSender<StreamId>,
}

impl Credit {
    fn consume(&self, len: usize) {
        if len > 0 && self.shared.consumed.fetch_add(len, Ordering::AcqRel) == 0 {
            // The driver may be gone with its session; the credit is moot then.
            let _ = self.notify.send(self.id);
        }
    }
}

struct Incoming {
    rx: mpsc::UnboundedReceiver<Chunk>,
    credit: Credit,
    /// From `content-length`, counting down.
    remaining: Option<u64>,
    done: bool,
}

impl Body {
    /// A body with no bytes.
    pub fn empty() -> Self {
        Self { kind: Kind::Empty }
    }

    pub(crate) fn incoming(
        rx: mpsc::UnboundedReceiver<Chunk>,
        credit: Credit,
        content_length: Option<u64>,
    ) -> Self {
        Self {
            kind: Kind::Incoming(Incoming {
                rx,
                credit,
                remaining: content_length,
                done: false,
            }),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Bytes::from(s).into()
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Bytes::from_static(s.as_bytes()).into()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Incoming(inc) => inc.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Incoming(inc) => inc.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Incoming(inc) if inc.done => SizeHint::with_exact(0),
            Kind::Incoming(inc) => inc
                .remaining
                .map_or_else(SizeHint::default, SizeHint::with_exact),
        }
    }
}

impl Incoming {
    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let chunk = ready!(self.rx.poll_recv(cx));
        let frame = match chunk {
            Some(Chunk::Data(data)) => {
                self.credit.consume(data.len());
                if let Some(n) = &mut self.remaining {
                    *n = n.saturating_sub(data.len() as u64);
                }
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            Some(Chunk::Trailers(trailers)) => Some(Ok(Frame::trailers(trailers))),
            Some(Chunk::End) => None,
            Some(Chunk::Abort(e)) => Some(Err(e)),
            None => Some(Err(BodyError(Reason::SessionGone))),
        };
        self.done = true;
        Poll::Ready(frame)
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        // Bytes that reached us but were never read still hold the router's
        // window; hand them back. Once closed, the driver discards (and
        // credits) whatever else arrives.
        self.rx.close();
        while let Ok(chunk) = self.rx.try_recv() {
            if let Chunk::Data(data) = chunk {
                self.credit.consume(data.len());
            }
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Body");
        match &self.kind {
            Kind::Empty => d.field("kind", &"empty"),
            Kind::Full(bytes) => d.field("full", bytes),
            Kind::Incoming(inc) => d
                .field("stream", &inc.credit.id.get())
                .field("remaining", &inc.remaining)
                .field("done", &inc.done),
        };
        d.finish()
    }
}

/// Why a request body ended before its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyError(Reason);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Reason {
    Reset(RstCode),
    SessionGone,
    TooLarge(u64),
}

impl BodyError {
    pub(crate) fn reset(code: RstCode) -> Self {
        Self(Reason::Reset(code))
    }

    pub(crate) fn session_gone() -> Self {
        Self(Reason::SessionGone)
    }

    pub(crate) fn too_large(limit: u64) -> Self {
        Self(Reason::TooLarge(limit))
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Reason::Reset(code) => write!(f, "request stream reset ({code})"),
            Reason::SessionGone => f.write_str("the session with the router ended"),
            Reason::TooLarge(limit) => {
                write!(f, "request body larger than the limit of {limit} bytes")
            }
        }
    }
}

impl StdError for BodyError {}

#[cfg(test)]
mod tests {
    use http_body::Body as _;
    use http_body_util::BodyExt;

    use super::*;

    fn streaming(
        len: Option<u64>,
    ) -> (
        Body,
        mpsc::UnboundedSender<Chunk>,
        Credit,
        mpsc::UnboundedReceiver<StreamId>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ntx, nrx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let credit = || Credit {
            id: StreamId::new(1),
            shared: shared.clone(),
            notify: ntx.clone(),
        };
        (Body::incoming(rx, credit(), len), tx, credit(), nrx)
    }

    #[tokio::test]
    async fn reading_credits_each_chunk_once_with_one_notification() {
        let (mut body, tx, credit, mut notes) = streaming(Some(5));
        tx.send(Chunk::Data(Bytes::from_static(b"abc"))).unwrap();
        tx.send(Chunk::Data(Bytes::from_static(b"de"))).unwrap();
        tx.send(Chunk::End).unwrap();
        assert_eq!(body.size_hint().exact(), Some(5));
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"abc");
        assert_eq!(body.size_hint().exact(), Some(2));
        body.frame().await.unwrap().unwrap();
        assert!(body.frame().await.is_none());
        assert!(body.is_end_stream());
        assert_eq!(credit.shared.consumed.load(Ordering::Acquire), 5);
        assert_eq!(notes.try_recv().unwrap(), StreamId::new(1));
        assert!(
            notes.try_recv().is_err(),
            "one note while the counter is nonzero"
        );
    }

    #[tokio::test]
    async fn dropping_credits_unread_bytes_and_closes() {
        let (body, tx, credit, _notes) = streaming(None);
        tx.send(Chunk::Data(Bytes::from_static(b"unread"))).unwrap();
        drop(body);
        assert_eq!(credit.shared.consumed.load(Ordering::Acquire), 6);
        assert!(tx.send(Chunk::Data(Bytes::new())).is_err());
    }

    #[tokio::test]
    async fn a_vanished_driver_is_an_error_not_an_end() {
        let (mut body, tx, _credit, _notes) = streaming(None);
        drop(tx);
        assert!(body.frame().await.unwrap().is_err());
    }
}
