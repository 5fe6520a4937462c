//! Why the session reset a stream or went away, as quinn-proto's
//! `TransportError` says why a connection closed.
//!
//! Every RST_STREAM and every GOAWAY the session sends of its own accord (not
//! on a command) comes with one [`ProtocolError`]: the rule of the spec's
//! reaction table ([spec](../../../spec/PROTOCOL.md#error-table)) that the
//! peer's frame broke, or the refusal of a stream it could not take. The
//! caller needs it to log the peer's mistake (spec #error-reporting) without
//! decoding the frame a second time.

use std::fmt;

use crate::frame::{ErrorKind, HeaderBlockError};
use crate::{FrameType, GoAwayStatus, RstCode, StreamId};

/// What the session sent in answer: a stream error or a session error
/// ([spec](../../../spec/PROTOCOL.md#error-kinds)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// RST_STREAM with this status; the session goes on.
    Stream(RstCode),
    /// GOAWAY with this status; the session is over.
    Session(GoAwayStatus),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stream(code) => fmt::Display::fmt(code, f),
            Self::Session(status) => fmt::Display::fmt(status, f),
        }
    }
}

/// A rule the peer broke, and what the session sent in answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    /// The stream the RST_STREAM names; `None` for a session error.
    pub stream: Option<StreamId>,
    pub code: ErrorCode,
    /// The type of the frame that broke the rule. `None` for DATA, which has
    /// no type code, and for a part too damaged to tell its type.
    pub frame_type: Option<FrameType>,
    /// The broken rule in words, citing the spec. Meant for logs: the text
    /// may change between versions.
    pub reason: &'static str,
}

impl ProtocolError {
    pub(crate) const fn stream_error(
        id: StreamId,
        code: RstCode,
        frame_type: Option<FrameType>,
        reason: &'static str,
    ) -> Self {
        Self {
            stream: Some(id),
            code: ErrorCode::Stream(code),
            frame_type,
            reason,
        }
    }

    pub(crate) const fn session_error(
        status: GoAwayStatus,
        frame_type: Option<FrameType>,
        reason: &'static str,
    ) -> Self {
        Self {
            stream: None,
            code: ErrorCode::Session(status),
            frame_type,
            reason,
        }
    }

    /// A GOAWAY went out: the session is over.
    pub fn is_session_error(&self) -> bool {
        matches!(self.code, ErrorCode::Session(_))
    }

    /// The stream was refused, not found faulty: the worker was at capacity
    /// or draining, and the router may retry it elsewhere (spec #stream-retry).
    pub fn is_refusal(&self) -> bool {
        self.code == ErrorCode::Stream(RstCode::REFUSED_STREAM)
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stream {
            Some(id) => write!(f, "stream error {} on stream {id}", self.code)?,
            None => write!(f, "session error {}", self.code)?,
        }
        if let Some(ty) = self.frame_type {
            write!(f, " after {ty}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for ProtocolError {}

/// The rule of the reaction table that a part failing to decode broke
/// (spec #frame-decoding gives the order in which they are checked).
pub(super) fn decode_reason(kind: ErrorKind) -> &'static str {
    // Each starts with the error's name in the spec's vectors (spec
    // #vectors-errors), so a log line can be matched to its vector.
    match kind {
        ErrorKind::Truncated => {
            "truncated: part shorter than the 8-byte frame header (spec #error-table row 2)"
        }
        ErrorKind::UnsupportedVersion(_) => {
            "unsupported-version: control frame version is not 3 (spec #error-table row 3)"
        }
        ErrorKind::LengthMismatch => {
            "length-mismatch: length field differs from the part size minus 8 (spec #error-table row 4)"
        }
        ErrorKind::FrameTooLarge => {
            "frame-too-large: payload over 65,536 bytes (spec #error-table rows 5 and 6)"
        }
        ErrorKind::BadPayloadSize => {
            "bad-payload-size: payload size wrong for the frame type (spec #error-table row 9)"
        }
        ErrorKind::ZeroStreamId => {
            "zero-stream-id: stream id 0 where a stream must be named (spec #error-table row 10)"
        }
        ErrorKind::ZeroWindowDelta => {
            "zero-window-delta: WINDOW_UPDATE with a delta of 0 (spec #error-table rows 54 and 55)"
        }
        ErrorKind::HeaderBlock(e) => match e {
            HeaderBlockError::Truncated => {
                "header-block-truncated: malformed name/value block (spec #error-table row 11)"
            }
            HeaderBlockError::CountTooLarge => {
                "header-count-too-large: malformed name/value block (spec #error-table row 11)"
            }
            HeaderBlockError::EmptyName => {
                "empty-header-name: malformed name/value block (spec #error-table row 11)"
            }
            HeaderBlockError::UppercaseName => {
                "uppercase-header-name: malformed name/value block (spec #error-table row 11)"
            }
            HeaderBlockError::InvalidName => {
                "invalid-header-name: malformed name/value block (spec #error-table row 11)"
            }
            HeaderBlockError::DuplicateName => {
                "duplicate-header-name: malformed name/value block (spec #error-table row 11)"
            }
            HeaderBlockError::InvalidValue => {
                "invalid-header-value: malformed name/value block (spec #error-table row 11)"
            }
            HeaderBlockError::TrailingBytes => {
                "header-block-trailing-bytes: malformed name/value block (spec #error-table row 11)"
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_decode_reason_starts_with_the_vectors_error_name() {
        let blocks = [
            HeaderBlockError::Truncated,
            HeaderBlockError::CountTooLarge,
            HeaderBlockError::EmptyName,
            HeaderBlockError::UppercaseName,
            HeaderBlockError::InvalidName,
            HeaderBlockError::DuplicateName,
            HeaderBlockError::InvalidValue,
            HeaderBlockError::TrailingBytes,
        ];
        let kinds = [
            ErrorKind::Truncated,
            ErrorKind::UnsupportedVersion(2),
            ErrorKind::LengthMismatch,
            ErrorKind::FrameTooLarge,
            ErrorKind::BadPayloadSize,
            ErrorKind::ZeroStreamId,
            ErrorKind::ZeroWindowDelta,
        ]
        .into_iter()
        .chain(blocks.map(ErrorKind::HeaderBlock));
        for kind in kinds {
            let reason = decode_reason(kind);
            assert!(
                reason.starts_with(&format!("{}: ", kind.name())),
                "{kind:?}: {reason}"
            );
        }
    }
}
