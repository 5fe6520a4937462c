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

use bytes::{BufMut, Bytes};

use super::head::{be_u32, encode_control};
use super::{Error, ErrorKind, HeaderBlock};
use crate::codes::FrameType;

const FIXED_LEN: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Welcome {
    version: u16,
    heartbeat_interval_ms: u32,
    heartbeat_liveness: u32,
    initial_window_size: u32,
    attributes: HeaderBlock,
    flags: u8,
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
            version,
            heartbeat_interval_ms,
            heartbeat_liveness,
            initial_window_size: initial_window_size & 0x7fff_ffff,
            attributes,
            flags: 0,
        }
    }

    /// The protocol version the session uses.
    pub fn version(&self) -> u16 {
        self.version
    }

    pub fn heartbeat_interval_ms(&self) -> u32 {
        self.heartbeat_interval_ms
    }

    pub fn heartbeat_liveness(&self) -> u32 {
        self.heartbeat_liveness
    }

    /// The router's receive window for each response stream.
    pub fn initial_window_size(&self) -> u32 {
        self.initial_window_size
    }

    /// `router`, `session` and free-form labels.
    pub fn attributes(&self) -> &HeaderBlock {
        &self.attributes
    }

    pub fn flags(&self) -> u8 {
        self.flags
    }

    pub fn set_flags(&mut self, flags: u8) -> &mut Self {
        self.flags = flags;
        self
    }

    pub(super) fn load(flags: u8, payload: Bytes) -> Result<Self, Error> {
        if payload.len() < FIXED_LEN {
            return Err(Error::new(ErrorKind::BadPayloadSize));
        }
        Ok(Self {
            version: u16::from_be_bytes([payload[0], payload[1]]),
            heartbeat_interval_ms: be_u32(&payload, 4),
            heartbeat_liveness: be_u32(&payload, 8),
            initial_window_size: be_u32(&payload, 12) & 0x7fff_ffff,
            attributes: HeaderBlock::decode(payload.slice(FIXED_LEN..))?,
            flags,
        })
    }

    pub(super) fn payload_len(&self) -> usize {
        FIXED_LEN + self.attributes.encoded_len()
    }

    pub(super) fn encode(&self, dst: &mut impl BufMut) {
        encode_control(FrameType::WELCOME, self.flags, self.payload_len(), dst);
        dst.put_u16(self.version);
        dst.put_u16(0);
        dst.put_u32(self.heartbeat_interval_ms);
        dst.put_u32(self.heartbeat_liveness);
        dst.put_u32(self.initial_window_size);
        self.attributes.encode(dst);
    }
}
