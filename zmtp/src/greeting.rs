//! The greeting: 23/ZMTP and 37/ZMTP, "Formal Grammar" and "Version
//! Negotiation".
//!
//! ```text
//! greeting  = signature version mechanism as-server filler   ; 64 octets
//! signature = %xFF padding %x7F    ; padding: 8 octets, not significant
//! version   = version-major version-minor                   ; %x03 %x01
//! mechanism = 20mechanism-char     ; ASCII, NUL-padded
//! as-server = %x00 | %x01
//! filler    = 31%x00
//! ```
//!
//! We demand ZMTP 3 (the RFC's "second case"): we send all 64 octets at once
//! and expect 64 back. A peer below 3.0 is refused as soon as its major
//! version arrives (octet 10), so a ZMTP 1.0 or 2.0 peer, which never sends
//! 64 octets, is not waited for. The RFC forbids reading meaning into the
//! padding (libzmq puts a 1 in its last octet), so it is not checked.

use std::fmt;

use bytes::BufMut;

use crate::error::GreetingError;

/// Length of a ZMTP 3 greeting.
pub const GREETING_LEN: usize = 64;

const SIGNATURE_START: u8 = 0xFF;
const SIGNATURE_END: u8 = 0x7F;
const MAJOR_AT: usize = 10;
/// The signature and the major version: the part of a greeting a peer may
/// send first and wait on (37/ZMTP, "Version Negotiation").
pub(crate) const OPENING_LEN: usize = MAJOR_AT + 1;
const MINOR_AT: usize = 11;
const MECHANISM_AT: usize = 12;
const MECHANISM_LEN: usize = 20;
const AS_SERVER_AT: usize = MECHANISM_AT + MECHANISM_LEN;

/// A security mechanism name as the greeting carries it: 20 octets of ASCII,
/// NUL-padded (37/ZMTP, "Authentication and Confidentiality").
///
/// Names are compared octet for octet: "If the mechanism that the peer
/// received does not exactly match the mechanism it sent, it MUST close the
/// connection."
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mechanism([u8; MECHANISM_LEN]);

impl Mechanism {
    /// No authentication, no confidentiality (37/ZMTP, "The NULL Security
    /// Mechanism").
    pub const NULL: Self = Self::from_static(b"NULL");
    /// User name and password in clear text (24/ZMTP-PLAIN).
    pub const PLAIN: Self = Self::from_static(b"PLAIN");
    /// CurveZMQ (25/ZMTP-CURVE).
    pub const CURVE: Self = Self::from_static(b"CURVE");

    const fn from_static(name: &[u8]) -> Self {
        assert!(name.len() <= MECHANISM_LEN);
        let mut raw = [0; MECHANISM_LEN];
        let mut i = 0;
        while i < name.len() {
            raw[i] = name[i];
            i += 1;
        }
        Self(raw)
    }

    /// The mechanism as the 20 octets of a greeting carry it.
    pub fn from_bytes(raw: [u8; MECHANISM_LEN]) -> Self {
        Self(raw)
    }

    /// The 20 octets, padding included.
    pub fn as_bytes(&self) -> &[u8; MECHANISM_LEN] {
        &self.0
    }

    /// The name without its NUL padding.
    pub fn name(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(MECHANISM_LEN);
        &self.0[..end]
    }
}

impl fmt::Debug for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mechanism({self})")
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A peer's mechanism is untrusted: escape it for logs.
        write!(f, "{}", self.name().escape_ascii())
    }
}

/// A ZMTP protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// The major version (3 for ZMTP 3.x).
    pub major: u8,
    /// The minor version.
    pub minor: u8,
}

impl Version {
    /// ZMTP 3.0 (23/ZMTP).
    pub const V3_0: Self = Self { major: 3, minor: 0 };
    /// ZMTP 3.1 (37/ZMTP), the version we send.
    pub const V3_1: Self = Self { major: 3, minor: 1 };

