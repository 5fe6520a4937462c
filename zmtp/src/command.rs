//! Commands: 37/ZMTP, "Commands", "The NULL Security Mechanism" and
//! "Connection Heartbeating".
//!
//! ```text
//! command-body = command-name command-data
//! command-name = short-size 1*255command-name-char   ; ALPHA
//! ready = command-size %d5 "READY" metadata
//! error = command-size %d5 "ERROR" error-reason       ; short-size 0*255VCHAR
//! ping  = command-size %d4 "PING" ping-ttl ping-context   ; 2OCTET, 0*16OCTET
//! pong  = command-size %d4 "PONG" ping-context
//! ```
//!
//! Commands this crate does not act on (SUBSCRIBE, CANCEL, JOIN, a
//! mechanism's own) decode as [`Command::Other`] with their data intact.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::CommandError;
use crate::frame::{Flags, header_len, put_header};
use crate::metadata::Metadata;

/// The most octets of a PING or PONG context.
pub const MAX_PING_CONTEXT: usize = 16;

/// A command name, as the frame carries it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CommandName(Bytes);

impl CommandName {
    /// READY: the NULL handshake's only command, carrying metadata.
    pub const READY: Self = Self(Bytes::from_static(b"READY"));
    /// ERROR: a fatal handshake error with a reason.
    pub const ERROR: Self = Self(Bytes::from_static(b"ERROR"));
    /// PING: a heartbeat request (3.1).
    pub const PING: Self = Self(Bytes::from_static(b"PING"));
    /// PONG: a heartbeat reply (3.1).
    pub const PONG: Self = Self(Bytes::from_static(b"PONG"));
    /// SUBSCRIBE (3.1; PUB/SUB only).
    pub const SUBSCRIBE: Self = Self(Bytes::from_static(b"SUBSCRIBE"));
    /// CANCEL (3.1; PUB/SUB only).
    pub const CANCEL: Self = Self(Bytes::from_static(b"CANCEL"));

    /// The name's octets.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
}

impl fmt::Debug for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommandName({})", self.0.escape_ascii())
    }
}

/// A decoded command.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// READY with the sender's metadata.
    Ready(Metadata),
    /// ERROR with its reason (at most 255 octets).
    Error {
        /// The reason, for logs.
        reason: Bytes,
    },
    /// PING: answer with a PONG echoing `context`.
    Ping {
        /// Time to live in tenths of a second; 0 for none.
        ttl: u16,
        /// At most 16 octets.
        context: Bytes,
    },
    /// PONG, echoing a PING's context.
    Pong {
        /// At most 16 octets.
        context: Bytes,
    },
    /// Any other command, kept as received.
    Other {
        /// Its name.
        name: CommandName,
        /// What follows the name.
        data: Bytes,
    },
}

impl Command {
    /// Parses a command frame's body, slicing it without copying.
    pub fn parse(mut body: Bytes) -> Result<Self, CommandError> {
        if body.is_empty() {
            return Err(CommandError::Empty);
        }
        let len = usize::from(body.get_u8());
        if len == 0 || len > body.len() {
            return Err(CommandError::BadNameSize);
        }
        let name = body.split_to(len);
        if !name.iter().all(u8::is_ascii_alphabetic) {
            return Err(CommandError::BadName { name });
        }
        let data = body;
        // Names compare exactly: libzmq matches "READY" and the rest octet
        // for octet.
        match &name[..] {
            b"READY" => Ok(Self::Ready(Metadata::parse(data)?)),
            b"ERROR" => parse_error(data),
            b"PING" => {
                if data.len() < 2 {
                    return Err(CommandError::PingTruncated);
                }
                let ttl = u16::from_be_bytes([data[0], data[1]]);
                let context = check_context(data.slice(2..))?;
                Ok(Self::Ping { ttl, context })
            }
            b"PONG" => Ok(Self::Pong {
                context: check_context(data)?,
            }),
            _ => Ok(Self::Other {
                name: CommandName(name),
                data,
            }),
        }
    }

