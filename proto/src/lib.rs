//! The zroute protocol, sans IO.
//!
//! zroute carries HTTP between a router and its workers as SPDY/3.1 frames,
//! one frame per ZeroMQ message part. This crate holds everything about that
//! protocol that does not touch a socket or a clock: the frames and their
//! codec, the name/value block, wire codes, and the stream and session state
//! machines for both roles. Time is always passed in; the caller owns the
//! sockets. The normative text is `spec/PROTOCOL.md`.
//!
//! # What it owns, and what it must not touch
//!
//! This crate owns every rule of the protocol: how a part decodes, which
//! frame may come when, what a stream or session error is and why
//! ([`ProtocolError`]), flow control, heartbeats, drain. Both the router and
//! the workers take those rules from here rather than checking frames
//! themselves. It must not touch a socket, a clock, a thread, a runtime or a
//! logger: no tokio, no zmq, no `Instant::now`, no `tracing`. Time comes in
//! as an argument, bytes go in through `handle_part` and out through
//! `poll_transmit`, and what the session has to say comes out as events and
//! errors for the caller to act on and log. Policy (which worker gets a
//! request, admission, retries, HTTP I/O) belongs to the router and the
//! worker library.

pub mod codes;
pub mod frame;
pub mod http;
pub mod mapping;
pub mod routing;
pub mod session;
mod stream_id;
pub mod websocket;

pub use codes::{FrameType, GoAwayStatus, RstCode, SettingId};
pub use frame::{Frame, HeaderBlock};
pub use session::{CloseReason, Event, ProtocolError, Role, Session};
pub use stream_id::StreamId;

/// The zroute protocol version this crate speaks.
pub const PROTOCOL_VERSION: u16 = 1;
