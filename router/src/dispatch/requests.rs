//! Input from the HTTP side: streams opened on a worker (or queued until
//! one has room), request bodies moved into the session as its windows
//! allow, releases and cancels.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;
use tracing::debug;
use zroute_proto::{RstCode, http};

use super::{
    Dispatcher, Msg, OpenError, OpenRequest, Opened, PeerKey, Pending, StreamCtx, StreamEvent,
    StreamKey,
};

impl Dispatcher {
    // ---- input from the HTTP side ----

    pub(super) fn handle_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Open(request) => self.open(request),
            Msg::Data { key, data, fin } => {
                if let Some(ctx) = self.streams.get_mut(&key) {
                    if !data.is_empty() {
                        ctx.pending.push_back(data);
                    }
                    ctx.pending_fin |= fin;
                    self.mark_dirty(key.peer);
                    self.push_request_body(&key);
                } else {
                    // The stream is gone: hand the credit back so the HTTP task is not stuck.
                    // (Its sender sees the stream's reset on its event channel.)
                }
            }
            Msg::Trailers { key, block } => {
                if let Some(ctx) = self.streams.get_mut(&key) {
                    ctx.pending_trailers = Some(block);
                    self.mark_dirty(key.peer);
                    self.push_request_body(&key);
                }
            }
            Msg::Release { key, n } => {
                if let Some(peer) = self.endpoint.get_mut(key.peer) {
                    peer.session.release_capacity(key.id, n);
                    self.mark_dirty(key.peer);
                }
            }
            Msg::Cancel { key } => {
                if self.remove_stream(&key).is_some() {
                    if let Some(peer) = self.endpoint.get_mut(key.peer) {
                        peer.session.reset(key.id, RstCode::CANCEL);
                        self.mark_dirty(key.peer);
                    }
                    self.stream_done(key.peer);
                }
            }
            Msg::Workers(reply) => {
                let _ = reply.send(self.worker_list());
            }
            Msg::Drain => self.drain(),
            Msg::Handover => {
                self.handing_over = true;
                self.drain();
            }
            Msg::Stop(_) => unreachable!("handled by the loop"),
        }
    }

    pub(super) fn open(&mut self, request: OpenRequest) {
        if self.endpoint.is_draining() {
            request.refuse(OpenError::ShuttingDown);
            return;
        }
        let Some(pool) = self.table.pool_for(request.host(), request.path()).cloned() else {
            if self.in_startup_grace() && self.queue.len() < self.queue_limit {
                self.enqueue(request);
            } else {
                request.refuse(OpenError::NoWorkers);
            }
            return;
        };
        if request.websocket && !self.table.takes_websockets(&pool) {
            request.refuse(OpenError::NoWebSocketWorkers);
            return;
        }
        let avoid: Vec<PeerKey> = request.tried.iter().map(|k| k.peer).collect();
        match self.table.pick(&pool, &avoid, request.websocket) {
            Some(peer) => self.open_on(peer, pool, request),
            None if self.queue.len() < self.queue_limit => self.enqueue(request),
            None => {
                request.refuse(OpenError::QueueFull);
            }
        }
    }

    /// Parks a request until a worker can take it (the caller checked for room).
    pub(super) fn enqueue(&mut self, request: OpenRequest) {
        self.queue.push_back(Pending {
            request,
            queued_at: Instant::now(),
        });
        self.metrics.queue_depth.set(self.queue.len() as i64);
    }

    pub(super) fn open_on(&mut self, key: PeerKey, pool: Arc<str>, request: OpenRequest) {
        let Some(peer) = self.endpoint.get_mut(key) else {
            request.refuse(OpenError::NoWorkers);
            return;
        };
        let is_head = request
            .head
            .get(http::METHOD)
            .is_some_and(|m| &m[..] == b"HEAD");
        let id = match peer.session.open_stream(request.head, request.fin) {
            Ok(id) => id,
            Err(e) => {
                debug!(error = ?e, "open_stream refused");
                let _ = request
                    .events
                    .send(StreamEvent::Opened(Err(OpenError::BadRequest)));
                return;
            }
        };
        let stream_key = StreamKey { peer: key, id };
        let entry = self.table.get_mut(&key).expect("peers and table agree");
        entry.in_flight += 1;
        let worker = entry.worker_id.clone();
        let events = request.events.clone();
        self.streams.insert(
            stream_key,
            StreamCtx {
                events: request.events,
                credit: request.credit,
                pending: VecDeque::new(),
                pending_fin: false,
                pending_trailers: None,
                discard_body: false,
                is_head,
                parked: false,
            },
        );
        self.mark_dirty(key);
        let opened = Opened {
            key: stream_key,
            pool,
            worker,
        };
        if events.send(StreamEvent::Opened(Ok(opened))).is_err() {
            // The client left while the request waited: nothing to do on the worker.
            self.handle_msg(Msg::Cancel { key: stream_key });
        }
    }

    pub(super) fn in_startup_grace(&self) -> bool {
        self.grace_until.is_some_and(|end| Instant::now() < end)
    }

    /// Hands waiting requests to workers that have room again.
    pub(super) fn serve_queue(&mut self) {
        let now = Instant::now();
        let in_grace = self.in_startup_grace();
        let mut i = 0;
        while i < self.queue.len() {
            if self.queue[i].request.events.is_closed() {
                self.queue.remove(i);
                continue;
            }
            let request = &self.queue[i].request;
            let Some(pool) = self.table.pool_for(request.host(), request.path()).cloned() else {
                if in_grace {
                    i += 1;
                    continue;
                }
                let pending = self.queue.remove(i).expect("index in range");
                pending.request.refuse(OpenError::NoWorkers);
                continue;
            };
            let avoid: Vec<PeerKey> = self.queue[i].request.tried.iter().map(|k| k.peer).collect();
            let websocket = self.queue[i].request.websocket;
            match self.table.pick(&pool, &avoid, websocket) {
                Some(peer) => {
                    let pending = self.queue.remove(i).expect("index in range");
                    self.metrics
                        .queue_wait
                        .observe(now.duration_since(pending.queued_at).as_secs_f64());
                    self.open_on(peer, pool, pending.request);
                }
                None => i += 1,
            }
        }
        self.metrics.queue_depth.set(self.queue.len() as i64);
    }

    /// Moves queued request bytes into the session as far as the windows allow.
    pub(super) fn push_request_body(&mut self, key: &StreamKey) {
        let (Some(ctx), Some(peer)) = (self.streams.get_mut(key), self.endpoint.get_mut(key.peer))
        else {
            return;
        };
        let session = &mut peer.session;
        while let Some(front) = ctx.pending.front_mut() {
            let room = session.send_capacity(key.id);
            if room == 0 {
                // A stream WINDOW_UPDATE names the stream; a session one
                // wakes what is parked here.
                if !ctx.parked
                    && let Some(entry) = self.table.get_mut(&key.peer)
                {
                    ctx.parked = true;
                    entry.parked.push(key.id);
                }
                return;
            }
            let chunk = if front.len() <= room {
                ctx.pending.pop_front().expect("front exists")
            } else {
                front.split_to(room)
            };
            let len = chunk.len();
            let last = ctx.pending.is_empty() && ctx.pending_fin && ctx.pending_trailers.is_none();
            if session.send_data(key.id, chunk, last).is_err() {
                return;
            }
            if let Some(credit) = &ctx.credit {
                credit.add_permits(len);
            }
            if last {
                ctx.pending_fin = false;
                self.ended.push(*key);
                return;
            }
        }
        if let Some(block) = ctx.pending_trailers.take() {
            if session.send_trailers(key.id, block).is_err() {
                session.reset(key.id, RstCode::INTERNAL_ERROR);
            }
            ctx.pending_fin = false;
            self.ended.push(*key);
        } else if ctx.pending_fin {
            // FIN alone: an empty DATA frame, which needs no window.
            let _ = session.send_data(key.id, Bytes::new(), true);
            ctx.pending_fin = false;
            self.ended.push(*key);
        }
    }

    // ---- sessions: events, frames, timers ----
}
