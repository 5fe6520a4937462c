use std::error::Error as StdError;
use std::fmt;
use std::io;

/// Why a send did not hand a message to libzmq.
///
/// The message is never partly sent: libzmq accepts or refuses a multipart
/// message as a whole, at its first part.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The queue towards the peer is at its high-water mark (EAGAIN). On a
    /// DEALER with `immediate` set this also means "no completed connection".
    /// Nothing was queued; the caller still owns the message.
    WouldBlock,
    /// A ROUTER with `mandatory` set has no connected peer with that routing id
    /// (EHOSTUNREACH): the peer is gone or never was.
    HostUnreachable,
    /// Anything else: an empty message, or libzmq reporting a closed context.
    Io(io::Error),
}

impl SendError {
    #[cfg(feature = "libzmq")]
    pub(crate) fn from_zmq(e: zmq::Error) -> Self {
        match e {
            zmq::Error::EAGAIN => Self::WouldBlock,
            zmq::Error::EHOSTUNREACH => Self::HostUnreachable,
            other => Self::Io(io_err(other)),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WouldBlock => f.write_str("send would block: the peer's queue is full"),
            Self::HostUnreachable => f.write_str("no connected peer with that routing id"),
            Self::Io(e) => write!(f, "send failed: {e}"),
        }
    }
}

impl StdError for SendError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for SendError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<SendError> for io::Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::WouldBlock => io::ErrorKind::WouldBlock.into(),
            SendError::HostUnreachable => io::ErrorKind::HostUnreachable.into(),
            SendError::Io(e) => e,
        }
    }
}

/// The `zmq` crate's own conversion picks the `io::ErrorKind`s that matter
/// here (WouldBlock, Interrupted, AddrInUse, ...) and keeps libzmq's message.
#[cfg(feature = "libzmq")]
pub(crate) fn io_err(e: zmq::Error) -> io::Error {
    match e {
        zmq::Error::EHOSTUNREACH => io::Error::new(io::ErrorKind::HostUnreachable, e),
        other => other.into(),
    }
}
