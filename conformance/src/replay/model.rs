//! What a worker said, by meaning rather than by byte: per stream its reply,
//! body, trailers and end, per session its other frames; and how far one
//! such model covers another.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use zroute_proto::{Frame, HeaderBlock, StreamId};

use crate::runner::{describe, hex};

/// What a replay ignores besides PING and WINDOW_UPDATE.
#[derive(Clone, Debug)]
pub struct Noise {
    /// Response and trailer header names not compared (lowercase).
    pub ignore_headers: Vec<String>,
}

impl Default for Noise {
    fn default() -> Self {
        Self {
            // `content-length` is optional (spec #test-app-general) and the
            // body it describes is compared anyway.
            ignore_headers: vec![
                "date".into(),
                "x-request-id".into(),
                "content-length".into(),
            ],
        }
    }
}

/// One unit of what a worker says: on a stream, or on the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Unit {
    Reply(Vec<(String, String)>),
    Body(Vec<u8>),
    Trailers(Vec<(String, String)>),
    End,
    Reset(String),
    /// A session-level frame, as compared (HELLO, SETTINGS, GOAWAY, ...).
    Session(String),
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers = |hs: &[(String, String)]| {
            hs.iter()
                .map(|(n, v)| format!("{n}: {v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Self::Reply(hs) => write!(f, "SYN_REPLY {{{}}}", headers(hs)),
            Self::Body(b) => {
                let shown: String = String::from_utf8_lossy(&b[..b.len().min(60)]).into_owned();
                write!(
                    f,
                    "body {shown:?}{} ({} bytes)",
                    if b.len() > 60 { "…" } else { "" },
                    b.len()
                )
            }
            Self::Trailers(hs) => write!(f, "trailers {{{}}}", headers(hs)),
            Self::End => write!(f, "end of stream (FIN)"),
            Self::Reset(code) => write!(f, "RST_STREAM {code}"),
            Self::Session(s) => write!(f, "{s}"),
        }
    }
}

/// What a worker said, by meaning.
#[derive(Clone, Debug, Default)]
pub(super) struct Model {
    session: Vec<Unit>,
    streams: BTreeMap<u32, Vec<Unit>>,
}

impl Model {
    pub(super) fn apply(&mut self, frame: &Result<Frame, String>, raw: &[u8], noise: &Noise) {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                self.session.push(Unit::Session(format!(
                    "undecodable ({e}): {}",
                    hex(raw, 32)
                )));
                return;
            }
        };
        let headers = |block: &HeaderBlock| -> Vec<(String, String)> {
            let mut hs: Vec<(String, String)> = block
                .iter()
                .map(|(n, v)| {
                    let name = String::from_utf8_lossy(n).into_owned();
                    let mut value = String::from_utf8_lossy(v).into_owned();
                    // `trailer` lists field names, which are case-insensitive.
                    if name == "trailer" {
                        value.make_ascii_lowercase();
                    }
                    (name, value)
                })
                .filter(|(n, _)| !noise.ignore_headers.contains(n))
                .collect();
            hs.sort();
            hs
        };
        match frame {
            Frame::Ping(_) | Frame::WindowUpdate(_) => {}
            Frame::SynReply(r) => {
                let s = self.stream(r.stream_id());
                s.push(Unit::Reply(headers(r.headers())));
                if r.is_fin() {
                    s.push(Unit::End);
                }
            }
            Frame::Data(d) => {
                let s = self.stream(d.stream_id());
                if !d.payload().is_empty() {
                    match s.last_mut() {
                        Some(Unit::Body(b)) => b.extend_from_slice(d.payload()),
                        _ => s.push(Unit::Body(d.payload().to_vec())),
                    }
                }
                if d.is_fin() {
                    s.push(Unit::End);
                }
            }
            Frame::Headers(h) => {
                let s = self.stream(h.stream_id());
                s.push(Unit::Trailers(headers(h.headers())));
                if h.is_fin() {
                    s.push(Unit::End);
                }
            }
            Frame::RstStream(r) => {
                let code = r.code();
                let name = code
                    .name()
                    .map_or_else(|| code.to_wire().to_string(), str::to_owned);
                self.stream(r.stream_id()).push(Unit::Reset(name));
            }
            Frame::Hello(h) => {
                let list = |name: &str| -> Vec<String> {
                    let mut v: Vec<String> = h
                        .attributes()
                        .values(name)
                        .flat_map(|v| v.split(|b| *b == 0))
                        .filter(|v| !v.is_empty())
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .collect();
                    v.sort();
                    v
                };
                // Capacity and window are configuration, not behaviour (the
                // replay adapts its request DATA to the live window); a
                // feature shows in the streams that use it.
                self.session.push(Unit::Session(format!(
                    "HELLO version={} flags={} route={:?}",
                    h.version(),
                    h.flags(),
                    list("route"),
                )));
            }
            other => self.session.push(Unit::Session(describe(other))),
        }
    }

    fn stream(&mut self, id: StreamId) -> &mut Vec<Unit> {
        self.streams.entry(id.get()).or_default()
    }

    /// The recorded worker's id replaced by the live one in bodies and header values.
    pub(super) fn with_id(&self, recorded: &str, live: &str) -> Self {
        if recorded.is_empty() || recorded == live {
            return self.clone();
        }
        let hs = |hs: &[(String, String)]| -> Vec<(String, String)> {
            hs.iter()
                .map(|(n, v)| (n.clone(), v.replace(recorded, live)))
                .collect()
        };
        let unit = |u: &Unit| match u {
            Unit::Reply(h) => Unit::Reply(hs(h)),
            Unit::Trailers(h) => Unit::Trailers(hs(h)),
            Unit::Body(b) => Unit::Body(replace_bytes(b, recorded.as_bytes(), live.as_bytes())),
            other => other.clone(),
        };
        Self {
            session: self.session.clone(),
            streams: self
                .streams
                .iter()
                .map(|(id, units)| (*id, units.iter().map(unit).collect()))
                .collect(),
        }
    }
}

fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// How far the live worker's output covers the recorded one.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Cover {
    Yes,
    /// Not yet: what is missing.
    NotYet(String),
    /// Can never match: how it differs.
    Diverged(String),
}

/// Does `live` contain `want`? With `exact`, nothing more may follow; without,
/// `want` may be a prefix (its last body unit a byte prefix) of `live`.
fn covers(live: &[Unit], want: &[Unit], exact: bool) -> Cover {
    for (i, w) in want.iter().enumerate() {
        let Some(l) = live.get(i) else {
            return Cover::NotYet(format!("expected {w}, nothing yet"));
        };
        match (w, l) {
            (Unit::Body(wb), Unit::Body(lb)) => {
                let n = wb.len().min(lb.len());
                if let Some(k) = (0..n).find(|&k| wb[k] != lb[k]) {
                    return Cover::Diverged(format!(
                        "expected {w}, got {l}: they differ at byte {k}"
                    ));
                }
                let last_live = i + 1 == live.len();
                let last_want = i + 1 == want.len();
                if lb.len() < wb.len() {
                    if last_live {
                        return Cover::NotYet(format!("expected {w}, so far {} bytes", lb.len()));
                    }
                    return Cover::Diverged(format!(
                        "expected {w}, got {l} followed by {}",
                        live[i + 1]
                    ));
                }
                if lb.len() > wb.len() && (exact || !last_want) {
                    return Cover::Diverged(format!("expected {w}, got {l}"));
                }
            }
            _ if w == l => {}
            _ => return Cover::Diverged(format!("expected {w}, got {l}")),
        }
    }
    if exact && let Some(extra) = live.get(want.len()) {
        return Cover::Diverged(format!("unexpected {extra} after the recorded end"));
    }
    Cover::Yes
}

/// Compares two models; streams in `loose` (reset by the router) only by prefix.
pub(super) fn compare(live: &Model, want: &Model, exact: bool, loose: &HashSet<u32>) -> Cover {
    let mut not_yet = None;
    let mut check = |what: String, c: Cover| match c {
        Cover::Yes => None,
        Cover::NotYet(why) => {
            not_yet.get_or_insert(format!("{what}: {why}"));
            None
        }
        Cover::Diverged(why) => Some(format!("{what}: {why}")),
    };
    if let Some(d) = check(
        "session".into(),
        covers(&live.session, &want.session, exact),
    ) {
        return Cover::Diverged(d);
    }
    for (id, units) in &want.streams {
        let live_units = live.streams.get(id).map_or(&[][..], Vec::as_slice);
        let c = covers(live_units, units, exact && !loose.contains(id));
        if let Some(d) = check(format!("stream {id}"), c) {
            return Cover::Diverged(d);
        }
    }
    if exact {
        for (id, units) in &live.streams {
            if !want.streams.contains_key(id) && !loose.contains(id) && !units.is_empty() {
                return Cover::Diverged(format!(
                    "stream {id}: the recorded worker sent nothing, got {}",
                    units[0]
                ));
            }
        }
    }
    match not_yet {
        Some(why) => Cover::NotYet(why),
        None => Cover::Yes,
    }
}

