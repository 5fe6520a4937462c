//! WebSocket message records ([spec](../../spec/PROTOCOL.md#websocket-records)).
//!
//! After a worker accepts a WebSocket stream with 101, the DATA of both
//! directions carry a sequence of records, one per whole message:
//!
//! ```text
//! +---------------+-----------------------------------------------+
//! |   Kind (8)    |                Length (32) ...                |
//! +---------------+-----------------------------------------------+
//! |  ... Length   |             Payload (Length bytes)        ... |
//! +---------------+-----------------------------------------------+
//! ```
//!
//! Records ignore DATA frame boundaries, so flow control splits them where
//! the window says, as it splits any body.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A record's kind: the RFC 6455 opcode of the message it carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordKind(pub u8);

impl RecordKind {
    /// A text message: the payload is UTF-8.
    pub const TEXT: Self = Self(0x01);
    /// A binary message.
    pub const BINARY: Self = Self(0x02);
    /// The sender closes: empty, or a close code and a UTF-8 reason.
    pub const CLOSE: Self = Self(0x08);

    fn is_known(self) -> bool {
        matches!(self, Self::TEXT | Self::BINARY | Self::CLOSE)
    }
}

impl fmt::Debug for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TEXT => f.write_str("TEXT"),
            Self::BINARY => f.write_str("BINARY"),
            Self::CLOSE => f.write_str("CLOSE"),
            Self(other) => write!(f, "RecordKind({other:#04x})"),
        }
    }
}

/// The kind byte and the 32-bit length.
pub const HEADER_LEN: usize = 5;

/// A close record's reason is at most this long, as in a close frame (RFC 6455 §5.5).
pub const MAX_CLOSE_REASON: usize = 123;

/// Close codes of RFC 6455 §7.4 that the spec names.
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const INVALID_DATA: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;
}

/// Whether `code` may travel in a close record: the codes RFC 6455 lets an
/// endpoint send (1000–1003, 1007–1014, 3000–4999). 1005 and 1006 mean "no
/// code" and "no close" and are never sent; their absence says it.
pub fn is_sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// One whole message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub kind: RecordKind,
    pub payload: Bytes,
}

impl Record {
    pub fn text(text: impl Into<Bytes>) -> Self {
        Self {
            kind: RecordKind::TEXT,
            payload: text.into(),
        }
    }

    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self {
            kind: RecordKind::BINARY,
            payload: data.into(),
        }
    }

    /// A close record: `None` sends no code; a reason is cut to fit at a
    /// character boundary.
    pub fn close(code: Option<u16>, reason: &str) -> Self {
        let mut payload = BytesMut::new();
        if let Some(code) = code {
            payload.put_u16(code);
            let mut end = reason.len().min(MAX_CLOSE_REASON);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            payload.put_slice(&reason.as_bytes()[..end]);
        }
        Self {
            kind: RecordKind::CLOSE,
            payload: payload.freeze(),
        }
    }

    /// A close record's code and reason; `None` for a close without a code.
    /// Only for records a [`RecordReader`] returned (it checks them).
    pub fn close_reason(&self) -> Option<(u16, &str)> {
        let code = u16::from_be_bytes([*self.payload.first()?, *self.payload.get(1)?]);
        let reason = std::str::from_utf8(&self.payload[2..]).unwrap_or_default();
        Some((code, reason))
    }

    /// The record as bytes: header then payload.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(HEADER_LEN + self.payload.len());
        out.put_slice(&header(self.kind, self.payload.len()));
        out.put_slice(&self.payload);
        out.freeze()
    }
}

/// A record's header, for a sender that writes the payload apart.
///
/// # Panics
/// If `len` does not fit 32 bits; callers bound messages far below that.
pub fn header(kind: RecordKind, len: usize) -> [u8; HEADER_LEN] {
    let len = u32::try_from(len).expect("a record is under 4 GiB");
    let [a, b, c, d] = len.to_be_bytes();
    [kind.0, a, b, c, d]
}

/// A record that breaks the spec's rules: a stream error for its receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    UnknownKind(u8),
    /// Longer than the receiver's maximum message size.
    TooLarge {
        len: u64,
        max: usize,
    },
    /// A TEXT payload or a close reason that is not UTF-8.
    InvalidUtf8,
    /// A close payload of one byte, a code that may not be sent, or a reason over 123 bytes.
    InvalidClose,
    /// The direction ended (FIN) inside a record.
    Truncated,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKind(k) => write!(f, "unknown record kind {k:#04x}"),
            Self::TooLarge { len, max } => {
                write!(f, "a {len}-byte message, over the maximum of {max}")
            }
            Self::InvalidUtf8 => f.write_str("a text message or close reason that is not UTF-8"),
            Self::InvalidClose => f.write_str("an invalid close record"),
            Self::Truncated => f.write_str("the direction ended inside a record"),
        }
    }
}

