//! SYN_STREAM: the router opens a stream with the request head ([spec](../../spec/PROTOCOL.md#frame-syn-stream)).
//!
//! ```text
//! +------------------------------------+
//! |1|    version    |         1        |
//! +------------------------------------+
//! |  Flags (8)  |  Length (24 bits)    |
//! +------------------------------------+
//! |X|           Stream-ID (31bits)     |
//! +------------------------------------+
//! |X| Associated-To-Stream-ID (31bits) |
//! +------------------------------------+
//! | Pri|Unused | Slot |                |
//! +-------------------+                |
//! |       Name/value block (uncompressed)
//! +------------------------------------+
//! ```

use bytes::{BufMut, Bytes};

use super::head::{be_u32, encode_control};
use super::{Error, ErrorKind, HeaderBlock};
use crate::StreamId;
use crate::codes::FrameType;

pub(super) const FIXED_LEN: usize = 10;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynStream {
    stream_id: StreamId,
    associated_stream_id: StreamId,
    priority: u8,
    slot: u8,
    flags: u8,
    headers: HeaderBlock,
}

impl SynStream {
    pub const FLAG_FIN: u8 = 0x01;
    /// Never set in zroute: there is no server push.
    pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
    /// The priority the spec recommends routers send (0 highest, 7 lowest).
    pub const DEFAULT_PRIORITY: u8 = 3;

    pub fn new(stream_id: StreamId, headers: HeaderBlock) -> Self {
        Self {
            stream_id,
            associated_stream_id: StreamId::ZERO,
            priority: Self::DEFAULT_PRIORITY,
            slot: 0,
            flags: 0,
            headers,
        }
    }

    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    pub fn associated_stream_id(&self) -> StreamId {
        self.associated_stream_id
    }

    pub fn priority(&self) -> u8 {
        self.priority
    }

    pub fn slot(&self) -> u8 {
        self.slot
    }

    pub fn headers(&self) -> &HeaderBlock {
        &self.headers
    }

    pub fn into_headers(self) -> HeaderBlock {
        self.headers
    }

    pub fn is_fin(&self) -> bool {
        self.flags & Self::FLAG_FIN != 0
    }

    pub fn is_unidirectional(&self) -> bool {
        self.flags & Self::FLAG_UNIDIRECTIONAL != 0
    }

    pub fn set_fin(&mut self, fin: bool) -> &mut Self {
        set_flag(&mut self.flags, Self::FLAG_FIN, fin);
        self
    }

    /// Priority is 3 bits; higher bits are dropped.
    pub fn set_priority(&mut self, priority: u8) -> &mut Self {
        self.priority = priority & 0x07;
        self
    }

    pub fn set_associated_stream_id(&mut self, id: StreamId) -> &mut Self {
        self.associated_stream_id = id;
        self
    }

    pub fn set_slot(&mut self, slot: u8) -> &mut Self {
        self.slot = slot;
        self
    }

    pub(super) fn load(flags: u8, payload: Bytes) -> Result<Self, Error> {
        if payload.len() < FIXED_LEN {
            return Err(Error::new(ErrorKind::BadPayloadSize));
        }
        let stream_id = StreamId::new(be_u32(&payload, 0));
        if stream_id.is_zero() {
            return Err(Error::new(ErrorKind::ZeroStreamId));
        }
        let associated_stream_id = StreamId::new(be_u32(&payload, 4));
        let priority = payload[8] >> 5;
        let slot = payload[9];
        let headers = HeaderBlock::decode(payload.slice(FIXED_LEN..))
            .map_err(|e| Error::from(e).at(Some(stream_id)))?;
        Ok(Self {
            stream_id,
            associated_stream_id,
            priority,
            slot,
            flags,
            headers,
        })
    }

    pub(super) fn payload_len(&self) -> usize {
        FIXED_LEN + self.headers.encoded_len()
    }

    pub(super) fn encode(&self, dst: &mut impl BufMut) {
        encode_control(FrameType::SYN_STREAM, self.flags, self.payload_len(), dst);
        dst.put_u32(self.stream_id.get());
        dst.put_u32(self.associated_stream_id.get());
        dst.put_u8(self.priority << 5);
        dst.put_u8(self.slot);
        self.headers.encode(dst);
    }
}

pub(super) fn set_flag(flags: &mut u8, bit: u8, on: bool) {
    if on {
        *flags |= bit;
    } else {
        *flags &= !bit;
    }
}

super::flags_field!(SynStream);
