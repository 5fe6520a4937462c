//! The part SYN_REPLY and HEADERS share: flags, then a payload of a stream id
//! and a name/value block. Both frames wrap one [`StreamBlock`], as h2's
//! `Headers` and `PushPromise` wrap its `HeaderBlock`, so that they differ
//! only in their type code and their constructors.

use std::fmt;

use bytes::{BufMut, Bytes};

use super::head::{be_u32, encode_control};
use super::{Error, ErrorKind, HeaderBlock};
use crate::StreamId;
use crate::codes::FrameType;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct StreamBlock {
    pub(super) stream_id: StreamId,
    pub(super) flags: u8,
    pub(super) headers: HeaderBlock,
}

impl StreamBlock {
    pub(super) fn load(flags: u8, payload: Bytes) -> Result<Self, Error> {
        if payload.len() < 4 {
            return Err(Error::new(ErrorKind::BadPayloadSize));
        }
        let stream_id = StreamId::new(be_u32(&payload, 0));
        if stream_id.is_zero() {
            return Err(Error::new(ErrorKind::ZeroStreamId));
        }
        let headers = HeaderBlock::decode(payload.slice(4..))
            .map_err(|e| Error::from(e).at(Some(stream_id)))?;
        Ok(Self {
            stream_id,
            flags,
            headers,
        })
    }

    pub(super) fn payload_len(&self) -> usize {
        4 + self.headers.encoded_len()
    }

    pub(super) fn encode(&self, ty: FrameType, dst: &mut impl BufMut) {
        encode_control(ty, self.flags, self.payload_len(), dst);
        dst.put_u32(self.stream_id.get());
        self.headers.encode(dst);
    }

    /// Formats as the frame did when it held these fields itself, so logs
    /// read the same.
    pub(super) fn fmt_as(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("stream_id", &self.stream_id)
            .field("flags", &self.flags)
            .field("headers", &self.headers)
            .finish()
    }
}

/// What SYN_REPLY and HEADERS add to [`block_frame`](super::block_frame):
/// the stream, the name/value block and FIN.
macro_rules! stream_block_frame {
    ($frame:ident, $ty:expr) => {
        super::block_frame!($frame, super::stream_block::StreamBlock, $ty);

        impl $frame {
            pub fn stream_id(&self) -> $crate::StreamId {
                self.block.stream_id
            }

            pub fn headers(&self) -> &$crate::HeaderBlock {
                &self.block.headers
            }

            pub fn into_headers(self) -> $crate::HeaderBlock {
                self.block.headers
            }

            pub fn is_fin(&self) -> bool {
                self.block.flags & Self::FLAG_FIN != 0
            }

            pub fn set_fin(&mut self, fin: bool) -> &mut Self {
                super::syn_stream::set_flag(&mut self.block.flags, Self::FLAG_FIN, fin);
                self
            }
        }

        impl ::std::fmt::Debug for $frame {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.block.fmt_as(stringify!($frame), f)
            }
        }
    };
}
pub(super) use stream_block_frame;
