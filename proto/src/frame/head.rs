use bytes::BufMut;

use super::{Error, ErrorKind};
use crate::StreamId;
use crate::codes::FrameType;

/// The SPDY version every control frame carries.
pub(crate) const SPDY_VERSION: u16 = 3;
/// Both header layouts are 8 bytes.
pub(crate) const HEAD_LEN: usize = 8;
/// zroute's limit on any frame's payload ([spec](../../spec/PROTOCOL.md#frame-header)).
pub const MAX_PAYLOAD_LEN: usize = 65_536;

/// What the first 8 bytes say: a control frame of some type, or DATA for a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Control(FrameType),
    Data(StreamId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) kind: Kind,
    pub(crate) flags: u8,
    pub(crate) len: usize,
}

impl Head {
    /// Parses the header of a part that must hold exactly one frame, in the
    /// check order the spec fixes: size, version, length, limit.
    pub(crate) fn parse(part: &[u8]) -> Result<Self, Error> {
        if part.len() < HEAD_LEN {
            return Err(Error::new(ErrorKind::Truncated));
        }
        let word = u32::from_be_bytes([part[0], part[1], part[2], part[3]]);
        let flags = part[4];
        let len = u32::from_be_bytes([0, part[5], part[6], part[7]]) as usize;
        let kind = if word & 0x8000_0000 != 0 {
            let version = ((word >> 16) & 0x7fff) as u16;
            if version != SPDY_VERSION {
                return Err(Error::new(ErrorKind::UnsupportedVersion(version)));
            }
            Kind::Control(FrameType::from_wire(word as u16))
        } else {
            Kind::Data(StreamId::new(word))
        };
        let head = Self { kind, flags, len };
        if len != part.len() - HEAD_LEN {
            return Err(head.error(ErrorKind::LengthMismatch, part));
        }
        if len > MAX_PAYLOAD_LEN {
            return Err(head.error(ErrorKind::FrameTooLarge, part));
        }
        Ok(head)
    }

    /// An error found after the header was read: it names the control frame's
    /// type and, where the bytes give one, the stream.
    fn error(&self, kind: ErrorKind, part: &[u8]) -> Error {
        let error = Error::new(kind).at(self.stream_hint(part));
        match self.kind {
            Kind::Control(ty) => error.in_frame(ty),
            Kind::Data(_) => error,
        }
    }

    /// The stream a broken frame concerns, where its bytes say so: used to
    /// choose a stream error over a session error.
    fn stream_hint(&self, part: &[u8]) -> Option<StreamId> {
        let id = match self.kind {
            Kind::Data(id) => id,
            Kind::Control(ty)
                if matches!(
                    ty,
                    FrameType::SYN_STREAM | FrameType::SYN_REPLY | FrameType::HEADERS
                ) && part.len() >= HEAD_LEN + 4 =>
            {
                StreamId::new(u32::from_be_bytes([part[8], part[9], part[10], part[11]]))
            }
            Kind::Control(_) => return None,
        };
        (!id.is_zero()).then_some(id)
    }
}

/// The prologue every control frame's encoder writes; its first word is the
/// only place the two header layouts differ.
pub(crate) fn encode_control(ty: FrameType, flags: u8, len: usize, dst: &mut impl BufMut) {
    dst.put_u16(0x8000 | SPDY_VERSION);
    dst.put_u16(ty.to_wire());
    put_flags_len(flags, len, dst);
}

pub(crate) fn encode_data(id: StreamId, flags: u8, len: usize, dst: &mut impl BufMut) {
    dst.put_u32(id.get());
    put_flags_len(flags, len, dst);
}

fn put_flags_len(flags: u8, len: usize, dst: &mut impl BufMut) {
    // Callers keep payloads under MAX_PAYLOAD_LEN; a longer one would spill
    // into the flags byte rather than fail.
    debug_assert!(len < 1 << 24, "payload length exceeds the 24-bit field");
    dst.put_u32(((flags as u32) << 24) | len as u32);
}

/// Reads a big-endian u32 at `at`; callers have checked the length.
pub(crate) fn be_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}
