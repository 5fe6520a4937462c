use std::fmt;

use crate::StreamId;
use crate::codes::{FrameType, GoAwayStatus, RstCode};

/// Why a part could not be decoded as a frame.
///
/// The spec fixes the reaction to each kind ([error table](../../spec/PROTOCOL.md#error-table));
/// [`Error::reaction`] gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    stream_id: Option<StreamId>,
    frame_type: Option<FrameType>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Fewer than 8 bytes: not even a frame header.
    Truncated,
    /// The length field disagrees with the part's size.
    LengthMismatch,
    /// A control frame whose version is not 3.
    UnsupportedVersion(u16),
    /// Payload above 65,536 bytes.
    FrameTooLarge,
    /// A control frame whose payload size does not fit its type.
    BadPayloadSize,
    /// Stream id 0 where a stream must be named.
    ZeroStreamId,
    /// WINDOW_UPDATE with a delta of 0.
    ZeroWindowDelta,
    /// The name/value block breaks a syntax rule.
    HeaderBlock(HeaderBlockError),
}

/// Syntax errors in a name/value block ([spec](../../spec/PROTOCOL.md#header-block)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderBlockError {
    Truncated,
    CountTooLarge,
    EmptyName,
    UppercaseName,
    InvalidName,
    DuplicateName,
    InvalidValue,
    TrailingBytes,
}

/// What the receiver of a bad frame must do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reaction {
    /// Reset this stream; the session goes on.
    Stream(StreamId, RstCode),
    /// End the session with GOAWAY.
    Session(GoAwayStatus),
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            stream_id: None,
            frame_type: None,
        }
    }

    pub(crate) fn at(mut self, stream_id: Option<StreamId>) -> Self {
        self.stream_id = stream_id;
        self
    }

    pub(crate) fn in_frame(mut self, ty: FrameType) -> Self {
        self.frame_type.get_or_insert(ty);
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stream the frame named, when its bytes got that far.
    pub fn stream_id(&self) -> Option<StreamId> {
        self.stream_id
    }

    /// The control frame type, when the header was readable (the part has 8
    /// bytes and version 3) and it was a control frame.
    pub fn frame_type(&self) -> Option<FrameType> {
        self.frame_type
    }

    /// The spec's reaction: a stream error when the frame's stream is known and
    /// the damage is confined to it, a session error otherwise.
    pub fn reaction(&self) -> Reaction {
        let session_frame = matches!(self.frame_type, Some(FrameType::HELLO | FrameType::WELCOME));
        match (self.kind, self.stream_id) {
            (ErrorKind::UnsupportedVersion(_), _) => {
                Reaction::Session(GoAwayStatus::UNSUPPORTED_VERSION)
            }
            (ErrorKind::FrameTooLarge, Some(id)) => Reaction::Stream(id, RstCode::FRAME_TOO_LARGE),
            (ErrorKind::ZeroWindowDelta | ErrorKind::HeaderBlock(_), Some(id))
                if !session_frame =>
            {
                Reaction::Stream(id, RstCode::PROTOCOL_ERROR)
            }
            _ => Reaction::Session(GoAwayStatus::PROTOCOL_ERROR),
        }
    }

    /// The error's name in the spec's test vectors.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::LengthMismatch => "length-mismatch",
            Self::UnsupportedVersion(_) => "unsupported-version",
            Self::FrameTooLarge => "frame-too-large",
            Self::BadPayloadSize => "bad-payload-size",
            Self::ZeroStreamId => "zero-stream-id",
            Self::ZeroWindowDelta => "zero-window-delta",
            Self::HeaderBlock(e) => e.name(),
        }
    }
}

impl HeaderBlockError {
    pub fn name(self) -> &'static str {
        match self {
            Self::Truncated => "header-block-truncated",
            Self::CountTooLarge => "header-count-too-large",
            Self::EmptyName => "empty-header-name",
            Self::UppercaseName => "uppercase-header-name",
            Self::InvalidName => "invalid-header-name",
            Self::DuplicateName => "duplicate-header-name",
            Self::InvalidValue => "invalid-header-value",
            Self::TrailingBytes => "header-block-trailing-bytes",
        }
    }
}

impl From<HeaderBlockError> for Error {
    fn from(e: HeaderBlockError) -> Self {
        Self::new(ErrorKind::HeaderBlock(e))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        if let ErrorKind::UnsupportedVersion(v) = self.kind {
            write!(f, " (version {v})")?;
        }
        if let Some(ty) = self.frame_type {
            write!(f, " in {ty}")?;
        }
        if let Some(id) = self.stream_id {
            write!(f, " on stream {id}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl fmt::Display for HeaderBlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for HeaderBlockError {}
