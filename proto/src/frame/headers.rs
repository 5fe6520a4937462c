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

use bytes::{BufMut, Bytes};

use super::head::encode_control;
use super::syn_stream::set_flag;
use super::{Error, HeaderBlock, stream_block};
use crate::StreamId;
use crate::codes::FrameType;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers {
    stream_id: StreamId,
    flags: u8,
    headers: HeaderBlock,
}

impl Headers {
    pub const FLAG_FIN: u8 = 0x01;

    /// Trailers end their direction of the stream, so FIN is set.
    pub fn trailers(stream_id: StreamId, headers: HeaderBlock) -> Self {
        Self {
            stream_id,
            flags: Self::FLAG_FIN,
            headers,
        }
    }

    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    pub fn headers(&self) -> &HeaderBlock {
        &self.headers
    }

    pub fn into_headers(self) -> HeaderBlock {
        self.headers
    }

    pub fn flags(&self) -> u8 {
        self.flags
    }

    pub fn is_fin(&self) -> bool {
        self.flags & Self::FLAG_FIN != 0
    }

    pub fn set_fin(&mut self, fin: bool) -> &mut Self {
        set_flag(&mut self.flags, Self::FLAG_FIN, fin);
        self
    }

    pub fn set_flags(&mut self, flags: u8) -> &mut Self {
        self.flags = flags;
        self
    }

    pub(super) fn load(flags: u8, payload: Bytes) -> Result<Self, Error> {
        let (stream_id, headers) = stream_block::load(payload)?;
        Ok(Self {
            stream_id,
            flags,
            headers,
        })
    }

    pub(super) fn payload_len(&self) -> usize {
        stream_block::payload_len(&self.headers)
    }

    pub(super) fn encode(&self, dst: &mut impl BufMut) {
        encode_control(FrameType::HEADERS, self.flags, self.payload_len(), dst);
        stream_block::encode(self.stream_id, &self.headers, dst);
    }
}
