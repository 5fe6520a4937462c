//! One request's task: call the service, then pump the response out through
//! the session driver, one acknowledged command at a time.

use std::fmt;
use std::future::poll_fn;

use bytes::{Buf, Bytes};
use http::header::{CONTENT_LENGTH, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot};
use tower_service::Service;
use tracing::debug;
use zroute_proto::session::CommandError;
use zroute_proto::{HeaderBlock, StreamId, mapping};

use crate::{Body, BoxError};

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

/// What a request's task asks of the session driver, which owns the session.
/// Each carries the channel on which the driver says when it is done, so a
/// task never has more than one command, and one chunk, in flight.
#[derive(Debug)]
pub(crate) enum Command {
    Reply {
        id: StreamId,
        head: HeaderBlock,
        fin: bool,
        done: Done,
    },
    /// Answered once the last byte is queued in the session, which may wait
    /// for WINDOW_UPDATEs.
    Data {
        id: StreamId,
        data: Bytes,
        fin: bool,
        whole: bool,
        done: Done,
    },
    Trailers {
        id: StreamId,
        trailers: HeaderBlock,
        done: Done,
    },
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
    commands: mpsc::Sender<Command>,
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
    pub(crate) fn new(id: StreamId, commands: mpsc::Sender<Command>) -> Self {
        Self { id, commands }
    }

    async fn run(&self, command: impl FnOnce(StreamId, Done) -> Command) -> Result<(), Stop> {
        let (done, answer) = oneshot::channel();
        self.commands
            .send(command(self.id, done))
            .await
            .map_err(|_| Stop::Gone)?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Refusal::Invalid(e))) => Err(Stop::Failed(Box::new(Rejected(e)))),
            // A dropped answer means the driver dropped the stream: gone as well.
            Ok(Err(Refusal::Gone)) | Err(_) => Err(Stop::Gone),
        }
    }

    async fn reply(&self, head: HeaderBlock, fin: bool) -> Result<(), Stop> {
        self.run(|id, done| Command::Reply {
            id,
            head,
            fin,
            done,
        })
        .await
    }

    async fn data(&self, data: Bytes, fin: bool, whole: bool) -> Result<(), Stop> {
        self.run(|id, done| Command::Data {
            id,
            data,
            fin,
            whole,
            done,
        })
        .await
    }

    async fn trailers(&self, trailers: HeaderBlock) -> Result<(), Stop> {
        self.run(|id, done| Command::Trailers { id, trailers, done })
            .await
    }
}

/// Runs one request. An `Err` means the handler (or its body) failed; the
/// driver then answers 500, or resets the stream if the head is already out.
pub(crate) async fn serve<S, B>(
    mut service: S,
    req: Request<Body>,
    out: Responder,
    is_head: bool,
) -> Result<(), BoxError>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: HttpBody,
    B::Error: Into<BoxError>,
{
    poll_fn(|cx| service.poll_ready(cx))
        .await
        .map_err(Into::into)?;
    let res = service.call(req).await.map_err(Into::into)?;
    match respond(res, &out, is_head).await {
        Ok(()) => Ok(()),
        Err(Stop::Gone) => {
            debug!("stream gone before the response was complete");
            Ok(())
        }
        Err(Stop::Failed(e)) => Err(e),
    }
}

async fn respond<B>(res: Response<B>, out: &Responder, is_head: bool) -> Result<(), Stop>
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
        return out.reply(head, true).await;
    }
    out.reply(head, false).await?;
    let mut body = std::pin::pin!(body);
    loop {
        let Some(frame) = body.frame().await else {
            return out.data(Bytes::new(), true, whole).await;
        };
        let frame = frame.map_err(failed)?;
        let frame = match frame.into_data() {
            Ok(mut data) => {
                let data = data.copy_to_bytes(data.remaining());
                let fin = body.is_end_stream();
                if !data.is_empty() || fin {
                    out.data(data, fin, whole).await?;
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
            // Spec #frame-headers: HEADERS is the last frame, so the body ends here.
            return if block.is_empty() {
                out.data(Bytes::new(), true, whole).await
            } else {
                out.trailers(block).await
            };
        }
        // A frame kind newer than http-body 1.x: nothing to map it to.
    }
}
