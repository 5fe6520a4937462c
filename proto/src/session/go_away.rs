//! GOAWAY both ways, session errors, the drain, and the end of the session
//! ([spec](../../../spec/PROTOCOL.md#drain), #session-errors).

use super::{CloseReason, Event, ProtocolError, ResetOrigin, Role, Session, State};
use crate::frame::GoAway;
use crate::{FrameType, GoAwayStatus, RstCode, StreamId};

impl Session {
    /// Sends GOAWAY. OK starts a drain: no new streams, the open ones finish.
    /// An error status ends the session now. A status the spec does not define,
    /// or one only the router may send (UNKNOWN_SESSION, REFUSED) from a
    /// worker, is sent as INTERNAL_ERROR.
    ///
    /// Worker, before WELCOME: the session ends without a frame, since nothing
    /// but HELLO may go out before WELCOME.
    pub fn go_away(&mut self, status: GoAwayStatus) {
        if self.is_closed() {
            return;
        }
        if let State::Handshake { .. } = self.state {
            return self.abandon();
        }
        let router_only = matches!(
            status,
            GoAwayStatus::UNKNOWN_SESSION | GoAwayStatus::REFUSED
        );
        let status = if self.role == Role::Worker && router_only {
            GoAwayStatus::INTERNAL_ERROR
        } else {
            status.effective()
        };
        if status.is_error() {
            self.send_error_goaway(status);
            return self.close(CloseReason::LocalError(status));
        }
        if !self.local_goaway {
            self.local_goaway = true;
            self.queue(GoAway::new(self.last_good(), status));
        }
        self.check_drained();
    }

    /// Gives the session up without a word to the peer: the transport failed.
    pub fn abandon(&mut self) {
        if !self.is_closed() {
            self.transmit.clear();
            self.close(CloseReason::Abandoned);
        }
    }

    pub(super) fn on_goaway(&mut self, f: &GoAway) {
        // Spec #goaway-codes: unknown statuses mean INTERNAL_ERROR.
        let status = f.status().effective();
        let last_good = f.last_good_stream_id();
        self.remote_goaway = Some(status);
        self.events.push_back(Event::GoAway { last_good, status });
        if self.role == Role::Router {
            // Spec #drain, #stream-retry: every stream above last-good counts as
            // refused, except one the worker already answered: that one was
            // processed, must not be retried, and runs on.
            let unprocessed: Vec<StreamId> = self
                .streams
                .iter()
                .filter(|(id, s)| **id > last_good && !s.replied)
                .map(|(id, _)| *id)
                .collect();
            for id in unprocessed {
                self.remove_stream(id);
                self.events.push_back(Event::Reset {
                    id,
                    code: RstCode::REFUSED_STREAM,
                    origin: ResetOrigin::Peer,
                });
            }
        }
        if status.is_error() {
            return self.close(CloseReason::PeerGoAway(status));
        }
        self.check_drained();
    }

    /// GOAWAY's last-good id: a worker's is the highest stream it accepted
    /// for processing (not one it refused or reset at once); a router has
    /// accepted none.
    fn last_good(&self) -> StreamId {
        match self.role {
            Role::Router => StreamId::ZERO,
            Role::Worker => self.last_accepted,
        }
    }

    pub(super) fn check_drained(&mut self) {
        if self.is_draining() && self.streams.is_empty() && !self.is_closed() {
            self.close(CloseReason::Drained);
        }
    }

    /// The peer broke a rule that ends the session (spec #session-errors):
    /// GOAWAY with `status`, and `reason` for the caller's log.
    pub(super) fn session_error(
        &mut self,
        status: GoAwayStatus,
        frame_type: Option<FrameType>,
        reason: &'static str,
    ) {
        let error = ProtocolError::session_error(status, frame_type, reason);
        self.report(error);
        self.send_error_goaway(status);
        self.close(CloseReason::ProtocolError(error));
    }

    fn send_error_goaway(&mut self, status: GoAwayStatus) {
        self.queue(GoAway::new(self.last_good(), status));
        self.local_goaway = true;
    }

    pub(super) fn close(&mut self, reason: CloseReason) {
        self.state = State::Closed;
        self.close_reason = Some(reason);
        if matches!(reason, CloseReason::PeerGoAway(_)) {
            // Spec #session-errors: nothing more goes out after an error GOAWAY.
            self.transmit.clear();
        }
        // No window credit either: the session is over, and a GOAWAY must be its last frame.
        let ids: Vec<StreamId> = std::mem::take(&mut self.streams).into_keys().collect();
        for id in ids {
            self.events.push_back(Event::Reset {
                id,
                code: RstCode::CANCEL,
                origin: ResetOrigin::Session,
            });
        }
        self.events.push_back(Event::Closed(reason));
    }
}
