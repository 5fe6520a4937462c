//! Frames: one file per type, each with `load` (decode its payload) and
//! `encode`; [`Frame::decode`] reads one whole ZeroMQ message part.
//!
//! Decoding checks, in the order the spec fixes ([error table](../../spec/PROTOCOL.md#error-table)):
//! part size, control version, length field, size limit, then the type's own
//! payload rules (fixed size, zero stream id, window delta, name/value block).

use bytes::{BufMut, Bytes, BytesMut};

mod data;
mod error;
mod goaway;
mod handshake;
mod head;
mod header_block;
mod headers;
mod hello;
mod ping;
mod rst_stream;
mod settings;
mod stream_block;
mod syn_reply;
mod syn_stream;
mod unknown;
mod welcome;
mod window_update;

pub use data::Data;
pub use error::{Error, ErrorKind, HeaderBlockError, Reaction};
pub use goaway::GoAway;
pub use head::MAX_PAYLOAD_LEN;
pub use header_block::HeaderBlock;
pub use headers::Headers;
pub use hello::Hello;
pub use ping::Ping;
pub use rst_stream::RstStream;
pub use settings::{Setting, Settings};
pub use syn_reply::SynReply;
pub use syn_stream::SynStream;
pub use unknown::Unknown;
pub use welcome::Welcome;
pub use window_update::{MAX_WINDOW, WindowUpdate};

use self::head::{HEAD_LEN, Head, Kind};
use crate::StreamId;
use crate::codes::FrameType;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    SynStream(SynStream),
    SynReply(SynReply),
    RstStream(RstStream),
    Settings(Settings),
    Ping(Ping),
    GoAway(GoAway),
    Headers(Headers),
    WindowUpdate(WindowUpdate),
    Data(Data),
    Hello(Hello),
    Welcome(Welcome),
    Unknown(Unknown),
}

impl Frame {
    /// Decodes one message part, which must hold exactly one frame. DATA
    /// payloads and header names and values are slices of `part`, not copies.
    pub fn decode(part: Bytes) -> Result<Self, Error> {
        let head = Head::parse(&part)?;
        let payload = part.slice(HEAD_LEN..);
        let ty = match head.kind {
            Kind::Data(id) => return Data::load(id, head.flags, payload).map(Self::Data),
            Kind::Control(ty) => ty,
        };
        let flags = head.flags;
        let frame = match ty {
            FrameType::SYN_STREAM => SynStream::load(flags, payload).map(Self::SynStream),
            FrameType::SYN_REPLY => SynReply::load(flags, payload).map(Self::SynReply),
            FrameType::RST_STREAM => RstStream::load(flags, payload).map(Self::RstStream),
            FrameType::SETTINGS => Settings::load(flags, payload).map(Self::Settings),
            FrameType::PING => Ping::load(flags, payload).map(Self::Ping),
            FrameType::GOAWAY => GoAway::load(flags, payload).map(Self::GoAway),
            FrameType::HEADERS => Headers::load(flags, payload).map(Self::Headers),
            FrameType::WINDOW_UPDATE => WindowUpdate::load(flags, payload).map(Self::WindowUpdate),
            FrameType::HELLO => Hello::load(flags, payload).map(Self::Hello),
            FrameType::WELCOME => Welcome::load(flags, payload).map(Self::Welcome),
            _ => Ok(Self::Unknown(Unknown::new(ty, flags, payload))),
        };
        frame.map_err(|e| e.in_frame(ty))
    }

    /// The whole frame's size on the wire, header included.
    pub fn encoded_len(&self) -> usize {
        HEAD_LEN + self.payload_len()
    }

    pub fn encode(&self, dst: &mut impl BufMut) {
        match self {
            Self::SynStream(f) => f.encode(dst),
            Self::SynReply(f) => f.encode(dst),
            Self::RstStream(f) => f.encode(dst),
            Self::Settings(f) => f.encode(dst),
            Self::Ping(f) => f.encode(dst),
            Self::GoAway(f) => f.encode(dst),
            Self::Headers(f) => f.encode(dst),
            Self::WindowUpdate(f) => f.encode(dst),
            Self::Data(f) => {
                f.encode_head(dst);
                dst.put_slice(f.payload());
            }
            Self::Hello(f) => f.encode(dst),
            Self::Welcome(f) => f.encode(dst),
            Self::Unknown(f) => f.encode(dst),
        }
    }

