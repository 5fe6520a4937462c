//! Connection metadata: 37/ZMTP, "The NULL Security Mechanism" (its
//! encoding) and "Connection Metadata" (its properties).
//!
//! ```text
//! metadata  = *property
//! property  = name value
//! name      = short-size 1*255name-char
//! name-char = ALPHA | DIGIT | "-" | "_" | "." | "+"
//! value     = 4OCTET *OCTET       ; size in network order, at most 2^31-1
//! ```
//!
//! Names compare without case. A name given twice is refused: a peer that
//! sends two `Socket-Type`s must not get to choose which one is checked.

use std::fmt;

use bytes::{Buf, BufMut, Bytes};

use crate::error::MetadataError;

/// The sender's socket type ("The Socket-Type Property").
pub const SOCKET_TYPE: &str = "Socket-Type";
/// The sender's routing identity ("The Identity Property").
pub const IDENTITY: &str = "Identity";
/// The resource to connect to ("The Resource Property", new in 3.1).
pub const RESOURCE: &str = "Resource";

const MAX_VALUE: u32 = i32::MAX as u32;

/// A metadata dictionary, in the order received or inserted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    properties: Vec<(Bytes, Bytes)>,
}

impl Metadata {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a property, refusing a bad or repeated name.
    pub fn insert(
        &mut self,
        name: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<(), MetadataError> {
        let name = name.into();
        check_name(&name)?;
        if self.get(&name).is_some() {
            return Err(MetadataError::Duplicate { name });
        }
        self.properties.push((name, value.into()));
        Ok(())
    }

    /// The value of a property, its name compared without case.
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&Bytes> {
        let name = name.as_ref();
        self.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The properties, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        self.properties.iter().map(|(n, v)| (n, v))
    }

    /// The number of properties.
    pub fn len(&self) -> usize {
        self.properties.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// The `Socket-Type` value, raw.
    pub fn socket_type(&self) -> Option<&Bytes> {
        self.get(SOCKET_TYPE)
    }

    /// The `Identity` value, if present and not empty (an empty identity is
    /// the same as none: the ROUTER generates one).
    pub fn identity(&self) -> Option<&Bytes> {
        self.get(IDENTITY).filter(|v| !v.is_empty())
    }

    /// Parses a READY body after its name, slicing `data` without copying.
    pub fn parse(mut data: Bytes) -> Result<Self, MetadataError> {
        let mut metadata = Self::new();
        while data.has_remaining() {
            let name_len = usize::from(data.get_u8());
            if name_len == 0 {
                return Err(MetadataError::EmptyName);
            }
            if data.remaining() < name_len {
                return Err(MetadataError::Truncated);
            }
            let name = data.split_to(name_len);
            if data.remaining() < 4 {
                return Err(MetadataError::Truncated);
            }
            let size = data.get_u32();
            if size > MAX_VALUE {
                return Err(MetadataError::ValueTooLong { size });
            }
            let size = size as usize;
            if data.remaining() < size {
                return Err(MetadataError::Truncated);
            }
            let value = data.split_to(size);
            metadata.insert(name, value)?;
        }
        Ok(metadata)
    }

    /// Octets [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        self.properties
            .iter()
            .map(|(n, v)| 1 + n.len() + 4 + v.len())
            .sum()
    }

    /// Writes the properties. Names were checked on insert; a value above
    /// 2^31-1 octets is the caller's bug and panics.
    pub fn encode(&self, out: &mut impl BufMut) {
        for (name, value) in &self.properties {
            out.put_u8(name.len() as u8);
            out.put_slice(name);
            let size = u32::try_from(value.len())
                .ok()
                .filter(|&s| s <= MAX_VALUE)
                .expect("a metadata value is at most 2^31-1 octets");
            out.put_u32(size);
            out.put_slice(value);
        }
    }
}

fn check_name(name: &Bytes) -> Result<(), MetadataError> {
    if name.is_empty() {
        return Err(MetadataError::EmptyName);
    }
    let valid = name.len() <= 255
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'+'));
    if valid {
        Ok(())
    } else {
        Err(MetadataError::BadName { name: name.clone() })
    }
}

/// A socket type, as the `Socket-Type` property names it ("The Socket-Type
/// Property").
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketType(u8);

const NAMES: [&str; 19] = [
    "REQ", "REP", "DEALER", "ROUTER", "PUB", "XPUB", "SUB", "XSUB", "PUSH", "PULL", "PAIR",
    "CLIENT", "SERVER", "RADIO", "DISH", "SCATTER", "GATHER", "PEER", "CHANNEL",
];

impl SocketType {
    /// REQ.
    pub const REQ: Self = Self(0);
    /// REP.
    pub const REP: Self = Self(1);
    /// DEALER: what a zroute worker is.
    pub const DEALER: Self = Self(2);
    /// ROUTER: what the zroute router is.
    pub const ROUTER: Self = Self(3);
    /// PUB.
    pub const PUB: Self = Self(4);
    /// XPUB.
    pub const XPUB: Self = Self(5);
    /// SUB.
    pub const SUB: Self = Self(6);
    /// XSUB.
    pub const XSUB: Self = Self(7);
    /// PUSH.
    pub const PUSH: Self = Self(8);
    /// PULL.
    pub const PULL: Self = Self(9);
    /// PAIR.
    pub const PAIR: Self = Self(10);
    /// CLIENT.
    pub const CLIENT: Self = Self(11);
    /// SERVER.
    pub const SERVER: Self = Self(12);
    /// RADIO.
    pub const RADIO: Self = Self(13);
    /// DISH.
    pub const DISH: Self = Self(14);
    /// SCATTER.
    pub const SCATTER: Self = Self(15);
    /// GATHER.
    pub const GATHER: Self = Self(16);
    /// PEER.
    pub const PEER: Self = Self(17);
    /// CHANNEL.
    pub const CHANNEL: Self = Self(18);

