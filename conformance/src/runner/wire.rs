//! The wire view: the matchable fields of a frame, its one-line description
//! for the wire log, and hex dumps.

use std::fmt::Write as _;

use zroute_proto::{Frame, HeaderBlock, SettingId};

use crate::case::{FrameView, Value};

/// The stream a frame names, if any (0 counts as none).
pub(super) fn stream_of(frame: &Frame) -> Option<u32> {
    let id = match frame {
        Frame::SynStream(f) => f.stream_id(),
        Frame::SynReply(f) => f.stream_id(),
        Frame::Headers(f) => f.stream_id(),
        Frame::Data(f) => f.stream_id(),
        Frame::RstStream(f) => f.stream_id(),
        Frame::WindowUpdate(f) => f.stream_id(),
        _ => return None,
    };
    Some(id.get()).filter(|id| *id != 0)
}

/// The stream a frame ends (FLAG_FIN on SYN_REPLY, HEADERS or DATA).
pub(super) fn fin_stream(frame: &Frame) -> Option<u32> {
    match frame {
        Frame::SynReply(f) if f.is_fin() => Some(f.stream_id().get()),
        Frame::Headers(f) if f.is_fin() => Some(f.stream_id().get()),
        Frame::Data(f) if f.is_fin() => Some(f.stream_id().get()),
        _ => None,
    }
}

pub(crate) fn hex(bytes: &[u8], max: usize) -> String {
    let mut s = String::new();
    for b in bytes.iter().take(max) {
        let _ = write!(s, "{b:02x} ");
    }
    if bytes.len() > max {
        let _ = write!(s, "... ({} bytes)", bytes.len());
    }
    s.trim_end().to_owned()
}

pub(super) fn headers_of(block: &HeaderBlock) -> Vec<(String, String)> {
    block
        .iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

/// The matchable fields of a frame.
pub fn view(frame: &Frame) -> FrameView {
    let int = |x: u32| Value::Int(i64::from(x));
    let fin = |f: u8| Value::Bool(f & 1 != 0);
    type Parts = (Vec<(&'static str, Value)>, Vec<(String, String)>);
    let (fields, headers): Parts = match frame {
        Frame::Hello(h) => (
            vec![
                ("version", int(u32::from(h.version()))),
                ("capacity", int(h.max_concurrent_streams())),
                ("window", int(h.initial_window_size())),
                ("flags", int(u32::from(h.flags()))),
            ],
            headers_of(h.attributes()),
        ),
        Frame::Welcome(w) => (
            vec![
                ("version", int(u32::from(w.version()))),
                ("window", int(w.initial_window_size())),
            ],
            headers_of(w.attributes()),
        ),
        Frame::SynStream(s) => (
            vec![
                ("stream", int(s.stream_id().get())),
                ("fin", fin(s.flags())),
            ],
            headers_of(s.headers()),
        ),
        Frame::SynReply(s) => {
            let headers = headers_of(s.headers());
            let mut fields = vec![
                ("stream", int(s.stream_id().get())),
                ("fin", fin(s.flags())),
            ];
            if let Some((_, v)) = headers.iter().find(|(n, _)| n == ":status")
                && let Some(code) = v.get(..3).and_then(|c| c.parse::<u32>().ok())
            {
                fields.push(("status", int(code)));
            }
            (fields, headers)
        }
        Frame::Headers(h) => (
            vec![
                ("stream", int(h.stream_id().get())),
                ("fin", fin(h.flags())),
            ],
            headers_of(h.headers()),
        ),
        Frame::Data(d) => (
            vec![
                ("stream", int(d.stream_id().get())),
                ("fin", fin(d.flags())),
                ("length", Value::Int(d.payload().len() as i64)),
                (
                    "text",
                    Value::Str(String::from_utf8_lossy(d.payload()).into_owned()),
                ),
            ],
            Vec::new(),
        ),
        Frame::RstStream(r) => (
            vec![
                ("stream", int(r.stream_id().get())),
                ("code", Value::Code(r.code().to_wire(), r.code().name())),
            ],
            Vec::new(),
        ),
        Frame::GoAway(g) => (
            vec![
                ("last_good", int(g.last_good_stream_id().get())),
                (
                    "status",
                    Value::Code(g.status().to_wire(), g.status().name()),
                ),
            ],
            Vec::new(),
        ),
        Frame::Ping(p) => (vec![("id", int(p.id()))], Vec::new()),
        Frame::WindowUpdate(w) => (
            vec![
                ("stream", int(w.stream_id().get())),
                ("delta", int(w.delta())),
            ],
            Vec::new(),
        ),
        Frame::Settings(s) => {
            let mut fields = vec![("entries", Value::Int(s.entries().len() as i64))];
            if let Some(v) = s.get(SettingId::MAX_CONCURRENT_STREAMS) {
                fields.push(("max_concurrent_streams", int(v)));
            }
            if let Some(v) = s.get(SettingId::INITIAL_WINDOW_SIZE) {
                fields.push(("initial_window_size", int(v)));
            }
            (fields, Vec::new())
        }
        Frame::Unknown(u) => (
            vec![("frame_type", int(u32::from(u.frame_type().to_wire())))],
            Vec::new(),
        ),
    };
    FrameView {
        frame_type: frame.type_name(),
        fields,
        headers,
    }
}

/// One line for the wire log.
pub fn describe(frame: &Frame) -> String {
    let v = view(frame);
    let mut s = v.frame_type.to_owned();
    for (n, val) in &v.fields {
        if *n == "text" {
            let t = val.as_text();
            let shown: String = t.chars().take(40).collect();
            let _ = write!(
                s,
                " {n}={shown:?}{}",
                if t.chars().count() > 40 { "…" } else { "" }
            );
        } else {
            let _ = write!(s, " {n}={}", val.as_text());
        }
    }
    if !v.headers.is_empty() {
        let hs: Vec<String> = v
            .headers
            .iter()
            .map(|(n, val)| format!("{n}: {val:?}"))
            .collect();
        let _ = write!(s, " {{{}}}", hs.join(", "));
    }
    s
}
