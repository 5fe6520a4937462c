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

use bytes::BufMut;

use super::head::be_u32;
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

    fn read(flags: u8, payload: &[u8]) -> Result<Self, Error> {
        let stream_id = StreamId::new(be_u32(payload, 0));
        if stream_id.is_zero() {
            return Err(Error::new(ErrorKind::ZeroStreamId));
        }
        Ok(Self {
            stream_id,
            code: RstCode::from_wire(be_u32(payload, 4)),
            flags,
        })
    }

    fn write(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.stream_id.get());
        dst.put_u32(self.code.to_wire());
    }
}

super::fixed_control!(RstStream, FrameType::RST_STREAM, 8);
