//! The workers endpoints' connections, as libzmq's socket monitor reports
//! them: who connected, how long for, and why a handshake failed. Time is
//! passed in.
//!
//! libzmq says little: an accept and a close name the connection's
//! descriptor, a handshake failure names no connection at all (but libzmq
//! raises the close of the failed connection right after it, on the same
//! I/O thread), and no event says why a connection closed or which routing
//! id it carried. So a part over `--max-part-size` and a worker that exits
//! look the same here: a close.

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Duration;

use foldhash::HashMap;
use tokio::time::Instant;
use zroute_transport::{HandshakeFailure, PeerAddr};

/// The open connections of every workers socket.
#[derive(Debug)]
pub(crate) struct Connections {
    open: HashMap<(usize, RawFd), Conn>,
    /// Per socket: the handshake failure whose close comes next.
    failed: Vec<Option<HandshakeFailure>>,
}

#[derive(Debug)]
struct Conn {
    peer: Option<PeerAddr>,
    /// The router's own address on it (tcp:// only).
    local: Option<SocketAddr>,
    since: Instant,
}

/// A connection that ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Closed {
    /// Who it was, if the kernel still knew when the accept was read.
    pub(crate) peer: Option<PeerAddr>,
    /// How long it was open; `None` if its accept was never seen.
    pub(crate) lived: Option<Duration>,
    /// Why its handshake failed, if it did.
    pub(crate) failure: Option<HandshakeFailure>,
}

impl Connections {
    pub(crate) fn new(sockets: usize) -> Self {
        Self {
            open: HashMap::default(),
            failed: vec![None; sockets],
        }
    }

    pub(crate) fn accepted(
        &mut self,
        socket: usize,
        fd: RawFd,
        peer: Option<PeerAddr>,
        local: Option<SocketAddr>,
        now: Instant,
    ) {
        // A descriptor number is reused once closed: a new accept replaces
        // whatever was left under it.
        let conn = Conn {
            peer,
            local,
            since: now,
        };
        self.open.insert((socket, fd), conn);
    }

    pub(crate) fn handshake_failed(&mut self, socket: usize, failure: HandshakeFailure) {
        if let Some(slot) = self.failed.get_mut(socket) {
            *slot = Some(failure);
        }
    }

    pub(crate) fn closed(&mut self, socket: usize, fd: RawFd, now: Instant) -> Closed {
        let conn = self.open.remove(&(socket, fd));
        Closed {
            peer: conn.as_ref().and_then(|c| c.peer),
            lived: conn.map(|c| now.saturating_duration_since(c.since)),
            failure: self.failed.get_mut(socket).and_then(Option::take),
        }
    }

    /// The router's own address on an open tcp:// connection.
    pub(crate) fn local(&self, socket: usize, fd: RawFd) -> Option<SocketAddr> {
        self.open.get(&(socket, fd)).and_then(|c| c.local)
    }

    /// The peer of an open connection.
    pub(crate) fn peer(&self, socket: usize, fd: RawFd) -> Option<PeerAddr> {
        self.open.get(&(socket, fd)).and_then(|c| c.peer)
    }
}

/// What a connection's log lines are rate-limited by: its host (or user),
/// not its port, since a reconnecting peer gets a new port each time.
pub(crate) fn log_key(peer: Option<&PeerAddr>) -> String {
    match peer {
        Some(PeerAddr::Tcp(addr)) => addr.ip().to_string(),
        Some(PeerAddr::Local { uid, .. }) => format!("uid {uid}"),
        None => "unknown".to_owned(),
    }
}

/// Keys whose lines are being rate-limited; beyond this the table starts
/// over, so a flood from ever new addresses costs bounded memory.
const MAX_TRACKED_KEYS: usize = 1024;

/// Per key, a bucket of lines: `burst` at once, then one per `every`, with
/// the count of lines not logged since the last one that was.
#[derive(Debug)]
pub(crate) struct LogLimit {
    burst: u32,
    every: Duration,
    keys: HashMap<String, Lines>,
}

