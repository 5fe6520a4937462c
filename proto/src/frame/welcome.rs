//! WELCOME: the router accepts a HELLO and sets the session's heartbeat ([spec](../../spec/PROTOCOL.md#frame-welcome)).
//!
//! ```text
//! +----------------------------------+
//! |1|   version    |      0x5A02     |
//! +----------------------------------+
//! | Flags (8)  |  Length (24 bits)   |
//! +----------------------------------+
//! | zroute version | reserved (16)   |
//! +----------------------------------+
//! |   Heartbeat interval, ms (32)    |
//! +----------------------------------+
//! |   Heartbeat liveness (32)        |
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
pub struct Welcome {
    /// `words`: the heartbeat interval, then the liveness.
    block: Handshake<2>,
}

super::handshake::handshake_frame! {
    frame: Welcome,
    block: Handshake<2>,
    ty: FrameType::WELCOME,
    words: ["heartbeat_interval_ms", "heartbeat_liveness"],
    version: "The protocol version the session uses.",
    initial_window_size: "The router's receive window for each response stream.",
    attributes: "`router`, `session` and free-form labels.",
}

impl Welcome {
    pub fn new(
        version: u16,
        heartbeat_interval_ms: u32,
        heartbeat_liveness: u32,
        initial_window_size: u32,
        attributes: HeaderBlock,
    ) -> Self {
        Self {
            block: Handshake::new(
                version,
                [heartbeat_interval_ms, heartbeat_liveness],
                initial_window_size,
                attributes,
            ),
        }
    }

    pub fn heartbeat_interval_ms(&self) -> u32 {
        self.block.words[0]
    }

    pub fn heartbeat_liveness(&self) -> u32 {
        self.block.words[1]
    }
}
