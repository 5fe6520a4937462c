//! The spec's frame test vectors (`spec/vectors/*.json`): their definitions,
//! the frame-to-JSON mapping and the file layout.
//!
//! Shared by `examples/gen-vectors.rs`, which writes the files, and
//! `tests/vectors.rs`, which checks the files against the codec and against a
//! fresh run of this code, so the two can never disagree about the format.
//!
//! Valid vectors are built with the crate's constructors and encoded; invalid
//! ones are hand-made bytes whose expected error and reaction are written
//! here from the spec's error table, not copied from whatever the codec
//! returns. [`write_all`] refuses to write a vector the codec disagrees with.

use std::fmt::Write as _;
use std::path::Path;
use std::{fs, io};

use bytes::Bytes;
use zroute_proto::codes::{FrameType, GoAwayStatus, RstCode, SettingId};
use zroute_proto::frame::{
    Data, GoAway, Headers, Hello, MAX_PAYLOAD_LEN, MAX_WINDOW, Ping, Reaction, RstStream, Setting,
    Settings, SynReply, SynStream, Unknown, Welcome, WindowUpdate,
};
use zroute_proto::{Frame, HeaderBlock, StreamId};

pub(crate) const FORMAT: &str = "zroute-vectors/1";
pub(crate) const GENERATED_BY: &str = "cargo run -p zroute-proto --example gen-vectors";

/// The anchors `spec/PROTOCOL.md` promises to keep stable; a vector may only
/// cite one of these.
pub(crate) const SECTIONS: &[&str] = &[
    "notation",
    "transport",
    "transport-options",
    "transport-send-failures",
    "framing",
    "frame-header",
    "frame-types",
    "frame-syn-stream",
    "frame-syn-reply",
    "frame-rst-stream",
    "frame-settings",
    "frame-ping",
    "frame-goaway",
    "frame-headers",
    "frame-window-update",
    "frame-data",
    "frame-hello",
    "frame-welcome",
    "frame-unknown",
    "status-codes",
    "rst-codes",
    "goaway-codes",
    "header-block",
    "http-mapping",
    "http-request",
    "http-response",
    "hop-by-hop",
    "router-headers",
    "session",
    "handshake",
    "unknown-peer",
    "reregistration",
    "heartbeat",
    "drain",
    "router-shutdown",
    "id-exhaustion",
    "streams",
    "stream-ids",
    "stream-states",
    "stream-request",
    "stream-response",
    "stream-reset",
    "stream-closed",
    "flow-control",
    "flow-control-windows",
    "flow-control-errors",
    "capacity",
    "routing",
    "errors",
    "error-table",
    "security",
    "limits",
    "test-app",
    "sequences",
    "vectors",
    "trace-format",
];

/// An ordered JSON tree: `serde_json::Value` sorts object keys, and the files
/// read better with `id` first and `frame` last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Json {
    Bool(bool),
    Num(u64),
    Str(String),
    Arr(Vec<Self>),
    Obj(Vec<(&'static str, Self)>),
}

impl Json {
    fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, Self::Arr(_) | Self::Obj(_))
    }

    /// Pretty-prints with two-space indents; arrays of scalars (header
    /// pairs) stay on one line so a block reads like a header list.
    fn render(&self, out: &mut String, indent: usize) {
        match self {
            Self::Bool(b) => write!(out, "{b}").unwrap(),
            Self::Num(n) => write!(out, "{n}").unwrap(),
            Self::Str(s) => {
                // Escape DEL and every non-ASCII character too: header bytes
                // 0x7f..0xff then show as \u00XX instead of invisible text.
                for c in serde_json::to_string(s).unwrap().chars() {
                    if c.is_ascii() && c != '\x7f' {
                        out.push(c);
                    } else {
                        write!(out, "\\u{:04x}", u32::from(c)).unwrap();
                    }
                }
            }
            Self::Arr(items) if items.is_empty() => out.push_str("[]"),
            Self::Arr(items) if items.iter().all(Self::is_scalar) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.render(out, indent);
                }
                out.push(']');
            }
            Self::Arr(items) => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    pad(out, indent + 1);
                    item.render(out, indent + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push(']');
            }
            Self::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Self::Obj(fields) => {
                out.push_str("{\n");
                for (i, (key, value)) in fields.iter().enumerate() {
                    pad(out, indent + 1);
                    write!(out, "\"{key}\": ").unwrap();
                    value.render(out, indent + 1);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push('}');
            }
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("  ");
    }
}

/// The `frame` object of a valid vector.
pub(crate) fn frame_to_json(frame: &Frame) -> Json {
    let mut o = vec![("type", Json::str(frame.type_name()))];
    let id = |id: StreamId| Json::Num(id.get().into());
    let num = |n: u32| Json::Num(n.into());
    match frame {
        Frame::SynStream(f) => {
            o.push(("flags", Json::Num(f.flags().into())));
            o.push(("streamId", id(f.stream_id())));
            o.push(("associatedStreamId", id(f.associated_stream_id())));
            o.push(("priority", Json::Num(f.priority().into())));
            o.push(("slot", Json::Num(f.slot().into())));
            o.push(("headers", block_to_json(f.headers())));
        }
        Frame::SynReply(f) => {
            o.push(("flags", Json::Num(f.flags().into())));
            o.push(("streamId", id(f.stream_id())));
            o.push(("headers", block_to_json(f.headers())));
        }
        Frame::RstStream(f) => {
            o.push(("flags", Json::Num(f.flags().into())));
            o.push(("streamId", id(f.stream_id())));
            o.push(("statusCode", code(f.code().name(), f.code().to_wire())));
        }
        Frame::Settings(f) => {
            o.push(("flags", Json::Num(f.flags().into())));
            let entries = f.entries().iter().map(|e| {
                Json::Obj(vec![
                    ("flags", Json::Num(e.flags.into())),
                    ("id", code(e.id.name(), e.id.to_wire())),
                    ("value", num(e.value)),
                ])
            });
            o.push(("entries", Json::Arr(entries.collect())));
        }
        Frame::Ping(f) => {
            o.push(("flags", Json::Num(f.flags().into())));
            o.push(("id", num(f.id())));
        }
        Frame::GoAway(f) => {
            o.push(("flags", Json::Num(f.flags().into())));
            o.push(("lastGoodStreamId", id(f.last_good_stream_id())));
            o.push(("statusCode", code(f.status().name(), f.status().to_wire())));
        }
        Frame::Headers(f) => {
            o.push(("flags", Json::Num(f.flags().into())));
            o.push(("streamId", id(f.stream_id())));
            o.push(("headers", block_to_json(f.headers())));
        }
        Frame::WindowUpdate(f) => {
            o.push(("flags", Json::Num(f.flags().into())));
            o.push(("streamId", id(f.stream_id())));
            o.push(("deltaWindowSize", num(f.delta())));
        }
        Frame::Data(f) => {
            o.push(("flags", Json::Num(f.flags().into())));
            o.push(("streamId", id(f.stream_id())));
            o.push(("payloadHex", Json::Str(hex(f.payload()))));
        }
        Frame::Hello(f) => {
            o.push(("flags", Json::Num(f.flags().into())));
            o.push(("version", Json::Num(f.version().into())));
            o.push(("maxConcurrentStreams", num(f.max_concurrent_streams())));
            o.push(("initialWindowSize", num(f.initial_window_size())));
            o.push(("attributes", block_to_json(f.attributes())));
        }
        Frame::Welcome(f) => {
            o.push(("flags", Json::Num(f.flags().into())));
            o.push(("version", Json::Num(f.version().into())));
            o.push(("heartbeatIntervalMs", num(f.heartbeat_interval_ms())));
            o.push(("heartbeatLiveness", num(f.heartbeat_liveness())));
            o.push(("initialWindowSize", num(f.initial_window_size())));
            o.push(("attributes", block_to_json(f.attributes())));
        }
        Frame::Unknown(f) => {
            // `type` stays "UNKNOWN" (the codec's name for the variant); the
            // wire number has its own key.
            o.push(("frameType", Json::Num(f.frame_type().to_wire().into())));
            o.push(("flags", Json::Num(f.flags().into())));
            o.push(("payloadHex", Json::Str(hex(f.payload()))));
        }
    }
    Json::Obj(o)
}

/// Known codes by their spec name, so the files read without a code table;
/// unknown ones as the number, which is what round-trips.
fn code(name: Option<&'static str>, raw: u32) -> Json {
    match name {
        Some(name) => Json::str(name),
        None => Json::Num(raw.into()),
    }
}

