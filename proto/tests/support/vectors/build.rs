//! Byte builders and fixtures the vector groups share: frames with any
//! header field, raw name/value blocks, and the requests most vectors carry.

pub(super) use bytes::Bytes;
pub(super) use zroute_proto::codes::{FrameType, GoAwayStatus, RstCode, SettingId};
pub(super) use zroute_proto::frame::{
    Data, GoAway, Headers, Hello, MAX_PAYLOAD_LEN, MAX_WINDOW, Ping, Reaction, RstStream, Setting,
    Settings, SynReply, SynStream, Unknown, Welcome, WindowUpdate,
};
pub(super) use zroute_proto::{Frame, HeaderBlock, StreamId};

pub(super) const SYN_STREAM: u16 = FrameType::SYN_STREAM.to_wire();
pub(super) const SYN_REPLY: u16 = FrameType::SYN_REPLY.to_wire();
pub(super) const RST_STREAM: u16 = FrameType::RST_STREAM.to_wire();
pub(super) const SETTINGS: u16 = FrameType::SETTINGS.to_wire();
pub(super) const PING: u16 = FrameType::PING.to_wire();
pub(super) const GOAWAY: u16 = FrameType::GOAWAY.to_wire();
pub(super) const HEADERS: u16 = FrameType::HEADERS.to_wire();
pub(super) const WINDOW_UPDATE: u16 = FrameType::WINDOW_UPDATE.to_wire();
pub(super) const HELLO: u16 = FrameType::HELLO.to_wire();
pub(super) const WELCOME: u16 = FrameType::WELCOME.to_wire();

pub(super) const FIN: u8 = 0x01;
/// An X bit: reserved, must be ignored on receipt.
pub(super) const X: u32 = 0x8000_0000;

/// A control frame with a correct length field.
pub(super) fn control(ty: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    control_raw(3, ty, flags, payload.len() as u32, payload)
}

/// A control frame with any version and length field.
pub(super) fn control_raw(version: u16, ty: u16, flags: u8, len: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(0x8000 | version).to_be_bytes());
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&((u32::from(flags) << 24) | len).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

pub(super) fn data_raw(stream_word: u32, flags: u8, len: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&stream_word.to_be_bytes());
    out.extend_from_slice(&((u32::from(flags) << 24) | len).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

pub(super) fn wire(frame: impl Into<Frame>) -> Vec<u8> {
    frame.into().to_bytes().to_vec()
}

pub(super) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub(super) fn be(x: u32) -> [u8; 4] {
    x.to_be_bytes()
}

/// A name/value block with no checks at all, to write malformed ones.
pub(super) fn raw_block(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = be(pairs.len() as u32).to_vec();
    for (name, value) in pairs {
        out.extend_from_slice(&be(name.len() as u32));
        out.extend_from_slice(name);
        out.extend_from_slice(&be(value.len() as u32));
        out.extend_from_slice(value);
    }
    out
}

pub(super) fn block(pairs: &[(&str, &str)]) -> HeaderBlock {
    let pairs = pairs.iter().map(|(n, v)| {
        (
            Bytes::copy_from_slice(n.as_bytes()),
            Bytes::copy_from_slice(v.as_bytes()),
        )
    });
    HeaderBlock::from_pairs(pairs).expect("vector header blocks are valid")
}

pub(super) fn sid(id: u32) -> StreamId {
    StreamId::new(id)
}

/// Applies setters to a freshly built frame; they return `&mut Self`.
pub(super) fn with<T>(mut frame: T, set: impl FnOnce(&mut T)) -> T {
    set(&mut frame);
    frame
}

pub(super) fn stream_err(id: u32, code: RstCode) -> Reaction {
    Reaction::Stream(sid(id), code)
}

pub(super) const SESSION_PROTOCOL_ERROR: Reaction = Reaction::Session(GoAwayStatus::PROTOCOL_ERROR);

pub(super) fn get_request() -> HeaderBlock {
    block(&[
        (":method", "GET"),
        (":path", "/index.html?lang=en"),
        (":version", "HTTP/1.1"),
        (":host", "example.com"),
        (":scheme", "https"),
        ("accept", "*/*"),
        ("user-agent", "curl/8.5.0"),
    ])
}

pub(super) fn post_request() -> HeaderBlock {
    block(&[
        (":method", "POST"),
        (":path", "/echo"),
        (":version", "HTTP/1.1"),
        (":host", "example.com:8080"),
        (":scheme", "http"),
        ("content-type", "application/json"),
        ("content-length", "13"),
    ])
}

/// A valid block of `len` bytes: `pairs` then an `x-fill` pair padding it out.
pub(super) fn filled_block(pairs: &[(&str, &str)], len: usize) -> HeaderBlock {
    let mut b = block(pairs);
    let fill = len - b.encoded_len() - 8 - "x-fill".len();
    b.insert("x-fill", "a".repeat(fill)).unwrap();
    assert_eq!(b.encoded_len(), len);
    b
}
