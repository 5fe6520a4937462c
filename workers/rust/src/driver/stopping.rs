//! The graceful stop: GOAWAY(OK) once established (after WELCOME, if the
//! stop came during the handshake), then the accepted requests finish
//! within the graceful timeout.

use std::time::Instant;

use tracing::{info, warn};
use zroute_proto::GoAwayStatus;

use super::Driver;
use crate::HttpService;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stopping {
    No,
    /// A stop came before WELCOME: GOAWAY may only follow it.
    AfterWelcome {
        deadline: Instant,
    },
    Draining {
        deadline: Instant,
    },
}

impl<S> Driver<S>
where
    S: HttpService,
{
    pub(super) fn begin_stop(&mut self) {
        let deadline = Instant::now() + self.settings.graceful_timeout;
        if self.session.is_established() {
            self.drain(deadline);
        } else if !self.session.is_closed() {
            // Spec #handshake: nothing but HELLO before WELCOME. Let the
            // handshake finish (or time out) so the router hears GOAWAY rather
            // than waiting out a heartbeat period with requests we never take.
            self.stopping = Stopping::AfterWelcome { deadline };
        }
    }

    pub(super) fn drain(&mut self, deadline: Instant) {
        info!(
            open = self.session.open_streams(),
            "draining: GOAWAY(OK), finishing the requests already accepted"
        );
        self.stopping = Stopping::Draining { deadline };
        self.session.go_away(GoAwayStatus::OK);
        // Spec #websocket-close: a WebSocket may outlast any graceful timeout.
        self.going_away.send_replace(true);
    }

    pub(super) fn give_up(&mut self) {
        if self.session.is_established() {
            warn!(
                open = self.session.open_streams(),
                timeout = ?self.settings.graceful_timeout,
                "graceful timeout: giving up the requests still running"
            );
            // The router handles the streams as for a dead session: it
            // retries those it safely can and answers the rest with an error.
            self.session.go_away(GoAwayStatus::INTERNAL_ERROR);
        } else {
            self.session.abandon();
        }
    }
}
