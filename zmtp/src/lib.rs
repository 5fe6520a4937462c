//! ZMTP 3.1, sans IO.
//!
//! zroute's router and workers speak ZMTP (rfc.zeromq.org 23/ZMTP for 3.0,
//! 37/ZMTP for 3.1) between a ROUTER and its DEALERs. This crate holds the
//! protocol and nothing else: the greeting ([`greeting`]), frames
//! ([`frame`]), commands ([`command`]), connection metadata ([`metadata`]),
//! the NULL handshake, and the memory bounds on what a peer may make us
//! buffer ([`Limits`]). [`Connection`] puts them together: one connection's
//! state machine, from the greeting to multipart messages and PING/PONG.
//! It touches no socket, no clock, no thread and no runtime: bytes go in,
//! frames and commands come out, and the bytes to send are written into a
//! buffer the caller owns, so a transport can send everything queued in one
//! write.
//!
//! Every decoder takes octets in any split (one at a time decodes the same
//! as all at once), checks each octet as soon as it can, and returns a typed
//! error rather than panicking on anything a peer sends.

pub mod command;
mod connection;
mod error;
pub mod frame;
pub mod greeting;
mod limits;
mod mechanism;
pub mod metadata;

pub use command::{Command, CommandName};
pub use connection::{Config, Connection, Event, Role};
pub use error::{
    CommandError, Error, FrameError, GreetingError, HandshakeError, InvalidIdentity, MetadataError,
    SendError,
};
pub use frame::{Flags, Frame, FrameDecoder};
pub use greeting::{Greeting, GreetingDecoder, Mechanism, Version};
pub use limits::{LimitExceeded, LimitKind, Limits};
pub use mechanism::null::Peer;
pub use metadata::{Metadata, SocketType};
