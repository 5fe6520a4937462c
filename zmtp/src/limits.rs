//! Memory bounds on what a peer may make us buffer.
//!
//! 37/ZMTP ("Framing") lets a frame carry up to 2^63-1 octets and a message
//! any number of frames. A receiver that buffered whatever a peer announced
//! would let one peer take all its memory, so every bound here is checked
//! when a frame's *header* has been read: before a single octet of its body
//! is buffered. A peer that passes a bound gets [`LimitExceeded`] and is to
//! be dropped.

use std::fmt;

/// The bounds a [`Connection`](crate::Connection) enforces on its peer.
///
/// The defaults suit a zroute worker; the router passes tighter ones taken
/// from `spec/PROTOCOL.md` §3.3 (its largest frame is 65,544 octets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest body of one message frame, in octets. Default 1 MiB.
    pub max_frame_bytes: usize,
    /// Largest sum of the frame bodies of one message, in octets. Default 8 MiB.
    pub max_message_bytes: usize,
    /// Most frames in one message. Default 4,096 (`spec/PROTOCOL.md` §13:
    /// a router's limit SHOULD NOT be below 1,024).
    pub max_message_parts: usize,
    /// Largest body of one command frame (READY metadata, PING, ERROR), in
    /// octets. Default 64 KiB.
    pub max_command_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 1 << 20,
            max_message_bytes: 8 << 20,
            max_message_parts: 4096,
            max_command_bytes: 64 << 10,
        }
    }
}

/// Which bound a peer passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// [`Limits::max_frame_bytes`].
    FrameBytes,
    /// [`Limits::max_message_bytes`].
    MessageBytes,
    /// [`Limits::max_message_parts`].
    MessageParts,
    /// [`Limits::max_command_bytes`].
    CommandBytes,
}

impl LimitKind {
    /// A stable name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FrameBytes => "frame_bytes",
            Self::MessageBytes => "message_bytes",
            Self::MessageParts => "message_parts",
            Self::CommandBytes => "command_bytes",
        }
    }
}

/// A peer announced a frame that would pass one of the [`Limits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitExceeded {
    /// The bound passed.
    pub kind: LimitKind,
    /// Its configured value.
    pub limit: u64,
    /// What accepting the frame would have made it: the frame's size, the
    /// message's octets, or its part count including this frame.
    pub attempted: u64,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "peer passed the {} limit: {} > {}",
            self.kind.as_str(),
            self.attempted,
            self.limit
        )
    }
}

impl std::error::Error for LimitExceeded {}

impl Limits {
    /// Checks a command frame's announced size.
    pub(crate) fn check_command(&self, size: u64) -> Result<(), LimitExceeded> {
        check(LimitKind::CommandBytes, self.max_command_bytes, size)
    }

    /// Checks a message frame's announced size against the frame bound and
    /// against what the message in progress already holds.
    pub(crate) fn check_message_frame(
        &self,
        size: u64,
        parts_before: usize,
        bytes_before: u64,
    ) -> Result<(), LimitExceeded> {
        check(LimitKind::FrameBytes, self.max_frame_bytes, size)?;
        check(
            LimitKind::MessageParts,
            self.max_message_parts,
            to_u64(parts_before).saturating_add(1),
        )?;
        check(
            LimitKind::MessageBytes,
            self.max_message_bytes,
            bytes_before.saturating_add(size),
        )
    }
}

fn check(kind: LimitKind, limit: usize, attempted: u64) -> Result<(), LimitExceeded> {
    let limit = to_u64(limit);
    if attempted > limit {
        Err(LimitExceeded {
            kind,
            limit,
            attempted,
        })
    } else {
        Ok(())
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
