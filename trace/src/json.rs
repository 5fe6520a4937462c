//! The proto3 canonical JSON mapping of a [`Trace`]: lowerCamelCase member
//! names, enums by name, `bytes` as standard base64, `uint64` as a string,
//! `Timestamp` as RFC 3339 in UTC and `Duration` as seconds with an `s`, and
//! members with default values left out. The parser also accepts what the
//! mapping says parsers accept: the proto field names, enum numbers, numbers
//! for 64-bit integers, URL-safe or unpadded base64, and `null` for absent.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::messages::{Direction, EndReason, Recorder, Trace, TraceEnd, TraceEvent, TraceHeader};

/// The canonical JSON of `trace`.
pub fn to_json(trace: &Trace) -> Value {
    let mut out = Map::new();
    if let Some(h) = &trace.header {
        out.insert("header".into(), header_json(h));
    }
    if !trace.events.is_empty() {
        out.insert(
            "events".into(),
            trace.events.iter().map(event_json).collect(),
        );
    }
    if let Some(end) = &trace.end {
        let mut m = Map::new();
        if end.reason != 0 {
            m.insert(
                "reason".into(),
                enum_json(end.reason, |v| {
                    EndReason::try_from(v).ok().map(EndReason::proto_name)
                }),
            );
        }
        if end.dropped_frames != 0 {
            m.insert(
                "droppedFrames".into(),
                json!(end.dropped_frames.to_string()),
            );
        }
        out.insert("end".into(), Value::Object(m));
    }
    Value::Object(out)
}

fn header_json(h: &TraceHeader) -> Value {
    let mut m = Map::new();
    if h.protocol_version != 0 {
        m.insert("protocolVersion".into(), json!(h.protocol_version));
    }
    if let Some(r) = &h.recorder {
        let mut rm = Map::new();
        put_str(&mut rm, "name", &r.name);
        put_str(&mut rm, "version", &r.version);
        m.insert("recorder".into(), Value::Object(rm));
    }
    put_str(&mut m, "workerId", &h.worker_id);
    put_str(&mut m, "sessionId", &h.session_id);
    if let Some(t) = &h.started_at {
        m.insert("startedAt".into(), json!(t.to_string()));
    }
    Value::Object(m)
}

fn event_json(e: &TraceEvent) -> Value {
    let mut m = Map::new();
    if e.direction != 0 {
        m.insert(
            "direction".into(),
            enum_json(e.direction, |v| {
                Direction::try_from(v).ok().map(Direction::proto_name)
            }),
        );
    }
    if let Some(at) = &e.at {
        m.insert("at".into(), json!(at.to_string()));
    }
    put_str(&mut m, "sessionId", &e.session_id);
    if !e.frame.is_empty() {
        m.insert("frame".into(), json!(STANDARD.encode(&e.frame)));
    }
    Value::Object(m)
}

fn put_str(m: &mut Map<String, Value>, name: &str, value: &str) {
    if !value.is_empty() {
        m.insert(name.into(), json!(value));
    }
}

/// An enum by name; a value the schema does not name stays a number.
fn enum_json(value: i32, name: impl Fn(i32) -> Option<&'static str>) -> Value {
    name(value).map_or_else(|| json!(value), |n| json!(n))
}

/// Parses the JSON form; the error names the member at fault.
pub fn from_json(value: &Value) -> Result<Trace, String> {
    let m = object(value, "trace")?;
    known(m, "", &["header", "events", "end"])?;
    let header = match member(m, "header", "header") {
        Some(h) => Some(parse_header(h)?),
        None => None,
    };
    let events = match member(m, "events", "events") {
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, e)| parse_event(e).map_err(|why| format!("events[{i}]: {why}")))
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => return Err(format!("events: expected an array, got {other}")),
        None => Vec::new(),
    };
    let end = match member(m, "end", "end") {
        Some(e) => {
            let em = object(e, "end")?;
            known(em, "end.", &["reason", "droppedFrames", "dropped_frames"])?;
            Some(TraceEnd {
                reason: parse_enum(member(em, "reason", "reason"), "end.reason", |n| {
                    EndReason::from_proto_name(n).map(|r| r as i32)
                })?,
                dropped_frames: parse_u64(
                    member(em, "droppedFrames", "dropped_frames"),
                    "end.droppedFrames",
                )?,
            })
        }
        None => None,
    };
    Ok(Trace {
        header,
        events,
        end,
    })
}

