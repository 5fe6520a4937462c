//! The worker's connection, as the suite's ROUTER socket sees it (its
//! monitor events): a worker that loses its connection in the middle of a
//! case, and whose library reconnects by itself, sends nothing that says so
//! (no new HELLO, the session goes on as if nothing happened), so the
//! failing step alone would read "deadline passed; last: nothing". The
//! verdict names the drop and its usual cause instead.

use zroute_transport::SocketEvent;

use super::verdict::{Outcome, Verdict};

/// The largest part a worker must take (spec #transport-options): one byte
/// more than the largest valid frame, so that the frame-size rules can be
/// tested.
const WORKER_MIN_MAX_MSG_SIZE: usize = 65_545;

/// What the suite knows of the worker's connection during one case.
#[derive(Debug, Default)]
pub(super) struct Connection {
    dropped: Option<Dropped>,
    /// The largest part the suite has sent.
    largest_sent: usize,
    /// A HELLO came from the session's routing id after its connection closed.
    routing_id_reused: bool,
}

/// The worker's connection closed while its session was the case's.
#[derive(Clone, Copy, Debug)]
struct Dropped {
    /// Seconds since the case started, as in the wire log.
    at: f64,
    /// A new connection came after it: a new routing id for the same worker.
    reconnected: bool,
    /// The largest part the suite had sent before it.
    largest_sent: usize,
}

impl Connection {
    /// The suite sent a part of `len` bytes.
    pub(super) fn sent(&mut self, len: usize) {
        self.largest_sent = self.largest_sent.max(len);
    }

    /// Takes a connection event of the ROUTER socket, `at` seconds into the
    /// case; `registered`: the worker's HELLO has come (the connections
    /// before it are the worker's start). Returns the wire log's line for
    /// it: the log then shows what a silent loss looks like from here, a
    /// connection that never completes its ZMTP handshake, or one that
    /// completes and then carries nothing.
    pub(super) fn event(
        &mut self,
        event: &SocketEvent,
        registered: bool,
        at: f64,
    ) -> Option<String> {
        let line = match event {
            SocketEvent::Accepted { .. } => "a new connection (ZMQ_EVENT_ACCEPTED)".to_owned(),
            SocketEvent::HandshakeSucceeded => {
                "a connection completed its ZMTP handshake (ZMQ_EVENT_HANDSHAKE_SUCCEEDED)"
                    .to_owned()
            }
            SocketEvent::HandshakeFailed(why) => {
                format!("a connection's ZMTP handshake failed: {why}")
            }
            SocketEvent::Disconnected { .. } => {
                "a connection closed (ZMQ_EVENT_DISCONNECTED)".to_owned()
            }
            _ => return None,
        };
        if registered {
            match event {
                SocketEvent::Disconnected { .. } => {
                    self.dropped = Some(Dropped {
                        at,
                        reconnected: false,
                        largest_sent: self.largest_sent,
                    });
                }
                SocketEvent::Accepted { .. } => {
                    if let Some(d) = &mut self.dropped {
                        d.reconnected = true;
                    }
                }
                _ => {}
            }
        }
        Some(line)
    }

    /// A HELLO after the worker's first: it registered again, on purpose,
    /// so a connection that closed before it is no mystery. Unless it came
    /// from the session's own routing id after that connection closed: then
    /// the new socket took the old one's routing id, which only a worker
    /// that sets `ZMQ_ROUTING_ID` makes happen.
    pub(super) fn hello(&mut self, from_current: bool) {
        if from_current && self.dropped.is_some() {
            self.routing_id_reused = true;
        }
        self.dropped = None;
    }

