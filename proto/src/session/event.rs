use std::time::Duration;

use bytes::Bytes;

use super::error::ProtocolError;
use crate::{GoAwayStatus, HeaderBlock, RstCode, StreamId};

/// What the session tells the application, in order, through `poll_event`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Worker: the router answered HELLO with WELCOME.
    Established,
    /// Worker: a request head; `fin` means it has no body.
    Request {
        id: StreamId,
        headers: HeaderBlock,
        fin: bool,
    },
    /// Router: the response head; `fin` means it has no body.
    Response {
        id: StreamId,
        headers: HeaderBlock,
        fin: bool,
    },
    /// Body bytes. Hand them back with `release_capacity` once consumed.
    Data {
        id: StreamId,
        data: Bytes,
        fin: bool,
    },
    /// The body's trailers; they end the peer's side of the stream.
    Trailers { id: StreamId, headers: HeaderBlock },
    /// The stream ended before both sides finished.
    Reset {
        id: StreamId,
        code: RstCode,
        origin: ResetOrigin,
    },
    /// Room to send opened on a stream, or on every stream for `StreamId::ZERO`.
    WindowOpened { id: StreamId },
    /// Router: the worker changed its capacity.
    CapacityChanged { capacity: u32 },
    /// The peer sent GOAWAY: no new streams. Graceful when `status` is OK.
    GoAway {
        last_good: StreamId,
        status: GoAwayStatus,
    },
    /// A PING of ours came back.
    Pong { rtt: Duration },
    /// The session is over; nothing more is received and only frames already
    /// queued are still sent.
    Closed(CloseReason),
}

/// Who ended a stream early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetOrigin {
    /// The peer sent RST_STREAM, or its GOAWAY left the stream unprocessed
    /// (then the code is REFUSED_STREAM).
    Peer,
    /// The peer broke the protocol on this stream, and we sent RST_STREAM;
    /// the error says which rule.
    Local(ProtocolError),
    /// The session ended around it; the code is CANCEL.
    Session,
}

impl ResetOrigin {
    /// Whether a reset with `code` from this origin lets the router send the
    /// request to another worker: the worker said it did not process the
    /// stream (spec #stream-retry).
    pub fn is_retry_safe(&self, code: RstCode) -> bool {
        matches!(self, Self::Peer) && code.is_retry_safe()
    }
}

impl Event {
    /// A reset the router may answer by sending the request to another
    /// worker: the worker said it did not process the stream.
    pub fn is_retry_safe_reset(&self) -> bool {
        matches!(self, Self::Reset { code, origin, .. } if origin.is_retry_safe(*code))
    }

    /// Why the session reset the stream (`Reset` from us) or ended itself
    /// (`Closed` after our error GOAWAY).
    pub fn protocol_error(&self) -> Option<&ProtocolError> {
        match self {
            Self::Reset {
                origin: ResetOrigin::Local(error),
                ..
            }
            | Self::Closed(CloseReason::ProtocolError(error)) => Some(error),
            _ => None,
        }
    }
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// A graceful GOAWAY, and every stream finished.
    Drained,
    /// Nothing arrived for heartbeat interval × liveness.
    TimedOut,
    /// No WELCOME arrived within the handshake timeout.
    HandshakeTimedOut,
    /// Something other than a valid WELCOME or a GOAWAY answered HELLO.
    HandshakeFailed,
    /// The peer broke the protocol; we sent GOAWAY, and the error says which
    /// rule and with what status.
    ProtocolError(ProtocolError),
    /// The application ended the session with this error status
    /// ([`go_away`](super::Session::go_away)).
    LocalError(GoAwayStatus),
    /// The peer ended the session with this GOAWAY status (a refused HELLO,
    /// an unknown session, or an error).
    PeerGoAway(GoAwayStatus),
    /// The application gave the session up, for example after a failed send.
    Abandoned,
}

impl CloseReason {
    /// The rule the peer broke, when that is why the session ended.
    pub fn protocol_error(&self) -> Option<&ProtocolError> {
        match self {
            Self::ProtocolError(error) => Some(error),
            _ => None,
        }
    }
}
