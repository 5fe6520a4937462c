//! ZMTP 3.1, sans IO.
//!
//! zroute's router and workers speak ZMTP (rfc.zeromq.org 23/ZMTP for 3.0,
//! 37/ZMTP for 3.1) between a ROUTER and its DEALERs. This crate holds the
//! protocol and nothing else: the greeting ([`greeting`]), frames
//! ([`frame`]), commands ([`command`]), connection metadata ([`metadata`]),
//! the NULL and CURVE handshakes, CURVE's boxed MESSAGEs, and the memory
//! bounds on what a peer may make us
//! buffer ([`Limits`]). [`Connection`] puts them together: one connection's
//! state machine, from the greeting to multipart messages and PING/PONG.
//! It touches no socket, no clock, no thread and no runtime: bytes go in,
//! frames and commands come out, and the bytes to send are written into a
//! buffer the caller owns, so a transport can send everything queued in one
//! write.
//!
//! Every decoder takes octets in any split (one at a time decodes the same
//! as all at once), checks each octet as soon as it can, and returns a typed
//! error rather than panicking on anything a peer sends. Each is a plain
//! function of its input ([`Greeting::decode`], [`FrameDecoder::decode`],
//! [`Command::parse`], [`Metadata::parse`]), ready for fuzz targets.
//!
//! # CURVE
//!
//! [`Config::with_curve_client`] and [`Config::with_curve_server`] take raw
//! 32-octet Curve25519 keys (Z85 text is the caller's to decode). The
//! server asks its `allow` callback about each client's long-term key,
//! where libzmq would ask a ZAP handler; [`Peer::curve_key`] tells the
//! caller which key was admitted. The boxes are RustCrypto's `crypto_box`
//! and `crypto_secretbox`; nothing cryptographic is written here. The
//! server keeps per-connection state (it is not the stateless server
//! 26/CURVEZMQ permits).
//!
//! # Map
//!
//! | file | what | 37/ZMTP section |
//! |---|---|---|
//! | `greeting.rs` | the 64-octet greeting, version and mechanism checks | Formal Grammar, Version Negotiation |
//! | `frame.rs` | flags, short and LONG frames, the bounded frame decoder | Framing |
//! | `command.rs` | READY, ERROR, PING, PONG and other commands | Commands, Connection Heartbeating |
//! | `metadata.rs` | READY properties, `Socket-Type`, `Identity` | The NULL Security Mechanism, Connection Metadata |
//! | `mechanism/null.rs` | the NULL handshake and socket-type pairing | The NULL Security Mechanism |
//! | `mechanism/curve.rs` | CURVE: HELLO, WELCOME, INITIATE, READY, MESSAGE; cookie, vouch, nonces | 25/ZMTP-CURVE; 26/CURVEZMQ "Commands", "Security Considerations" |
//! | `connection.rs` | one connection's state machine | Overall Behavior |
//! | `limits.rs`, `error.rs` | memory bounds; errors in layers | Framing; Error Handling |
//!
//! # Not here yet
//!
//! ROUTER and DEALER socket semantics over many connections (routing ids, queues
//! bounded like high-water marks, reconnects); the tokio layer that moves
//! the bytes; heartbeat timers (the caller owns the clock).

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
    CommandError, CurveError, Error, FrameError, GreetingError, HandshakeError, InvalidIdentity,
    MetadataError, SendError,
};
pub use frame::{Flags, Frame, FrameDecoder};
pub use greeting::{Greeting, GreetingDecoder, Mechanism, Version};
pub use limits::{LimitExceeded, LimitKind, Limits};
pub use mechanism::null::Peer;
pub use metadata::{Metadata, SocketType};