    /// Encodes into a fresh buffer of exactly the frame's size: one message part.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        buf.freeze()
    }

    /// The stream the frame is about; `None` for session-level frames.
    pub fn stream_id(&self) -> Option<StreamId> {
        match self {
            Self::SynStream(f) => Some(f.stream_id()),
            Self::SynReply(f) => Some(f.stream_id()),
            Self::RstStream(f) => Some(f.stream_id()),
            Self::Headers(f) => Some(f.stream_id()),
            Self::Data(f) => Some(f.stream_id()),
            Self::WindowUpdate(f) if !f.stream_id().is_zero() => Some(f.stream_id()),
            _ => None,
        }
    }

    /// The spec's name for the frame's type, as used in logs and vectors.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::SynStream(_) => "SYN_STREAM",
            Self::SynReply(_) => "SYN_REPLY",
            Self::RstStream(_) => "RST_STREAM",
            Self::Settings(_) => "SETTINGS",
            Self::Ping(_) => "PING",
            Self::GoAway(_) => "GOAWAY",
            Self::Headers(_) => "HEADERS",
            Self::WindowUpdate(_) => "WINDOW_UPDATE",
            Self::Data(_) => "DATA",
            Self::Hello(_) => "HELLO",
            Self::Welcome(_) => "WELCOME",
            Self::Unknown(_) => "UNKNOWN",
        }
    }

    fn payload_len(&self) -> usize {
        match self {
            Self::SynStream(f) => f.payload_len(),
            Self::SynReply(f) => f.payload_len(),
            Self::RstStream(f) => f.payload_len(),
            Self::Settings(f) => f.payload_len(),
            Self::Ping(f) => f.payload_len(),
            Self::GoAway(f) => f.payload_len(),
            Self::Headers(f) => f.payload_len(),
            Self::WindowUpdate(f) => f.payload_len(),
            Self::Data(f) => f.payload_len(),
            Self::Hello(f) => f.payload_len(),
            Self::Welcome(f) => f.payload_len(),
            Self::Unknown(f) => f.payload_len(),
        }
    }
}

/// The methods of a frame that keeps its fields in an inner `block` (a
/// [`stream_block::StreamBlock`] or a [`handshake::Handshake`]). A macro
/// rather than a trait, so that they stay inherent methods with the
/// signatures callers already use.
macro_rules! block_frame {
    ($frame:ident, $block:ty, $ty:expr) => {
        impl $frame {
            pub fn flags(&self) -> u8 {
                self.block.flags
            }

            pub fn set_flags(&mut self, flags: u8) -> &mut Self {
                self.block.flags = flags;
                self
            }

            pub(super) fn load(flags: u8, payload: ::bytes::Bytes) -> Result<Self, super::Error> {
                <$block>::load(flags, payload).map(|block| Self { block })
            }

            pub(super) fn payload_len(&self) -> usize {
                self.block.payload_len()
            }

            pub(super) fn encode(&self, dst: &mut impl ::bytes::BufMut) {
                self.block.encode($ty, dst);
            }
        }
    };
}
use block_frame;

/// `flags()` and `set_flags()` of a frame that keeps its flags in a `flags`
/// field (the frames without an inner block).
macro_rules! flags_field {
    ($frame:ident) => {
        impl $frame {
            pub fn flags(&self) -> u8 {
                self.flags
            }

            /// Sets every flag bit, unknown ones included (for tests and vectors).
            pub fn set_flags(&mut self, flags: u8) -> &mut Self {
                self.flags = flags;
                self
            }
        }
    };
}
use flags_field;

/// A control frame whose payload has one size (RST_STREAM, PING, GOAWAY,
/// WINDOW_UPDATE): the size check its `load` starts with (a session error,
/// spec #error-table) and the header its `encode` starts with. The frame
/// itself writes `read` and `write` for its fields.
macro_rules! fixed_control {
    ($frame:ident, $ty:expr, $len:expr) => {
        super::flags_field!($frame);

        impl $frame {
            const PAYLOAD_LEN: usize = $len;

            pub(super) fn load(flags: u8, payload: ::bytes::Bytes) -> Result<Self, super::Error> {
                if payload.len() != Self::PAYLOAD_LEN {
                    return Err(super::Error::new(super::ErrorKind::BadPayloadSize));
                }
                Self::read(flags, &payload)
            }

            pub(super) fn payload_len(&self) -> usize {
                Self::PAYLOAD_LEN
            }

            pub(super) fn encode(&self, dst: &mut impl ::bytes::BufMut) {
                super::head::encode_control($ty, self.flags, Self::PAYLOAD_LEN, dst);
                self.write(dst);
            }
        }
    };
}
use fixed_control;

macro_rules! from_frame {
    ($($variant:ident),*) => {$(
        impl From<$variant> for Frame {
            fn from(f: $variant) -> Self {
                Self::$variant(f)
            }
        }
    )*};
}

from_frame!(
    SynStream,
    SynReply,
    RstStream,
    Settings,
    Ping,
    GoAway,
    Headers,
    WindowUpdate,
    Data,
    Hello,
    Welcome,
    Unknown
);