    /// Adds to a failed step's verdict that the worker's connection dropped
    /// during the case, and why that usually happens. A crash (`exited`)
    /// explains itself.
    pub(super) fn explain(&self, v: &mut Verdict, exited: bool) {
        if !matches!(v.outcome, Outcome::Fail | Outcome::Timeout) || exited {
            return;
        }
        if self.routing_id_reused {
            v.happened.push_str(
                "; the worker's connection closed and its next HELLO came from the same routing \
                 id, so its new socket took the old one's: the worker sets ZMQ_ROUTING_ID, which \
                 it SHOULD NOT (spec/PROTOCOL.md#transport-sockets); a ROUTER cannot tell such a \
                 socket from the old one, and drops what a new connection sends while the old \
                 one still holds the routing id",
            );
            return;
        }
        let Some(d) = self.dropped else { return };
        let seen = if d.reconnected {
            ", then a new connection under a new routing id, which sent no HELLO"
        } else {
            ""
        };
        let sent = if d.largest_sent >= WORKER_MIN_MAX_MSG_SIZE {
            format!(
                "; the suite had sent a part of {} bytes",
                thousands(d.largest_sent)
            )
        } else {
            String::new()
        };
        v.happened.push_str(&format!(
            "; the worker dropped its connection during the case (the suite's ROUTER saw it \
             close at {:.3} s{seen}): a libzmq worker does this, without a word to either side, \
             when a part exceeds its ZMQ_MAXMSGSIZE{sent}; a worker MUST NOT set \
             ZMQ_MAXMSGSIZE below {} bytes (spec/PROTOCOL.md#transport-options)",
            d.at,
            thousands(WORKER_MIN_MAX_MSG_SIZE),
        ));
    }
}

/// `65545` as the spec writes it: `65,545`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::verdict::verdict;
    use super::*;

    #[test]
    fn thousands() {
        assert_eq!(super::thousands(7), "7");
        assert_eq!(super::thousands(65_545), "65,545");
        assert_eq!(super::thousands(1_048_576), "1,048,576");
    }

    fn timeout() -> Verdict {
        verdict(Outcome::Timeout, "GOAWAY", "deadline passed; last: nothing")
    }

    #[test]
    fn a_drop_after_the_hello_is_named() {
        let mut c = Connection::default();
        let closed = SocketEvent::Disconnected { fd: 7 };
        assert!(c.event(&closed, false, 0.001).is_some(), "logged");
        let mut v = timeout();
        c.explain(&mut v, false);
        assert_eq!(
            v.happened, "deadline passed; last: nothing",
            "the worker's start"
        );

        c.sent(65_545);
        c.event(&closed, true, 0.25);
        c.event(
            &SocketEvent::Accepted {
                fd: 8,
                peer: None,
                local: None,
            },
            true,
            0.4,
        );
        let mut v = timeout();
        c.explain(&mut v, false);
        for part in [
            "dropped its connection",
            "at 0.250 s",
            "new routing id",
            "a part of 65,545 bytes",
            "ZMQ_MAXMSGSIZE below 65,545",
        ] {
            assert!(v.happened.contains(part), "{part}: {}", v.happened);
        }

        let mut crashed = verdict(Outcome::Crash, "GOAWAY", "worker exited");
        c.explain(&mut crashed, true);
        assert_eq!(crashed.happened, "worker exited");
        c.hello(false);
        let mut v = timeout();
        c.explain(&mut v, false);
        assert_eq!(
            v.happened, "deadline passed; last: nothing",
            "re-registered"
        );
    }

    #[test]
    fn a_hello_from_the_old_routing_id_names_zmq_routing_id() {
        let mut c = Connection::default();
        c.event(&SocketEvent::Disconnected { fd: 7 }, true, 0.25);
        c.hello(true);
        let mut v = verdict(
            Outcome::Fail,
            "HELLO from a new routing id",
            "unexpected HELLO",
        );
        c.explain(&mut v, false);
        assert!(v.happened.contains("ZMQ_ROUTING_ID"), "{}", v.happened);
        assert!(!v.happened.contains("ZMQ_MAXMSGSIZE"), "{}", v.happened);
    }
}