    /// The type a `Socket-Type` value names. ABNF strings compare without
    /// case, and so does libzmq.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        NAMES
            .iter()
            .position(|n| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|i| Self(i as u8))
    }

    /// The name as the property carries it.
    pub fn name(self) -> &'static str {
        NAMES[usize::from(self.0)]
    }

    /// The peer type zroute pairs this type with: ROUTER with DEALER and
    /// DEALER with ROUTER. 37/ZMTP also allows ROUTER–ROUTER, DEALER–DEALER,
    /// REQ and REP, but the router and its workers never meet those, so a
    /// peer of another type is a misconfiguration and is refused.
    pub fn zroute_peer(self) -> Option<Self> {
        match self {
            Self::ROUTER => Some(Self::DEALER),
            Self::DEALER => Some(Self::ROUTER),
            _ => None,
        }
    }
}

impl fmt::Debug for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SocketType({})", self.name())
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(props: &[(&str, &[u8])]) -> Vec<u8> {
        let mut m = Metadata::new();
        for (n, v) in props {
            m.insert(n.to_string(), v.to_vec()).unwrap();
        }
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(out.len(), m.encoded_len());
        out
    }

    #[test]
    fn round_trips_and_looks_names_up_without_case() {
        let bytes = encoded(&[
            ("Socket-Type", b"DEALER"),
            ("Identity", b"w-1"),
            ("X-Empty", b""),
        ]);
        assert_eq!(&bytes[..16], b"\x0bSocket-Type\x00\x00\x00\x06");
        let m = Metadata::parse(Bytes::from(bytes)).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.get("socket-type").unwrap().as_ref(), b"DEALER");
        assert_eq!(m.identity().unwrap().as_ref(), b"w-1");
        assert_eq!(m.get("x-empty").unwrap().as_ref(), b"");
        assert!(m.get("Resource").is_none());
        assert!(Metadata::parse(Bytes::new()).unwrap().is_empty());
    }

    #[test]
    fn an_empty_identity_is_none() {
        let m = Metadata::parse(Bytes::from(encoded(&[("Identity", b"")]))).unwrap();
        assert_eq!(m.identity(), None);
    }

    #[test]
    fn refuses_truncation_at_every_octet() {
        let bytes = encoded(&[("Socket-Type", b"ROUTER"), ("Identity", b"abc")]);
        let boundary = 1 + 11 + 4 + 6;
        for cut in 1..bytes.len() {
            let got = Metadata::parse(Bytes::copy_from_slice(&bytes[..cut]));
            if cut == boundary {
                assert_eq!(got.unwrap().len(), 1, "a whole first property");
            } else {
                assert_eq!(got, Err(MetadataError::Truncated), "cut at {cut}");
            }
        }
    }

    #[test]
    fn refuses_bad_names_sizes_and_duplicates() {
        assert_eq!(
            Metadata::parse(Bytes::from_static(b"\x00\x00\x00\x00\x00")),
            Err(MetadataError::EmptyName)
        );
        assert!(matches!(
            Metadata::parse(Bytes::from_static(b"\x02a b\x00\x00\x00\x00")),
            Err(MetadataError::Truncated)
        ));
        assert!(matches!(
            Metadata::parse(Bytes::from_static(b"\x03a b\x00\x00\x00\x00")),
            Err(MetadataError::BadName { .. })
        ));
        assert_eq!(
            Metadata::parse(Bytes::from_static(b"\x01a\x80\x00\x00\x00")),
            Err(MetadataError::ValueTooLong { size: 0x8000_0000 })
        );
        // A value size that runs past the body.
        assert_eq!(
            Metadata::parse(Bytes::from_static(b"\x01a\x00\x00\x01\x00xyz")),
            Err(MetadataError::Truncated)
        );
        let mut twice = encoded(&[("Socket-Type", b"DEALER")]);
        twice.extend_from_slice(&encoded(&[("socket-TYPE", b"ROUTER")]));
        assert!(matches!(
            Metadata::parse(Bytes::from(twice)),
            Err(MetadataError::Duplicate { .. })
        ));
        let mut m = Metadata::new();
        assert_eq!(m.insert("", "x"), Err(MetadataError::EmptyName));
        assert!(m.insert("a".repeat(256), "x").is_err());
    }

    #[test]
    fn names_every_socket_type_of_37_zmtp() {
        for name in NAMES {
            let t = SocketType::from_name(name.as_bytes()).unwrap();
            assert_eq!(t.name(), name);
        }
        assert_eq!(SocketType::from_name(b"dealer"), Some(SocketType::DEALER));
        assert_eq!(SocketType::from_name(b"STREAM"), None);
        assert_eq!(SocketType::ROUTER.zroute_peer(), Some(SocketType::DEALER));
        assert_eq!(SocketType::DEALER.zroute_peer(), Some(SocketType::ROUTER));
        assert_eq!(SocketType::PUB.zroute_peer(), None);
    }
}
