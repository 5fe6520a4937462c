//! PING: the heartbeat, echoed by the peer ([spec](../../spec/PROTOCOL.md#frame-ping)).
//!
//! ```text
//! +----------------------------------+
//! |1|   version    |         6       |
//! +----------------------------------+
//! | 0 (flags) |     4 (length)       |
//! +----------------------------------|
//! |            32-bit ID             |
//! +----------------------------------+
//! ```

use bytes::BufMut;

use super::Error;
use super::head::be_u32;
use crate::codes::FrameType;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ping {
    id: u32,
    flags: u8,
}

impl Ping {
    pub fn new(id: u32) -> Self {
        Self { id, flags: 0 }
    }

    /// Router ids are odd, worker ids even.
    pub fn id(&self) -> u32 {
        self.id
    }

    fn read(flags: u8, payload: &[u8]) -> Result<Self, Error> {
        Ok(Self {
            id: be_u32(payload, 0),
            flags,
        })
    }

    fn write(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.id);
    }
}

super::fixed_control!(Ping, FrameType::PING, 4);
