//! The payload SYN_REPLY and HEADERS share: a stream id, then a name/value block.

use bytes::{BufMut, Bytes};

use super::head::be_u32;
use super::{Error, ErrorKind, HeaderBlock};
use crate::StreamId;

pub(super) fn load(payload: Bytes) -> Result<(StreamId, HeaderBlock), Error> {
    if payload.len() < 4 {
        return Err(Error::new(ErrorKind::BadPayloadSize));
    }
    let stream_id = StreamId::new(be_u32(&payload, 0));
    if stream_id.is_zero() {
        return Err(Error::new(ErrorKind::ZeroStreamId));
    }
    let headers =
        HeaderBlock::decode(payload.slice(4..)).map_err(|e| Error::from(e).at(Some(stream_id)))?;
    Ok((stream_id, headers))
}

pub(super) fn payload_len(headers: &HeaderBlock) -> usize {
    4 + headers.encoded_len()
}

pub(super) fn encode(stream_id: StreamId, headers: &HeaderBlock, dst: &mut impl BufMut) {
    dst.put_u32(stream_id.get());
    headers.encode(dst);
}
