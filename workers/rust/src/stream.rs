//! One request's task, on the handlers' runtime: call the service, then pump
//! the response out through the session driver on the session thread.

use std::fmt;
use std::future::poll_fn;
use std::task::Poll;

use bytes::{Buf, Bytes};
use http::header::{CONTENT_LENGTH, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;
use zroute_proto::session::CommandError;
use zroute_proto::{HeaderBlock, StreamId, mapping};

use crate::{Body, BoxError, HttpService};

/// A response extension: send each data frame of the body as exactly one
/// DATA frame, waiting for flow-control room rather than splitting it.
///
/// By default the worker splits body chunks to whatever the send window
/// allows, which keeps bytes moving. Some responses want their framing
/// kept, such as the test app's `/stream` route. A chunk larger than a frame
/// (65,536 bytes) or than the router's stream window is split anyway, since
/// it could never fit.
///
/// ```
/// let mut res = http::Response::new(zroute_worker::Body::empty());
/// res.extensions_mut().insert(zroute_worker::PreserveChunks);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PreserveChunks;

/// What a request's task sends the session driver, which owns the session.
///
/// Only a chunk that is not the last waits for an answer (`done`): that is
/// the backpressure, one chunk in flight per stream. Everything else the
/// driver carries out, or fails the stream over, on its own, so that a
/// response made in one piece costs one message from the handlers' runtime
/// to the session thread and none back.
///
/// Every task ends with exactly one last message: a reply or chunk with FIN,
/// trailers, or [`Command::Ended`], which [`Responder`]'s `Drop` sends for a
/// task dropped before its end (a panic, an abort).
#[derive(Debug)]
pub(crate) enum Command {
    /// The response head, with the body's first chunk when it was ready.
    Reply {
        id: StreamId,
        head: HeaderBlock,
        fin: bool,
        first: Option<Outbound>,
    },
    Data {
        id: StreamId,
        chunk: Outbound,
    },
    Trailers {
        id: StreamId,
        trailers: HeaderBlock,
    },
    /// The task is over without the last frame of a response: the stream
    /// went away, or the handler failed (then `failure` says how).
    Ended {
        id: StreamId,
        failure: Option<String>,
    },
}

/// A response chunk on its way into the session.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub(crate) data: Bytes,
    pub(crate) fin: bool,
    /// Keep the chunk one DATA frame ([`PreserveChunks`]).
    pub(crate) whole: bool,
    /// Answered once the last byte is queued in the session, which may wait
    /// for WINDOW_UPDATEs; `None` for the last chunk, which nobody awaits.
    pub(crate) done: Option<Done>,
}

pub(crate) type Done = oneshot::Sender<Result<(), Refusal>>;

/// Why the driver did not carry out a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The stream (or the whole session) is over: stop quietly.
    Gone,
    /// The session rejected the message itself, for example a body that
    /// disagrees with its `content-length`.
    Invalid(CommandError),
}

impl Refusal {
    pub(crate) fn from_command(e: CommandError) -> Self {
        match e {
            CommandError::UnknownStream | CommandError::NotEstablished => Self::Gone,
            other => Self::Invalid(other),
        }
    }
}

/// Where a response goes: one stream, through the driver's command queue.
pub(crate) struct Responder {
    id: StreamId,
    commands: mpsc::UnboundedSender<Command>,
    /// The last message went out: nothing more to say, even when dropped.
    finished: bool,
}

/// The ways a response can stop early.
enum Stop {
    Gone,
    Failed(BoxError),
}

fn failed(e: impl Into<BoxError>) -> Stop {
    Stop::Failed(e.into())
}

#[derive(Debug)]
struct Rejected(CommandError);

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the session rejected the response: {:?}", self.0)
    }
}

impl std::error::Error for Rejected {}

impl Responder {
    pub(crate) fn new(id: StreamId, commands: mpsc::UnboundedSender<Command>) -> Self {
        Self {
            id,
            commands,
            finished: false,
        }
    }

    fn send(&mut self, command: Command, last: bool) -> Result<(), Stop> {
        self.finished |= last;
        self.commands.send(command).map_err(|_| Stop::Gone)
    }

    fn reply(&mut self, head: HeaderBlock, fin: bool) -> Result<(), Stop> {
        let id = self.id;
        self.send(
            Command::Reply {
                id,
                head,
                fin,
                first: None,
            },
            fin,
        )
    }

