//! Frames: 37/ZMTP, "Framing".
//!
//! ```text
//! flags (1 octet) | size (1 octet, or 8 if LONG, network order) | body
//!
//! bit 7-3  reserved, MUST be zero
//! bit 2    COMMAND  the frame is a command
//! bit 1    LONG     the size is 8 octets
//! bit 0    MORE     more frames of the message follow; zero on commands
//! ```
//!
//! A message is frames joined by MORE. [`FrameDecoder`] checks each frame's
//! announced size against the [`Limits`] when its header is complete, before
//! a single octet of the body is buffered.

use std::fmt;
use std::ops::BitOr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::FrameError;
use crate::limits::Limits;

/// The flags octet of a frame.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// No flag: the last (or only) frame of a message.
    pub const NONE: Self = Self(0);
    /// Bit 0: more frames of this message follow.
    pub const MORE: Self = Self(0x01);
    /// Bit 1: the size field is 8 octets.
    pub const LONG: Self = Self(0x02);
    /// Bit 2: the frame is a command.
    pub const COMMAND: Self = Self(0x04);
    const RESERVED: u8 = 0xF8;

    /// The flags of an octet as received.
    pub fn from_bits(bits: u8) -> Self {
        Self(bits)
    }

    /// The octet.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether more frames of the message follow.
    pub fn is_more(self) -> bool {
        self.contains(Self::MORE)
    }

    /// Whether the size field is 8 octets.
    pub fn is_long(self) -> bool {
        self.contains(Self::LONG)
    }

    /// Whether the frame is a command.
    pub fn is_command(self) -> bool {
        self.contains(Self::COMMAND)
    }
}

impl BitOr for Flags {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:#04x}", self.0)?;
        for (flag, name) in [
            (Self::MORE, " MORE"),
            (Self::LONG, " LONG"),
            (Self::COMMAND, " COMMAND"),
        ] {
            if self.contains(flag) {
                f.write_str(name)?;
            }
        }
        f.write_str(")")
    }
}

/// A whole frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    flags: Flags,
    body: Bytes,
}

impl Frame {
    /// Whether it is a command frame.
    pub fn is_command(&self) -> bool {
        self.flags.is_command()
    }

    /// Whether more frames of its message follow.
    pub fn is_more(&self) -> bool {
        self.flags.is_more()
    }

    /// The flags as received (LONG tells how the size was written).
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body, by value.
    pub fn into_body(self) -> Bytes {
        self.body
    }
}

/// Writes a frame header; the caller appends `size` octets of body.
///
/// Bodies up to 255 octets get the short size field and larger ones LONG,
/// as 37/ZMTP says a sender SHOULD.
pub fn put_header(out: &mut impl BufMut, kind: Flags, more: bool, size: usize) {
    let mut flags = kind;
    if more {
        flags = flags | Flags::MORE;
    }
    match u8::try_from(size) {
        Ok(short) => {
            out.put_u8(flags.bits());
            out.put_u8(short);
        }
        Err(_) => {
            out.put_u8((flags | Flags::LONG).bits());
            out.put_u64(size as u64);
        }
    }
}

/// Length of the header [`put_header`] writes for a body of `size` octets.
pub fn header_len(size: usize) -> usize {
    if size <= usize::from(u8::MAX) { 2 } else { 9 }
}

/// Writes one message frame.
pub fn put_message_frame(out: &mut BytesMut, body: &[u8], more: bool) {
    out.reserve(header_len(body.len()) + body.len());
    put_header(out, Flags::NONE, more, body.len());
    out.put_slice(body);
}

#[derive(Clone, Debug)]
enum State {
    /// Reading the flags octet and the size field: `have` octets of `head`.
    Header { head: [u8; 9], have: usize },
    /// Reading `size` octets of body into `buf`.
    Body { flags: Flags, size: usize },
}

/// Decodes frames as their octets arrive, in any split, within [`Limits`].
///
/// It also tracks the message in progress (parts and octets so far, across
/// MORE), because the message bounds are checked at each frame header.
/// Command frames may come between the frames of a message and count
/// towards neither message bound.
#[derive(Debug)]
pub struct FrameDecoder {
    limits: Limits,
    state: State,
    // Bodies are split off this buffer, so small frames share allocations.
    buf: BytesMut,
    msg_parts: usize,
    msg_bytes: u64,
}