fn block_to_json(block: &HeaderBlock) -> Json {
    // Values may hold any byte but CR and LF, UTF-8 or not; mapping each byte
    // to the character of the same code point (U+0000..U+00FF) represents
    // them all (spec/VECTORS.md, vectors-frames).
    let text = |b: &Bytes| b.iter().copied().map(char::from).collect::<String>();
    Json::Arr(
        block
            .iter()
            .map(|(n, v)| Json::Arr(vec![Json::Str(text(n)), Json::Str(text(v))]))
            .collect(),
    )
}

/// `stream:<RST code>` plus the stream, or `session:<GOAWAY status>`.
pub(crate) fn reaction_to_json(reaction: Reaction) -> (String, Option<u32>) {
    match reaction {
        Reaction::Stream(id, code) => (format!("stream:{code}"), Some(id.get())),
        Reaction::Session(status) => (format!("session:{status}"), None),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        write!(s, "{b:02x}").unwrap();
    }
    s
}

/// One generated file.
#[derive(Debug)]
pub(crate) struct VectorFile {
    /// File name, e.g. `syn_stream.json`.
    pub(crate) name: String,
    /// How many vectors it holds.
    pub(crate) count: usize,
    text: String,
}

/// Writes every vector file into `dir` (which must exist).
///
/// Panics, naming each offending vector, if the codec disagrees with a
/// vector's expectation: such a file would be wrong for every implementation.
pub(crate) fn write_all(dir: &Path) -> io::Result<Vec<VectorFile>> {
    let files = render_all();
    for file in &files {
        fs::write(dir.join(&file.name), &file.text)?;
    }
    Ok(files)
}

