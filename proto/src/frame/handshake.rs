//! The part HELLO and WELCOME share: flags, then a payload of the zroute
//! version, a reserved half-word, `N` words of the frame's own, the initial
//! window and an attribute block. Both frames wrap one [`Handshake`], the way
//! [`StreamBlock`](super::stream_block::StreamBlock) serves SYN_REPLY and
//! HEADERS.

use std::fmt;

use bytes::{BufMut, Bytes};

use super::head::{be_u32, encode_control};
use super::{Error, ErrorKind, HeaderBlock};
use crate::codes::FrameType;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Handshake<const N: usize> {
    pub(super) version: u16,
    /// The words between the version and the window, in wire order.
    pub(super) words: [u32; N],
    pub(super) initial_window_size: u32,
    pub(super) attributes: HeaderBlock,
    pub(super) flags: u8,
}

impl<const N: usize> Handshake<N> {
    const FIXED_LEN: usize = 4 + 4 * N + 4;

    pub(super) fn new(
        version: u16,
        words: [u32; N],
        initial_window_size: u32,
        attributes: HeaderBlock,
    ) -> Self {
        Self {
            version,
            words,
            initial_window_size: initial_window_size & 0x7fff_ffff,
            attributes,
            flags: 0,
        }
    }

    pub(super) fn load(flags: u8, payload: Bytes) -> Result<Self, Error> {
        if payload.len() < Self::FIXED_LEN {
            return Err(Error::new(ErrorKind::BadPayloadSize));
        }
        Ok(Self {
            version: u16::from_be_bytes([payload[0], payload[1]]),
            words: std::array::from_fn(|i| be_u32(&payload, 4 + 4 * i)),
            initial_window_size: be_u32(&payload, Self::FIXED_LEN - 4) & 0x7fff_ffff,
            attributes: HeaderBlock::decode(payload.slice(Self::FIXED_LEN..))?,
            flags,
        })
    }

    pub(super) fn payload_len(&self) -> usize {
        Self::FIXED_LEN + self.attributes.encoded_len()
    }

    pub(super) fn encode(&self, ty: FrameType, dst: &mut impl BufMut) {
        encode_control(ty, self.flags, self.payload_len(), dst);
        dst.put_u16(self.version);
        dst.put_u16(0);
        for word in self.words {
            dst.put_u32(word);
        }
        dst.put_u32(self.initial_window_size);
        self.attributes.encode(dst);
    }

    /// Formats as the frame did when it held these fields itself, so logs
    /// read the same; `names` are the frame's own words.
    pub(super) fn fmt_as(
        &self,
        frame: &str,
        names: [&str; N],
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        let mut s = f.debug_struct(frame);
        s.field("version", &self.version);
        for (name, word) in names.iter().zip(&self.words) {
            s.field(name, word);
        }
        s.field("initial_window_size", &self.initial_window_size)
            .field("attributes", &self.attributes)
            .field("flags", &self.flags)
            .finish()
    }
}

/// What HELLO and WELCOME add to [`block_frame`](super::block_frame): the
/// shared fields' accessors, whose docs differ by side, and `Debug`.
macro_rules! handshake_frame {
    (
        frame: $frame:ident,
        block: $block:ty,
        ty: $ty:expr,
        words: $names:expr,
        version: $version_doc:literal,
        initial_window_size: $window_doc:literal,
        attributes: $attributes_doc:literal $(,)?
    ) => {
        super::block_frame!($frame, $block, $ty);

        impl $frame {
            #[doc = $version_doc]
            pub fn version(&self) -> u16 {
                self.block.version
            }

            #[doc = $window_doc]
            pub fn initial_window_size(&self) -> u32 {
                self.block.initial_window_size
            }

            #[doc = $attributes_doc]
            pub fn attributes(&self) -> &$crate::HeaderBlock {
                &self.block.attributes
            }
        }

        impl ::std::fmt::Debug for $frame {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.block.fmt_as(stringify!($frame), $names, f)
            }
        }
    };
}
pub(super) use handshake_frame;
