//! DATA: body bytes of one stream, under flow control ([spec](../../spec/PROTOCOL.md#frame-data)).
//!
//! ```text
//! +----------------------------------+
//! |C|       Stream-ID (31bits)       |
//! +----------------------------------+
//! | Flags (8)  |  Length (24 bits)   |
//! +----------------------------------+
//! |               Data               |
//! +----------------------------------+
//! ```

use bytes::{BufMut, Bytes};

use super::head::encode_data;
use super::syn_stream::set_flag;
use super::{Error, ErrorKind};
use crate::StreamId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Data {
    stream_id: StreamId,
    flags: u8,
    payload: Bytes,
}

impl Data {
    pub const FLAG_FIN: u8 = 0x01;

    pub fn new(stream_id: StreamId, payload: Bytes) -> Self {
        Self {
            stream_id,
            flags: 0,
            payload,
        }
    }

    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    pub fn into_payload(self) -> Bytes {
        self.payload
    }

    pub fn is_fin(&self) -> bool {
        self.flags & Self::FLAG_FIN != 0
    }

    pub fn set_fin(&mut self, fin: bool) -> &mut Self {
        set_flag(&mut self.flags, Self::FLAG_FIN, fin);
        self
    }

    pub(super) fn load(stream_id: StreamId, flags: u8, payload: Bytes) -> Result<Self, Error> {
        if stream_id.is_zero() {
            return Err(Error::new(ErrorKind::ZeroStreamId));
        }
        Ok(Self {
            stream_id,
            flags,
            payload,
        })
    }

    pub(super) fn payload_len(&self) -> usize {
        self.payload.len()
    }

    pub(super) fn encode_head(&self, dst: &mut impl BufMut) {
        encode_data(self.stream_id, self.flags, self.payload.len(), dst);
    }
}

super::flags_field!(Data);