// Small bodies are gathered in chunks of this size so that a run of small
// frames costs one allocation, not one each.
const CHUNK: usize = 8 << 10;

impl FrameDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: State::Header {
                head: [0; 9],
                have: 0,
            },
            buf: BytesMut::new(),
            msg_parts: 0,
            msg_bytes: 0,
        }
    }

    /// Octets of the frame in progress held so far.
    pub fn buffered(&self) -> usize {
        match &self.state {
            State::Header { have, .. } => *have,
            State::Body { .. } => self.buf.len(),
        }
    }

    /// Whether a message is in progress (a frame with MORE was the last
    /// message frame).
    pub fn in_message(&self) -> bool {
        self.msg_parts > 0
    }

    /// Takes octets from the front of `input`, never past the end of one
    /// frame, and returns the frame once it is complete.
    ///
    /// After an error the decoder is in an unspecified state: drop it.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Frame>, FrameError> {
        loop {
            match &mut self.state {
                State::Header { head, have } => {
                    let need = if *have >= 1 && Flags(head[0]).is_long() {
                        9
                    } else {
                        2
                    };
                    if *have == 0 {
                        // The flags alone can be refused: do it before
                        // reading a size that may be 8 octets.
                        let Some((&first, rest)) = input.split_first() else {
                            return Ok(None);
                        };
                        check_flags(Flags(first))?;
                        head[0] = first;
                        *have = 1;
                        *input = rest;
                        continue;
                    }
                    let take = (need - *have).min(input.len());
                    head[*have..*have + take].copy_from_slice(&input[..take]);
                    *have += take;
                    *input = &input[take..];
                    if *have < need {
                        return Ok(None);
                    }
                    let flags = Flags(head[0]);
                    let size = if flags.is_long() {
                        let mut raw = [0; 8];
                        raw.copy_from_slice(&head[1..9]);
                        u64::from_be_bytes(raw)
                    } else {
                        u64::from(head[1])
                    };
                    let size = self.check_size(flags, size)?;
                    self.state = State::Body { flags, size };
                    if self.buf.capacity() - self.buf.len() < size {
                        self.buf.reserve(size.max(CHUNK));
                    }
                }
                State::Body { flags, size } => {
                    let (flags, size) = (*flags, *size);
                    let take = (size - self.buf.len()).min(input.len());
                    self.buf.extend_from_slice(&input[..take]);
                    *input = &input[take..];
                    if self.buf.len() < size {
                        return Ok(None);
                    }
                    let body = self.buf.split_to(size).freeze();
                    self.state = State::Header {
                        head: [0; 9],
                        have: 0,
                    };
                    if !flags.is_command() {
                        if flags.is_more() {
                            self.msg_parts += 1;
                            self.msg_bytes += size as u64;
                        } else {
                            self.msg_parts = 0;
                            self.msg_bytes = 0;
                        }
                    }
                    return Ok(Some(Frame { flags, body }));
                }
            }
        }
    }

    /// Checks an announced size against the bounds; the returned size fits
    /// in memory because every bound is a `usize`.
    fn check_size(&self, flags: Flags, size: u64) -> Result<usize, FrameError> {
        if flags.is_command() {
            self.limits.check_command(size)?;
        } else {
            self.limits
                .check_message_frame(size, self.msg_parts, self.msg_bytes)?;
        }
        // Within a usize bound, so it converts.
        Ok(usize::try_from(size).unwrap_or(usize::MAX))
    }
}

