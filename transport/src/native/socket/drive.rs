//! The socket's engine: what one wake-up of its owner does. Accepting,
//! connecting, reading and writing the links that woke it, the handshake's
//! end, closing, heartbeats.

use super::*;

impl Socket {
    /// Does everything the socket's connections are waiting for: accepts,
    /// connects, reads, writes, heartbeats. With `cx`, the owner's task is
    /// woken when there is more to do; without, the wakers registered by
    /// the last drive with one stay in place.
    pub(super) fn drive(&mut self, mut cx: Option<&mut Context<'_>>) {
        let now = Instant::now();
        if let Some(cx) = cx.as_deref_mut() {
            self.set.register(cx);
            self.poll_tick(cx, now);
        }
        self.flush();
        self.set.drain_into(&mut self.woken);
        self.visit.extend(self.woken.drain(..));
        let mut visits = 0;
        self.read_this_drive = 0;
        while self.inbox.len() < self.rcvhwm && self.read_this_drive < DRIVE_BUDGET {
            let Some(slot) = self.visit.pop_front() else {
                break;
            };
            if slot > CONNECTOR_TOP {
                self.accept(LISTENER_TOP - slot, now);
            } else if slot > CONNECTOR_FLOOR {
                self.poll_connector(CONNECTOR_TOP - slot, now);
            } else {
                self.service(slot, now);
            }
            visits += 1;
            if visits == VISITS_PER_DRIVE {
                break;
            }
        }
        self.flush();
        // Work left for lack of budget, not of room: come back at once.
        if let Some(cx) = cx
            && !self.visit.is_empty()
            && self.inbox.is_empty()
        {
            cx.waker().wake_by_ref();
        }
    }

    fn accept(&mut self, index: usize, now: Instant) {
        loop {
            let Some((listener, waker)) = self.listeners.get(index) else {
                return;
            };
            waker.visited();
            let w = Waker::from(waker.clone());
            let mut cx = Context::from_waker(&w);
            match listener.poll_accept(&mut cx) {
                Poll::Pending => return,
                // EMFILE and friends: the listener stays; the next tick tries it again.
                Poll::Ready(Err(_)) => return,
                Poll::Ready(Ok((stream, peer))) => {
                    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
                    let local = stream.local_tcp_addr();
                    self.push_event(SocketEvent::Accepted { fd, peer, local });
                    self.add_link(stream, Role::Server, peer, None, now);
                }
            }
        }
    }

    fn poll_connector(&mut self, index: usize, now: Instant) {
        let Some(connector) = self.connectors.get_mut(index) else {
            return;
        };
        connector.waker.visited();
        let w = Waker::from(connector.waker.clone());
        let mut cx = Context::from_waker(&w);
        loop {
            match &mut connector.state {
                ConnectState::Linked => return,
                ConnectState::Waiting(sleep) => {
                    if sleep.as_mut().poll(&mut cx).is_pending() {
                        return;
                    }
                    connector.state = ConnectState::Connecting(connect_future(&connector.endpoint));
                }
                ConnectState::Connecting(fut) => match fut.as_mut().poll(&mut cx) {
                    Poll::Pending => return,
                    Poll::Ready(Err(_)) => {
                        let wait = connector.backoff;
                        connector.backoff = next_backoff(wait, self.reconnect_ivl_max);
                        connector.state = ConnectState::Waiting(Box::pin(tokio::time::sleep(wait)));
                    }
                    Poll::Ready(Ok(stream)) => {
                        let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
                        let slot = self.free.last().copied().unwrap_or(self.links.len());
                        self.connectors[index].state = ConnectState::Linked;
                        self.push_event(SocketEvent::Connected { fd });
                        let added = self.add_link(stream, Role::Client, None, Some(index), now);
                        debug_assert_eq!(added, slot);
                        return;
                    }
                },
            }
        }
    }