/// Recorded (`-`) against live (`+`) units of each part that differs;
/// equal units are shown unmarked for context.
pub(super) fn render_diff(live: &Model, want: &Model, loose: &HashSet<u32>) -> Vec<String> {
    let mut out = Vec::new();
    let mut section = |name: String, w: &[Unit], l: &[Unit]| {
        if w == l {
            return;
        }
        out.push(format!("{name}:"));
        for i in 0..w.len().max(l.len()) {
            match (w.get(i), l.get(i)) {
                (Some(a), Some(b)) if a == b => out.push(format!("    {a}")),
                (a, b) => {
                    if let Some(a) = a {
                        out.push(format!("  - {a}"));
                    }
                    if let Some(b) = b {
                        out.push(format!("  + {b}"));
                    }
                }
            }
        }
    };
    section("session".into(), &want.session, &live.session);
    let ids: std::collections::BTreeSet<u32> = want
        .streams
        .keys()
        .chain(live.streams.keys())
        .copied()
        .collect();
    let none: Vec<Unit> = Vec::new();
    for id in ids {
        let name = if loose.contains(&id) {
            format!("stream {id} (reset by the router: only what came before the reset counts)")
        } else {
            format!("stream {id}")
        };
        section(
            name,
            want.streams.get(&id).unwrap_or(&none),
            live.streams.get(&id).unwrap_or(&none),
        );
    }
    out
}

/// The stream a frame from the worker is on.
pub(super) fn stream_of(frame: &Result<Frame, String>) -> Option<u32> {
    match frame {
        Ok(Frame::SynReply(f)) => Some(f.stream_id().get()),
        Ok(Frame::Data(f)) => Some(f.stream_id().get()),
        Ok(Frame::Headers(f)) => Some(f.stream_id().get()),
        Ok(Frame::RstStream(f)) => Some(f.stream_id().get()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str) -> Unit {
        Unit::Body(s.as_bytes().to_vec())
    }

    #[test]
    fn bodies_compare_by_bytes_not_by_frames() {
        let want = [Unit::Reply(vec![]), body("hello"), Unit::End];
        assert_eq!(
            covers(
                &[Unit::Reply(vec![]), body("hello"), Unit::End],
                &want,
                true
            ),
            Cover::Yes
        );
        assert!(matches!(
            covers(&[Unit::Reply(vec![]), body("hel")], &want, true),
            Cover::NotYet(_)
        ));
        assert!(matches!(
            covers(&[Unit::Reply(vec![]), body("help")], &want, true),
            Cover::Diverged(_)
        ));
        assert!(matches!(
            covers(&[Unit::Reply(vec![]), body("hel"), Unit::End], &want, true),
            Cover::Diverged(_)
        ));
        assert!(matches!(
            covers(&[Unit::Reply(vec![]), body("hello!")], &want, true),
            Cover::Diverged(_)
        ));
        // A snapshot taken mid-body is covered by more of the same body.
        let snapshot = [Unit::Reply(vec![]), body("he")];
        assert_eq!(
            covers(&[Unit::Reply(vec![]), body("hello")], &snapshot, false),
            Cover::Yes
        );
        assert!(matches!(
            covers(
                &[Unit::Reply(vec![]), body("hello"), Unit::End],
                &want,
                true
            ),
            Cover::Yes
        ));
        assert!(
            matches!(covers(&want, &want[..2], true), Cover::Diverged(_)),
            "exact: nothing more"
        );
    }

    #[test]
    fn the_recorded_id_stands_for_the_live_one() {
        let mut model = Model::default();
        model.streams.insert(1, vec![body("Hello from w1")]);
        let live = model.with_id("w1", "go-7");
        assert_eq!(live.streams[&1], vec![body("Hello from go-7")]);
    }
}