#[derive(Debug)]
struct Lines {
    tokens: u32,
    refilled: Instant,
    suppressed: u64,
}

impl LogLimit {
    pub(crate) fn new(burst: u32, every: Duration) -> Self {
        Self {
            burst,
            every,
            keys: HashMap::default(),
        }
    }

    /// `Some(n)`: log this line, mentioning `n` unlogged ones before it.
    pub(crate) fn take(&mut self, key: &str, now: Instant) -> Option<u64> {
        if !self.keys.contains_key(key) && self.keys.len() >= MAX_TRACKED_KEYS {
            self.keys.clear();
        }
        let lines = self.keys.entry(key.to_owned()).or_insert(Lines {
            tokens: self.burst,
            refilled: now,
            suppressed: 0,
        });
        let earned =
            now.saturating_duration_since(lines.refilled).as_nanos() / self.every.as_nanos().max(1);
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            lines.tokens = lines.tokens.saturating_add(earned).min(self.burst);
            lines.refilled = now;
        }
        if lines.tokens == 0 {
            lines.suppressed += 1;
            return None;
        }
        lines.tokens -= 1;
        Some(std::mem::take(&mut lines.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(s: &str) -> Option<PeerAddr> {
        Some(PeerAddr::Tcp(s.parse().unwrap()))
    }

    #[test]
    fn a_close_names_its_accept_and_its_handshake_failure() {
        let t0 = Instant::now();
        let mut c = Connections::new(2);
        c.accepted(0, 9, tcp("127.0.0.1:5000"), None, t0);
        c.accepted(1, 9, tcp("127.0.0.1:6000"), None, t0);
        c.handshake_failed(1, HandshakeFailure::MechanismMismatch);
        let t1 = t0 + Duration::from_millis(3);
        assert_eq!(
            c.closed(1, 9, t1),
            Closed {
                peer: tcp("127.0.0.1:6000"),
                lived: Some(Duration::from_millis(3)),
                failure: Some(HandshakeFailure::MechanismMismatch),
            }
        );
        assert_eq!(
            c.closed(0, 9, t1),
            Closed {
                peer: tcp("127.0.0.1:5000"),
                lived: Some(Duration::from_millis(3)),
                failure: None,
            },
            "each socket has its own connections and failures"
        );
        assert_eq!(
            c.closed(0, 9, t1),
            Closed {
                peer: None,
                lived: None,
                failure: None
            },
            "an accept not seen: nothing known"
        );
    }

    #[test]
    fn log_lines_per_key_in_bursts() {
        let t0 = Instant::now();
        let mut log = LogLimit::new(2, Duration::from_secs(1));
        assert_eq!(log.take("a", t0), Some(0));
        assert_eq!(log.take("a", t0), Some(0), "a burst of two");
        assert_eq!(log.take("a", t0), None);
        assert_eq!(log.take("b", t0), Some(0), "another key, its own limit");
        assert_eq!(log.take("a", t0 + Duration::from_millis(999)), None);
        assert_eq!(log.take("a", t0 + Duration::from_secs(1)), Some(2));
        assert_eq!(log.take("a", t0 + Duration::from_secs(1)), None);
        assert_eq!(
            log.take("a", t0 + Duration::from_secs(60)),
            Some(1),
            "idle time refills up to the burst only"
        );
        assert_eq!(log.take("a", t0 + Duration::from_secs(60)), Some(0));
        assert_eq!(log.take("a", t0 + Duration::from_secs(60)), None);
        assert_eq!(log_key(tcp("10.1.2.3:4").as_ref()), "10.1.2.3");
        assert_eq!(
            log_key(Some(&PeerAddr::Local {
                uid: 7,
                gid: 7,
                pid: 1
            })),
            "uid 7"
        );
    }
}