    fn add_link(
        &mut self,
        stream: Stream,
        role: Role,
        peer: Option<crate::PeerAddr>,
        connector: Option<usize>,
        now: Instant,
    ) -> usize {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.links.push(None);
            self.links.len() - 1
        });
        let waker = SlotWaker::new(slot, self.set.clone());
        // The IP alone, as libzmq's `Peer-Address` and ZAP requests give it.
        let address = match &peer {
            Some(crate::PeerAddr::Tcp(addr)) => addr.ip().to_string(),
            _ => stream.peer_text(),
        };
        let conn = Connection::new(role, self.link_config(&address));
        let mut link = Link::new(stream, conn, waker, peer, address, now);
        link.connector = connector;
        // Read the peer's greeting and write ours on the next visit.
        link.waker.relist();
        self.links[slot] = Some(link);
        slot
    }

    /// Reads and writes one link and hands over what it brought.
    fn service(&mut self, slot: usize, now: Instant) {
        let Some(link) = self.links.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        link.waker.visited();
        if let Err(e) = link.flush() {
            self.close_link(slot, Closing::Io(e));
            return;
        }
        let outcome = link.read(
            &mut self.scratch,
            READ_BUDGET,
            now,
            &mut self.read_this_drive,
        );
        loop {
            let Some(link) = self.links.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            let Some(event) = link.conn.poll_event() else {
                break;
            };
            match event {
                Event::Ready(peer) => {
                    let identity = peer.identity().cloned();
                    if let Err(why) = self.on_ready(slot, identity) {
                        self.close_link(slot, why);
                        return;
                    }
                }
                Event::Message(parts) => {
                    let msg = to_multipart(link, parts, self.origin_prefix.as_deref());
                    self.inbox.push_back(msg);
                }
                Event::Ping { ttl } => link.peer_ttl = ttl,
                _ => {}
            }
        }
        let link = self.links[slot].as_mut().expect("still open");
        link.take_transmit();
        let flushed = link.flush();
        match (outcome, flushed) {
            (_, Err(e)) => self.close_link(slot, Closing::Io(e)),
            (ReadOutcome::Drained, Ok(_)) => {}
            (ReadOutcome::More, Ok(_)) => self.visit.push_back(slot),
            (ReadOutcome::Closed(e), Ok(_)) => self.close_link(slot, Closing::Eof(e)),
            (ReadOutcome::Failed(e), Ok(_)) => self.close_link(slot, Closing::Protocol(e)),
        }
    }

    fn on_ready(&mut self, slot: usize, identity: Option<Bytes>) -> Result<(), Closing> {
        let id = match (self.kind, identity) {
            (SocketKind::Router, Some(id)) => {
                if self.by_id.contains_key(&id) {
                    // libzmq without ROUTER_HANDOVER keeps the first holder.
                    return Err(Closing::DuplicateIdentity);
                }
                Some(id)
            }
            (SocketKind::Router, None) => Some(self.generate_id()),
            (SocketKind::Dealer, _) => None,
        };
        let link = self.links[slot].as_mut().expect("open");
        if let Some(id) = &id {
            self.by_id.insert(id.clone(), slot);
        }
        link.routing_id = id;
        if let Some(index) = link.connector {
            self.connectors[index].backoff =
                self.reconnect_ivl.unwrap_or(Duration::from_millis(100));
        }
        link.ready = true;
        self.ready.push(slot);
        self.push_event(SocketEvent::HandshakeSucceeded);
        Ok(())
    }

    fn generate_id(&mut self) -> Bytes {
        loop {
            let n = self.next_routing_id;
            self.next_routing_id = n.wrapping_add(1);
            let mut id = BytesMut::with_capacity(5);
            id.put_u8(0);
            id.put_u32(n);
            let id = id.freeze();
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    pub(super) fn close_link(&mut self, slot: usize, why: Closing) {
        let Some(mut link) = self.links.get_mut(slot).and_then(Option::take) else {
            return;
        };
        self.free.push(slot);
        // An ERROR the state machine queued for the peer, if the kernel takes it.
        link.take_transmit();
        let _ = link.flush();
        let was_ready = link.ready;
        if let Some(id) = &link.routing_id {
            self.by_id.remove(id);
        }
        if let Some(at) = self.ready.iter().position(|&s| s == slot) {
            self.ready.swap_remove(at);
        }
        if let Closing::Protocol(ZmtpError::Limit(limit)) = &why {
            self.limit_drops += 1;
            self.push_event(SocketEvent::LimitExceeded {
                fd: link.fd,
                peer: link.peer,
                what: limit.to_string(),
            });
        }
        // As libzmq's monitor reports it: the handshake's failure, then the
        // disconnection, which a watcher pairs with its `Accepted`.
        if !was_ready {
            self.push_event(SocketEvent::HandshakeFailed(why.failure()));
        }
        self.push_event(SocketEvent::Disconnected { fd: link.fd });
        if let Some(index) = link.connector {
            let connector = &mut self.connectors[index];
            let wait = connector.backoff;
            connector.backoff = next_backoff(wait, self.reconnect_ivl_max);
            connector.state = ConnectState::Waiting(Box::pin(tokio::time::sleep(wait)));
            connector.waker.relist();
        }
    }

    fn push_event(&mut self, event: SocketEvent) {
        if let Some(events) = &mut self.events {
            if events.len() == EVENTS_MAX {
                events.pop_front();
            }
            events.push_back(event);
        }
    }

    /// Heartbeats and handshake deadlines, once per heartbeat interval.
    fn poll_tick(&mut self, cx: &mut Context<'_>, now: Instant) {
        let every = self.heartbeat.map_or(HANDSHAKE_TIMEOUT, |hb| {
            hb.interval.max(Duration::from_millis(1))
        });
        let tick = self
            .tick
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        if tick.as_mut().poll(cx).is_pending() {
            return;
        }
        tick.as_mut().reset(now + every);
        let _ = tick.as_mut().poll(cx);
        // A listener whose accept failed (EMFILE, say) is not registered
        // with the reactor any more: try it again once per tick.
        for (_, waker) in &self.listeners {
            waker.relist();
        }
        for slot in 0..self.links.len() {
            let Some(link) = self.links[slot].as_mut() else {
                continue;
            };
            if !link.conn.is_ready() {
                if now.duration_since(link.opened) > HANDSHAKE_TIMEOUT {
                    self.close_link(slot, Closing::Timeout);
                }
                continue;
            }
            let Some(hb) = self.heartbeat else {
                continue;
            };
            let silence = hb.timeout.max(link.peer_ttl);
            if now.duration_since(link.last_recv) > silence {
                self.close_link(slot, Closing::Timeout);
                continue;
            }
            if link.ping(hb.ttl) && !link.dirty {
                link.dirty = true;
                self.dirty.push(slot);
            }
        }
    }
}

/// Why a link closed.
#[derive(Debug)]
pub(super) enum Closing {
    Eof(Option<io::Error>),
    Io(io::Error),
    Protocol(ZmtpError),
    Timeout,
    DuplicateIdentity,
}

impl Closing {
    /// The libzmq monitor's name for a handshake that ended this way.
    fn failure(&self) -> HandshakeFailure {
        match self {
            Self::Protocol(ZmtpError::Greeting(GreetingError::MechanismMismatch { .. })) => {
                HandshakeFailure::MechanismMismatch
            }
            Self::Protocol(ZmtpError::Curve(CurveError::Malformed { .. })) => {
                HandshakeFailure::Protocol(PROTOCOL_ERROR_UNSPECIFIED)
            }
            Self::Protocol(ZmtpError::Curve(_)) => HandshakeFailure::Cryptographic,
            Self::Protocol(ZmtpError::Handshake(HandshakeError::PeerError { reason })) => {
                HandshakeFailure::Auth(status_of(reason))
            }
            Self::Protocol(_) | Self::DuplicateIdentity => {
                HandshakeFailure::Protocol(PROTOCOL_ERROR_UNSPECIFIED)
            }
            Self::Eof(e) => HandshakeFailure::NoDetail(
                e.as_ref().and_then(io::Error::raw_os_error).unwrap_or(0),
            ),
            Self::Io(e) => HandshakeFailure::NoDetail(e.raw_os_error().unwrap_or(0)),
            Self::Timeout => HandshakeFailure::NoDetail(libc::ETIMEDOUT),
        }
    }
}

/// A ZAP-style status from an ERROR reason such as "400 refused".
fn status_of(reason: &Bytes) -> u32 {
    reason
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u32, |n, &d| {
            n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
        })
}
