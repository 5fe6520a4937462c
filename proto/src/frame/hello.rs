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
    /// The first four bytes of every HELLO: a control frame of version 3 and
    /// type HELLO (spec #frame-header). A ROUTER socket matches them to tell
    /// a registration from a session's frames without decoding it.
    pub const PREFIX: [u8; 4] = {
        let [version_hi, version_lo] = (0x8000 | super::head::SPDY_VERSION).to_be_bytes();
        let [hi, lo] = FrameType::HELLO.to_wire().to_be_bytes();
        [version_hi, version_lo, hi, lo]
    };

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Frame;

    #[test]
    fn every_hello_starts_with_the_prefix() {
        let hello: Frame = Hello::new(1, 16, 65_536, HeaderBlock::default()).into();
        assert_eq!(hello.to_bytes()[..4], Hello::PREFIX);
    }
}
