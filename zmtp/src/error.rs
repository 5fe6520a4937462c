//! Errors, in layers.
//!
//! Each decoder has its own exact error ([`GreetingError`], [`FrameError`],
//! [`CommandError`], [`MetadataError`]) and the handshake has
//! [`HandshakeError`]. A [`Connection`](crate::Connection) gathers them into
//! [`Error`], where [`Error::Limit`] stands apart: it is the one a transport
//! counts as "a peer passed a memory bound". Every [`Error`] is caused by the
//! peer and is fatal to its connection; what the caller did wrong is a
//! [`SendError`] instead. Display texts are for logs and are not stable.

use std::fmt;

use bytes::Bytes;

use crate::greeting::Mechanism;
use crate::limits::LimitExceeded;
use crate::metadata::SocketType;

/// A peer's greeting was refused (37/ZMTP, "Version Negotiation").
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GreetingError {
    /// The first octet is not `%xFF` or the tenth is not `%x7F`: not ZMTP, or
    /// ZMTP 1.0.
    BadSignature,
    /// The peer speaks a major version below 3, which we do not downgrade to.
    UnsupportedVersion {
        /// The peer's major version.
        major: u8,
    },
    /// The peer announced a mechanism other than ours.
    MechanismMismatch {
        /// Ours.
        ours: Mechanism,
        /// The peer's.
        peer: Mechanism,
    },
    /// [`Greeting::decode`](crate::Greeting::decode) was given fewer than 64
    /// octets.
    Truncated {
        /// Octets given.
        len: usize,
    },
}

impl fmt::Display for GreetingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSignature => f.write_str("greeting signature is not ZMTP 3's"),
            Self::UnsupportedVersion { major } => {
                write!(f, "peer speaks ZMTP major version {major}, below 3")
            }
            Self::MechanismMismatch { ours, peer } => {
                write!(f, "peer's mechanism \"{peer}\" is not ours, \"{ours}\"")
            }
            Self::Truncated { len } => write!(f, "greeting of {len} octets, not 64"),
        }
    }
}

impl std::error::Error for GreetingError {}

/// A frame header broke 37/ZMTP's framing rules ("Framing").
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// One of flag bits 7-3, which "MUST be zero", is set.
    ReservedFlags {
        /// The flags octet.
        flags: u8,
    },
    /// A command frame has the MORE bit, which "SHALL be zero on command
    /// frames".
    CommandWithMore,
    /// The frame would pass a memory bound.
    Limit(LimitExceeded),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedFlags { flags } => {
                write!(f, "reserved frame flag bits set: {flags:#04x}")
            }
            Self::CommandWithMore => f.write_str("command frame with the MORE flag"),
            Self::Limit(limit) => limit.fmt(f),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<LimitExceeded> for FrameError {
    fn from(limit: LimitExceeded) -> Self {
        Self::Limit(limit)
    }
}

/// READY metadata is malformed (37/ZMTP, "The NULL Security Mechanism":
/// `property = name value`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataError {
    /// A property ends before its name, its value size or its value does.
    Truncated,
    /// A name of zero octets ("Zero-sized names are not valid").
    EmptyName,
    /// A name octet outside `ALPHA | DIGIT | "-" | "_" | "." | "+"`.
    BadName {
        /// The name as received.
        name: Bytes,
    },
    /// A value size above 2^31-1.
    ValueTooLong {
        /// The size announced.
        size: u32,
    },
    /// The same name twice (names compare without case).
    Duplicate {
        /// The second occurrence.
        name: Bytes,
    },
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("metadata property truncated"),
            Self::EmptyName => f.write_str("metadata property with an empty name"),
            Self::BadName { name } => {
                write!(
                    f,
                    "metadata name \"{}\" has a bad character",
                    name.escape_ascii()
                )
            }
            Self::ValueTooLong { size } => write!(f, "metadata value size {size} above 2^31-1"),
            Self::Duplicate { name } => {
                write!(
                    f,
                    "metadata property \"{}\" given twice",
                    name.escape_ascii()
                )
            }
        }
    }
}

impl std::error::Error for MetadataError {}

