//! The driver's view of one accepted stream.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::Method;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tracing::{info, warn};
use zroute_proto::StreamId;

use crate::blocking::{Blocking, PollWatch};
use crate::body::{Chunk, Shared};
use crate::stream::Outbound;

/// The driver's view of an accepted stream: while its task runs, and after
/// that while the router may still send request body bytes to credit.
pub(super) struct Slot {
    /// The request's task, until its last message (see [`Command`]).
    pub(super) task: Option<Task>,
    /// Where request body bytes go; `None` after FIN or when there is no body.
    pub(super) body: Option<mpsc::UnboundedSender<Chunk>>,
    pub(super) shared: Arc<Shared>,
    pub(super) received: u64,
    pub(super) replied: bool,
    /// Spec #router-headers: logged with every line about the request.
    /// The router's `x-request-id`, for log lines: a slice of the head, no copy.
    pub(super) request_id: Option<Bytes>,
    /// For the blocked-handler warning.
    pub(super) method: Method,
    pub(super) path: Bytes,
    pub(super) polls: PollWatch,
    /// At most one chunk per stream, waiting for send window.
    pub(super) outbound: Option<Outbound>,
    /// A WebSocket stream: its DATA are messages, not a request body.
    pub(super) websocket: bool,
}

/// A request's task, until the driver has its last message.
pub(super) enum Task {
    Spawned(AbortHandle),
    /// Run to its end by the inline first poll (`super::inline`); its last
    /// message is in the command queue.
    Inline,
}

impl Task {
    pub(super) fn abort(&self) {
        if let Self::Spawned(task) = self {
            task.abort();
        }
    }
}

impl Slot {
    /// Forgets the task once it is over; false if it already was.
    pub(super) fn end_task(&mut self, id: StreamId) -> bool {
        if self.task.take().is_none() {
            return false;
        }
        if self.polls.warned()
            && let Some(found) = self.polls.end(Instant::now())
        {
            self.log_blocking(id, found);
        }
        true
    }

    pub(super) fn log_blocking(&self, id: StreamId, found: Blocking) {
        let (stream, method, request_id) = (id.get(), &self.method, text(self.request_id.as_ref()));
        let path = String::from_utf8_lossy(&self.path);
        match found {
            Blocking::Started {
                blocked_for,
                threshold,
            } => warn!(
                stream,
                %method,
                %path,
                request_id,
                ?blocked_for,
                ?threshold,
                "a request handler is blocking its runtime thread, so no other task on that \
                 thread can run; blocking work (std::thread::sleep, synchronous I/O, long \
                 computations) belongs in tokio::task::spawn_blocking"
            ),
            Blocking::Ended(blocked_for) => info!(
                stream,
                %method,
                %path,
                request_id,
                ?blocked_for,
                "the blocking request handler gave its runtime thread back"
            ),
        }
    }
}

/// A request id as log lines show it: none if it is not UTF-8.
pub(super) fn text(id: Option<&Bytes>) -> Option<&str> {
    id.and_then(|id| std::str::from_utf8(id).ok())
}
