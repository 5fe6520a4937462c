//! The workers sockets' connection events, as libzmq's monitor reports
//! them: counted, and logged so that an operator can act on them (a failed
//! CURVE handshake says which key is wrong).

use tokio::time::Instant;
use tracing::{debug, info, warn};
use zroute_transport::{HandshakeFailure, SocketEvent};

use super::Dispatcher;
use super::connections::log_key;
use crate::metrics::ReasonLabels;

impl Dispatcher {
    /// A connection event of socket `index` (see `connections`).
    pub(super) fn handle_event(&mut self, index: usize, event: SocketEvent) {
        let now = Instant::now();
        match event {
            SocketEvent::Accepted { fd, peer, local } => {
                self.metrics.connections_accepted.inc();
                debug!(endpoint = %self.endpoints[index], peer = %display_peer(peer.as_ref()), "worker connection accepted");
                self.connections.accepted(index, fd, peer, local, now);
            }
            SocketEvent::HandshakeFailed(failure) => {
                self.metrics
                    .handshake_failures
                    .get_or_create(&ReasonLabels {
                        reason: failure.as_str(),
                    })
                    .inc();
                self.connections.handshake_failed(index, failure);
            }
            SocketEvent::Disconnected { fd } => {
                self.metrics.connections_closed.inc();
                // Whatever the connection sent before it closed is handled
                // first, so that its session, if it made one, is known.
                self.drain_messages(index);
                let closed = self.connections.closed(index, fd, now);
                let peer = display_peer(closed.peer.as_ref());
                let endpoint = self.endpoints[index].as_str();
                let quiet = closed.failure.is_some_and(|f| {
                    matches!(f, HandshakeFailure::Auth(_) | HandshakeFailure::NoDetail(_))
                });
                if quiet {
                    // The ZAP handler logs a refused key; a connection lost
                    // mid-handshake says nothing an operator can act on.
                    debug!(endpoint, %peer, failure = ?closed.failure, "worker handshake failed");
                    return;
                }
                let Some(unlogged) = self
                    .connection_logs
                    .take(&log_key(closed.peer.as_ref()), now)
                else {
                    return;
                };
                match closed.failure {
                    Some(failure) => self.report_handshake_failure(index, failure, &peer, unlogged),
                    None => {
                        let session = self.by_fd.get(&(index, fd)).and_then(|key| {
                            let peer = self.endpoint.get(*key)?;
                            let worker = self.table.get(key).map_or("", |e| &*e.worker_id);
                            Some(format!("{} ({worker})", peer.session_id))
                        });
                        info!(
                            endpoint,
                            %peer,
                            lived_ms = closed.lived.map(|d| d.as_millis() as u64),
                            session = session.as_deref().unwrap_or("none"),
                            unlogged,
                            "worker connection closed"
                        );
                    }
                }
            }
            SocketEvent::LimitExceeded { peer, what, .. } => {
                self.metrics.connections_over_limit.inc();
                warn!(
                    endpoint = %self.endpoints[index],
                    peer = %display_peer(peer.as_ref()),
                    limit = %what,
                    "worker connection dropped: it sent more than a message may hold \
                     (--max-part-size; the native transport's part and message bounds)"
                );
            }
            // A success says nothing the session does not; a ROUTER never connects.
            _ => {}
        }
    }

    /// Says what a failed handshake means and what to do about it. A key
    /// refused by the allowlist is the ZAP handler's to log.
    fn report_handshake_failure(
        &self,
        index: usize,
        failure: HandshakeFailure,
        peer: &str,
        unlogged: u64,
    ) {
        let endpoint = self.endpoints[index].as_str();
        let reason = failure.as_str();
        match failure {
            HandshakeFailure::MechanismMismatch if self.curve => warn!(
                endpoint,
                peer,
                reason,
                unlogged,
                "a worker without CURVE tried to connect, but this endpoint requires CURVE: \
                 give the worker the router's public key and a key pair of its own \
                 (--curve-server-key router.pub --curve-key worker.key, or ZROUTE_CURVE_SERVER_KEY \
                 and ZROUTE_CURVE_KEY), and add its public key to the --curve-allow file"
            ),
            HandshakeFailure::MechanismMismatch => warn!(
                endpoint,
                peer,
                reason,
                unlogged,
                "a worker using CURVE tried to connect, but this endpoint does not use CURVE: \
                 start the router with --curve-key and --curve-allow, or the worker without CURVE keys"
            ),
            HandshakeFailure::Cryptographic => warn!(
                endpoint,
                peer,
                reason,
                unlogged,
                "a worker's CURVE handshake failed: it is probably configured with another \
                 router public key than this router's (--curve-server-key)"
            ),
            HandshakeFailure::Protocol(_) => warn!(
                endpoint, peer, reason, unlogged, error = %failure,
                "a peer's ZMTP handshake failed: not a zroute worker, or a broken one"
            ),
            HandshakeFailure::Auth(_) | HandshakeFailure::NoDetail(_) => {}
            _ => warn!(
                endpoint, peer, reason, unlogged, error = %failure,
                "a peer's ZMTP handshake failed"
            ),
        }
    }
}

/// A peer's address for a log line.
pub(super) fn display_peer(peer: Option<&zroute_transport::PeerAddr>) -> String {
    peer.map_or_else(|| "unknown".to_owned(), ToString::to_string)
}