fn render_all() -> Vec<VectorFile> {
    let groups = groups();
    let mut problems = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for v in groups.iter().flat_map(|g| &g.vectors) {
        if !ids.insert(v.id.as_str()) {
            problems.push(format!("{}: duplicate id", v.id));
        }
        if !SECTIONS.contains(&v.section) {
            problems.push(format!("{}: unknown section {:?}", v.id, v.section));
        }
        if let Err(e) = v.check() {
            problems.push(format!("{}: {e}", v.id));
        }
    }
    assert!(
        problems.is_empty(),
        "the codec disagrees with {} vector definition(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
    groups
        .iter()
        .map(|g| {
            let doc = Json::Obj(vec![
                ("format", Json::str(FORMAT)),
                ("generatedBy", Json::str(GENERATED_BY)),
                ("section", Json::str(g.section)),
                (
                    "vectors",
                    Json::Arr(g.vectors.iter().map(Vector::to_json).collect()),
                ),
            ]);
            let mut text = String::new();
            doc.render(&mut text, 0);
            text.push('\n');
            VectorFile {
                name: format!("{}.json", g.file),
                count: g.vectors.len(),
                text,
            }
        })
        .collect()
}

struct Vector {
    id: String,
    comment: String,
    section: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
}

enum Expect {
    /// `canonical` is false when encoding the frame gives other bytes
    /// (reserved bits the decoder drops).
    Valid { frame: Frame, canonical: bool },
    Invalid {
        error: &'static str,
        reaction: Reaction,
    },
}

impl Vector {
    fn section(&mut self, section: &'static str) -> &mut Self {
        self.section = section;
        self
    }

    fn check(&self) -> Result<(), String> {
        let decoded = Frame::decode(Bytes::copy_from_slice(&self.bytes));
        match (&self.expect, decoded) {
            (Expect::Valid { frame, canonical }, Ok(got)) => {
                if got != *frame {
                    return Err(format!("decodes to {got:?}, expected {frame:?}"));
                }
                let same = frame.to_bytes() == self.bytes;
                if same != *canonical {
                    return Err(format!(
                        "canonical is {canonical} but re-encoding gives same={same}"
                    ));
                }
                Ok(())
            }
            (Expect::Valid { .. }, Err(e)) => Err(format!("expected valid, decode fails with {e}")),
            (Expect::Invalid { error, .. }, Ok(got)) => {
                Err(format!("expected {error}, decodes to {got:?}"))
            }
            (Expect::Invalid { error, reaction }, Err(e)) => {
                if e.name() != *error || e.reaction() != *reaction {
                    return Err(format!(
                        "expected {error} / {reaction:?}, codec says {} / {:?}",
                        e.name(),
                        e.reaction()
                    ));
                }
                Ok(())
            }
        }
    }

    fn to_json(&self) -> Json {
        let mut o = vec![
            ("id", Json::str(&self.id)),
            ("comment", Json::str(&self.comment)),
            ("section", Json::str(self.section)),
            ("hex", Json::Str(hex(&self.bytes))),
        ];
        match &self.expect {
            Expect::Valid { frame, canonical } => {
                o.push(("result", Json::str("valid")));
                o.push(("frame", frame_to_json(frame)));
                if !canonical {
                    o.push(("canonical", Json::Bool(false)));
                }
            }
            Expect::Invalid { error, reaction } => {
                let (reaction, stream_id) = reaction_to_json(*reaction);
                o.push(("result", Json::str("invalid")));
                o.push(("error", Json::str(*error)));
                o.push(("reaction", Json::Str(reaction)));
                if let Some(id) = stream_id {
                    o.push(("streamId", Json::Num(id.into())));
                }
            }
        }
        Json::Obj(o)
    }
}

struct Group {
    /// File stem; the id prefix is the same with `-` for `_`.
    file: &'static str,
    section: &'static str,
    vectors: Vec<Vector>,
}

impl Group {
    fn new(file: &'static str, section: &'static str) -> Self {
        Self {
            file,
            section,
            vectors: Vec::new(),
        }
    }

    fn push(&mut self, name: &str, comment: &str, bytes: Vec<u8>, expect: Expect) -> &mut Vector {
        self.vectors.push(Vector {
            id: format!("{}/{name}", self.file.replace('_', "-")),
            comment: comment.to_owned(),
            section: self.section,
            bytes,
            expect,
        });
        self.vectors.last_mut().unwrap()
    }

    /// A frame as our encoder writes it.
    fn valid(&mut self, name: &str, comment: &str, frame: impl Into<Frame>) -> &mut Vector {
        let frame = frame.into();
        let bytes = frame.to_bytes().to_vec();
        let expect = Expect::Valid {
            frame,
            canonical: true,
        };
        self.push(name, comment, bytes, expect)
    }

    /// Hand-made bytes that decode to `frame` but are not what we would send.
    fn lenient(
        &mut self,
        name: &str,
        comment: &str,
        bytes: Vec<u8>,
        frame: impl Into<Frame>,
    ) -> &mut Vector {
        let expect = Expect::Valid {
            frame: frame.into(),
            canonical: false,
        };
        self.push(name, comment, bytes, expect)
    }

    fn invalid(
        &mut self,
        name: &str,
        comment: &str,
        bytes: Vec<u8>,
        error: &'static str,
        reaction: Reaction,
    ) -> &mut Vector {
        self.push(name, comment, bytes, Expect::Invalid { error, reaction })
    }
}

// ---- byte builders -------------------------------------------------------

const SYN_STREAM: u16 = FrameType::SYN_STREAM.to_wire();
const SYN_REPLY: u16 = FrameType::SYN_REPLY.to_wire();
const RST_STREAM: u16 = FrameType::RST_STREAM.to_wire();
const SETTINGS: u16 = FrameType::SETTINGS.to_wire();
const PING: u16 = FrameType::PING.to_wire();
const GOAWAY: u16 = FrameType::GOAWAY.to_wire();
const HEADERS: u16 = FrameType::HEADERS.to_wire();
const WINDOW_UPDATE: u16 = FrameType::WINDOW_UPDATE.to_wire();
const HELLO: u16 = FrameType::HELLO.to_wire();
const WELCOME: u16 = FrameType::WELCOME.to_wire();

const FIN: u8 = 0x01;
/// An X bit: reserved, must be ignored on receipt.
const X: u32 = 0x8000_0000;

/// A control frame with a correct length field.
fn control(ty: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    control_raw(3, ty, flags, payload.len() as u32, payload)
}

/// A control frame with any version and length field.
fn control_raw(version: u16, ty: u16, flags: u8, len: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(0x8000 | version).to_be_bytes());
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&((u32::from(flags) << 24) | len).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn data_raw(stream_word: u32, flags: u8, len: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&stream_word.to_be_bytes());
    out.extend_from_slice(&((u32::from(flags) << 24) | len).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn wire(frame: impl Into<Frame>) -> Vec<u8> {
    frame.into().to_bytes().to_vec()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn be(x: u32) -> [u8; 4] {
    x.to_be_bytes()
}

/// A name/value block with no checks at all, to write malformed ones.
fn raw_block(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = be(pairs.len() as u32).to_vec();
    for (name, value) in pairs {
        out.extend_from_slice(&be(name.len() as u32));
        out.extend_from_slice(name);
        out.extend_from_slice(&be(value.len() as u32));
        out.extend_from_slice(value);
    }
    out
}

fn block(pairs: &[(&str, &str)]) -> HeaderBlock {
    let pairs = pairs.iter().map(|(n, v)| {
        (
            Bytes::copy_from_slice(n.as_bytes()),
            Bytes::copy_from_slice(v.as_bytes()),
        )
    });
    HeaderBlock::from_pairs(pairs).expect("vector header blocks are valid")
}

fn sid(id: u32) -> StreamId {
    StreamId::new(id)
}

/// Applies setters to a freshly built frame; they return `&mut Self`.
fn with<T>(mut frame: T, set: impl FnOnce(&mut T)) -> T {
    set(&mut frame);
    frame
}

fn stream_err(id: u32, code: RstCode) -> Reaction {
    Reaction::Stream(sid(id), code)
}

const SESSION_PROTOCOL_ERROR: Reaction = Reaction::Session(GoAwayStatus::PROTOCOL_ERROR);

fn get_request() -> HeaderBlock {
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

fn post_request() -> HeaderBlock {
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
fn filled_block(pairs: &[(&str, &str)], len: usize) -> HeaderBlock {
    let mut b = block(pairs);
    let fill = len - b.encoded_len() - 8 - "x-fill".len();
    b.insert("x-fill", "a".repeat(fill)).unwrap();
    assert_eq!(b.encoded_len(), len);
    b
}

// ---- the vectors ---------------------------------------------------------

fn groups() -> Vec<Group> {
    vec![
        frame_header(),
        syn_stream(),
        syn_reply(),
        rst_stream(),
        settings(),
        ping(),
        goaway(),
        headers(),
        window_update(),
        data(),
        hello(),
        welcome(),
        unknown(),
        header_block(),
    ]
}

fn frame_header() -> Group {
    let mut g = Group::new("frame_header", "frame-header");
    let ping = control(PING, 0, &be(1));
    g.invalid(
        "empty-part",
        "A zero-length part is shorter than the 8-byte header; receivers drop such parts before decoding (transport), and this is what the codec reports if one reaches it.",
        vec![],
        "truncated",
        SESSION_PROTOCOL_ERROR,
    )
    .section("error-table");
    g.invalid(
        "seven-bytes",
        "A part of 7 bytes cannot hold the 8-byte frame header: session error PROTOCOL_ERROR.",
        ping[..7].to_vec(),
        "truncated",
        SESSION_PROTOCOL_ERROR,
    )
    .section("error-table");
    g.invalid(
        "length-too-large",
        "The length field (5) must equal the part's size minus 8 (4): a mismatch is a session error.",
        control_raw(3, PING, 0, 5, &be(1)),
        "length-mismatch",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "length-too-small",
        "The length field (3) is below the part's size minus 8 (4); a part holds exactly one frame, so this is a session error.",
        control_raw(3, PING, 0, 3, &be(1)),
        "length-mismatch",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "length-field-max",
        "A length field of 0xffffff on an 8-byte part is a length mismatch, not an oversized frame: the payload is empty.",
        control_raw(3, PING, 0, 0xff_ffff, &[]),
        "length-mismatch",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "data-length-mismatch",
        "A DATA frame whose length field disagrees with the part is a session error even though its stream id is readable: the frame boundary is lost.",
        data_raw(1, 0, 6, b"hello"),
        "length-mismatch",
        SESSION_PROTOCOL_ERROR,
    );
    let syn = wire(SynStream::new(sid(1), get_request()));
    let mut short = syn.clone();
    short.pop();
    g.invalid(
        "syn-stream-length-mismatch",
        "A SYN_STREAM one byte shorter than its length field says is a session error, not a stream error.",
        short,
        "length-mismatch",
        SESSION_PROTOCOL_ERROR,
    );
    let unsupported = Reaction::Session(GoAwayStatus::UNSUPPORTED_VERSION);
    g.invalid(
        "version-2",
        "A SPDY/2 PING: every control frame must carry version 3, anything else is a session error UNSUPPORTED_VERSION.",
        control_raw(2, PING, 0, 4, &be(1)),
        "unsupported-version",
        unsupported,
    );
    let mut v4 = syn;
    v4[1] = 4;
    g.invalid(
        "version-4",
        "A well-formed SYN_STREAM with version 4 is a session error UNSUPPORTED_VERSION, not a stream error.",
        v4,
        "unsupported-version",
        unsupported,
    );
    g.invalid(
        "version-0",
        "Control version 0 is not 3: session error UNSUPPORTED_VERSION.",
        control_raw(0, PING, 0, 4, &be(1)),
        "unsupported-version",
        unsupported,
    );
    g.invalid(
        "version-max",
        "Control version 0x7fff is not 3: session error UNSUPPORTED_VERSION.",
        control_raw(0x7fff, PING, 0, 4, &be(1)),
        "unsupported-version",
        unsupported,
    );
    let hello = wire(Hello::new(1, 8, 65_536, block(&[("id", "w1")])));
    let mut hello_v1 = hello;
    hello_v1[1] = 1;
    g.invalid(
        "hello-version-1",
        "zroute's own frames carry SPDY version 3 too: a HELLO with version 1 in its frame header is a session error UNSUPPORTED_VERSION.",
        hello_v1,
        "unsupported-version",
        unsupported,
    );
    g
}

fn syn_stream() -> Group {
    let mut g = Group::new("syn_stream", "frame-syn-stream");
    g.valid(
        "get-no-body",
        "A GET without a body: FIN on SYN_STREAM, priority 3 as routers send, the five request pseudo-headers first.",
        with(SynStream::new(sid(1), get_request()), |f| {
            f.set_fin(true);
        }),
    );
    g.valid(
        "post-with-body",
        "A POST whose body follows in DATA: no FIN.",
        SynStream::new(sid(3), post_request()),
    );
    g.valid(
        "priority-0",
        "Priority 0 (highest) sits in the top 3 bits of byte 8 of the payload.",
        with(SynStream::new(sid(5), get_request()), |f| {
            f.set_fin(true).set_priority(0);
        }),
    );
    g.valid(
        "priority-7",
        "Priority 7 (lowest) is 0xe0 in byte 8 of the payload.",
        with(SynStream::new(sid(7), get_request()), |f| {
            f.set_fin(true).set_priority(7);
        }),
    );
    g.valid(
        "max-stream-id",
        "The largest stream id, 2^31-1.",
        with(SynStream::new(StreamId::MAX, get_request()), |f| {
            f.set_fin(true);
        }),
    );
    g.valid(
        "unidirectional",
        "FLAG_UNIDIRECTIONAL (0x02) decodes like any flag; refusing it with RST PROTOCOL_ERROR is a session-level rule, not a codec error.",
        with(SynStream::new(sid(9), get_request()), |f| {
            f.set_flags(SynStream::FLAG_UNIDIRECTIONAL | FIN);
        }),
    );
    g.valid(
        "unknown-flags",
        "Unknown flag bits (0xfc) are kept by the codec, which lets receivers ignore them and lets them round-trip.",
        with(SynStream::new(sid(11), get_request()), |f| {
            f.set_flags(0xfd);
        }),
    );
    g.valid(
        "associated-stream-id",
        "A nonzero associated-stream-id decodes; zroute refuses it with RST PROTOCOL_ERROR above the codec.",
        with(SynStream::new(sid(13), get_request()), |f| {
            f.set_fin(true).set_associated_stream_id(sid(2));
        }),
    );
    g.valid(
        "nonzero-slot",
        "A nonzero slot (CREDENTIAL is gone) decodes, is kept, and is ignored by receivers.",
        with(SynStream::new(sid(15), get_request()), |f| {
            f.set_fin(true).set_slot(7);
        }),
    );
    g.valid(
        "empty-block",
        "A name/value block with zero pairs is well-formed; the missing pseudo-headers are a stream error found above the codec.",
        SynStream::new(sid(17), HeaderBlock::new()),
    );
    let canonical = with(SynStream::new(sid(19), get_request()), |f| {
        f.set_fin(true);
    });
    let mut bytes = wire(canonical.clone());
    bytes[8] |= 0x80; // X bit of stream-id
    bytes[12] |= 0x80; // X bit of associated-stream-id
    bytes[16] |= 0x1f; // the 5 unused bits after priority
    g.lenient(
        "reserved-bits-set",
        "The X bits before both stream ids and the 5 unused bits after priority must be ignored on receipt; re-encoding clears them.",
        bytes,
        canonical,
    );
    let max = with(
        SynStream::new(
            sid(21),
            filled_block(&[(":method", "GET")], MAX_PAYLOAD_LEN - 10),
        ),
        |f| {
            f.set_fin(true);
        },
    );
    g.valid(
        "max-payload",
        "A payload of exactly 65,536 bytes (10 fixed, 65,526 of block) is the largest every receiver must accept.",
        max,
    );
    g.invalid(
        "too-large",
        "A SYN_STREAM with a 65,537-byte payload (well-formed otherwise) is over the limit; its stream id is readable, so RST FRAME_TOO_LARGE (a worker checks first that the id is a new odd one, as for any SYN_STREAM).",
        wire(SynStream::new(
            sid(23),
            filled_block(&[(":method", "GET")], MAX_PAYLOAD_LEN - 9),
        )),
        "frame-too-large",
        stream_err(23, RstCode::FRAME_TOO_LARGE),
    )
    .section("error-table");
    g.invalid(
        "payload-9-bytes",
        "SYN_STREAM's fixed part is 10 bytes; a 9-byte payload is a session error.",
        control(SYN_STREAM, 0, &cat(&[&be(1), &be(0), &[0x60]])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-4-bytes",
        "A SYN_STREAM holding only a stream id is shorter than the 10-byte fixed part: session error.",
        control(SYN_STREAM, FIN, &be(1)),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    let body = raw_block(&[(b":method", b"GET")]);
    g.invalid(
        "zero-stream-id",
        "Stream id 0 on SYN_STREAM names no stream: session error PROTOCOL_ERROR.",
        control(SYN_STREAM, FIN, &cat(&[&be(0), &be(0), &[0x60, 0], &body])),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id-x-bit",
        "Only the X bit set (0x80000000) is still stream id 0, since receivers ignore X: session error.",
        control(SYN_STREAM, FIN, &cat(&[&be(X), &be(0), &[0x60, 0], &body])),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g
}

fn syn_reply() -> Group {
    let mut g = Group::new("syn_reply", "frame-syn-reply");
    let ok = || {
        block(&[
            (":status", "200"),
            (":version", "HTTP/1.1"),
            ("content-type", "text/plain"),
            ("content-length", "17"),
        ])
    };
    g.valid(
        "ok-with-body",
        "A 200 response head whose body follows in DATA: no FIN.",
        SynReply::new(sid(1), ok()),
    );
    g.valid(
        "no-content-fin",
        "A 204 response ends the stream with FIN on SYN_REPLY.",
        with(
            SynReply::new(
                sid(3),
                block(&[(":status", "204"), (":version", "HTTP/1.1")]),
            ),
            |f| {
                f.set_fin(true);
            },
        ),
    );
    g.valid(
        "status-with-reason",
        ":status may carry a reason phrase after the code; the codec keeps the value as sent.",
        with(
            SynReply::new(
                sid(5),
                block(&[(":status", "404 Not Found"), (":version", "HTTP/1.1")]),
            ),
            |f| {
                f.set_fin(true);
            },
        ),
    );
    g.valid(
        "set-cookie-values",
        "Several set-cookie headers travel as one value with NUL separators.",
        SynReply::new(
            sid(7),
            block(&[
                (":status", "200"),
                (":version", "HTTP/1.1"),
                ("set-cookie", "a=1; Path=/\0b=2; HttpOnly"),
            ]),
        ),
    );
    g.valid(
        "max-stream-id",
        "The largest stream id, 2^31-1.",
        with(SynReply::new(StreamId::MAX, ok()), |f| {
            f.set_fin(true);
        }),
    );
    g.valid(
        "unknown-flags",
        "Unknown flag bits (0xfe) next to FIN are kept by the codec and ignored by receivers.",
        with(SynReply::new(sid(9), ok()), |f| {
            f.set_flags(0xff);
        }),
    );
    g.valid(
        "empty-block",
        "A block with zero pairs is well-formed; the missing :status is a stream error found above the codec.",
        SynReply::new(sid(11), HeaderBlock::new()),
    );
    let canonical = SynReply::new(sid(13), ok());
    let mut bytes = wire(canonical.clone());
    bytes[8] |= 0x80;
    g.lenient(
        "reserved-bit-set",
        "The X bit before the stream id is ignored on receipt and cleared on re-encoding.",
        bytes,
        canonical,
    );
    g.invalid(
        "payload-3-bytes",
        "SYN_REPLY needs at least the 4-byte stream id: a 3-byte payload is a session error.",
        control(SYN_REPLY, 0, &[0, 0, 1]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-empty",
        "An empty SYN_REPLY payload is a session error.",
        control(SYN_REPLY, FIN, &[]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id",
        "Stream id 0 on SYN_REPLY names no stream: session error PROTOCOL_ERROR.",
        control(
            SYN_REPLY,
            FIN,
            &cat(&[&be(0), &raw_block(&[(b":status", b"200")])]),
        ),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g
}

fn rst_stream() -> Group {
    let mut g = Group::new("rst_stream", "frame-rst-stream");
    let codes = [
        ("protocol-error", RstCode::PROTOCOL_ERROR),
        ("invalid-stream", RstCode::INVALID_STREAM),
        ("refused-stream", RstCode::REFUSED_STREAM),
        ("unsupported-version", RstCode::UNSUPPORTED_VERSION),
        ("cancel", RstCode::CANCEL),
        ("internal-error", RstCode::INTERNAL_ERROR),
        ("flow-control-error", RstCode::FLOW_CONTROL_ERROR),
        ("stream-in-use", RstCode::STREAM_IN_USE),
        ("stream-already-closed", RstCode::STREAM_ALREADY_CLOSED),
        ("frame-too-large", RstCode::FRAME_TOO_LARGE),
    ];
    for (i, (name, code)) in (0u32..).zip(codes) {
        g.valid(
            name,
            &format!("RST_STREAM with status {code} ({}).", code.to_wire()),
            RstStream::new(sid(2 * i + 1), code),
        )
        .section("rst-codes");
    }
    g.valid(
        "unknown-code-0",
        "Status 0 is not a code; it decodes and round-trips unchanged and a receiver treats it as INTERNAL_ERROR.",
        RstStream::new(sid(1), RstCode::from_wire(0)),
    )
    .section("rst-codes");
    g.valid(
        "unknown-code-10",
        "Status 10 (INVALID_CREDENTIALS) was removed in SPDY/3.1; it decodes and round-trips as an unknown code.",
        RstStream::new(sid(1), RstCode::from_wire(10)),
    )
    .section("rst-codes");
    g.valid(
        "unknown-code-max",
        "Status 0xffffffff decodes and round-trips as an unknown code.",
        RstStream::new(sid(1), RstCode::from_wire(u32::MAX)),
    )
    .section("rst-codes");
    g.valid(
        "max-stream-id",
        "The largest stream id, 2^31-1.",
        RstStream::new(StreamId::MAX, RstCode::CANCEL),
    );
    g.valid(
        "unknown-flags",
        "RST_STREAM defines no flags; set bits are kept by the codec and ignored by receivers.",
        with(RstStream::new(sid(3), RstCode::CANCEL), |f| {
            f.set_flags(0xff);
        }),
    );
    g.lenient(
        "reserved-bit-set",
        "The X bit before the stream id is ignored on receipt and cleared on re-encoding.",
        control(RST_STREAM, 0, &cat(&[&be(X | 5), &be(5)])),
        RstStream::new(sid(5), RstCode::CANCEL),
    );
    g.invalid(
        "payload-7-bytes",
        "RST_STREAM's payload is exactly 8 bytes; 7 is a session error.",
        control(RST_STREAM, 0, &cat(&[&be(1), &[0, 0, 5]])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-9-bytes",
        "RST_STREAM's payload is exactly 8 bytes; 9 is a session error.",
        control(RST_STREAM, 0, &cat(&[&be(1), &be(5), &[0]])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-empty",
        "An empty RST_STREAM payload is a session error.",
        control(RST_STREAM, 0, &[]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id",
        "RST_STREAM for stream 0 names no stream: session error PROTOCOL_ERROR.",
        control(RST_STREAM, 0, &cat(&[&be(0), &be(5)])),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id-x-bit",
        "Only the X bit set is still stream id 0: session error PROTOCOL_ERROR.",
        control(RST_STREAM, 0, &cat(&[&be(X), &be(5)])),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g
}

fn settings() -> Group {
    let mut g = Group::new("settings", "frame-settings");
    let entry = |flags, id: u32, value| Setting {
        flags,
        id: SettingId::from_wire(id),
        value,
    };
    g.valid(
        "no-entries",
        "A SETTINGS frame with zero entries is a 4-byte payload.",
        Settings::new(),
    );
    g.valid(
        "max-concurrent-streams",
        "A worker announcing a new capacity (id 4).",
        with(Settings::new(), |f| {
            f.push(SettingId::MAX_CONCURRENT_STREAMS, 100);
        }),
    );
    g.valid(
        "max-concurrent-streams-0",
        "Capacity 0 means the worker takes no new streams for now; the codec sees an ordinary value.",
        with(Settings::new(), |f| {
            f.push(SettingId::MAX_CONCURRENT_STREAMS, 0);
        }),
    );
    g.valid(
        "initial-window-size",
        "A new initial window (id 7) of 1 MiB.",
        with(Settings::new(), |f| {
            f.push(SettingId::INITIAL_WINDOW_SIZE, 1 << 20);
        }),
    );
    g.valid(
        "initial-window-size-too-large",
        "INITIAL_WINDOW_SIZE above 2^31-1 decodes; the session answers it with GOAWAY FLOW_CONTROL_ERROR.",
        with(Settings::new(), |f| {
            f.push(SettingId::INITIAL_WINDOW_SIZE, u32::MAX);
        }),
    );
    g.valid(
        "duplicate-ids-in-order",
        "Entries keep their order so that a later duplicate wins when applied.",
        with(Settings::new(), |f| {
            f.push(SettingId::INITIAL_WINDOW_SIZE, 1024)
                .push(SettingId::MAX_CONCURRENT_STREAMS, 8)
                .push(SettingId::INITIAL_WINDOW_SIZE, 2048);
        }),
    );
    g.valid(
        "spdy-ids",
        "Every SPDY/3.1 id decodes; zroute acts on 4 and 7 only and ignores the rest.",
        with(Settings::new(), |f| {
            for id in 1..=8 {
                f.push(SettingId::from_wire(id), id * 10);
            }
        }),
    );
    g.valid(
        "unknown-id",
        "Unknown ids (here 0 and 0xabcdef, the largest 24-bit ids included) decode and round-trip; receivers ignore them.",
        with(Settings::new(), |f| {
            f.push_entry(entry(0, 0, 1))
                .push_entry(entry(0, 0xab_cdef, 2))
                .push_entry(entry(0, 0xff_ffff, 3));
        }),
    );
    g.valid(
        "clear-settings-flag",
        "FLAG_SETTINGS_CLEAR_SETTINGS (0x01) decodes and is ignored: zroute persists nothing.",
        with(Settings::new(), |f| {
            f.set_flags(Settings::FLAG_CLEAR_SETTINGS)
                .push(SettingId::MAX_CONCURRENT_STREAMS, 16);
        }),
    );
    g.valid(
        "entry-flags",
        "Entry flags PERSIST_VALUE (0x01), PERSISTED (0x02), both, and unknown bits decode and round-trip; receivers ignore them.",
        with(Settings::new(), |f| {
            f.push_entry(entry(0x01, 4, 10))
                .push_entry(entry(0x02, 7, 20))
                .push_entry(entry(0x03, 4, 30))
                .push_entry(entry(0xfc, 7, 40));
        }),
    );
    g.valid(
        "unknown-flags",
        "Unknown frame flag bits are kept by the codec and ignored by receivers.",
        with(Settings::new(), |f| {
            f.set_flags(0xff).push(SettingId::MAX_CONCURRENT_STREAMS, 1);
        }),
    );
    let entry8 = cat(&[&[0, 0, 0, 4], &be(100)]);
    g.invalid(
        "payload-empty",
        "SETTINGS needs at least its 4-byte entry count: session error.",
        control(SETTINGS, 0, &[]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-3-bytes",
        "A 3-byte SETTINGS payload cannot hold the entry count: session error.",
        control(SETTINGS, 0, &[0, 0, 0]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "count-above-entries",
        "The payload must be exactly 4+8n bytes for a count of n: count 2 with one entry is a session error.",
        control(SETTINGS, 0, &cat(&[&be(2), &entry8])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "count-below-entries",
        "Count 1 with two entries is a session error.",
        control(SETTINGS, 0, &cat(&[&be(1), &entry8, &entry8])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "count-0-with-entry",
        "Count 0 followed by an entry is a session error.",
        control(SETTINGS, 0, &cat(&[&be(0), &entry8])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "partial-entry",
        "Count 1 with an entry and 4 stray bytes is not 4+8n bytes: session error.",
        control(SETTINGS, 0, &cat(&[&be(1), &entry8, &be(0)])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "huge-count",
        "Count 0xffffffff with no entries is a session error, found without allocating for the count.",
        control(SETTINGS, 0, &be(u32::MAX)),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g
}

fn ping() -> Group {
    let mut g = Group::new("ping", "frame-ping");
    g.valid("id-0", "PING id 0, the smallest.", Ping::new(0));
    g.valid(
        "id-1",
        "PING id 1: the router's first (router ids are odd).",
        Ping::new(1),
    )
    .section("heartbeat");
    g.valid(
        "id-2",
        "PING id 2: the worker's first (worker ids are even).",
        Ping::new(2),
    )
    .section("heartbeat");
    g.valid(
        "id-max",
        "PING id 0xffffffff, the largest.",
        Ping::new(u32::MAX),
    );
    g.valid(
        "unknown-flags",
        "PING defines no flags; set bits are kept by the codec and ignored by receivers.",
        with(Ping::new(7), |f| {
            f.set_flags(0xff);
        }),
    );
    for (name, len) in [
        ("payload-empty", 0),
        ("payload-3-bytes", 3),
        ("payload-5-bytes", 5),
        ("payload-8-bytes", 8),
    ] {
        g.invalid(
            name,
            &format!("PING's payload is exactly 4 bytes; {len} is a session error."),
            control(PING, 0, &vec![0; len]),
            "bad-payload-size",
            SESSION_PROTOCOL_ERROR,
        );
    }
    g
}

fn goaway() -> Group {
    let mut g = Group::new("goaway", "frame-goaway");
    let statuses = [
        (
            "ok",
            0,
            GoAwayStatus::OK,
            "a router draining or shutting down sends last-good 0",
        ),
        (
            "ok-worker-drain",
            41,
            GoAwayStatus::OK,
            "a draining worker names the highest stream it will process",
        ),
        (
            "protocol-error",
            0,
            GoAwayStatus::PROTOCOL_ERROR,
            "a session-level protocol violation",
        ),
        (
            "internal-error",
            0,
            GoAwayStatus::INTERNAL_ERROR,
            "the sender failed",
        ),
        (
            "flow-control-error",
            7,
            GoAwayStatus::FLOW_CONTROL_ERROR,
            "zroute assigns 3, which SPDY/3.1 mentions but does not list",
        ),
        (
            "unknown-session",
            0,
            GoAwayStatus::UNKNOWN_SESSION,
            "zroute's 4: the router does not know this peer, which must re-register",
        ),
        (
            "unsupported-version",
            0,
            GoAwayStatus::UNSUPPORTED_VERSION,
            "zroute's 5: the router does not speak the HELLO's version",
        ),
        (
            "refused",
            0,
            GoAwayStatus::REFUSED,
            "zroute's 6: registration refused by policy",
        ),
    ];
    for (name, last_good, status, why) in statuses {
        g.valid(
            name,
            &format!("GOAWAY {status} ({}): {why}.", status.to_wire()),
            GoAway::new(sid(last_good), status),
        )
        .section("goaway-codes");
    }
    g.valid(
        "unknown-status-7",
        "Status 7 is unknown; it decodes and round-trips unchanged and a receiver treats it as INTERNAL_ERROR.",
        GoAway::new(sid(0), GoAwayStatus::from_wire(7)),
    )
    .section("goaway-codes");
    g.valid(
        "unknown-status-max",
        "Status 0xffffffff decodes and round-trips as an unknown status.",
        GoAway::new(sid(0), GoAwayStatus::from_wire(u32::MAX)),
    )
    .section("goaway-codes");
    g.valid(
        "max-last-good",
        "Last-good-stream-id 2^31-1, the largest.",
        GoAway::new(StreamId::MAX, GoAwayStatus::OK),
    );
    g.valid(
        "unknown-flags",
        "GOAWAY defines no flags; set bits are kept by the codec and ignored by receivers.",
        with(GoAway::new(sid(0), GoAwayStatus::OK), |f| {
            f.set_flags(0xff);
        }),
    );
    g.lenient(
        "reserved-bit-set",
        "The X bit before last-good-stream-id is ignored on receipt and cleared on re-encoding.",
        control(GOAWAY, 0, &cat(&[&be(X | 9), &be(0)])),
        GoAway::new(sid(9), GoAwayStatus::OK),
    );
    for (name, len, why) in [
        ("payload-empty", 0, "0"),
        ("payload-4-bytes", 4, "4 (SPDY/2's size)"),
        ("payload-12-bytes", 12, "12"),
    ] {
        g.invalid(
            name,
            &format!("GOAWAY's payload is exactly 8 bytes; {why} is a session error."),
            control(GOAWAY, 0, &vec![0; len]),
            "bad-payload-size",
            SESSION_PROTOCOL_ERROR,
        );
    }
    g
}

fn headers() -> Group {
    let mut g = Group::new("headers", "frame-headers");
    let trailer = || block(&[("x-trailer", "done")]);
    g.valid(
        "trailers",
        "Trailers: HEADERS with FIN, as zroute v1 always sends it.",
        Headers::trailers(sid(1), trailer()),
    );
    g.valid(
        "several-trailers",
        "Several trailers, one of them with NUL-joined values.",
        Headers::trailers(
            sid(3),
            block(&[
                ("grpc-status", "0"),
                ("grpc-message", ""),
                ("server-timing", "db;dur=53\0app;dur=47.2"),
            ]),
        ),
    );
    g.valid(
        "no-fin",
        "HEADERS without FIN decodes; zroute answers it with RST PROTOCOL_ERROR above the codec.",
        with(Headers::trailers(sid(5), trailer()), |f| {
            f.set_fin(false);
        }),
    );
    g.valid(
        "empty-block",
        "HEADERS with FIN and no pairs is well-formed: it just ends the stream.",
        Headers::trailers(sid(7), HeaderBlock::new()),
    );
    g.valid(
        "max-stream-id",
        "The largest stream id, 2^31-1.",
        Headers::trailers(StreamId::MAX, trailer()),
    );
    g.valid(
        "unknown-flags",
        "Unknown flag bits next to FIN are kept by the codec and ignored by receivers.",
        with(Headers::trailers(sid(9), trailer()), |f| {
            f.set_flags(0x81);
        }),
    );
    let canonical = Headers::trailers(sid(11), trailer());
    let mut bytes = wire(canonical.clone());
    bytes[8] |= 0x80;
    g.lenient(
        "reserved-bit-set",
        "The X bit before the stream id is ignored on receipt and cleared on re-encoding.",
        bytes,
        canonical,
    );
    g.invalid(
        "payload-3-bytes",
        "HEADERS needs at least the 4-byte stream id: a 3-byte payload is a session error.",
        control(HEADERS, FIN, &[0, 0, 1]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id",
        "Stream id 0 on HEADERS names no stream: session error PROTOCOL_ERROR.",
        control(HEADERS, FIN, &cat(&[&be(0), &raw_block(&[])])),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id-x-bit",
        "Only the X bit set is still stream id 0: session error PROTOCOL_ERROR.",
        control(HEADERS, FIN, &cat(&[&be(X), &raw_block(&[])])),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g
}

fn window_update() -> Group {
    let mut g = Group::new("window_update", "frame-window-update");
    g.valid(
        "stream-delta-1",
        "The smallest delta, 1, for a stream window.",
        WindowUpdate::new(sid(1), 1),
    );
    g.valid(
        "stream-delta-max",
        "The largest delta, 2^31-1, for a stream window.",
        WindowUpdate::new(sid(3), MAX_WINDOW),
    );
    g.valid(
        "session-window",
        "Stream id 0 updates the session window.",
        WindowUpdate::new(StreamId::ZERO, 32_768),
    )
    .section("flow-control-windows");
    g.valid(
        "session-delta-max",
        "The largest delta for the session window.",
        WindowUpdate::new(StreamId::ZERO, MAX_WINDOW),
    )
    .section("flow-control-windows");
    g.valid(
        "max-stream-id",
        "The largest stream id, 2^31-1.",
        WindowUpdate::new(StreamId::MAX, 65_536),
    );
    g.valid(
        "unknown-flags",
        "WINDOW_UPDATE defines no flags; set bits are kept by the codec and ignored by receivers.",
        with(WindowUpdate::new(sid(5), 100), |f| {
            f.set_flags(0xff);
        }),
    );
    g.lenient(
        "reserved-bits-set",
        "The X bits before the stream id and the delta are ignored on receipt and cleared on re-encoding.",
        control(WINDOW_UPDATE, 0, &cat(&[&be(X | 7), &be(X | 1)])),
        WindowUpdate::new(sid(7), 1),
    );
    g.invalid(
        "zero-delta-stream",
        "Delta 0 for a stream is a stream error PROTOCOL_ERROR.",
        control(WINDOW_UPDATE, 0, &cat(&[&be(9), &be(0)])),
        "zero-window-delta",
        stream_err(9, RstCode::PROTOCOL_ERROR),
    )
    .section("flow-control-errors");
    g.invalid(
        "zero-delta-session",
        "Delta 0 for the session window (stream 0) is a session error PROTOCOL_ERROR.",
        control(WINDOW_UPDATE, 0, &cat(&[&be(0), &be(0)])),
        "zero-window-delta",
        SESSION_PROTOCOL_ERROR,
    )
    .section("flow-control-errors");
    g.invalid(
        "zero-delta-x-bit",
        "A delta with only its X bit set is delta 0 once X is ignored: stream error PROTOCOL_ERROR.",
        control(WINDOW_UPDATE, 0, &cat(&[&be(11), &be(X)])),
        "zero-window-delta",
        stream_err(11, RstCode::PROTOCOL_ERROR),
    )
    .section("flow-control-errors");
    for (name, len) in [
        ("payload-empty", 0),
        ("payload-4-bytes", 4),
        ("payload-12-bytes", 12),
    ] {
        g.invalid(
            name,
            &format!("WINDOW_UPDATE's payload is exactly 8 bytes; {len} is a session error."),
            control(WINDOW_UPDATE, 0, &[0, 0, 0, 1].repeat(3)[..len]),
            "bad-payload-size",
            SESSION_PROTOCOL_ERROR,
        );
    }
    g
}

fn data() -> Group {
    let mut g = Group::new("data", "frame-data");
    let bytes = |b: &[u8]| Bytes::copy_from_slice(b);
    g.valid(
        "body",
        "A DATA frame with a body and more to come: no FIN.",
        Data::new(sid(1), bytes(b"hello, world")),
    );
    g.valid(
        "body-fin",
        "The last DATA of a direction carries FIN.",
        with(Data::new(sid(1), bytes(b"bye")), |f| {
            f.set_fin(true);
        }),
    );
    g.valid(
        "empty-fin",
        "An empty DATA with FIN ends a direction without sending bytes.",
        with(Data::new(sid(3), Bytes::new()), |f| {
            f.set_fin(true);
        }),
    );
    g.valid(
        "empty-no-fin",
        "An empty DATA without FIN is well-formed (and pointless).",
        Data::new(sid(5), Bytes::new()),
    );
    g.valid(
        "binary",
        "DATA is opaque: all 256 byte values, NUL, CR and LF included.",
        Data::new(sid(7), (0..=255u8).collect::<Vec<_>>().into()),
    );
    g.valid(
        "even-stream-id",
        "Stream parity is a session rule: DATA for stream 2 decodes.",
        Data::new(sid(2), bytes(b"x")),
    );
    g.valid(
        "max-stream-id",
        "The largest stream id, 2^31-1, in the 31 bits after the C bit.",
        with(Data::new(StreamId::MAX, bytes(b"x")), |f| {
            f.set_fin(true);
        }),
    );
    g.valid(
        "unknown-flags",
        "Unknown flag bits (0xfe) are kept by the codec and ignored by receivers.",
        with(Data::new(sid(9), bytes(b"x")), |f| {
            f.set_flags(0xfe);
        }),
    );
    let body = |n: usize| (0..n).map(|i| i as u8).collect::<Vec<u8>>();
    g.valid(
        "max-payload",
        "A DATA payload of exactly 65,536 bytes (byte i = i mod 256) is the largest every receiver must accept.",
        with(Data::new(sid(11), body(MAX_PAYLOAD_LEN).into()), |f| {
            f.set_fin(true);
        }),
    )
    .section("limits");
    g.invalid(
        "too-large",
        "A DATA payload of 65,537 bytes is over the limit; its stream id is readable, so RST FRAME_TOO_LARGE, unless the payload overruns the session receive window it still counts against (then GOAWAY FLOW_CONTROL_ERROR) or the stream is closed (then no RST).",
        data_raw(13, 0, MAX_PAYLOAD_LEN as u32 + 1, &body(MAX_PAYLOAD_LEN + 1)),
        "frame-too-large",
        stream_err(13, RstCode::FRAME_TOO_LARGE),
    )
    .section("error-table");
    g.invalid(
        "zero-stream-id",
        "DATA for stream 0 names no stream: session error PROTOCOL_ERROR.",
        data_raw(0, 0, 5, b"hello"),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id-empty-fin",
        "An empty DATA with FIN for stream 0 is still a session error.",
        data_raw(0, FIN, 0, &[]),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g
}

fn hello() -> Group {
    let mut g = Group::new("hello", "frame-hello");
    g.valid(
        "minimal",
        "The smallest useful HELLO: version 1, capacity 16, the default window, and the required id.",
        Hello::new(1, 16, 65_536, block(&[("id", "worker-1")])),
    );
    g.valid(
        "routes",
        "Several routes are one NUL-joined `route` value: a path prefix, a host, and a wildcard host with a prefix.",
        Hello::new(
            1,
            64,
            1 << 20,
            block(&[
                ("id", "api-7f3a"),
                ("route", "/api\0example.com\0*.example.org/static"),
            ]),
        ),
    )
    .section("routing");
    g.valid(
        "features-and-labels",
        "A feature list and free-form labels next to id and route.",
        Hello::new(
            1,
            8,
            65_536,
            block(&[
                ("id", "w-3"),
                ("route", "/"),
                ("feature", "trailers"),
                ("zone", "eu-west-1"),
                ("build", "1.4.2+g3c1d"),
            ]),
        ),
    );
    g.valid(
        "max-values",
        "Capacity 0xffffffff and initial window 2^31-1, the largest each field carries.",
        Hello::new(1, u32::MAX, MAX_WINDOW, block(&[("id", "big")])),
    );
    g.valid(
        "capacity-0",
        "Capacity 0 decodes; the router rejects it with GOAWAY PROTOCOL_ERROR above the codec.",
        Hello::new(1, 0, 65_536, block(&[("id", "w0")])),
    )
    .section("handshake");
    g.valid(
        "no-id",
        "A HELLO without `id` is a well-formed block; the router rejects it above the codec.",
        Hello::new(1, 4, 65_536, HeaderBlock::new()),
    )
    .section("handshake");
    g.valid(
        "future-version",
        "A worker speaking zroute version 2 sends a well-formed HELLO; a v1 router answers GOAWAY UNSUPPORTED_VERSION above the codec.",
        Hello::new(2, 4, 65_536, block(&[("id", "w2")])),
    )
    .section("handshake");
    g.valid(
        "reserved-attribute",
        "Attribute names starting with ':' are reserved; an unknown one decodes and is ignored.",
        Hello::new(1, 4, 65_536, block(&[("id", "w4"), (":future", "1")])),
    );
    g.valid(
        "unknown-flags",
        "HELLO defines no flags; set bits are kept by the codec and ignored by receivers.",
        with(Hello::new(1, 4, 65_536, block(&[("id", "w5")])), |f| {
            f.set_flags(0xff);
        }),
    );
    let canonical = Hello::new(1, 4, 65_536, block(&[("id", "w6")]));
    let mut bytes = wire(canonical.clone());
    bytes[10] = 0xff; // reserved(16)
    bytes[11] = 0xff;
    bytes[16] |= 0x80; // X bit of initial-window-size
    g.lenient(
        "reserved-bits-set",
        "The reserved 16 bits after version and the X bit before initial-window-size are ignored on receipt and cleared on re-encoding.",
        bytes,
        canonical,
    );
    let fixed = cat(&[&[0, 1, 0, 0], &be(4), &be(65_536)]);
    g.invalid(
        "payload-11-bytes",
        "HELLO's fixed part is 12 bytes; an 11-byte payload is a session error.",
        control(HELLO, 0, &fixed[..11]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-empty",
        "An empty HELLO payload is a session error.",
        control(HELLO, 0, &[]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g
}

fn welcome() -> Group {
    let mut g = Group::new("welcome", "frame-welcome");
    let attrs = || block(&[("router", "r-1"), ("session", "5f2c9a01")]);
    g.valid(
        "defaults",
        "The usual answer: version 1, heartbeat every 1000 ms, liveness 3, the default window, router and session ids.",
        Welcome::new(1, 1000, 3, 65_536, attrs()),
    );
    g.valid(
        "no-attributes",
        "Both attributes are informational; a WELCOME without them is well-formed.",
        Welcome::new(1, 1000, 3, 65_536, HeaderBlock::new()),
    );
    g.valid(
        "max-values",
        "Each fixed field at its largest: interval and liveness 0xffffffff, window 2^31-1.",
        Welcome::new(1, u32::MAX, u32::MAX, MAX_WINDOW, attrs()),
    );
    g.valid(
        "unknown-flags",
        "WELCOME defines no flags; set bits are kept by the codec and ignored by receivers.",
        with(Welcome::new(1, 250, 4, 1 << 16, attrs()), |f| {
            f.set_flags(0xff);
        }),
    );
    let canonical = Welcome::new(1, 1000, 3, 65_536, attrs());
    let mut bytes = wire(canonical.clone());
    bytes[10] = 0x12; // reserved(16)
    bytes[11] = 0x34;
    bytes[20] |= 0x80; // X bit of initial-window-size
    g.lenient(
        "reserved-bits-set",
        "The reserved 16 bits after version and the X bit before initial-window-size are ignored on receipt and cleared on re-encoding.",
        bytes,
        canonical,
    );
    let fixed = cat(&[&[0, 1, 0, 0], &be(1000), &be(3), &be(65_536)]);
    g.invalid(
        "payload-15-bytes",
        "WELCOME's fixed part is 16 bytes; a 15-byte payload is a session error (for the worker: a failed handshake).",
        control(WELCOME, 0, &fixed[..15]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-12-bytes",
        "A WELCOME laid out like a HELLO (12 bytes) is too short: session error.",
        control(WELCOME, 0, &fixed[..12]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "fixed-part-only",
        "A 16-byte payload has no room for the attribute block's count: truncated block, a session error.",
        control(WELCOME, 0, &fixed),
        "header-block-truncated",
        SESSION_PROTOCOL_ERROR,
    )
    .section("header-block");
    g.invalid(
        "uppercase-attribute",
        "An uppercase attribute name makes WELCOME's block malformed: a session error (the worker's handshake fails).",
        control(
            WELCOME,
            0,
            &cat(&[&fixed, &raw_block(&[(b"Router", b"r-1")])]),
        ),
        "uppercase-header-name",
        SESSION_PROTOCOL_ERROR,
    )
    .section("header-block");
    g
}

fn unknown() -> Group {
    let mut g = Group::new("unknown", "frame-unknown");
    let unknown = |ty: u16, flags, payload: &[u8]| {
        Unknown::new(
            FrameType::from_wire(ty),
            flags,
            Bytes::copy_from_slice(payload),
        )
    };
    g.valid(
        "noop",
        "Type 5 (NOOP, removed in SPDY/3) is unknown: it decodes as an unknown frame, which receivers ignore.",
        unknown(5, 0, &[]),
    );
    g.valid(
        "credential",
        "Type 10 (CREDENTIAL, removed in SPDY/3.1) is unknown: decoded whole and ignored.",
        unknown(
            10,
            0,
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef],
        ),
    );
    g.valid(
        "type-0",
        "Type 0 is not assigned: an unknown frame.",
        unknown(0, 0, b"\x00\x01"),
    );
    g.valid(
        "type-11",
        "Type 11, the first past SPDY's range, is unknown.",
        unknown(11, 0, b"future"),
    );
    g.valid(
        "zroute-next",
        "Type 0x5A03, next to zroute's own types, is unknown to v1.",
        unknown(0x5a03, 0, &be(1)),
    );
    g.valid(
        "type-max-with-flags",
        "Type 0xffff with every flag bit set keeps its flags and payload.",
        unknown(0xffff, 0xff, &[0xff; 16]),
    );
    g.invalid(
        "too-large",
        "An unknown frame with a 65,537-byte payload is over the limit before it can be ignored, and has no stream: session error PROTOCOL_ERROR.",
        wire(unknown(0x5a03, 0, &vec![0; MAX_PAYLOAD_LEN + 1])),
        "frame-too-large",
        SESSION_PROTOCOL_ERROR,
    )
    .section("error-table");
    g.invalid(
        "version-2",
        "The version rule holds for unknown types too: a version-2 frame of type 5 is a session error UNSUPPORTED_VERSION.",
        control_raw(2, 5, 0, 0, &[]),
        "unsupported-version",
        Reaction::Session(GoAwayStatus::UNSUPPORTED_VERSION),
    );
    g
}

/// A malformed block to drop into every frame type that carries one.
struct BadBlock {
    name: &'static str,
    what: &'static str,
    block: Vec<u8>,
    error: &'static str,
}

fn bad_blocks() -> Vec<BadBlock> {
    let bad = |name, what, block, error| BadBlock {
        name,
        what,
        block,
        error,
    };
    let truncated = "header-block-truncated";
    let invalid_name = "invalid-header-name";
    let invalid_value = "invalid-header-value";
    vec![
        bad(
            "missing-count",
            "a block with no bytes at all, not even its count",
            vec![],
            truncated,
        ),
        bad(
            "truncated-count",
            "a block of 3 bytes, too short for its 4-byte count",
            vec![0, 0, 1],
            truncated,
        ),
        bad(
            "truncated-name-length",
            "a second pair cut off inside its name length",
            cat(&[&be(2), &raw_block(&[(b"abcdef", b"ghij")])[4..], &[0, 0, 0]]),
            truncated,
        ),
        bad(
            "truncated-name",
            "a name length of 20 with 6 name bytes left",
            cat(&[&be(1), &be(20), b"abcdef"]),
            truncated,
        ),
        bad(
            "truncated-value-length",
            "a pair cut off inside its value length",
            cat(&[&be(1), &be(4), b"abcd", &[0, 0]]),
            truncated,
        ),
        bad(
            "truncated-value",
            "a value length of 100 with 3 value bytes left",
            cat(&[&be(1), &be(1), b"a", &be(100), b"xyz"]),
            truncated,
        ),
        bad(
            "count-too-large",
            "a count of 2 with room for one 8-byte pair only",
            cat(&[&be(2), &raw_block(&[(b"a", b"b")])[4..]]),
            "header-count-too-large",
        ),
        bad(
            "huge-count",
            "a count of 0xffffffff with no pairs, refused before allocating",
            be(u32::MAX).to_vec(),
            "header-count-too-large",
        ),
        bad(
            "empty-name",
            "a name of length 0",
            raw_block(&[(b"", b"x")]),
            "empty-header-name",
        ),
        bad(
            "uppercase-name",
            "an uppercase name (Content-Type)",
            raw_block(&[(b"Content-Type", b"text/plain")]),
            "uppercase-header-name",
        ),
        bad(
            "uppercase-pseudo-name",
            "an uppercase pseudo-header name (:Path)",
            raw_block(&[(b":Path", b"/")]),
            "uppercase-header-name",
        ),
        bad(
            "invalid-name-byte",
            "a name with a space, which is not a token byte",
            raw_block(&[(b"x y", b"1")]),
            invalid_name,
        ),
        bad(
            "colon-inside-name",
            "a ':' that is not the first byte of the name",
            raw_block(&[(b"a:b", b"1")]),
            invalid_name,
        ),
        bad(
            "bare-colon-name",
            "a name that is only ':'",
            raw_block(&[(b":", b"1")]),
            invalid_name,
        ),
        bad(
            "duplicate-name",
            "the same name twice, not adjacent",
            raw_block(&[(b"a", b"1"), (b"b", b"2"), (b"a", b"3")]),
            "duplicate-header-name",
        ),
        bad(
            "cr-in-value",
            "a CR byte in a value",
            raw_block(&[(b"x-a", b"one\rtwo")]),
            invalid_value,
        ),
        bad(
            "lf-in-value",
            "an LF byte in a value",
            raw_block(&[(b"x-a", b"one\ntwo")]),
            invalid_value,
        ),
        bad(
            "leading-nul",
            "a value starting with NUL (an empty first segment)",
            raw_block(&[(b"x-a", b"\0one")]),
            invalid_value,
        ),
        bad(
            "trailing-nul",
            "a value ending with NUL (an empty last segment)",
            raw_block(&[(b"x-a", b"one\0")]),
            invalid_value,
        ),
        bad(
            "double-nul",
            "two NULs in a row in a value (an empty middle segment)",
            raw_block(&[(b"x-a", b"one\0\0two")]),
            invalid_value,
        ),
        bad(
            "lone-nul",
            "a value that is a single NUL (two empty segments)",
            raw_block(&[(b"x-a", b"\0")]),
            invalid_value,
        ),
        bad(
            "trailing-bytes",
            "a stray byte after the last pair",
            cat(&[&raw_block(&[(b"a", b"b")]), &[0]]),
            "header-block-trailing-bytes",
        ),
        bad(
            "trailing-bytes-zero-count",
            "a count of 0 followed by 4 more bytes",
            cat(&[&be(0), &be(0)]),
            "header-block-trailing-bytes",
        ),
    ]
}

/// Puts a name/value block into a frame of one of the types that carry one.
type WrapBlock = fn(&[u8]) -> Vec<u8>;

fn header_block() -> Group {
    let mut g = Group::new("header_block", "header-block");
    let reply = |id, pairs: &[(&str, &str)]| SynReply::new(sid(id), block(pairs));
    g.valid(
        "all-token-bytes",
        "Every byte the name rule allows: lowercase letters, digits and !#$%&'*+-.^_`|~.",
        reply(
            1,
            &[
                (":status", "200"),
                ("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz", "x"),
            ],
        ),
    );
    g.valid(
        "unknown-pseudo-header",
        "An unknown pseudo-header (':' then token bytes) is well-formed; receivers ignore it.",
        reply(3, &[(":status", "200"), (":x-future", "1")]),
    );
    g.valid(
        "empty-value",
        "A value may be entirely empty.",
        reply(5, &[(":status", "200"), ("x-empty", "")]),
    );
    g.valid(
        "three-values",
        "Three values joined by NUL, none of them empty.",
        reply(
            7,
            &[(":status", "200"), ("via", "1.1 a\u{0}1.1 b\u{0}1.1 c")],
        ),
    );
    g.valid(
        "value-bytes",
        "Any byte but CR and LF may appear in a value: tab, DEL, bytes 0x80 to 0xff that are not UTF-8, spaces at the ends (in JSON each byte is the character of the same code point).",
        SynReply::new(
            sid(9),
            HeaderBlock::from_pairs([
                (&b":status"[..], &b"200"[..]),
                (b"x-bytes", b" tab\there \x7f caf\xe9 \x80\xff "),
            ])
            .unwrap(),
        ),
    );
    g.valid(
        "zero-pairs",
        "A block of count 0 and nothing else.",
        Headers::trailers(sid(11), HeaderBlock::new()),
    );
    let many: Vec<(String, String)> = (0..100)
        .map(|i| (format!("x-h-{i}"), i.to_string()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    g.valid(
        "hundred-pairs",
        "100 pairs, the router's default limit, all distinct.",
        reply(13, &many),
    );

    let hosts: [(&str, &str, WrapBlock, Reaction); 4] = [
        (
            "syn-stream",
            "a SYN_STREAM: a stream error PROTOCOL_ERROR",
            |b| control(SYN_STREAM, FIN, &cat(&[&be(5), &be(0), &[0x60, 0], b])),
            stream_err(5, RstCode::PROTOCOL_ERROR),
        ),
        (
            "syn-reply",
            "a SYN_REPLY: a stream error PROTOCOL_ERROR",
            |b| control(SYN_REPLY, 0, &cat(&[&be(5), b])),
            stream_err(5, RstCode::PROTOCOL_ERROR),
        ),
        (
            "headers",
            "a HEADERS: a stream error PROTOCOL_ERROR",
            |b| control(HEADERS, FIN, &cat(&[&be(5), b])),
            stream_err(5, RstCode::PROTOCOL_ERROR),
        ),
        (
            "hello",
            "HELLO's attribute block: a session error PROTOCOL_ERROR, as HELLO has no stream",
            |b| control(HELLO, 0, &cat(&[&[0, 1, 0, 0], &be(4), &be(65_536), b])),
            SESSION_PROTOCOL_ERROR,
        ),
    ];
    for bad in bad_blocks() {
        for (host, where_, frame, reaction) in &hosts {
            let comment = format!("{} in {where_}.", capitalize(bad.what));
            g.invalid(
                &format!("{}-in-{host}", bad.name),
                &comment,
                frame(&bad.block),
                bad.error,
                *reaction,
            );
        }
    }
    g
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
