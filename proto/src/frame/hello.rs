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

use bytes::{BufMut, Bytes};

use super::head::{be_u32, encode_control};
use super::{Error, ErrorKind, HeaderBlock};
use crate::codes::FrameType;

const FIXED_LEN: usize = 12;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    version: u16,
    max_concurrent_streams: u32,
    initial_window_size: u32,
    attributes: HeaderBlock,
    flags: u8,
}

impl Hello {
    pub fn new(
        version: u16,
        max_concurrent_streams: u32,
        initial_window_size: u32,
        attributes: HeaderBlock,
    ) -> Self {
        Self {
            version,
            max_concurrent_streams,
            initial_window_size: initial_window_size & 0x7fff_ffff,
            attributes,
            flags: 0,
        }
    }

    /// The highest zroute protocol version the worker speaks.
    pub fn version(&self) -> u16 {
        self.version
    }

    pub fn max_concurrent_streams(&self) -> u32 {
        self.max_concurrent_streams
    }

    /// The worker's receive window for each request stream.
    pub fn initial_window_size(&self) -> u32 {
        self.initial_window_size
    }

    /// `id`, `route`, `feature` and free-form labels.
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
            max_concurrent_streams: be_u32(&payload, 4),
            initial_window_size: be_u32(&payload, 8) & 0x7fff_ffff,
            attributes: HeaderBlock::decode(payload.slice(FIXED_LEN..))?,
            flags,
        })
    }

    pub(super) fn payload_len(&self) -> usize {
        FIXED_LEN + self.attributes.encoded_len()
    }

    pub(super) fn encode(&self, dst: &mut impl BufMut) {
        encode_control(FrameType::HELLO, self.flags, self.payload_len(), dst);
        dst.put_u16(self.version);
        dst.put_u16(0);
        dst.put_u32(self.max_concurrent_streams);
        dst.put_u32(self.initial_window_size);
        self.attributes.encode(dst);
    }
}
