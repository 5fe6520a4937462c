//! What the driver does with each session event: start a request task,
//! feed it body and trailers, end it on a reset, and react to GOAWAY and to
//! the session's end.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::Method;
use http::StatusCode;
use http::header::CONTENT_LENGTH;
use http::uri::Scheme;
use tokio::sync::mpsc;
use tracing::{Instrument, debug, debug_span, info, trace, warn};
use zroute_proto::session::{CloseReason, ResetOrigin};
use zroute_proto::{Event, GoAwayStatus, HeaderBlock, RstCode, StreamId, mapping};

use super::Driver;
use super::inline::{self, FirstPoll};
use super::slot::{self, Slot, Task};
use super::stopping::Stopping;
use crate::HttpService;
use crate::blocking::{self, PollWatch};
use crate::body::{Body, BodyError, Chunk, Credit, Shared};
use crate::stream::{self, Responder};
use crate::websocket::WebSocketStream;

impl<S> Driver<S>
where
    S: HttpService,
{
    pub(super) fn process_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Established => self.on_established(),
                Event::Request { id, headers, fin } => self.on_request(id, &headers, fin),
                Event::Data { id, data, fin } => self.on_data(id, data, fin),
                Event::Trailers { id, headers } => self.on_trailers(id, &headers),
                Event::Reset { id, code, origin } => self.on_reset(id, code, origin),
                Event::WindowOpened { .. } => self.window_opened = true,
                Event::GoAway { last_good, status } => self.on_goaway(last_good, status),
                Event::Pong { rtt } => trace!(?rtt, "heartbeat answered"),
                // Router-side events.
                Event::Response { .. } | Event::CapacityChanged { .. } => {}
                Event::Closed(reason) => self.on_closed(reason),
            }
        }
        if std::mem::take(&mut self.window_opened) {
            let waiting: Vec<StreamId> = self
                .streams
                .iter()
                .filter(|(_, slot)| slot.outbound.is_some())
                .map(|(id, _)| *id)
                .collect();
            for id in waiting {
                self.push(id);
            }
        }
    }

    fn on_established(&mut self) {
        self.established = true;
        self.settings
            .registered
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let welcome = self.session.welcome();
        let attr = |name: &str| {
            welcome
                .and_then(|w| w.attributes().get(name))
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let session_id = attr("session");
        self.span.record("session", session_id.as_str());
        info!(
            router = %attr("router"),
            heartbeat = ?self.session.heartbeat_interval(),
            capacity = self.session.capacity(),
            "registered"
        );
        if let Stopping::AfterWelcome { deadline } = self.stopping {
            self.drain(deadline);
        }
    }

    fn on_request(&mut self, id: StreamId, head: &HeaderBlock, fin: bool) {
        let request_id = head.get("x-request-id").cloned();
        let span = debug_span!(parent: &self.span, "stream", id = id.get(), request_id = slot::text(request_id.as_ref()));
        let mut req = match mapping::request_from_block_with(head, &mut self.names) {
            Ok(req) => req,
            Err(e) => {
                warn!(parent: &span, error = %e, "request head has no HTTP equivalent: 400");
                return self.answer(id, StatusCode::BAD_REQUEST, !fin);
            }
        };
        if let Some(scheme) = mapping::scheme_of(head).and_then(|s| Scheme::try_from(s).ok()) {
            req.extensions_mut().insert(scheme);
        }
        // The session has checked the marker (GET, no FIN, no content-length),
        // so a request with FIN, most of them, needs no second look.
        let websocket = !fin
            && head
                .get(zroute_proto::http::PROTOCOL)
                .is_some_and(|p| p[..] == *zroute_proto::http::WEBSOCKET);
        if websocket {
            req.extensions_mut().insert(WebSocketStream {
                going_away: self.going_away.subscribe(),
            });
        }
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let limit = self.settings.max_request_body;
        if limit > 0 && declared.is_some_and(|n| n > limit) {
            info!(parent: &span, limit, "request body over the limit: 413");
            return self.answer(id, StatusCode::PAYLOAD_TOO_LARGE, !fin);
        }
        let method = req.method().clone();
        let is_head = method == Method::HEAD;
        let path = head
            .get(zroute_proto::http::PATH)
            .cloned()
            .unwrap_or_default();
        let shared = Arc::new(Shared::default());
        let (body, body_tx) = if fin {
            (Body::empty(), None)
        } else {
            let (tx, rx) = mpsc::unbounded_channel();
            let credit = Credit {
                id,
                shared: shared.clone(),
                notify: self.credit_tx.clone(),
            };
            (Body::incoming(rx, credit, declared), Some(tx))
        };
        let task = stream::serve(
            self.handlers.service.clone(),
            req.map(|()| body),
            Responder::new(id, self.commands_tx.clone()),
            is_head,
        );
        let task = blocking::counting_polls(shared.clone(), task.instrument(span));
        // Local handlers take their first poll here too.
        let first_poll_here = self.settings.inline_handlers || self.settings.local_handlers;
        let task = if fin && first_poll_here {
            match inline::poll_once(&self.handlers.runtime, task) {
                FirstPoll::Done => Task::Inline,
                FirstPoll::Pending(task) => self.spawn(task),
            }
        } else {
            self.spawn(task)
        };
        self.streams.insert(
            id,
            Slot {
                task: Some(task),
                body: body_tx,
                shared,
                received: 0,
                replied: false,
                request_id,
                method,
                path,
                polls: PollWatch::default(),
                outbound: None,
                websocket,
            },
        );
        let threshold = self.settings.block_warning;
        if self.next_block_check.is_none() && !threshold.is_zero() {
            self.next_block_check = Some(Instant::now() + blocking::check_interval(threshold));
        }
    }

    /// Starts a request's task on the handlers' runtime, or with
    /// [`local_handlers`](crate::Builder::local_handlers) on this thread's.
    fn spawn<F>(&self, task: F) -> Task
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let task = if self.settings.local_handlers {
            tokio::spawn(task)
        } else {
            self.handlers.runtime.spawn(task)
        };
        // Dropping the JoinHandle detaches the task: it reports through its
        // Responder, and the AbortHandle is all the driver needs.
        Task::Spawned(task.abort_handle())
    }

    fn on_data(&mut self, id: StreamId, data: Bytes, fin: bool) {
        let len = data.len();
        let Some(slot) = self.streams.get_mut(&id) else {
            // Nobody reads this stream any more (spec #stream-response: keep
            // accepting, and crediting, what the router still sends).
            return self.session.release_capacity(id, len);
        };
        slot.received += len as u64;
        // A WebSocket's messages are no request body: each is bounded on its own.
        let limit = self.settings.max_request_body;
        if limit > 0 && slot.received > limit && !slot.websocket {
            return self.too_large(id, limit);
        }
        // The channel is unbounded but never holds more than the stream
        // window: the session rejects DATA beyond it.
        let delivered = slot
            .body
            .as_ref()
            .is_some_and(|tx| tx.send(Chunk::Data(data)).is_ok());
        if !delivered {
            self.session.release_capacity(id, len);
        }
        if fin && let Some(tx) = slot.body.take() {
            let _ = tx.send(Chunk::End);
        }
        if fin {
            self.retire_if_over(id);
        }
    }

    fn on_trailers(&mut self, id: StreamId, head: &HeaderBlock) {
        let Some(tx) = self.streams.get_mut(&id).and_then(|s| s.body.take()) else {
            return;
        };
        match mapping::trailers_from_block(head) {
            Ok(map) => {
                let _ = tx.send(Chunk::Trailers(map));
            }
            // No HTTP equivalent: like hyper, drop trailers it cannot represent.
            Err(e) => {
                debug!(stream = id.get(), error = %e, "request trailers dropped");
                let _ = tx.send(Chunk::End);
            }
        }
        self.retire_if_over(id);
    }

    fn on_reset(&mut self, id: StreamId, code: RstCode, origin: ResetOrigin) {
        match origin {
            ResetOrigin::Peer => debug!(stream = id.get(), %code, "router reset the stream"),
            // Our own RST_STREAM was logged with its reason (`on_message`).
            ResetOrigin::Local(_) | ResetOrigin::Session => {}
        }
        if let Some(slot) = self.streams.remove(&id) {
            self.drop_slot(slot, BodyError::reset(code));
        }
    }

    fn on_goaway(&mut self, last_good: StreamId, status: GoAwayStatus) {
        if status == GoAwayStatus::OK {
            info!(
                open = self.session.open_streams(),
                "router is draining the session"
            );
            // Spec #router-shutdown: finish these streams, and register anew.
            if self.stopping == Stopping::No {
                self.handoff = true;
            }
        } else {
            debug!(%status, last_good = last_good.get(), "router sent GOAWAY");
        }
    }

    fn on_closed(&mut self, reason: CloseReason) {
        let open = self.streams.len();
        match reason {
            CloseReason::Drained => info!("session drained"),
            CloseReason::TimedOut => warn!(
                open,
                "nothing from the router for a heartbeat period: session dead"
            ),
            CloseReason::HandshakeTimedOut => warn!("no WELCOME within the handshake timeout"),
            CloseReason::HandshakeFailed => warn!(
                "handshake failed: the router answered HELLO with something other than WELCOME"
            ),
            // Spec #router-shutdown: a router shutting down answers HELLO so.
            CloseReason::PeerGoAway(GoAwayStatus::OK) if !self.established => {
                info!("router is shutting down: registration refused");
                self.refused_by_shutdown = true;
            }
            CloseReason::PeerGoAway(status) if !self.established => {
                warn!(%status, "router refused the registration");
            }
            CloseReason::PeerGoAway(GoAwayStatus::UNKNOWN_SESSION) => {
                info!(open, "router no longer knows the session (restarted?)");
            }
            CloseReason::PeerGoAway(status) => warn!(%status, open, "router ended the session"),
            CloseReason::ProtocolError(error) => {
                warn!(code = %error.code, reason = error.reason, open, "session error: sent GOAWAY");
            }
            CloseReason::LocalError(status) => warn!(%status, open, "session ended: sent GOAWAY"),
            CloseReason::Abandoned => warn!(open, "session abandoned"),
        }
        // Spec #session-dead: the work of every stream is cancelled.
        for (_, slot) in std::mem::take(&mut self.streams) {
            self.drop_slot(slot, BodyError::session_gone());
        }
    }
}
