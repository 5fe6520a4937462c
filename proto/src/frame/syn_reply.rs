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

use bytes::{BufMut, Bytes};

use super::head::encode_control;
use super::syn_stream::set_flag;
use super::{Error, HeaderBlock, stream_block};
use crate::StreamId;
use crate::codes::FrameType;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynReply {
    stream_id: StreamId,
    flags: u8,
    headers: HeaderBlock,
}

impl SynReply {
    pub const FLAG_FIN: u8 = 0x01;

    pub fn new(stream_id: StreamId, headers: HeaderBlock) -> Self {
        Self {
            stream_id,
            flags: 0,
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
        encode_control(FrameType::SYN_REPLY, self.flags, self.payload_len(), dst);
        stream_block::encode(self.stream_id, &self.headers, dst);
    }
}
