//! RST_STREAM: ends a stream at once, from either side ([spec](../../spec/PROTOCOL.md#frame-rst-stream)).
//!
//! ```text
//! +----------------------------------+
//! |1|   version    |         3       |
//! +----------------------------------+
//! | Flags (8)  |         8           |
//! +----------------------------------+
//! |X|          Stream-ID (31bits)    |
//! +----------------------------------+
//! |          Status code             |
//! +----------------------------------+
//! ```

use bytes::{BufMut, Bytes};

use super::head::{be_u32, encode_control};
use super::{Error, ErrorKind};
use crate::StreamId;
use crate::codes::{FrameType, RstCode};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RstStream {
    stream_id: StreamId,
    code: RstCode,
    flags: u8,
}

impl RstStream {
    pub fn new(stream_id: StreamId, code: RstCode) -> Self {
        Self {
            stream_id,
            code,
            flags: 0,
        }
    }

    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    pub fn code(&self) -> RstCode {
        self.code
    }

    pub fn flags(&self) -> u8 {
        self.flags
    }

    pub fn set_flags(&mut self, flags: u8) -> &mut Self {
        self.flags = flags;
        self
    }

    pub(super) fn load(flags: u8, payload: Bytes) -> Result<Self, Error> {
        if payload.len() != 8 {
            return Err(Error::new(ErrorKind::BadPayloadSize));
        }
        let stream_id = StreamId::new(be_u32(&payload, 0));
        if stream_id.is_zero() {
            return Err(Error::new(ErrorKind::ZeroStreamId));
        }
        Ok(Self {
            stream_id,
            code: RstCode::from_wire(be_u32(&payload, 4)),
            flags,
        })
    }

    pub(super) fn payload_len(&self) -> usize {
        8
    }

    pub(super) fn encode(&self, dst: &mut impl BufMut) {
        encode_control(FrameType::RST_STREAM, self.flags, self.payload_len(), dst);
        dst.put_u32(self.stream_id.get());
        dst.put_u32(self.code.to_wire());
    }
}
