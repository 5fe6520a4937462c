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

    /// Adds a pair that the caller has already checked, or that is valid by
    /// construction: the HTTP mapping's names come from `http::HeaderName`
    /// (lowercase tokens, unique in their map) or are the spec's
    /// pseudo-header constants, and its values from `http::HeaderValue`,
    /// which holds no CR, LF or NUL. The checks run in debug builds.
    pub(crate) fn push_valid(&mut self, name: Bytes, value: Bytes) {
        debug_assert!(
            check_name(&name).is_ok() && check_value(&value).is_ok() && self.get(&name).is_none(),
            "an invalid pair pushed unchecked: {name:?} {value:?}"
        );
        self.entries.push((name, value));
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
    // One table lookup per byte on the path every block takes; which rule
    // was broken is worked out only for a name that breaks one.
    if body.iter().all(|&b| NAME_BYTE[usize::from(b)]) {
        return Ok(());
    }
    if body.iter().any(u8::is_ascii_uppercase) {
        return Err(HeaderBlockError::UppercaseName);
    }
    Err(HeaderBlockError::InvalidName)
}

/// RFC 9110 `tchar`, less the uppercase letters that a block may not carry.
const NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_lowercase() || c.is_ascii_digit();
        b += 1;
    }
    let symbols = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < symbols.len() {
        table[symbols[i] as usize] = true;
        i += 1;
    }
    table
};

fn check_value(value: &[u8]) -> Result<(), HeaderBlockError> {
    // One pass, without an early exit so that it compiles to vector code:
    // CR or LF anywhere is refused; a NUL sends the value to the segment
    // check below.
    let (mut line_break, mut nul) = (0u8, 0u8);
    for &b in value {
        line_break |= u8::from(b == b'\r') | u8::from(b == b'\n');
        nul |= u8::from(b == 0);
    }
    if line_break != 0 {
        return Err(HeaderBlockError::InvalidValue);
    }
    // A whole value may be empty; a NUL-joined one may not have an empty segment.
    if nul != 0 && value.split(|&b| b == 0).any(<[u8]>::is_empty) {
        return Err(HeaderBlockError::InvalidValue);
    }
    Ok(())
}

/// Up to this many names, duplicates are looked for pair by pair, which
/// costs less than collecting and sorting them.
const PAIRWISE_UNIQUE: usize = 24;

fn check_unique(entries: &[(Bytes, Bytes)]) -> Result<(), HeaderBlockError> {
    if entries.len() <= PAIRWISE_UNIQUE {
        for (i, (name, _)) in entries.iter().enumerate() {
            if entries[i + 1..].iter().any(|(other, _)| other == name) {
                return Err(HeaderBlockError::DuplicateName);
            }
        }
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
