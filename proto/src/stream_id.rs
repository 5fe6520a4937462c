use std::fmt;

/// A 31-bit stream identifier ([spec §streams](../../spec/PROTOCOL.md#stream-ids)).
///
/// The router allocates odd ids, starting at 1, strictly increasing within one
/// session. Id 0 never names a stream: on the wire it means "the session" (for
/// WINDOW_UPDATE) or "none" (for GOAWAY's last-good id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId(u32);

impl StreamId {
    /// The session itself (WINDOW_UPDATE) or "no stream" (GOAWAY).
    pub const ZERO: Self = Self(0);
    /// The largest id the 31-bit field can carry.
    pub const MAX: Self = Self(0x7fff_ffff);

    /// Builds an id from the low 31 bits of `raw`; the reserved high bit is dropped.
    pub const fn new(raw: u32) -> Self {
        Self(raw & 0x7fff_ffff)
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Router-allocated ids are odd.
    pub const fn is_router_initiated(self) -> bool {
        self.0 % 2 == 1
    }

    /// The id the router allocates after this one, if the 31-bit space has room.
    pub const fn next_router_id(self) -> Option<Self> {
        let next = if self.0 == 0 { 1 } else { self.0 + 2 };
        if next > Self::MAX.0 {
            None
        } else {
            Some(Self(next))
        }
    }
}

impl From<StreamId> for u32 {
    fn from(id: StreamId) -> Self {
        id.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
