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

use bytes::BufMut;

use super::Error;
use super::head::be_u32;
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

    fn read(flags: u8, payload: &[u8]) -> Result<Self, Error> {
        Ok(Self {
            last_good_stream_id: StreamId::new(be_u32(payload, 0)),
            status: GoAwayStatus::from_wire(be_u32(payload, 4)),
            flags,
        })
    }

    fn write(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.last_good_stream_id.get());
        dst.put_u32(self.status.to_wire());
    }
}

super::fixed_control!(GoAway, FrameType::GOAWAY, 8);
