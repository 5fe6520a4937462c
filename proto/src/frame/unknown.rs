//! A control frame of a type this implementation does not know: ignored on
//! receipt, kept whole so it can be inspected or forwarded ([spec](../../spec/PROTOCOL.md#frame-unknown)).

use bytes::{BufMut, Bytes};

use super::head::encode_control;
use crate::codes::FrameType;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    frame_type: FrameType,
    flags: u8,
    payload: Bytes,
}

impl Unknown {
    pub fn new(frame_type: FrameType, flags: u8, payload: Bytes) -> Self {
        Self {
            frame_type,
            flags,
            payload,
        }
    }

    pub fn frame_type(&self) -> FrameType {
        self.frame_type
    }

    pub fn flags(&self) -> u8 {
        self.flags
    }

    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    pub(super) fn payload_len(&self) -> usize {
        self.payload.len()
    }

    pub(super) fn encode(&self, dst: &mut impl BufMut) {
        encode_control(self.frame_type, self.flags, self.payload.len(), dst);
        dst.put_slice(&self.payload);
    }
}