    /// Whether a peer of this version understands PING and PONG, which
    /// 37/ZMTP added ("Connection Heartbeating").
    pub fn has_heartbeats(self) -> bool {
        self >= Self::V3_1
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A decoded or to-be-sent greeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Greeting {
    version: Version,
    mechanism: Mechanism,
    as_server: bool,
}

impl Greeting {
    /// Our greeting: ZMTP 3.1 with this mechanism and as-server flag.
    pub fn new(mechanism: Mechanism, as_server: bool) -> Self {
        Self {
            version: Version::V3_1,
            mechanism,
            as_server,
        }
    }

    /// The version announced.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The mechanism announced.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The as-server flag.
    pub fn as_server(&self) -> bool {
        self.as_server
    }

    /// Writes the 64 octets, padding and filler zero.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(SIGNATURE_START);
        out.put_bytes(0, 8);
        out.put_u8(SIGNATURE_END);
        out.put_u8(self.version.major);
        out.put_u8(self.version.minor);
        out.put_slice(self.mechanism.as_bytes());
        out.put_u8(u8::from(self.as_server));
        out.put_bytes(0, GREETING_LEN - AS_SERVER_AT - 1);
    }

    /// Decodes a whole greeting, for callers (and fuzz targets) that hold
    /// one: `bytes` must be at least 64 octets; the rest is not looked at.
    pub fn decode(bytes: &[u8], expected: Mechanism) -> Result<Self, GreetingError> {
        let mut decoder = GreetingDecoder::new(expected);
        let mut input = bytes;
        decoder
            .decode(&mut input)?
            .ok_or(GreetingError::Truncated { len: bytes.len() })
    }
}

/// Decodes a peer's greeting as its octets arrive, in any split.
///
/// Each octet is checked as soon as it is in, so a bad signature, an old
/// version or a wrong mechanism is refused without waiting for the rest.
#[derive(Clone, Debug)]
pub struct GreetingDecoder {
    expected: Mechanism,
    buf: [u8; GREETING_LEN],
    len: usize,
}

impl GreetingDecoder {
    /// A decoder that accepts only `expected` as the peer's mechanism.
    pub fn new(expected: Mechanism) -> Self {
        Self {
            expected,
            buf: [0; GREETING_LEN],
            len: 0,
        }
    }

    /// Octets received so far.
    pub fn received(&self) -> usize {
        self.len
    }

    /// Takes octets from the front of `input`, never past the end of the
    /// greeting, and returns the greeting once all 64 octets are in.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Greeting>, GreetingError> {
        while self.len < GREETING_LEN {
            let Some((&byte, rest)) = input.split_first() else {
                return Ok(None);
            };
            *input = rest;
            self.buf[self.len] = byte;
            self.len += 1;
            self.check_last()?;
        }
        let mut raw = [0; MECHANISM_LEN];
        raw.copy_from_slice(&self.buf[MECHANISM_AT..AS_SERVER_AT]);
        Ok(Some(Greeting {
            version: Version {
                major: self.buf[MAJOR_AT],
                minor: self.buf[MINOR_AT],
            },
            mechanism: Mechanism(raw),
            // NULL gives as-server no meaning and libzmq does not check it;
            // any non-zero octet reads as set.
            as_server: self.buf[AS_SERVER_AT] != 0,
        }))
    }