impl std::error::Error for RecordError {}

/// Reassembles records from DATA payloads, holding at most one record.
///
/// A record's size is checked when its header arrives, before its payload is
/// held, so memory stays under `HEADER_LEN + max` whatever a peer sends.
#[derive(Debug)]
pub struct RecordReader {
    buf: BytesMut,
    max: usize,
}

impl RecordReader {
    /// `max`: the largest payload accepted.
    pub fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max,
        }
    }

    /// Adds the payload of one DATA frame.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole record, if one has arrived.
    pub fn next_record(&mut self) -> Result<Option<Record>, RecordError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let kind = RecordKind(self.buf[0]);
        if !kind.is_known() {
            return Err(RecordError::UnknownKind(kind.0));
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.max {
            return Err(RecordError::TooLarge {
                len: len as u64,
                max: self.max,
            });
        }
        if self.buf.len() < HEADER_LEN + len {
            self.buf.reserve(HEADER_LEN + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        let payload = self.buf.split_to(len).freeze();
        check(kind, &payload)?;
        Ok(Some(Record { kind, payload }))
    }

    /// At the direction's end (FIN): an error if a record was cut short.
    pub fn finish(&self) -> Result<(), RecordError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(RecordError::Truncated)
        }
    }
}

fn check(kind: RecordKind, payload: &[u8]) -> Result<(), RecordError> {
    match kind {
        RecordKind::TEXT => std::str::from_utf8(payload)
            .map(drop)
            .map_err(|_| RecordError::InvalidUtf8),
        RecordKind::CLOSE => match payload {
            [] => Ok(()),
            [_] => Err(RecordError::InvalidClose),
            [hi, lo, reason @ ..] => {
                if !is_sendable_close_code(u16::from_be_bytes([*hi, *lo]))
                    || reason.len() > MAX_CLOSE_REASON
                {
                    return Err(RecordError::InvalidClose);
                }
                std::str::from_utf8(reason)
                    .map(drop)
                    .map_err(|_| RecordError::InvalidUtf8)
            }
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(parts: &[&[u8]], max: usize) -> Result<Vec<Record>, RecordError> {
        let mut reader = RecordReader::new(max);
        let mut out = Vec::new();
        for part in parts {
            reader.push(part);
            while let Some(record) = reader.next_record()? {
                out.push(record);
            }
        }
        reader.finish()?;
        Ok(out)
    }

    #[test]
    fn records_span_and_share_data_frames() {
        let mut bytes = Record::text("héllo").encode().to_vec();
        bytes.extend_from_slice(&Record::binary(vec![0u8, 1, 2]).encode());
        bytes.extend_from_slice(&Record::close(Some(1000), "bye").encode());
        // Every split point: flow control may cut anywhere.
        for cut in 0..=bytes.len() {
            let records = read_all(&[&bytes[..cut], &bytes[cut..]], 1 << 20).unwrap();
            assert_eq!(records.len(), 3, "cut at {cut}");
            assert_eq!(records[0], Record::text("héllo"));
            assert_eq!(records[2].close_reason(), Some((1000, "bye")));
        }
    }

    #[test]
    fn size_is_refused_from_the_header_alone() {
        let header = header(RecordKind::BINARY, 1001);
        assert_eq!(
            read_all(&[&header], 1000),
            Err(RecordError::TooLarge {
                len: 1001,
                max: 1000
            })
        );
        assert!(read_all(&[&Record::binary(vec![7u8; 1000]).encode()], 1000).is_ok());
    }

    #[test]
    fn bad_records_are_errors() {
        assert_eq!(
            read_all(&[&[0x09, 0, 0, 0, 0]], 10),
            Err(RecordError::UnknownKind(9))
        );
        assert_eq!(
            read_all(&[&[0x01, 0, 0, 0, 1, 0xff]], 10),
            Err(RecordError::InvalidUtf8)
        );
        for close in [&[0x08, 0, 0, 0, 1, 3][..], &[0x08, 0, 0, 0, 2, 0x03, 0xed]] {
            assert_eq!(read_all(&[close], 10), Err(RecordError::InvalidClose));
        }
        assert_eq!(read_all(&[&[0x01, 0, 0]], 10), Err(RecordError::Truncated));
    }

    #[test]
    fn close_reasons_are_cut_at_a_character() {
        let long = "é".repeat(100);
        let record = Record::close(Some(1001), &long);
        let (code, reason) = record.close_reason().unwrap();
        assert_eq!(code, 1001);
        assert!(reason.len() <= MAX_CLOSE_REASON && reason.chars().all(|c| c == 'é'));
        assert_eq!(Record::close(None, "ignored").payload.len(), 0);
    }

    #[test]
    fn sendable_codes() {
        for ok in [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert!(is_sendable_close_code(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 2000, 5000] {
            assert!(!is_sendable_close_code(bad), "{bad}");
        }
    }
}
