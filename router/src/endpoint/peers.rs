//! The peer table: every worker session in a slab, found by a
//! [`ConnectionHandle`] on the hot path and by its routing id only when a
//! message comes in.
//!
//! A slot is reused once its session is forgotten, so a handle also carries
//! the serial number of its session: HTTP tasks keep stream keys after a
//! session ends, and their late messages must not reach the next session in
//! that slot.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use bytes::Bytes;
use foldhash::HashMap;
use zroute_proto::session::Session;

use super::admission::Source;

/// One worker session, as the endpoint's caller names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ConnectionHandle {
    slot: usize,
    serial: u64,
}

/// A registered worker session and what the router keeps beside it.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) session: Session,
    /// The index of the workers socket its messages come in on.
    pub(crate) socket: usize,
    pub(crate) routing_id: Bytes,
    /// `<router id>-<n>`: the `session` attribute of its WELCOME.
    pub(crate) session_id: String,
    /// The `id` attribute of its HELLO, as logged.
    pub(crate) worker_id: String,
    pub(crate) last_heard: Instant,
    pub(crate) rtt: Option<Duration>,
    /// Frames that could not be handed to the socket yet (the peer's queue was full).
    pub(crate) outbox: VecDeque<Bytes>,
    pub(crate) blocked_since: Option<Instant>,
    /// The deadline registered for it in the endpoint's timers.
    pub(crate) timer_at: Option<Instant>,
    /// Where its HELLO came from, as --max-workers-per-source counts it.
    pub(crate) source: Source,
    /// The descriptor of its connection, if libzmq said.
    pub(crate) fd: Option<RawFd>,
    /// Listed in the caller's work list already: a flag, so that marking a
    /// session costs no scan of that list.
    pub(crate) dirty: bool,
    /// Protocol errors logged in the current second, for rate-limiting them
    /// (spec #error-reporting).
    pub(crate) reports: (Instant, u32),
}

#[derive(Debug)]
struct Slot {
    serial: u64,
    peer: Option<Peer>,
}

#[derive(Debug, Default)]
pub(crate) struct Peers {
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Per socket, each routing id's session. Keyed by `Bytes`, which
    /// borrows as `[u8]`: a lookup builds no key.
    by_routing_id: Vec<HashMap<Bytes, ConnectionHandle>>,
}

impl Peers {
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub(crate) fn get(&self, h: ConnectionHandle) -> Option<&Peer> {
        let slot = self.slots.get(h.slot)?;
        if slot.serial != h.serial {
            return None;
        }
        slot.peer.as_ref()
    }

    pub(crate) fn get_mut(&mut self, h: ConnectionHandle) -> Option<&mut Peer> {
        let slot = self.slots.get_mut(h.slot)?;
        if slot.serial != h.serial {
            return None;
        }
        slot.peer.as_mut()
    }

    /// The session of `routing_id` on `socket`, live or closed.
    pub(crate) fn find(&self, socket: usize, routing_id: &[u8]) -> Option<ConnectionHandle> {
        self.by_routing_id.get(socket)?.get(routing_id).copied()
    }

    /// Adds a session; `serial` is unique to it (the session counter).
    pub(crate) fn insert(&mut self, serial: u64, peer: Peer) -> ConnectionHandle {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    serial: 0,
                    peer: None,
                });
                self.slots.len() - 1
            }
        };
        let h = ConnectionHandle { slot, serial };
        if self.by_routing_id.len() <= peer.socket {
            self.by_routing_id
                .resize_with(peer.socket + 1, HashMap::default);
        }
        self.by_routing_id[peer.socket].insert(peer.routing_id.clone(), h);
        self.slots[slot] = Slot {
            serial,
            peer: Some(peer),
        };
        h
    }

    pub(crate) fn remove(&mut self, h: ConnectionHandle) -> Option<Peer> {
        let slot = self.slots.get_mut(h.slot)?;
        if slot.serial != h.serial {
            return None;
        }
        let peer = slot.peer.take()?;
        self.free.push(h.slot);
        let index = &mut self.by_routing_id[peer.socket];
        if index.get(&peer.routing_id) == Some(&h) {
            index.remove(&peer.routing_id);
        }
        Some(peer)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (ConnectionHandle, &Peer)> {
        self.slots.iter().enumerate().filter_map(|(slot, s)| {
            let h = ConnectionHandle {
                slot,
                serial: s.serial,
            };
            s.peer.as_ref().map(|p| (h, p))
        })
    }
}