    /// Checks the octet just received, as far as the octets so far allow.
    fn check_last(&self) -> Result<(), GreetingError> {
        let at = self.len - 1;
        let byte = self.buf[at];
        match at {
            0 if byte != SIGNATURE_START => Err(GreetingError::BadSignature),
            9 if byte != SIGNATURE_END => Err(GreetingError::BadSignature),
            // "A peer MUST accept higher protocol versions as valid."
            MAJOR_AT if byte < 3 => Err(GreetingError::UnsupportedVersion { major: byte }),
            _ if at + 1 == AS_SERVER_AT => {
                let mut raw = [0; MECHANISM_LEN];
                raw.copy_from_slice(&self.buf[MECHANISM_AT..AS_SERVER_AT]);
                let peer = Mechanism(raw);
                if peer == self.expected {
                    Ok(())
                } else {
                    Err(GreetingError::MechanismMismatch {
                        ours: self.expected,
                        peer,
                    })
                }
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> Vec<u8> {
        let mut out = Vec::new();
        Greeting::new(Mechanism::NULL, false).encode(&mut out);
        out
    }

    /// Feeds `bytes` in pieces cut at `cuts`, returning the first result
    /// that is an error or a greeting.
    fn feed_split(bytes: &[u8], cut: usize) -> Result<Option<Greeting>, GreetingError> {
        let mut decoder = GreetingDecoder::new(Mechanism::NULL);
        let (a, b) = bytes.split_at(cut.min(bytes.len()));
        for mut piece in [a, b] {
            if let Some(g) = decoder.decode(&mut piece)? {
                return Ok(Some(g));
            }
        }
        Ok(None)
    }

    #[test]
    fn encodes_the_64_octets_of_37_zmtp() {
        let g = ours();
        assert_eq!(g.len(), GREETING_LEN);
        assert_eq!(&g[..10], &[0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F]);
        assert_eq!(&g[10..12], &[3, 1]);
        assert_eq!(&g[12..16], b"NULL");
        assert!(
            g[16..].iter().all(|&b| b == 0),
            "mechanism padding, as-server 0, filler"
        );
        let mut server = Vec::new();
        Greeting::new(Mechanism::CURVE, true).encode(&mut server);
        assert_eq!(server[32], 1);
        assert_eq!(&server[12..17], b"CURVE");
    }

    #[test]
    fn decodes_the_same_in_any_split_and_one_octet_at_a_time() {
        let mut bytes = ours();
        bytes.extend_from_slice(b"next frame");
        let want = Greeting::new(Mechanism::NULL, false);
        for cut in 0..=bytes.len() {
            assert_eq!(feed_split(&bytes, cut).unwrap(), Some(want), "cut at {cut}");
        }
        let mut decoder = GreetingDecoder::new(Mechanism::NULL);
        let mut got = None;
        for (i, byte) in bytes.iter().enumerate() {
            let mut one = std::slice::from_ref(byte);
            if let Some(g) = decoder.decode(&mut one).unwrap() {
                assert_eq!(i, GREETING_LEN - 1, "complete at the 64th octet");
                got = Some(g);
                break;
            }
            assert!(one.is_empty(), "every octet before the end is consumed");
        }
        assert_eq!(got, Some(want));
    }

    #[test]
    fn stops_at_the_end_of_the_greeting() {
        let mut bytes = ours();
        bytes.extend_from_slice(&[0x00, 0x03, b'a', b'b', b'c']);
        let mut input = &bytes[..];
        let mut decoder = GreetingDecoder::new(Mechanism::NULL);
        assert!(decoder.decode(&mut input).unwrap().is_some());
        assert_eq!(input, &[0x00, 0x03, b'a', b'b', b'c']);
    }

    #[test]
    fn accepts_3_0_and_later_versions_and_ignores_the_padding() {
        for (major, minor) in [(3, 0), (3, 1), (3, 7), (4, 0)] {
            let mut bytes = ours();
            bytes[10] = major;
            bytes[11] = minor;
            // libzmq sends 1 in the last padding octet (ZMTP 1.0 detection).
            bytes[8] = 1;
            let g = Greeting::decode(&bytes, Mechanism::NULL).unwrap();
            assert_eq!(g.version(), Version { major, minor });
        }
        assert!(!Version::V3_0.has_heartbeats());
        assert!(Version::V3_1.has_heartbeats());
    }

    #[test]
    fn refuses_a_bad_signature_at_once() {
        let mut bytes = ours();
        bytes[0] = 0x00;
        let mut input = &bytes[..];
        let mut decoder = GreetingDecoder::new(Mechanism::NULL);
        assert_eq!(decoder.decode(&mut input), Err(GreetingError::BadSignature));
        assert_eq!(decoder.received(), 1, "refused at the first octet");

        let mut bytes = ours();
        bytes[9] = 0x01;
        for cut in 0..=bytes.len() {
            assert_eq!(feed_split(&bytes, cut), Err(GreetingError::BadSignature));
        }
    }

    #[test]
    fn refuses_version_2_without_waiting_for_64_octets() {
        // A ZMTP 2.0 peer: signature, revision 1, socket type, then it waits.
        let v2 = [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0x01, 0x05];
        let mut input = &v2[..];
        let mut decoder = GreetingDecoder::new(Mechanism::NULL);
        assert_eq!(
            decoder.decode(&mut input),
            Err(GreetingError::UnsupportedVersion { major: 1 })
        );
        let mut bytes = ours();
        bytes[10] = 2;
        for cut in 0..=bytes.len() {
            assert_eq!(
                feed_split(&bytes, cut),
                Err(GreetingError::UnsupportedVersion { major: 2 })
            );
        }
    }

    #[test]
    fn refuses_another_or_an_unknown_mechanism() {
        let mut curve = Vec::new();
        Greeting::new(Mechanism::CURVE, true).encode(&mut curve);
        assert_eq!(
            Greeting::decode(&curve, Mechanism::NULL),
            Err(GreetingError::MechanismMismatch {
                ours: Mechanism::NULL,
                peer: Mechanism::CURVE
            })
        );
        let mut odd = ours();
        odd[12..16].copy_from_slice(b"NUL\xff");
        let err = Greeting::decode(&odd, Mechanism::NULL).unwrap_err();
        assert!(matches!(err, GreetingError::MechanismMismatch { .. }));
        assert_eq!(
            err.to_string(),
            r#"peer's mechanism "NUL\xff" is not ours, "NULL""#
        );
        // "NULL" followed by garbage instead of NUL padding is another name.
        let mut long = ours();
        long[16] = b'X';
        for cut in 0..=long.len() {
            assert!(matches!(
                feed_split(&long, cut),
                Err(GreetingError::MechanismMismatch { .. })
            ));
        }
    }

    #[test]
    fn reports_a_short_greeting_as_truncated() {
        let bytes = ours();
        assert_eq!(
            Greeting::decode(&bytes[..63], Mechanism::NULL),
            Err(GreetingError::Truncated { len: 63 })
        );
        assert_eq!(feed_split(&bytes[..40], 20), Ok(None));
    }
}