fn check_flags(flags: Flags) -> Result<(), FrameError> {
    if flags.0 & Flags::RESERVED != 0 {
        return Err(FrameError::ReservedFlags { flags: flags.0 });
    }
    if flags.is_command() && flags.is_more() {
        return Err(FrameError::CommandWithMore);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{LimitExceeded, LimitKind};

    fn decode_all(decoder: &mut FrameDecoder, mut input: &[u8]) -> Result<Vec<Frame>, FrameError> {
        let mut frames = Vec::new();
        while !input.is_empty() {
            match decoder.decode(&mut input)? {
                Some(frame) => frames.push(frame),
                None => assert!(input.is_empty(), "None only when the input is used up"),
            }
        }
        Ok(frames)
    }

    fn sample() -> (Vec<u8>, Vec<(Flags, Vec<u8>)>) {
        let long = vec![0xA5; 300];
        let mut out = BytesMut::new();
        put_message_frame(&mut out, b"id", true);
        put_message_frame(&mut out, b"", true);
        put_header(&mut out, Flags::COMMAND, false, 4);
        out.put_slice(b"\x03FOO");
        put_message_frame(&mut out, &long, false);
        put_message_frame(&mut out, &[7; 255], false);
        let want = vec![
            (Flags::MORE, b"id".to_vec()),
            (Flags::MORE, vec![]),
            (Flags::COMMAND, b"\x03FOO".to_vec()),
            (Flags::LONG, long),
            (Flags::NONE, vec![7; 255]),
        ];
        (out.to_vec(), want)
    }

    fn summary(frames: &[Frame]) -> Vec<(Flags, Vec<u8>)> {
        frames
            .iter()
            .map(|f| (f.flags(), f.body().to_vec()))
            .collect()
    }

    #[test]
    fn encodes_short_and_long_headers() {
        let mut out = BytesMut::new();
        put_message_frame(&mut out, &[1; 255], true);
        assert_eq!(&out[..2], &[0x01, 255]);
        let mut out = BytesMut::new();
        put_message_frame(&mut out, &[1; 256], false);
        assert_eq!(&out[..9], &[0x02, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(out.len(), 9 + 256);
        let mut out = BytesMut::new();
        put_header(&mut out, Flags::COMMAND, false, 70_000);
        assert_eq!(&out[..], &[0x06, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(header_len(255), 2);
        assert_eq!(header_len(256), 9);
    }

    #[test]
    fn decodes_the_same_in_any_split() {
        let (bytes, want) = sample();
        for cut in 0..=bytes.len() {
            let mut decoder = FrameDecoder::new(Limits::default());
            let mut frames = decode_all(&mut decoder, &bytes[..cut]).unwrap();
            frames.extend(decode_all(&mut decoder, &bytes[cut..]).unwrap());
            assert_eq!(summary(&frames), want, "cut at {cut}");
            assert_eq!(decoder.buffered(), 0);
        }
    }

    #[test]
    fn decodes_one_octet_at_a_time() {
        let (bytes, want) = sample();
        let mut decoder = FrameDecoder::new(Limits::default());
        let mut frames = Vec::new();
        for byte in &bytes {
            frames.extend(decode_all(&mut decoder, std::slice::from_ref(byte)).unwrap());
        }
        assert_eq!(summary(&frames), want);
    }

    #[test]
    fn accepts_a_long_size_for_a_small_body() {
        // "SHOULD use a short size": a long one is still valid.
        let bytes = [0x02, 0, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c'];
        let mut decoder = FrameDecoder::new(Limits::default());
        let frames = decode_all(&mut decoder, &bytes).unwrap();
        assert_eq!(frames[0].body().as_ref(), b"abc");
    }

    #[test]
    fn tracks_the_message_in_progress_across_commands() {
        let mut decoder = FrameDecoder::new(Limits::default());
        let mut out = BytesMut::new();
        put_message_frame(&mut out, b"a", true);
        decode_all(&mut decoder, &out).unwrap();
        assert!(decoder.in_message());
        let ping = [0x04, 0x06, 0x04, b'P', b'I', b'N', b'G', 0];
        decode_all(&mut decoder, &ping).unwrap();
        assert!(decoder.in_message(), "a command does not end the message");
        decode_all(&mut decoder, &[0x00, 0x00]).unwrap();
        assert!(!decoder.in_message());
    }

    #[test]
    fn refuses_reserved_flags_and_commands_with_more_at_the_first_octet() {
        for flags in [0x08, 0x10, 0x80, 0xFF] {
            let mut decoder = FrameDecoder::new(Limits::default());
            let mut input = &[flags, 0, 0][..];
            assert_eq!(
                decoder.decode(&mut input),
                Err(FrameError::ReservedFlags { flags })
            );
            assert_eq!(input.len(), 3, "refused before the size is read");
        }
        let mut decoder = FrameDecoder::new(Limits::default());
        assert_eq!(
            decoder.decode(&mut &[0x05, 0][..]),
            Err(FrameError::CommandWithMore)
        );
    }

    fn tight() -> Limits {
        Limits {
            max_frame_bytes: 1000,
            max_message_bytes: 1500,
            max_message_parts: 3,
            max_command_bytes: 100,
        }
    }

    #[test]
    fn refuses_an_oversized_frame_from_its_header_alone() {
        // A LONG header announcing 2^62 octets, and nothing else: refused
        // with 9 octets read and none buffered.
        let mut header = vec![0x02];
        header.extend_from_slice(&(1u64 << 62).to_be_bytes());
        header.extend_from_slice(&[0; 64]);
        for (limits, size) in [(tight(), 1u64 << 62), (Limits::default(), 1u64 << 62)] {
            let mut decoder = FrameDecoder::new(limits);
            let mut input = &header[..];
            let err = decoder.decode(&mut input).unwrap_err();
            assert_eq!(
                err,
                FrameError::Limit(LimitExceeded {
                    kind: LimitKind::FrameBytes,
                    limit: limits.max_frame_bytes as u64,
                    attempted: size,
                })
            );
            assert_eq!(input.len(), 64, "the body is not read");
            assert!(decoder.buf.capacity() < 1 << 20, "nothing reserved for it");
        }
        // The size field split over several reads: refused when it completes.
        let mut decoder = FrameDecoder::new(tight());
        let mut input = &header[..5];
        assert_eq!(decoder.decode(&mut input), Ok(None));
        let mut input = &header[5..];
        assert!(matches!(
            decoder.decode(&mut input),
            Err(FrameError::Limit(_))
        ));
        // Exactly at the bound is accepted.
        let mut ok = BytesMut::new();
        put_message_frame(&mut ok, &[0; 1000], false);
        assert_eq!(
            decode_all(&mut FrameDecoder::new(tight()), &ok)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn refuses_an_oversized_command() {
        let mut out = BytesMut::new();
        put_header(&mut out, Flags::COMMAND, false, 101);
        let err = decode_all(&mut FrameDecoder::new(tight()), &out).unwrap_err();
        assert!(matches!(
            err,
            FrameError::Limit(LimitExceeded {
                kind: LimitKind::CommandBytes,
                attempted: 101,
                ..
            })
        ));
    }

    #[test]
    fn refuses_the_part_past_the_message_bounds() {
        // Three parts pass, the fourth header is refused.
        let mut out = BytesMut::new();
        for _ in 0..4 {
            put_message_frame(&mut out, b"x", true);
        }
        let mut decoder = FrameDecoder::new(tight());
        let mut input = &out[..];
        for _ in 0..3 {
            assert!(decoder.decode(&mut input).unwrap().is_some());
        }
        assert_eq!(
            decoder.decode(&mut input),
            Err(FrameError::Limit(LimitExceeded {
                kind: LimitKind::MessageParts,
                limit: 3,
                attempted: 4
            }))
        );
        // 800 + 800 octets pass the 1,500-octet message bound at the second
        // header, though each frame is within the frame bound.
        let mut out = BytesMut::new();
        put_message_frame(&mut out, &[0; 800], true);
        put_header(&mut out, Flags::NONE, false, 800);
        let err = decode_all(&mut FrameDecoder::new(tight()), &out).unwrap_err();
        assert_eq!(
            err,
            FrameError::Limit(LimitExceeded {
                kind: LimitKind::MessageBytes,
                limit: 1500,
                attempted: 1600
            })
        );
        // The count starts again after the last frame of a message.
        let mut out = BytesMut::new();
        for _ in 0..5 {
            put_message_frame(&mut out, &[0; 700], true);
            put_message_frame(&mut out, &[0; 700], false);
        }
        assert_eq!(
            decode_all(&mut FrameDecoder::new(tight()), &out)
                .unwrap()
                .len(),
            10
        );
    }

    #[test]
    fn small_frames_share_an_allocation() {
        let mut out = BytesMut::new();
        put_message_frame(&mut out, b"one", true);
        put_message_frame(&mut out, b"two", false);
        let frames = decode_all(&mut FrameDecoder::new(Limits::default()), &out).unwrap();
        let gap = frames[1].body().as_ptr() as usize - frames[0].body().as_ptr() as usize;
        assert_eq!(gap, 3, "the second body follows the first in one buffer");
    }
}
