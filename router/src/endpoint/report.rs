//! The log line for a worker's protocol error (spec #error-reporting).

use std::time::{Duration, Instant};

use tracing::warn;
use zroute_proto::session::ProtocolError;

use super::peers::Peer;

/// Most protocol errors logged per worker session per second.
const REPORTS_PER_SECOND: u32 = 10;

/// Logs a protocol error the worker's session reported (the rule the
/// worker's frame broke, and the RST_STREAM or GOAWAY sent in answer). Names
/// the worker, the session, the stream, the code, the frame type and the
/// rule; at most `REPORTS_PER_SECOND` lines per session.
pub(super) fn report_protocol_error(peer: &mut Peer, error: &ProtocolError, now: Instant) {
    let worker = peer.worker_id.as_str();
    let (since, count) = &mut peer.reports;
    if now.saturating_duration_since(*since) >= Duration::from_secs(1) {
        *since = now;
        *count = 0;
    }
    *count += 1;
    if *count > REPORTS_PER_SECOND {
        return;
    }
    let session = peer.session_id.as_str();
    let code = error.code;
    let frame = error.frame_type.map_or("DATA or unreadable", |ty| {
        ty.name().unwrap_or("unknown type")
    });
    let reason = error.reason;
    match error.stream {
        Some(stream) => warn!(
            %worker, %session, %stream, %code, frame, reason,
            "stream error: the worker broke the protocol; sent RST_STREAM"
        ),
        None => warn!(
            %worker, %session, %code, frame, reason,
            "session error: the worker broke the protocol; sent GOAWAY and dropped the session"
        ),
    }
    if *count == REPORTS_PER_SECOND {
        warn!(%worker, %session, "more protocol errors from this worker in this second are not logged");
    }
}