fn parse_header(v: &Value) -> Result<TraceHeader, String> {
    let m = object(v, "header")?;
    known(
        m,
        "header.",
        &[
            "protocolVersion",
            "protocol_version",
            "recorder",
            "workerId",
            "worker_id",
            "sessionId",
            "session_id",
            "startedAt",
            "started_at",
        ],
    )?;
    let recorder = match member(m, "recorder", "recorder") {
        Some(r) => {
            let rm = object(r, "header.recorder")?;
            known(rm, "header.recorder.", &["name", "version"])?;
            Some(Recorder {
                name: parse_string(member(rm, "name", "name"), "header.recorder.name")?,
                version: parse_string(member(rm, "version", "version"), "header.recorder.version")?,
            })
        }
        None => None,
    };
    let started_at = match member(m, "startedAt", "started_at") {
        Some(Value::String(s)) => Some(
            s.parse::<prost_types::Timestamp>()
                .map_err(|e| format!("header.startedAt: {e}: {s:?}"))?,
        ),
        Some(other) => {
            return Err(format!(
                "header.startedAt: expected an RFC 3339 string, got {other}"
            ));
        }
        None => None,
    };
    let version = parse_u64(
        member(m, "protocolVersion", "protocol_version"),
        "header.protocolVersion",
    )?;
    Ok(TraceHeader {
        protocol_version: u32::try_from(version)
            .map_err(|_| format!("header.protocolVersion: {version} is not a uint32"))?,
        recorder,
        worker_id: parse_string(member(m, "workerId", "worker_id"), "header.workerId")?,
        session_id: parse_string(member(m, "sessionId", "session_id"), "header.sessionId")?,
        started_at,
    })
}

fn parse_event(v: &Value) -> Result<TraceEvent, String> {
    let m = object(v, "event")?;
    known(
        m,
        "",
        &["direction", "at", "sessionId", "session_id", "frame"],
    )?;
    let at = match member(m, "at", "at") {
        Some(Value::String(s)) => Some(
            s.parse::<prost_types::Duration>()
                .map_err(|e| format!("at: {e}: {s:?}"))?,
        ),
        Some(other) => {
            return Err(format!(
                "at: expected a duration string like \"1.5s\", got {other}"
            ));
        }
        None => None,
    };
    let frame = match member(m, "frame", "frame") {
        Some(Value::String(s)) => {
            Bytes::from(decode_base64(s).ok_or_else(|| format!("frame: invalid base64 {s:?}"))?)
        }
        Some(other) => return Err(format!("frame: expected a base64 string, got {other}")),
        None => Bytes::new(),
    };
    Ok(TraceEvent {
        direction: parse_enum(member(m, "direction", "direction"), "direction", |n| {
            Direction::from_proto_name(n).map(|d| d as i32)
        })?,
        at,
        session_id: parse_string(member(m, "sessionId", "session_id"), "sessionId")?,
        frame,
    })
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(s).ok())
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what}: expected an object, got {v}"))
}

/// A member by its JSON name or its proto name; `null` counts as absent.
fn member<'a>(m: &'a Map<String, Value>, json_name: &str, proto_name: &str) -> Option<&'a Value> {
    m.get(json_name)
        .or_else(|| m.get(proto_name))
        .filter(|v| !v.is_null())
}

/// Unknown members are errors: a misspelt member would otherwise vanish silently.
fn known(m: &Map<String, Value>, at: &str, names: &[&str]) -> Result<(), String> {
    match m.keys().find(|k| !names.contains(&k.as_str())) {
        Some(k) => Err(format!("{at}{k}: unknown member")),
        None => Ok(()),
    }
}

fn parse_string(v: Option<&Value>, at: &str) -> Result<String, String> {
    match v {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("{at}: expected a string, got {other}")),
    }
}

fn parse_u64(v: Option<&Value>, at: &str) -> Result<u64, String> {
    match v {
        None => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| format!("{at}: {n} is not a non-negative integer")),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| format!("{at}: {s:?} is not a non-negative integer")),
        Some(other) => Err(format!("{at}: expected an integer, got {other}")),
    }
}

fn parse_enum(
    v: Option<&Value>,
    at: &str,
    by_name: impl Fn(&str) -> Option<i32>,
) -> Result<i32, String> {
    match v {
        None => Ok(0),
        Some(Value::String(s)) => by_name(s).ok_or_else(|| format!("{at}: unknown value {s:?}")),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| format!("{at}: {n} is not an enum number")),
        Some(other) => Err(format!("{at}: expected an enum name, got {other}")),
    }
}
