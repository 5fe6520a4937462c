//! PING both ways and the session's timers: the handshake deadline, sending
//! a PING when idle, and declaring the peer dead
//! ([spec](../../../spec/PROTOCOL.md#heartbeat)).

use std::time::{Duration, Instant};

use super::{CloseReason, Event, Role, Session, State};
use crate::frame::Ping;

#[derive(Clone, Copy, Debug)]
pub(super) struct Heartbeat {
    pub(super) interval: Duration,
    pub(super) liveness: u32,
}

impl Session {
    /// Fires whatever timers are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed => {}
            State::Handshake { deadline, .. } => {
                if now >= deadline {
                    self.close(CloseReason::HandshakeTimedOut);
                }
            }
            State::Established => {
                let Some(hb) = self.heartbeat else { return };
                if now >= self.last_recv + hb.interval * hb.liveness {
                    self.close(CloseReason::TimedOut);
                    return;
                }
                if !self.ping_queued && now >= self.last_send + hb.interval {
                    let id = self.next_ping_id;
                    self.next_ping_id = id.wrapping_add(2);
                    self.outstanding_ping = Some((id, now));
                    self.ping_queued = true;
                    self.queue(Ping::new(id));
                }
            }
        }
    }

    pub(super) fn on_ping(&mut self, now: Instant, f: &Ping) {
        if f.id() % 2 != self.own_ping_parity() {
            return self.queue(Ping::new(f.id()));
        }
        if let Some((id, sent)) = self.outstanding_ping
            && id == f.id()
        {
            self.outstanding_ping = None;
            self.events.push_back(Event::Pong {
                rtt: now.saturating_duration_since(sent),
            });
        }
        // A PING of our parity that we never sent is ignored, which stops loops.
    }

    pub(super) fn own_ping_parity(&self) -> u32 {
        match self.role {
            Role::Router => 1,
            Role::Worker => 0,
        }
    }
}
