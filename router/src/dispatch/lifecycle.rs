//! Output to the workers sockets, timers, drain and stop: the I/O half of
//! what the endpoint decides.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tracing::{info, warn};
use zroute_trace::Direction;
use zroute_transport::{PeerId, SendError};

use super::{
    Dispatcher, MAX_PARTS_PER_MESSAGE, Msg, OpenError, PeerKey, StreamKey, WorkerInfo, recv_any,
};

impl Dispatcher {
    /// Sends a session's frames, as many to a message as allowed.
    pub(super) fn flush(&mut self, key: PeerKey) {
        let now = Instant::now();
        self.endpoint.take_transmit(key, now.into_std());
        let Some(peer) = self.endpoint.get_mut(key) else {
            return;
        };
        if peer.outbox.is_empty() {
            return;
        }
        let routing_id = PeerId::new(peer.routing_id.clone());
        while !peer.outbox.is_empty() {
            let n = peer.outbox.len().min(MAX_PARTS_PER_MESSAGE);
            let parts: Vec<&Bytes> = peer.outbox.iter().take(n).collect();
            match self.sockets[peer.socket].try_send_to(&routing_id, &parts) {
                Ok(()) => {
                    if let Some(recorder) = &mut self.recorder {
                        for part in peer.outbox.iter().take(n) {
                            recorder.frame(&peer.session_id, Direction::RouterToWorker, part, now);
                        }
                    }
                    peer.outbox.drain(..n);
                    peer.blocked_since = None;
                }
                Err(SendError::WouldBlock) => {
                    // Spec #transport-send-failures: retry for at most one heartbeat interval.
                    let newly_blocked = peer.blocked_since.is_none();
                    let since = *peer.blocked_since.get_or_insert(now.into_std());
                    if now.into_std().saturating_duration_since(since)
                        > self.session_config.heartbeat_interval
                    {
                        let worker = self.table.get(&key).map_or("", |e| &*e.worker_id);
                        warn!(%worker, session = %peer.session_id, "worker does not read: session dropped");
                        peer.outbox.clear();
                        peer.session.abandon();
                        self.mark_dirty(key);
                    }
                    if newly_blocked {
                        self.endpoint.note_blocked(key);
                    }
                    return;
                }
                Err(SendError::HostUnreachable) => {
                    // The worker's connection is gone, but what it sent before
                    // leaving may still wait in the socket (a response's last
                    // DATA, say): read that first, then drop the session.
                    peer.outbox.clear();
                    if !self.departed.contains(&key) {
                        self.departed.push(key);
                    }
                    return;
                }
                Err(e) => {
                    let worker = self.table.get(&key).map_or("", |e| &*e.worker_id);
                    warn!(%worker, session = %peer.session_id, error = %e, "send to worker failed: session dropped");
                    peer.outbox.clear();
                    peer.session.abandon();
                    self.mark_dirty(key);
                    return;
                }
            }
        }
    }

    /// Spec #transport-send-failures: EHOSTUNREACH means the session is dead,
    /// after the frames the worker sent before it left.
    pub(super) fn drop_departed(&mut self) {
        while !self.departed.is_empty() {
            self.drain_sockets();
            self.settle();
            for key in std::mem::take(&mut self.departed) {
                if let Some(peer) = self.endpoint.get_mut(key)
                    && !peer.session.is_closed()
                {
                    let worker = self.table.get(&key).map_or("", |e| &*e.worker_id);
                    warn!(%worker, session = %peer.session_id, "worker disconnected: session dropped");
                    peer.session.abandon();
                    self.mark_dirty(key);
                }
            }
            self.settle();
        }
    }

    pub(super) fn handle_timeouts(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        self.endpoint.handle_timeout(now.into_std(), &mut due);
        for key in due {
            self.mark_dirty(key);
        }
        // Requests that waited out the startup grace for nobody get their 503.
        if self.grace_until.is_some_and(|end| now >= end) {
            self.grace_until = None;
            self.serve_queue();
        }
    }

    pub(super) fn next_deadline(&mut self) -> Option<Instant> {
        let session_timers = self.endpoint.poll_timeout().map(Instant::from_std);
        // A blocked outbox is retried on a short tick.
        let retries = self
            .endpoint
            .has_blocked()
            .then(|| Instant::now() + Duration::from_millis(5));
        // Requests waiting out the startup grace get their 503 when it ends.
        let grace = self.grace_until.filter(|_| !self.queue.is_empty());
        session_timers.into_iter().chain(retries).chain(grace).min()
    }

