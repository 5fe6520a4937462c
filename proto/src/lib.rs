//! The zroute protocol, sans IO.
//!
//! zroute carries HTTP between a router and its workers as SPDY/3.1 frames,
//! one frame per ZeroMQ message part. This crate holds everything about that
//! protocol that does not touch a socket or a clock: the frames and their
//! codec, the name/value block, wire codes, and the stream and session state
//! machines for both roles. Time is always passed in; the caller owns the
//! sockets. The normative text is `spec/PROTOCOL.md`.

pub mod codes;
pub mod frame;
pub mod http;
pub mod mapping;
pub mod routing;
pub mod session;
mod stream_id;

pub use codes::{FrameType, GoAwayStatus, RstCode, SettingId};
pub use frame::{Frame, HeaderBlock};
pub use session::{CloseReason, Event, ProtocolError, Role, Session};
pub use stream_id::StreamId;

/// The zroute protocol version this crate speaks.
pub const PROTOCOL_VERSION: u16 = 1;
