//! Session deadlines, earliest first, so that finding the next one costs
//! the dispatcher no scan of every peer per turn (quinn-proto keeps its
//! connections' timers the same way).
//!
//! Each peer has at most one live entry: the deadline it was armed with
//! (`Peer::timer_at`). A session whose deadline moves later keeps its entry,
//! which is checked against the session when it comes up and re-armed then;
//! one whose deadline moves earlier gets a new entry, and the old one is
//! recognised as stale by `timer_at` and dropped when it comes up.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::peers::{ConnectionHandle, Peers};

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, ConnectionHandle)>>,
}

impl Timers {
    /// Registers `h`'s current session deadline, unless an earlier or equal
    /// one is registered already. Call it after anything that may move the
    /// deadline earlier: the endpoint does, whenever it takes a session's
    /// frames.
    pub(crate) fn arm(&mut self, peers: &mut Peers, h: ConnectionHandle) {
        let Some(peer) = peers.get_mut(h) else {
            return;
        };
        let Some(at) = peer.session.poll_timeout() else {
            return;
        };
        if peer.timer_at.is_none_or(|armed| at < armed) {
            peer.timer_at = Some(at);
            self.heap.push(Reverse((at, h)));
        }
    }

    /// The earliest deadline of any session, after dropping stale entries
    /// and re-arming sessions whose deadline moved.
    pub(crate) fn next(&mut self, peers: &mut Peers) -> Option<Instant> {
        loop {
            let Reverse((at, h)) = *self.heap.peek()?;
            let Some(peer) = peers.get_mut(h) else {
                self.heap.pop();
                continue;
            };
            if peer.timer_at != Some(at) {
                self.heap.pop();
                continue;
            }
            let actual = peer.session.poll_timeout();
            if actual == Some(at) {
                return Some(at);
            }
            self.heap.pop();
            peer.timer_at = None;
            self.arm(peers, h);
        }
    }

    /// Takes the sessions whose deadline is at or before `now`, earliest
    /// first; their entries are gone, so re-arm each once handled.
    pub(crate) fn take_due(
        &mut self,
        peers: &mut Peers,
        now: Instant,
        due: &mut Vec<ConnectionHandle>,
    ) {
        while let Some(at) = self.next(peers) {
            if at > now {
                return;
            }
            let Reverse((_, h)) = self.heap.pop().expect("next() saw it");
            if let Some(peer) = peers.get_mut(h) {
                peer.timer_at = None;
            }
            due.push(h);
        }
    }

    /// Entries held, stale ones included: bounded by the peers, plus one per
    /// deadline that moved earlier since it came up.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}
