//! The SPDY/3 name/value block, uncompressed ([spec](../../spec/PROTOCOL.md#header-block)).
//!
//! ```text
//! +------------------------------------+
//! | Number of Name/Value pairs (int32) |
//! +------------------------------------+
//! |     Length of name (int32)         |
//! +------------------------------------+
//! |           Name (string)            |
//! +------------------------------------+
//! |     Length of value  (int32)       |
//! +------------------------------------+
//! |          Value   (string)          |  NUL separates multiple values
//! +------------------------------------+
//! |           (repeats)                |
//! ```

use std::fmt;

use bytes::{BufMut, Bytes};

use super::HeaderBlockError;
use super::head::be_u32;

/// An ordered list of unique, lowercase names with their values.
///
/// Every constructor enforces the spec's syntax rules, so a `HeaderBlock`
/// always encodes to a block the peer will accept.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderBlock {
    entries: Vec<(Bytes, Bytes)>,
}

impl HeaderBlock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Self {
            entries: Vec::with_capacity(n),
        }
    }

    /// Builds a block from distinct names, checking each pair.
    pub fn from_pairs<N, V>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Self, HeaderBlockError>
    where
        N: Into<Bytes>,
        V: Into<Bytes>,
    {
        let mut block = Self::new();
        for (name, value) in pairs {
            block.insert(name, value)?;
        }
        Ok(block)
    }

    /// Adds a name that is not in the block yet.
    pub fn insert(
        &mut self,
        name: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<(), HeaderBlockError> {
        let (name, value) = (name.into(), value.into());
        check_name(&name)?;
        check_value(&value)?;
        if self.get(&name).is_some() {
            return Err(HeaderBlockError::DuplicateName);
        }
        self.entries.push((name, value));
        Ok(())
    }

    /// Adds one more value for `name`, joining it to any earlier ones with NUL.
    pub fn append(
        &mut self,
        name: impl Into<Bytes>,
        value: impl AsRef<[u8]>,
    ) -> Result<(), HeaderBlockError> {
        let name = name.into();
        let value = value.as_ref();
        if value.contains(&0) {
            return Err(HeaderBlockError::InvalidValue);
        }
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                if existing.is_empty() || value.is_empty() {
                    // An empty segment cannot be told apart from a missing one.
                    return Err(HeaderBlockError::InvalidValue);
                }
                check_value(value)?;
                let mut joined = Vec::with_capacity(existing.len() + 1 + value.len());
                joined.extend_from_slice(existing);
                joined.push(0);
                joined.extend_from_slice(value);
                *existing = joined.into();
                Ok(())
            }
            None => self.insert(name, Bytes::copy_from_slice(value)),
        }
    }

    /// The raw value of `name`, NUL separators included.
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&Bytes> {
        let name = name.as_ref();
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Each of `name`'s values, split at NUL.
    pub fn values(&self, name: impl AsRef<[u8]>) -> impl Iterator<Item = &[u8]> {
        self.get(name)
            .into_iter()
            .flat_map(|v| v.split(|b| *b == 0))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Bytes, &Bytes)> {
        self.entries.iter().map(|(n, v)| (n, v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn encoded_len(&self) -> usize {
        4 + self
            .entries
            .iter()
            .map(|(n, v)| 8 + n.len() + v.len())
            .sum::<usize>()
    }

    pub(crate) fn encode(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.entries.len() as u32);
        for (name, value) in &self.entries {
            dst.put_u32(name.len() as u32);
            dst.put_slice(name);
            dst.put_u32(value.len() as u32);
            dst.put_slice(value);
        }
    }

    /// Decodes a block that must span all of `buf`. Names and values are
    /// slices of `buf`, not copies.
    pub(crate) fn decode(buf: Bytes) -> Result<Self, HeaderBlockError> {
        if buf.len() < 4 {
            return Err(HeaderBlockError::Truncated);
        }
        let count = be_u32(&buf, 0) as usize;
        // Each pair takes at least 8 bytes: refuse to allocate for a lie.
        if count > (buf.len() - 4) / 8 {
            return Err(HeaderBlockError::CountTooLarge);
        }
        let mut entries = Vec::with_capacity(count);
        let mut at = 4;
        let take = |at: &mut usize| -> Result<Bytes, HeaderBlockError> {
            if buf.len() - *at < 4 {
                return Err(HeaderBlockError::Truncated);
            }
            let len = be_u32(&buf, *at) as usize;
            *at += 4;
            if buf.len() - *at < len {
                return Err(HeaderBlockError::Truncated);
            }
            let s = buf.slice(*at..*at + len);
            *at += len;
            Ok(s)
        };
        for _ in 0..count {
            let name = take(&mut at)?;
            check_name(&name)?;
            let value = take(&mut at)?;
            check_value(&value)?;
            entries.push((name, value));
        }
        if at != buf.len() {
            return Err(HeaderBlockError::TrailingBytes);
        }
        check_unique(&entries)?;
        Ok(Self { entries })
    }
}

fn check_name(name: &[u8]) -> Result<(), HeaderBlockError> {
    let body = match name {
        [] => return Err(HeaderBlockError::EmptyName),
        [b':', rest @ ..] => rest,
        _ => name,
    };
    if body.is_empty() {
        return Err(HeaderBlockError::InvalidName);
    }
    if body.iter().any(u8::is_ascii_uppercase) {
        return Err(HeaderBlockError::UppercaseName);
    }
    if !body.iter().all(|&b| is_token_byte(b)) {
        return Err(HeaderBlockError::InvalidName);
    }
    Ok(())
}

/// RFC 9110 `tchar`, with uppercase letters already refused.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn check_value(value: &[u8]) -> Result<(), HeaderBlockError> {
    if value.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(HeaderBlockError::InvalidValue);
    }
    // A whole value may be empty; a NUL-joined one may not have an empty segment.
    if value.contains(&0) && value.split(|&b| b == 0).any(<[u8]>::is_empty) {
        return Err(HeaderBlockError::InvalidValue);
    }
    Ok(())
}

fn check_unique(entries: &[(Bytes, Bytes)]) -> Result<(), HeaderBlockError> {
    if entries.len() < 2 {
        return Ok(());
    }
    let mut names: Vec<&[u8]> = entries.iter().map(|(n, _)| n.as_ref()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(HeaderBlockError::DuplicateName);
    }
    Ok(())
}

impl fmt::Debug for HeaderBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.entries
                    .iter()
                    .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}
