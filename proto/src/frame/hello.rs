//! HELLO: a worker registers, announcing capacity, window and routes ([spec](../../spec/PROTOCOL.md#frame-hello)).
//!
//! ```text
//! +----------------------------------+
//! |1|   version    |      0x5A01     |
//! +----------------------------------+
//! | Flags (8)  |  Length (24 bits)   |
//! +----------------------------------+
//! | zroute version | reserved (16)   |
//! +----------------------------------+
//! |   Max concurrent streams (32)    |
//! +----------------------------------+
//! |X|  Initial window size (31)      |
//! +----------------------------------+
//! |  Attribute block (name/value)    |
//! +----------------------------------+
//! ```

use super::HeaderBlock;
use super::handshake::Handshake;
use crate::codes::FrameType;

#[derive(Clone, PartialEq, Eq)]
pub struct Hello {
    /// `words`: the max concurrent streams.
    block: Handshake<1>,
}

super::handshake::handshake_frame! {
    frame: Hello,
    block: Handshake<1>,
    ty: FrameType::HELLO,
    words: ["max_concurrent_streams"],
    version: "The highest zroute protocol version the worker speaks.",
    initial_window_size: "The worker's receive window for each request stream.",
    attributes: "`id`, `route`, `feature` and free-form labels.",
}

impl Hello {
    pub fn new(
        version: u16,
        max_concurrent_streams: u32,
        initial_window_size: u32,
        attributes: HeaderBlock,
    ) -> Self {
        Self {
            block: Handshake::new(
                version,
                [max_concurrent_streams],
                initial_window_size,
                attributes,
            ),
        }
    }

    pub fn max_concurrent_streams(&self) -> u32 {
        self.block.words[0]
    }
}