/// A command frame's body is malformed (37/ZMTP, "Commands").
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// A command body of zero octets: no name.
    Empty,
    /// The name size is zero or runs past the body.
    BadNameSize,
    /// A name octet that is not ALPHA.
    BadName {
        /// The name as received.
        name: Bytes,
    },
    /// READY's metadata.
    Metadata(MetadataError),
    /// ERROR without its reason size, or a reason that does not fill the rest
    /// of the body exactly.
    BadErrorReason,
    /// PING shorter than its 2-octet TTL.
    PingTruncated,
    /// A PING or PONG context above the 16 octets 37/ZMTP allows.
    ContextTooLong {
        /// Its length.
        len: usize,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty command frame"),
            Self::BadNameSize => f.write_str("command name size is zero or too long"),
            Self::BadName { name } => {
                write!(f, "command name \"{}\" is not ALPHA", name.escape_ascii())
            }
            Self::Metadata(e) => write!(f, "READY: {e}"),
            Self::BadErrorReason => f.write_str("ERROR reason malformed"),
            Self::PingTruncated => f.write_str("PING without its TTL"),
            Self::ContextTooLong { len } => {
                write!(f, "PING/PONG context of {len} octets, above 16")
            }
        }
    }
}

impl std::error::Error for CommandError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Metadata(e) => Some(e),
            _ => None,
        }
    }
}

impl From<MetadataError> for CommandError {
    fn from(e: MetadataError) -> Self {
        Self::Metadata(e)
    }
}

/// The security handshake or the connection metadata failed (37/ZMTP, "The
/// NULL Security Mechanism", "Connection Metadata").
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The peer sent ERROR: "fatal, … not re-connecting using the same
    /// security credentials".
    PeerError {
        /// Its reason, for the log (no defined semantics).
        reason: Bytes,
    },
    /// A command the handshake does not allow at this point (PING before
    /// READY, a second READY, …).
    UnexpectedCommand {
        /// The command's name.
        name: Bytes,
    },
    /// A message frame before the handshake completed.
    MessageBeforeReady,
    /// READY without `Socket-Type`.
    MissingSocketType,
    /// A `Socket-Type` 37/ZMTP does not define.
    UnknownSocketType {
        /// The value as received.
        name: Bytes,
    },
    /// A socket type we do not pair with (we answered with ERROR).
    IncompatibleSocketType {
        /// Ours.
        ours: SocketType,
        /// The peer's.
        peer: SocketType,
    },
    /// An `Identity` longer than 255 octets or starting with a zero octet
    /// ("reserved for implementations' internal use").
    BadIdentity,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeerError { reason } => {
                write!(f, "peer sent ERROR \"{}\"", reason.escape_ascii())
            }
            Self::UnexpectedCommand { name } => {
                write!(
                    f,
                    "unexpected command {} during the handshake",
                    name.escape_ascii()
                )
            }
            Self::MessageBeforeReady => f.write_str("message before the handshake completed"),
            Self::MissingSocketType => f.write_str("READY without Socket-Type"),
            Self::UnknownSocketType { name } => {
                write!(f, "unknown Socket-Type \"{}\"", name.escape_ascii())
            }
            Self::IncompatibleSocketType { ours, peer } => {
                write!(f, "a {ours} does not pair with a {peer}")
            }
            Self::BadIdentity => f.write_str("Identity longer than 255 octets or starting with 0"),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// The CURVE handshake or a MESSAGE failed (26/CURVEZMQ, 25/ZMTP-CURVE).
/// Every case is fatal: a box that does not open may be an attack, and
/// 26/CURVEZMQ has no way to recover from one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CurveError {
    /// A command too short or too long for its layout, or with a name that
    /// runs past its body.
    Malformed {
        /// Which command, or which part of one.
        command: &'static str,
    },
    /// HELLO announced a CURVE version other than 1.0.
    BadVersion {
        /// The major version.
        major: u8,
        /// The minor version.
        minor: u8,
    },
    /// A box did not authenticate: a wrong key (the client's idea of the
    /// server's key, typically) or tampered octets.
    BadBox {
        /// The command whose box it was.
        command: &'static str,
    },
    /// INITIATE returned a cookie other than the one we sent.
    BadCookie,
    /// INITIATE's vouch did not open, or names other short-term or server
    /// keys than this connection's.
    BadVouch,
    /// Our allowlist refused the client's long-term key (we sent ERROR).
    RefusedKey {
        /// The key refused.
        key: [u8; 32],
    },
    /// A short nonce that does not exceed the last one accepted: a replay.
    NonceNotIncreasing {
        /// The last accepted.
        last: u64,
        /// The one received.
        got: u64,
    },
    /// Our short nonce would wrap while answering the peer (never in
    /// practice: 2^64 boxes); the connection must end.
    NonceExhausted,
    /// After the handshake, a frame that is not a MESSAGE command.
    NotMessage {
        /// Its command name.
        name: Bytes,
    },
}

