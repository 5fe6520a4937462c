//! Each worker session's events, turned into what the HTTP tasks see on
//! their streams, and the worker table kept up to date.

use bytes::Bytes;
use tracing::{debug, info, warn};
use zroute_proto::http;
use zroute_proto::session::{CloseReason, Event, ResetOrigin};

use super::{Dispatcher, PeerKey, ResetCause, StreamCtx, StreamEvent, StreamKey};

impl Dispatcher {
    /// Lists a session for the next [`settle`](Self::settle), once: its
    /// flag says whether it is listed, so this costs no scan.
    pub(super) fn mark_dirty(&mut self, key: PeerKey) {
        if let Some(peer) = self.endpoint.get_mut(key)
            && !peer.dirty
        {
            peer.dirty = true;
            self.dirty.push(key);
        }
    }

    /// Handles every dirty session's events, then sends its frames.
    pub(super) fn settle(&mut self) {
        while let Some(key) = self.dirty.pop() {
            if let Some(peer) = self.endpoint.get_mut(key) {
                peer.dirty = false;
            }
            self.process_events(key);
            for stream in std::mem::take(&mut self.ended) {
                self.check_finished(&stream);
            }
            self.flush(key);
            // A failed send abandons the session: its resets and Closed come out now.
            self.process_events(key);
            if self
                .endpoint
                .get(key)
                .is_some_and(|p| p.session.is_closed() && p.outbox.is_empty())
            {
                self.forget(key);
            }
        }
    }

    pub(super) fn process_events(&mut self, key: PeerKey) {
        loop {
            let Some(peer) = self.endpoint.get_mut(key) else {
                return;
            };
            let Some(event) = peer.session.poll_event() else {
                return;
            };
            match event {
                Event::Response { id, headers, fin } => {
                    let skey = StreamKey { peer: key, id };
                    if let Some(ctx) = self.streams.get_mut(&skey) {
                        // The session has checked the head, 101 against the stream's kind.
                        let status = http::check_response(&headers, true)
                            .map(|i| i.status)
                            .unwrap_or(502);
                        ctx.discard_body = http::is_bodiless(ctx.is_head, status);
                        let _ = ctx.events.send(StreamEvent::Head {
                            block: headers,
                            fin,
                        });
                    }
                    if fin {
                        self.check_finished(&skey);
                    }
                }
                Event::Data { id, data, fin } => {
                    let skey = StreamKey { peer: key, id };
                    let len = data.len();
                    let mut release_now = false;
                    if let Some(ctx) = self.streams.get_mut(&skey) {
                        if ctx.discard_body {
                            release_now = true;
                            if fin {
                                let _ = ctx.events.send(StreamEvent::Data {
                                    data: Bytes::new(),
                                    fin,
                                });
                            }
                        } else if ctx.events.send(StreamEvent::Data { data, fin }).is_err() {
                            release_now = true;
                        }
                    } else {
                        release_now = true;
                    }
                    if release_now {
                        let peer = self.endpoint.get_mut(key).expect("peer exists");
                        peer.session.release_capacity(id, len);
                    }
                    if fin {
                        self.check_finished(&skey);
                    }
                }
                Event::Trailers { id, headers } => {
                    let skey = StreamKey { peer: key, id };
                    if let Some(ctx) = self.streams.get(&skey) {
                        let _ = ctx.events.send(StreamEvent::Trailers(headers));
                    }
                    self.check_finished(&skey);
                }
                Event::Reset { id, code, origin } => {
                    let skey = StreamKey { peer: key, id };
                    let cause = if origin.is_retry_safe(code) {
                        ResetCause::Refused
                    } else if origin == ResetOrigin::Session {
                        ResetCause::WorkerLost
                    } else {
                        ResetCause::Error(code)
                    };
                    if let Some(ctx) = self.remove_stream(&skey) {
                        match origin {
                            // Refused: retried; the HTTP side says so.
                            ResetOrigin::Peer if cause == ResetCause::Refused => {}
                            ResetOrigin::Peer => {
                                let worker = self.table.get(&key).map_or("", |e| &*e.worker_id);
                                let session =
                                    self.endpoint.get(key).map_or("", |p| p.session_id.as_str());
                                warn!(%worker, %session, stream = %id, %code, "worker reset the stream");
                            }
                            // Local resets were logged as protocol errors when sent.
                            _ => debug!(stream = %id, code = %code, ?origin, "stream reset"),
                        }
                        let _ = ctx.events.send(StreamEvent::Reset(cause));
                        self.stream_done(key);
                    }
                }
                Event::WindowOpened { id } => {
                    if id.is_zero() {
                        let parked = self
                            .table
                            .get_mut(&key)
                            .map(|entry| std::mem::take(&mut entry.parked))
                            .unwrap_or_default();
                        for id in parked {
                            let k = StreamKey { peer: key, id };
                            if let Some(ctx) = self.streams.get_mut(&k) {
                                ctx.parked = false;
                            }
                            self.push_request_body(&k);
                        }
                    } else {
                        self.push_request_body(&StreamKey { peer: key, id });
                    }
                }
                Event::CapacityChanged { capacity } => {
                    let capacity = self.endpoint.capped(capacity, key);
                    if let Some(entry) = self.table.get_mut(&key) {
                        entry.capacity = capacity;
                    }
                    self.serve_queue();
                }
                Event::GoAway { status, .. } => {
                    if let Some(entry) = self.table.get_mut(&key) {
                        entry.draining = true;
                        info!(worker = %entry.worker_id, %status, "worker draining");
                    }
                }
                Event::Pong { rtt } => peer.rtt = Some(rtt),
                Event::Closed(reason) => {
                    let worker = self
                        .table
                        .get(&key)
                        .map(|e| e.worker_id.clone())
                        .unwrap_or_default();
                    match reason {
                        CloseReason::Drained => info!(%worker, "worker session ended"),
                        _ => warn!(%worker, ?reason, "worker session lost"),
                    }
                    if let Some(entry) = self.table.remove(&key) {
                        self.metrics.worker_session(&entry.router_address, -1);
                    }
                    self.metrics.workers.set(self.table.len() as i64);
                    // Waiting requests may have lost their pool.
                    self.serve_queue();
                }
                // Worker-side events: a router session never emits them.
                Event::Established | Event::Request { .. } => {}
            }
        }
    }

    /// A stream that finished normally on both sides leaves the session; free its slot.
    pub(super) fn check_finished(&mut self, key: &StreamKey) {
        let finished = self
            .endpoint
            .get(key.peer)
            .is_none_or(|p| p.session.stream_state(key.id).is_none());
        if finished && self.remove_stream(key).is_some() {
            self.stream_done(key.peer);
        }
    }

    /// Forgets a stream; closing its credit stops the HTTP task's body pump.
    pub(super) fn remove_stream(&mut self, key: &StreamKey) -> Option<StreamCtx> {
        let ctx = self.streams.remove(key)?;
        if let Some(credit) = &ctx.credit {
            credit.close();
        }
        if ctx.parked
            && let Some(entry) = self.table.get_mut(&key.peer)
        {
            // Rare (a stream ends while its body waits for window): keeps
            // the list bounded by the session's live streams.
            entry.parked.retain(|id| *id != key.id);
        }
        Some(ctx)
    }

    pub(super) fn stream_done(&mut self, peer: PeerKey) {
        if let Some(entry) = self.table.get_mut(&peer) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
        }
        self.serve_queue();
    }
}
