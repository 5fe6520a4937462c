//! WINDOW_UPDATE: grants the peer more room to send DATA ([spec](../../spec/PROTOCOL.md#frame-window-update)).
//!
//! ```text
//! +----------------------------------+
//! |1|   version    |         9       |
//! +----------------------------------+
//! | 0 (flags) |     8 (length)       |
//! +----------------------------------+
//! |X|     Stream-ID (31-bits)        |
//! +----------------------------------+
//! |X|  Delta-Window-Size (31-bits)   |
//! +----------------------------------+
//! ```

use bytes::BufMut;

use super::head::be_u32;
use super::{Error, ErrorKind};
use crate::StreamId;
use crate::codes::FrameType;

/// The largest delta, and the largest any window may grow to.
pub const MAX_WINDOW: u32 = 0x7fff_ffff;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowUpdate {
    stream_id: StreamId,
    delta: u32,
    flags: u8,
}

impl WindowUpdate {
    /// `stream_id` 0 updates the session window. `delta` must be 1..=2^31-1.
    pub fn new(stream_id: StreamId, delta: u32) -> Self {
        debug_assert!(
            (1..=MAX_WINDOW).contains(&delta),
            "window delta out of range"
        );
        Self {
            stream_id,
            delta: delta & MAX_WINDOW,
            flags: 0,
        }
    }

    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    pub fn delta(&self) -> u32 {
        self.delta
    }

    fn read(flags: u8, payload: &[u8]) -> Result<Self, Error> {
        let stream_id = StreamId::new(be_u32(payload, 0));
        let delta = be_u32(payload, 4) & MAX_WINDOW;
        if delta == 0 {
            let at = (!stream_id.is_zero()).then_some(stream_id);
            return Err(Error::new(ErrorKind::ZeroWindowDelta).at(at));
        }
        Ok(Self {
            stream_id,
            delta,
            flags,
        })
    }

    fn write(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.stream_id.get());
        dst.put_u32(self.delta);
    }
}

super::fixed_control!(WindowUpdate, FrameType::WINDOW_UPDATE, 8);
