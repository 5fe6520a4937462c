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

use bytes::{BufMut, Bytes};

use super::head::{be_u32, encode_control};
use super::{Error, ErrorKind};
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

    pub fn flags(&self) -> u8 {
        self.flags
    }

    pub fn set_flags(&mut self, flags: u8) -> &mut Self {
        self.flags = flags;
        self
    }

    pub(super) fn load(flags: u8, payload: Bytes) -> Result<Self, Error> {
        if payload.len() != 4 {
            return Err(Error::new(ErrorKind::BadPayloadSize));
        }
        Ok(Self {
            id: be_u32(&payload, 0),
            flags,
        })
    }

    pub(super) fn payload_len(&self) -> usize {
        4
    }

    pub(super) fn encode(&self, dst: &mut impl BufMut) {
        encode_control(FrameType::PING, self.flags, self.payload_len(), dst);
        dst.put_u32(self.id);
    }
}
