//! SYN_REPLY: the worker's response head ([spec](../../spec/PROTOCOL.md#frame-syn-reply)).
//!
//! ```text
//! +------------------------------------+
//! |1|    version    |         2        |
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
pub struct SynReply {
    block: StreamBlock,
}

impl SynReply {
    pub const FLAG_FIN: u8 = 0x01;

    pub fn new(stream_id: StreamId, headers: HeaderBlock) -> Self {
        Self {
            block: StreamBlock {
                stream_id,
                flags: 0,
                headers,
            },
        }
    }
}

stream_block_frame!(SynReply, FrameType::SYN_REPLY);