impl fmt::Display for CurveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { command } => write!(f, "malformed CURVE {command}"),
            Self::BadVersion { major, minor } => {
                write!(f, "CURVE HELLO version {major}.{minor}, not 1.0")
            }
            Self::BadBox { command } => write!(f, "CURVE {command} box does not open"),
            Self::BadCookie => f.write_str("CURVE INITIATE cookie is not ours"),
            Self::BadVouch => f.write_str("CURVE INITIATE vouch is not valid"),
            Self::RefusedKey { .. } => f.write_str("CURVE client key not allowed"),
            Self::NonceNotIncreasing { last, got } => {
                write!(f, "CURVE short nonce {got} does not exceed {last}")
            }
            Self::NonceExhausted => f.write_str("our CURVE short nonce is exhausted"),
            Self::NotMessage { name } => {
                write!(
                    f,
                    "CURVE {} after the handshake, not MESSAGE",
                    name.escape_ascii()
                )
            }
        }
    }
}

impl std::error::Error for CurveError {}

/// Why a [`Connection`](crate::Connection) failed. Every cause is the peer's;
/// the caller should flush [`poll_transmit`](crate::Connection::poll_transmit)
/// (it may hold an ERROR command), close the connection, and log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The greeting was refused.
    Greeting(GreetingError),
    /// A frame header broke the framing rules.
    Frame(FrameError),
    /// The peer passed a memory bound (checked before buffering the frame).
    Limit(LimitExceeded),
    /// A command body was malformed.
    Command(CommandError),
    /// The handshake failed.
    Handshake(HandshakeError),
    /// CURVE refused the peer: a box, cookie, vouch, key or nonce.
    Curve(CurveError),
}

impl Error {
    /// Whether the peer passed one of the [`Limits`](crate::Limits).
    pub fn is_limit(&self) -> bool {
        matches!(self, Self::Limit(_))
    }

    /// Whether the peer refused us with an ERROR command.
    pub fn is_peer_error(&self) -> bool {
        matches!(self, Self::Handshake(HandshakeError::PeerError { .. }))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Greeting(e) => write!(f, "ZMTP greeting: {e}"),
            Self::Frame(e) => write!(f, "ZMTP framing: {e}"),
            Self::Limit(e) => write!(f, "ZMTP bound: {e}"),
            Self::Command(e) => write!(f, "ZMTP command: {e}"),
            Self::Handshake(e) => write!(f, "ZMTP handshake: {e}"),
            Self::Curve(e) => write!(f, "ZMTP CURVE: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(match self {
            Self::Greeting(e) => e,
            Self::Frame(e) => e,
            Self::Limit(e) => e,
            Self::Command(e) => e,
            Self::Handshake(e) => e,
            Self::Curve(e) => e,
        })
    }
}

impl From<GreetingError> for Error {
    fn from(e: GreetingError) -> Self {
        Self::Greeting(e)
    }
}

impl From<FrameError> for Error {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Limit(limit) => Self::Limit(limit),
            other => Self::Frame(other),
        }
    }
}

impl From<CommandError> for Error {
    fn from(e: CommandError) -> Self {
        Self::Command(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Self::Handshake(e)
    }
}

impl From<CurveError> for Error {
    fn from(e: CurveError) -> Self {
        Self::Curve(e)
    }
}

/// A send the connection cannot make; the connection itself is unharmed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The handshake has not completed: "A peer MAY start to send messages
    /// immediately after completing its handshake", not before.
    NotReady,
    /// The connection has failed.
    Failed,
    /// A message has at least one frame.
    EmptyMessage,
    /// The peer speaks ZMTP 3.0, which has no PING.
    NoHeartbeats,
    /// A PING context above 16 octets.
    ContextTooLong,
    /// CURVE's 64-bit short nonce would wrap (never in practice: 2^64
    /// boxes); the connection must be closed.
    NonceExhausted,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotReady => "the handshake has not completed",
            Self::Failed => "the connection has failed",
            Self::EmptyMessage => "a message needs at least one frame",
            Self::NoHeartbeats => "the peer speaks ZMTP 3.0, without PING",
            Self::ContextTooLong => "a PING context is at most 16 octets",
            Self::NonceExhausted => "the CURVE short nonce is exhausted",
        })
    }
}

impl std::error::Error for SendError {}

/// An identity we were asked to announce is empty, above 255 octets, or
/// starts with a zero octet (37/ZMTP, "The Identity Property").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidIdentity;

impl fmt::Display for InvalidIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an identity is 1 to 255 octets and does not start with 0")
    }
}

impl std::error::Error for InvalidIdentity {}
