//! The log line for a worker's protocol error (spec #error-reporting).

use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::warn;
use zroute_proto::frame::Frame;
use zroute_proto::{GoAwayStatus, RstCode};

use super::peers::Peer;

/// Most protocol errors logged per worker session per second.
const REPORTS_PER_SECOND: u32 = 10;

/// Logs a frame the router queued in answer to a worker's part, if it says
/// the worker broke the protocol: an RST_STREAM (the router's own resets are
/// CANCEL, and come from commands, not parts) or a GOAWAY with an error
/// status. Names the worker, the session, the stream, the code and what was
/// wrong with the part; at most `REPORTS_PER_SECOND` lines per session.
pub(super) fn report_protocol_error(peer: &mut Peer, frame: &Frame, part: &Bytes, now: Instant) {
    let (stream, code) = match frame {
        Frame::RstStream(rst) if rst.code() != RstCode::CANCEL => {
            (Some(rst.stream_id()), rst.code().to_string())
        }
        Frame::GoAway(goaway) if goaway.status() != GoAwayStatus::OK => {
            (None, goaway.status().to_string())
        }
        _ => return,
    };
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
    // The slow path: decode the part again to say what was wrong with it.
    let problem = match Frame::decode(part.clone()) {
        Ok(frame) => frame.type_name().to_owned(),
        Err(e) => format!("malformed frame: {e}"),
    };
    let session = peer.session_id.as_str();
    match stream {
        Some(stream) => warn!(
            %worker, %session, %stream, %code, %problem,
            "stream error: the worker broke the protocol; sent RST_STREAM"
        ),
        None => warn!(
            %worker, %session, %code, %problem,
            "session error: the worker broke the protocol; sent GOAWAY and dropped the session"
        ),
    }
    if *count == REPORTS_PER_SECOND {
        warn!(%worker, %session, "more protocol errors from this worker in this second are not logged");
    }
}
