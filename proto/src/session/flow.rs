//! Window accounting for one direction of one stream, or of the session
//! ([spec](../../../spec/PROTOCOL.md#flow-control-windows)).

use crate::frame::MAX_WINDOW;

/// The 65,536-byte default of SPDY/3.1 for stream and session windows.
pub const DEFAULT_WINDOW: u32 = 65_536;

/// How much the peer may still send us, and how much of what it sent the
/// application has consumed but we have not yet credited back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecvWindow {
    available: i64,
    /// The size the window is kept at; credits go out when half is consumed.
    target: u32,
    unacked: u32,
}

impl RecvWindow {
    pub(crate) fn new(initial: u32, target: u32) -> Self {
        Self {
            available: i64::from(initial),
            target,
            unacked: 0,
        }
    }

    /// Takes `len` bytes of DATA off the window; `false` means the peer overran it.
    pub(crate) fn receive(&mut self, len: usize) -> bool {
        if len as i64 > self.available {
            return false;
        }
        self.available -= len as i64;
        true
    }

    /// Records consumed bytes; returns the delta to announce once enough has
    /// piled up that a WINDOW_UPDATE is worth its frame.
    pub(crate) fn release(&mut self, len: usize) -> Option<u32> {
        self.unacked = self.unacked.saturating_add(len as u32);
        let room = (i64::from(self.target) - self.available).max(0) as u32;
        let due = self.unacked.min(room);
        if due == 0 || due < self.target / 2 {
            return None;
        }
        self.unacked -= due;
        self.available += i64::from(due);
        Some(due)
    }

    /// Raises the target (the session window grows after the handshake);
    /// returns the delta to announce now.
    pub(crate) fn grow_to(&mut self, target: u32) -> Option<u32> {
        let delta = i64::from(target) - self.available;
        self.target = target;
        if delta <= 0 {
            return None;
        }
        self.available += delta;
        Some(delta as u32)
    }
}

/// How much we may still send the peer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendWindow {
    /// May go negative when the peer lowers INITIAL_WINDOW_SIZE.
    available: i64,
}

impl SendWindow {
    pub(crate) fn new(initial: u32) -> Self {
        Self {
            available: i64::from(initial),
        }
    }

    pub(crate) fn available(&self) -> usize {
        self.available.max(0) as usize
    }

    pub(crate) fn consume(&mut self, len: usize) {
        self.available -= len as i64;
    }

    /// Applies a WINDOW_UPDATE; `false` means the window would pass 2^31-1.
    pub(crate) fn grant(&mut self, delta: u32) -> bool {
        let next = self.available + i64::from(delta);
        if next > i64::from(MAX_WINDOW) {
            return false;
        }
        self.available = next;
        true
    }

    /// Applies a change of INITIAL_WINDOW_SIZE to an open stream.
    pub(crate) fn shift(&mut self, by: i64) -> bool {
        let next = self.available + by;
        if next > i64::from(MAX_WINDOW) {
            return false;
        }
        self.available = next;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_go_out_at_half_the_window() {
        let mut w = RecvWindow::new(100, 100);
        assert!(w.receive(60));
        assert_eq!(w.release(40), None);
        assert_eq!(w.release(20), Some(60));
        assert!(w.receive(100));
        assert!(!w.receive(1));
    }

    #[test]
    fn send_window_refuses_overflow() {
        let mut w = SendWindow::new(MAX_WINDOW);
        assert!(!w.grant(1));
        w.consume(10);
        assert!(w.grant(10));
        assert!(w.shift(-(i64::from(MAX_WINDOW) + 5)));
        assert_eq!(w.available(), 0);
    }
}
