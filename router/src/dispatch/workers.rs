//! Input from the workers sockets: each message's parts go to the endpoint,
//! and what it answers goes out; a new session joins the worker table.

use std::sync::Arc;

use tokio::time::Instant;
use tracing::{info, warn};
use zroute_trace::Direction;
use zroute_transport::{Incoming, Multipart, PeerId};

use super::table::Entry;
use super::{Dispatcher, PeerKey, display_peer};
use crate::endpoint::{self, Outcome, Refused};
use crate::metrics::ReasonLabels;

impl Dispatcher {
    pub(super) fn drain_sockets(&mut self) {
        for index in 0..self.sockets.len() {
            // Bounded, so one chatty socket cannot starve the HTTP side.
            // Events first, as `Socket::next` returns them: a connection's
            // accept comes before its messages.
            for _ in 0..1024 {
                let next = match self.sockets[index].try_event() {
                    Ok(Some(event)) => Ok(Some(Incoming::Event(event))),
                    Ok(None) => self.sockets[index]
                        .try_recv()
                        .map(|m| m.map(Incoming::Message)),
                    Err(e) => Err(e),
                };
                match next {
                    Ok(Some(Incoming::Message(msg))) => self.handle_message(index, msg),
                    Ok(Some(Incoming::Event(event))) => self.handle_event(index, event),
                    Ok(None) => break,
                    Err(e) => {
                        warn!(error = %e, "worker socket receive failed");
                        break;
                    }
                }
            }
        }
    }

    /// Messages only: what a connection sent before it closed.
    pub(super) fn drain_messages(&mut self, index: usize) {
        for _ in 0..1024 {
            match self.sockets[index].try_recv() {
                Ok(Some(msg)) => self.handle_message(index, msg),
                Ok(None) => break,
                Err(e) => {
                    warn!(error = %e, "worker socket receive failed");
                    break;
                }
            }
        }
    }

    /// What woke the dispatcher on a socket, then whatever else is ready there.
    pub(super) fn handle_incoming(&mut self, index: usize, incoming: Incoming) {
        match incoming {
            Incoming::Message(msg) => self.handle_message(index, msg),
            Incoming::Event(event) => self.handle_event(index, event),
        }
        self.drain_sockets();
    }

    fn handle_message(&mut self, index: usize, msg: Multipart) {
        let origin = msg.origin().cloned();
        let Some((routing_id, parts)) = msg.split_peer() else {
            return;
        };
        let routing_id = routing_id.into_bytes();
        let now = Instant::now();
        let std_now = now.into_std();
        if let Err(ended) =
            self.endpoint
                .check_batch(std_now, index, &routing_id, parts.parts().len())
        {
            if let Some(key) = ended {
                self.mark_dirty(key);
            }
            return;
        }
        let origin = origin.as_ref().map(|o| endpoint::Origin {
            address: &o.address,
            fd: o.fd,
        });
        for mut part in parts.into_parts() {
            loop {
                // Kept only for a recording: even a reference count is work
                // on this path.
                let raw = self.recorder.is_some().then(|| part.clone());
                match self
                    .endpoint
                    .handle(std_now, index, &routing_id, origin, part)
                {
                    Outcome::Session(key) => {
                        if let (Some(recorder), Some(peer), Some(raw)) =
                            (&mut self.recorder, self.endpoint.get(key), &raw)
                        {
                            recorder.frame(&peer.session_id, Direction::WorkerToRouter, raw, now);
                        }
                        self.mark_dirty(key);
                    }
                    Outcome::Ended(key, back) => {
                        // Spec #session-errors: a session that ended (an error
                        // in an earlier part of this very message, say) is
                        // forgotten first: its streams fail and its GOAWAY
                        // goes out, and this part then comes from an unknown
                        // peer.
                        self.retire(key);
                        part = back;
                        continue;
                    }
                    Outcome::Registered(key) => self.registered(key, raw.as_ref(), now),
                    Outcome::Refused(refused) => self.refused(refused),
                    Outcome::Unknown => {}
                }
                break;
            }
            self.send_transmits();
        }
    }

    /// Sends the endpoint's answers to peers without a session. Best effort:
    /// such a peer has nothing here to lose.
    pub(super) fn send_transmits(&mut self) {
        while let Some(transmit) = self.endpoint.poll_transmit() {
            let routing_id = PeerId::new(transmit.routing_id);
            let _ = self.sockets[transmit.socket].try_send_to(&routing_id, &[transmit.frame]);
        }
    }

    /// A HELLO made a session: it joins the worker table, and waiting
    /// requests may go to it.
    /// `hello` is the HELLO's bytes when a recording wants them.
    fn registered(&mut self, key: PeerKey, hello: Option<&bytes::Bytes>, now: Instant) {
        let peer = self.endpoint.get(key).expect("just registered");
        let (index, fd) = (peer.socket, peer.fd);
        let router_address: Arc<str> = match fd.and_then(|fd| self.connections.local(index, fd)) {
            Some(local) => Arc::from(format!("tcp://{local}")),
            None => Arc::from(self.endpoints[index].as_str()),
        };
        let entry = Entry {
            worker_id: Arc::from(peer.worker_id.as_str()),
            routes: peer.session.routes().to_vec(),
            capacity: self.endpoint.capped(peer.session.capacity(), key),
            in_flight: 0,
            draining: false,
            parked: Vec::new(),
            websocket: peer
                .session
                .hello()
                .is_some_and(|h| h.attributes().values("feature").any(|f| f == b"websocket")),
            router_address,
        };
        let address = fd.and_then(|fd| self.connections.peer(index, fd));
        info!(
            worker = %peer.worker_id,
            session = %peer.session_id,
            capacity = entry.capacity,
            routes = ?entry.routes.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            websocket = entry.websocket,
            endpoint = %self.endpoints[index],
            router_address = %entry.router_address,
            source = %peer.source,
            address = %display_peer(address.as_ref()),
            "worker registered"
        );
        if let (Some(recorder), Some(hello)) = (&mut self.recorder, hello) {
            recorder.open(&peer.session_id, &peer.worker_id, now);
            recorder.frame(&peer.session_id, Direction::WorkerToRouter, hello, now);
        }
        self.metrics.worker_session(&entry.router_address, 1);
        self.table.insert(key, entry);
        if let Some(fd) = fd {
            self.by_fd.insert((index, fd), key);
        }
        self.metrics.workers.set(self.table.len() as i64);
        self.mark_dirty(key);
        self.serve_queue();
    }

    /// A HELLO admission turned down: counted, and logged once a second.
    fn refused(&mut self, refused: Refused) {
        self.metrics
            .registrations_refused
            .get_or_create(&ReasonLabels {
                reason: refused.reason.as_str(),
            })
            .inc();
        if let Some(unlogged) = refused.unlogged {
            let address = refused
                .fd
                .and_then(|fd| self.connections.peer(refused.socket, fd));
            warn!(
                peer = %endpoint::hex(&refused.routing_id),
                worker = %refused.worker,
                source = %refused.source,
                address = %display_peer(address.as_ref()),
                reason = refused.reason.as_str(),
                sessions = refused.sessions,
                unlogged,
                "worker registration refused: GOAWAY REFUSED"
            );
        }
    }

    /// Forgets a session that has closed, after handling what it had left
    /// to say (stream resets, Closed) and sending what it had left to send.
    fn retire(&mut self, key: PeerKey) {
        if !self
            .endpoint
            .get(key)
            .is_some_and(|p| p.session.is_closed())
        {
            return;
        }
        self.process_events(key);
        self.flush(key);
        self.forget(key);
    }
}
