//! HEADERS: trailers, always with FIN in zroute v1 ([spec](../../spec/PROTOCOL.md#frame-headers)).
//!
//! ```text
//! +------------------------------------+
//! |1|    version    |         8        |
//! +------------------------------------+
//! |  Flags (8)  |  Length (24 bits)    |
//! +------------------------------------+
//! |X|           Stream-ID (31bits)     |
//! +------------------------------------+
//! |       Name/value block (uncompressed)
//! +------------------------------------+
//! ```

use super::HeaderBlock;
use super::stream_block::{StreamBlock, stream_block_frame};
use crate::StreamId;
use crate::codes::FrameType;

#[derive(Clone, PartialEq, Eq)]
pub struct Headers {
    block: StreamBlock,
}

impl Headers {
    pub const FLAG_FIN: u8 = 0x01;

    /// Trailers end their direction of the stream, so FIN is set.
    pub fn trailers(stream_id: StreamId, headers: HeaderBlock) -> Self {
        Self {
            block: StreamBlock {
                stream_id,
                flags: Self::FLAG_FIN,
                headers,
            },
        }
    }
}

stream_block_frame!(Headers, FrameType::HEADERS);