    /// Sends a chunk, after `head` if the head has not gone out yet. Waits
    /// for the driver to take it unless it is the last.
    async fn data(
        &mut self,
        head: Option<HeaderBlock>,
        data: Bytes,
        fin: bool,
        whole: bool,
    ) -> Result<(), Stop> {
        let (done, answer) = if fin {
            (None, None)
        } else {
            let (done, answer) = oneshot::channel();
            (Some(done), Some(answer))
        };
        let id = self.id;
        let chunk = Outbound {
            data,
            fin,
            whole,
            done,
        };
        let command = match head {
            Some(head) => Command::Reply {
                id,
                head,
                fin: false,
                first: Some(chunk),
            },
            None => Command::Data { id, chunk },
        };
        self.send(command, fin)?;
        let Some(answer) = answer else {
            return Ok(());
        };
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Refusal::Invalid(e))) => Err(Stop::Failed(Box::new(Rejected(e)))),
            // A dropped answer means the driver dropped the stream: gone as well.
            Ok(Err(Refusal::Gone)) | Err(_) => Err(Stop::Gone),
        }
    }

    fn trailers(&mut self, trailers: HeaderBlock) -> Result<(), Stop> {
        let id = self.id;
        self.send(Command::Trailers { id, trailers }, true)
    }

    fn end(&mut self, failure: Option<String>) {
        if !self.finished {
            let id = self.id;
            // The driver may be gone with its session; then nobody is listening.
            let _ = self.send(Command::Ended { id, failure }, true);
        }
    }
}

impl Drop for Responder {
    /// A task dropped before its last message: its handler panicked (tokio
    /// drops the future while unwinding), the driver aborted it (it no
    /// longer listens for this stream), or the handlers' runtime shut down.
    fn drop(&mut self) {
        let why = if std::thread::panicking() {
            "handler panicked"
        } else {
            "handler cancelled: its runtime shut down"
        };
        self.end(Some(why.to_owned()));
    }
}

/// Runs one request, and tells the driver how it ended (see [`Command`]).
pub(crate) async fn serve<S: HttpService>(
    service: S,
    req: Request<Body>,
    mut out: Responder,
    is_head: bool,
) {
    match call(service, req, &mut out, is_head).await {
        Ok(()) => out.end(None),
        Err(Stop::Gone) => {
            debug!("stream gone before the response was complete");
            out.end(None);
        }
        Err(Stop::Failed(e)) => out.end(Some(format!("handler failed: {e}"))),
    }
}

async fn call<S: HttpService>(
    mut service: S,
    req: Request<Body>,
    out: &mut Responder,
    is_head: bool,
) -> Result<(), Stop> {
    poll_fn(|cx| service.poll_ready(cx)).await.map_err(failed)?;
    let res = service.call(req).await.map_err(failed)?;
    respond(res, out, is_head).await
}

async fn respond<B>(res: Response<B>, out: &mut Responder, is_head: bool) -> Result<(), Stop>
where
    B: HttpBody,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = res.into_parts();
    let status = parts.status;
    // Spec #http-body: no body goes with these, whatever the handler made.
    let bodiless =
        is_head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    if status == StatusCode::NO_CONTENT {
        // RFC 9110 forbids it, and the session would hold a 204 to a nonzero one.
        parts.headers.remove(CONTENT_LENGTH);
    }
    if !bodiless && !parts.headers.contains_key(CONTENT_LENGTH) {
        // As hyper does: a known length lets the router skip chunked coding.
        if let Some(len) = body.size_hint().exact() {
            parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    let whole = parts.extensions.get::<PreserveChunks>().is_some();
    let head = mapping::response_block(&Response::from_parts(parts, ())).map_err(failed)?;
    if bodiless || body.is_end_stream() {
        return out.reply(head, true);
    }
    let mut body = std::pin::pin!(body);
    // The head waits for the body's first frame only if that frame is
    // already there: a response made in one piece then goes out as one
    // message, and a streaming one is not held up.
    let mut head = Some(head);
    // (Its error is boxed at once: `B::Error` need not be `Send`.)
    let mut ready = match poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await {
        Poll::Ready(frame) => Some(frame.map(|f| f.map_err(Into::into))),
        Poll::Pending => {
            out.reply(head.take().expect("not sent yet"), false)?;
            None
        }
    };
    loop {
        let frame = match ready.take() {
            Some(frame) => frame,
            None => body.frame().await.map(|f| f.map_err(Into::into)),
        };
        let Some(frame) = frame else {
            return out.data(head.take(), Bytes::new(), true, whole).await;
        };
        let frame = frame.map_err(Stop::Failed)?;
        let frame = match frame.into_data() {
            Ok(mut data) => {
                let data = data.copy_to_bytes(data.remaining());
                let fin = body.is_end_stream();
                if !data.is_empty() || fin {
                    out.data(head.take(), data, fin, whole).await?;
                } else if let Some(head) = head.take() {
                    out.reply(head, false)?;
                }
                if fin {
                    return Ok(());
                }
                continue;
            }
            Err(frame) => frame,
        };
        if let Ok(trailers) = frame.into_trailers() {
            let block = mapping::trailers_block(&trailers).map_err(failed)?;
            if let Some(head) = head.take() {
                out.reply(head, false)?;
            }
            // Spec #frame-headers: HEADERS is the last frame, so the body ends here.
            return if block.is_empty() {
                out.data(None, Bytes::new(), true, whole).await
            } else {
                out.trailers(block)
            };
        }
        // A frame kind newer than http-body 1.x: nothing to map it to.
    }
}
