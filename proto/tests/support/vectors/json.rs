//! The JSON form of the vector files, written by hand so the key order is
//! the spec's.

use std::fmt::Write as _;

use bytes::Bytes;
use zroute_proto::frame::Reaction;
use zroute_proto::{Frame, HeaderBlock, StreamId};

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
    pub(crate) fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, Self::Arr(_) | Self::Obj(_))
    }

    /// Pretty-prints with two-space indents; arrays of scalars (header
    /// pairs) stay on one line so a block reads like a header list.
    pub(super) fn render(&self, out: &mut String, indent: usize) {
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