    /// The command's name.
    pub fn name(&self) -> CommandName {
        match self {
            Self::Ready(_) => CommandName::READY,
            Self::Error { .. } => CommandName::ERROR,
            Self::Ping { .. } => CommandName::PING,
            Self::Pong { .. } => CommandName::PONG,
            Self::Other { name, .. } => name.clone(),
        }
    }

    fn data_len(&self) -> usize {
        match self {
            Self::Ready(metadata) => metadata.encoded_len(),
            Self::Error { reason } => 1 + reason.len(),
            Self::Ping { context, .. } => 2 + context.len(),
            Self::Pong { context } => context.len(),
            Self::Other { data, .. } => data.len(),
        }
    }

    /// Writes the whole command frame.
    ///
    /// Panics on what only a caller's bug makes: an ERROR reason above 255
    /// octets, a context above 16, a name that is empty, longer than 255 or
    /// not ALPHA.
    pub fn encode(&self, out: &mut BytesMut) {
        let name = self.name();
        let name = name.as_bytes();
        assert!(
            !name.is_empty() && name.len() <= 255 && name.iter().all(u8::is_ascii_alphabetic),
            "a command name is 1 to 255 ALPHA octets"
        );
        let size = 1 + name.len() + self.data_len();
        out.reserve(header_len(size) + size);
        put_header(out, Flags::COMMAND, false, size);
        out.put_u8(name.len() as u8);
        out.put_slice(name);
        match self {
            Self::Ready(metadata) => metadata.encode(out),
            Self::Error { reason } => {
                let len =
                    u8::try_from(reason.len()).expect("an ERROR reason is at most 255 octets");
                out.put_u8(len);
                out.put_slice(reason);
            }
            Self::Ping { ttl, context } => {
                assert!(
                    context.len() <= MAX_PING_CONTEXT,
                    "a PING context is at most 16 octets"
                );
                out.put_u16(*ttl);
                out.put_slice(context);
            }
            Self::Pong { context } => {
                assert!(
                    context.len() <= MAX_PING_CONTEXT,
                    "a PONG context is at most 16 octets"
                );
                out.put_slice(context);
            }
            Self::Other { data, .. } => out.put_slice(data),
        }
    }
}

fn parse_error(mut data: Bytes) -> Result<Command, CommandError> {
    if data.is_empty() {
        return Err(CommandError::BadErrorReason);
    }
    let len = usize::from(data.get_u8());
    if data.len() != len {
        return Err(CommandError::BadErrorReason);
    }
    Ok(Command::Error { reason: data })
}