    pub(super) fn forget(&mut self, key: PeerKey) {
        if let Some(peer) = self.endpoint.forget(key) {
            if let Some(fd) = peer.fd
                && self.by_fd.get(&(peer.socket, fd)) == Some(&key)
            {
                self.by_fd.remove(&(peer.socket, fd));
            }
            if let Some(recorder) = &mut self.recorder {
                recorder.close(&peer.session_id);
            }
        }
        if let Some(entry) = self.table.remove(&key) {
            self.metrics.workers.set(self.table.len() as i64);
            self.metrics.worker_session(&entry.router_address, -1);
        }
    }

    pub(super) fn drain(&mut self) {
        let now = Instant::now();
        let mut sessions = Vec::new();
        if !self.endpoint.drain(now.into_std(), &mut sessions) {
            return;
        }
        self.drained_at = Some(now);
        info!(
            workers = self.endpoint.len(),
            "draining: no new streams, GOAWAY to every worker"
        );
        for pending in self.queue.drain(..) {
            pending.request.refuse(OpenError::ShuttingDown);
        }
        for key in sessions {
            self.mark_dirty(key);
        }
        self.settle();
    }

    /// Spec #router-shutdown: what is left at the shutdown timeout is cancelled.
    pub(super) fn stop(&mut self) {
        self.drain();
        let keys: Vec<StreamKey> = self.streams.keys().cloned().collect();
        for key in keys {
            self.handle_msg(Msg::Cancel { key });
        }
        self.settle();
        // The GOAWAYs and RST_STREAMs just queued are what tells each worker
        // to register again at once (with the router that replaces this one)
        // rather than a heartbeat period later: give libzmq time to deliver
        // them when the sockets close, instead of the default linger of 0
        // that drops them.
        let linger = self.leave_time();
        for socket in &mut self.sockets {
            let _ = socket.set_linger(linger);
        }
    }

    /// Up to one heartbeat interval, at most 1 s: how long workers get, at
    /// the end, to read their GOAWAY and close their connections.
    pub(super) fn leave_time(&self) -> Duration {
        self.session_config
            .heartbeat_interval
            .min(Duration::from_secs(1))
    }

    /// After a handover, keeps the sockets open and read until
    /// [`leave_time`](Self::leave_time) after the drain began, so that the
    /// workers, which close their connection once they have their GOAWAY(0,
    /// OK), go first. Closed first here, a connection whose worker's last PING
    /// was still unread would be reset, and the reset can discard the GOAWAY
    /// on its way: that worker would then find the new router only a
    /// heartbeat later (seen in router/tests/upgrade.rs, 200 ms). Not after
    /// SIGTERM: there the replacement can bind the worker port only once this
    /// process has exited, so waiting would only delay it.
    pub(super) async fn let_workers_leave(&mut self) {
        let (true, Some(drained_at)) = (self.handing_over, self.drained_at) else {
            return;
        };
        let until = drained_at + self.leave_time();
        loop {
            tokio::select! {
                ready = recv_any(&mut self.sockets) => match ready {
                    Ok((index, incoming)) => self.handle_incoming(index, incoming),
                    Err(e) => {
                        warn!(error = %e, "worker socket receive failed");
                        return;
                    }
                },
                () = tokio::time::sleep_until(until) => return,
            }
        }
    }

    pub(super) fn worker_list(&self) -> Vec<WorkerInfo> {
        let now = Instant::now().into_std();
        let mut list: Vec<WorkerInfo> = self
            .endpoint
            .iter()
            .filter_map(|(key, peer)| {
                let entry = self.table.get(&key)?;
                Some(WorkerInfo {
                    id: entry.worker_id.to_string(),
                    session: peer.session_id.clone(),
                    endpoint: self.endpoints[peer.socket].clone(),
                    router_address: entry.router_address.to_string(),
                    routes: entry.routes.iter().map(|r| r.as_str().to_owned()).collect(),
                    capacity: entry.capacity,
                    in_flight: entry.in_flight,
                    draining: entry.draining,
                    last_heard_ms_ago: now.saturating_duration_since(peer.last_heard).as_millis()
                        as u64,
                    rtt_ms: peer.rtt.map(|d| d.as_secs_f64() * 1000.0),
                })
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id).then(a.session.cmp(&b.session)));
        list
    }
}
