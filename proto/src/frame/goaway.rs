//! GOAWAY: the sender will start or accept no more streams ([spec](../../spec/PROTOCOL.md#frame-goaway)).
//!
//! ```text
//! +----------------------------------+
//! |1|   version    |         7       |
//! +----------------------------------+
//! | 0 (flags) |     8 (length)       |
//! +----------------------------------|
//! |X|  Last-good-stream-ID (31 bits) |
//! +----------------------------------+
//! |          Status code             |
//! +----------------------------------+
//! ```

use bytes::{BufMut, Bytes};

use super::head::{be_u32, encode_control};
use super::{Error, ErrorKind};
use crate::StreamId;
use crate::codes::{FrameType, GoAwayStatus};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoAway {
    last_good_stream_id: StreamId,
    status: GoAwayStatus,
    flags: u8,
}

impl GoAway {
    pub fn new(last_good_stream_id: StreamId, status: GoAwayStatus) -> Self {
        Self {
            last_good_stream_id,
            status,
            flags: 0,
        }
    }

    /// The highest stream the sender processed; every stream above it was not
    /// processed and may be retried elsewhere.
    pub fn last_good_stream_id(&self) -> StreamId {
        self.last_good_stream_id
    }

    pub fn status(&self) -> GoAwayStatus {
        self.status
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
        Ok(Self {
            last_good_stream_id: StreamId::new(be_u32(&payload, 0)),
            status: GoAwayStatus::from_wire(be_u32(&payload, 4)),
            flags,
        })
    }

    pub(super) fn payload_len(&self) -> usize {
        8
    }

    pub(super) fn encode(&self, dst: &mut impl BufMut) {
        encode_control(FrameType::GOAWAY, self.flags, self.payload_len(), dst);
        dst.put_u32(self.last_good_stream_id.get());
        dst.put_u32(self.status.to_wire());
    }
}