fn check_context(context: Bytes) -> Result<Bytes, CommandError> {
    if context.len() > MAX_PING_CONTEXT {
        Err(CommandError::ContextTooLong { len: context.len() })
    } else {
        Ok(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::MetadataError;
    use crate::frame::FrameDecoder;
    use crate::limits::Limits;

    fn frame(command: &Command) -> BytesMut {
        let mut out = BytesMut::new();
        command.encode(&mut out);
        out
    }

    /// Encodes, decodes the frame octet by octet, parses the body.
    fn round_trip(command: &Command) -> Command {
        let bytes = frame(command);
        let mut decoder = FrameDecoder::new(Limits::default());
        let mut got = None;
        for byte in bytes.iter() {
            let mut one = std::slice::from_ref(byte);
            if let Some(frame) = decoder.decode(&mut one).unwrap() {
                assert!(frame.is_command());
                got = Some(Command::parse(frame.into_body()).unwrap());
            }
        }
        got.expect("a whole frame")
    }

    fn ready() -> Command {
        let mut metadata = Metadata::new();
        metadata.insert("Socket-Type", "DEALER").unwrap();
        metadata.insert("Identity", "worker-1").unwrap();
        Command::Ready(metadata)
    }

    #[test]
    fn encodes_ready_as_libzmq_does() {
        let mut metadata = Metadata::new();
        metadata.insert("Socket-Type", "ROUTER").unwrap();
        let bytes = frame(&Command::Ready(metadata));
        let mut want = vec![0x04, 28, 5];
        want.extend_from_slice(b"READY\x0bSocket-Type\x00\x00\x00\x06ROUTER");
        assert_eq!(&bytes[..], &want[..]);
    }

    #[test]
    fn round_trips_every_command() {
        let commands = [
            ready(),
            Command::Error {
                reason: Bytes::from_static(b"Invalid socket type"),
            },
            Command::Ping {
                ttl: 300,
                context: Bytes::from_static(b"0123456789abcdef"),
            },
            Command::Ping {
                ttl: 0,
                context: Bytes::new(),
            },
            Command::Pong {
                context: Bytes::from_static(b"ctx"),
            },
            Command::Other {
                name: CommandName::SUBSCRIBE,
                data: Bytes::from_static(b"topic"),
            },
        ];
        for command in commands {
            assert_eq!(round_trip(&command), command);
        }
        let mut big = Metadata::new();
        big.insert("X-Big", vec![b'v'; 400]).unwrap();
        let bytes = frame(&Command::Ready(big.clone()));
        assert_eq!(bytes[0], 0x06, "a body above 255 octets gets a LONG size");
        assert_eq!(
            round_trip(&Command::Ready(big.clone())),
            Command::Ready(big)
        );
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(Command::parse(Bytes::new()), Err(CommandError::Empty));
        assert_eq!(
            Command::parse(Bytes::from_static(b"\x00")),
            Err(CommandError::BadNameSize)
        );
        assert_eq!(
            Command::parse(Bytes::from_static(b"\x06READY")),
            Err(CommandError::BadNameSize)
        );
        assert!(matches!(
            Command::parse(Bytes::from_static(b"\x05READ1")),
            Err(CommandError::BadName { .. })
        ));
        // Names are exact: "ready" is another command.
        assert!(matches!(
            Command::parse(Bytes::from_static(b"\x05ready")),
            Ok(Command::Other { .. })
        ));
    }

    #[test]
    fn refuses_a_truncated_ready_at_every_octet() {
        let bytes = frame(&ready());
        let body = bytes.freeze().slice(2..);
        let name_end = 6;
        let first_property_end = name_end + 1 + 11 + 4 + 6;
        for cut in 1..body.len() {
            let got = Command::parse(Bytes::copy_from_slice(&body[..cut]));
            match cut {
                1..=5 => assert_eq!(got, Err(CommandError::BadNameSize), "cut {cut}"),
                c if c == name_end || c == first_property_end => assert!(got.is_ok()),
                _ => assert_eq!(
                    got,
                    Err(CommandError::Metadata(MetadataError::Truncated)),
                    "cut {cut}"
                ),
            }
        }
    }

    #[test]
    fn refuses_bad_error_ping_and_pong_bodies() {
        for body in [&b"\x05ERROR"[..], b"\x05ERROR\x03ab", b"\x05ERROR\x01ab"] {
            assert_eq!(
                Command::parse(Bytes::copy_from_slice(body)),
                Err(CommandError::BadErrorReason)
            );
        }
        assert_eq!(
            Command::parse(Bytes::from_static(b"\x04PING\x00")),
            Err(CommandError::PingTruncated)
        );
        let mut ping = b"\x04PING\x00\x00".to_vec();
        ping.extend_from_slice(&[b'c'; 17]);
        assert_eq!(
            Command::parse(Bytes::from(ping)),
            Err(CommandError::ContextTooLong { len: 17 })
        );
        let mut pong = b"\x04PONG".to_vec();
        pong.extend_from_slice(&[b'c'; 17]);
        assert_eq!(
            Command::parse(Bytes::from(pong)),
            Err(CommandError::ContextTooLong { len: 17 })
        );
    }
}
