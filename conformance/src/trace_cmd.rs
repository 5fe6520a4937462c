//! `zroute-conformance trace show | to-json | from-json`: reading and
//! converting recorded traces (spec Appendix D, `spec/trace.proto`).

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use zroute_proto::Frame;
use zroute_trace::json::{from_json, to_json};
use zroute_trace::{Direction, EndReason, MAGIC, Trace, TraceReader, write_trace};

use crate::runner::{describe, hex};

/// Reads a trace file in either form: the streamed binary one (it starts
/// with the magic) or the JSON one. A binary file cut short inside a record
/// is an error here; [`load_partial`] reads up to the cut.
pub fn load(path: &Path) -> Result<Trace, String> {
    match load_partial(path)? {
        (trace, None) => Ok(trace),
        (_, Some(e)) => Err(format!("{}: {e}", path.display())),
    }
}

/// Like [`load`], but a binary file that is damaged after its header gives
/// the events before the damage, and what is wrong with the rest.
pub fn load_partial(path: &Path) -> Result<(Trace, Option<String>), String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut head = [0u8; 8];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    let rest = std::io::BufReader::new(file);
    if head[..got] == MAGIC[..] {
        let mut reader = TraceReader::new(std::io::Cursor::new(head).chain(rest))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut events = Vec::new();
        let damage = loop {
            match reader.next_event() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        let trace = Trace {
            header: Some(reader.header().clone()),
            events,
            end: reader.end().cloned(),
        };
        Ok((trace, damage))
    } else {
        let json: serde_json::Value =
            serde_json::from_reader(std::io::Cursor::new(head[..got].to_vec()).chain(rest))
                .map_err(|e| format!("{}: neither a binary trace nor JSON: {e}", path.display()))?;
        let trace = from_json(&json).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((trace, None))
    }
}

/// The trace as text: the header, then one line per frame (time since the
/// start, session, direction, decoded frame), then how it ended.
pub fn show(trace: &Trace) -> String {
    let mut out = String::new();
    if let Some(h) = &trace.header {
        let recorder = h
            .recorder
            .as_ref()
            .map_or(String::from("?"), |r| format!("{} {}", r.name, r.version));
        let started = h
            .started_at
            .as_ref()
            .map_or(String::from("?"), ToString::to_string);
        let _ = writeln!(
            out,
            "# zroute trace: protocol {}, worker {:?}, session {:?}, recorded by {recorder}, started {started}",
            h.protocol_version, h.worker_id, h.session_id
        );
    }
    let _ = writeln!(out, "# -> router to worker, <- worker to router");
    for e in &trace.events {
        let arrow = match Direction::try_from(e.direction) {
            Ok(Direction::RouterToWorker) => "->".to_owned(),
            Ok(Direction::WorkerToRouter) => "<-".to_owned(),
            // Unknown values show as numbers (spec #trace-schema).
            _ => format!("direction {}", e.direction),
        };
        let frame = match Frame::decode(e.frame.clone()) {
            Ok(f) => describe(&f),
            Err(err) => format!("undecodable ({err}): {}", hex(&e.frame, 32)),
        };
        let _ = writeln!(
            out,
            "{:>12.6}  {}  {arrow}  {frame}",
            e.elapsed().as_secs_f64(),
            e.session_id
        );
    }
    match &trace.end {
        Some(end) => {
            let reason = EndReason::try_from(end.reason)
                .map_or_else(|_| end.reason.to_string(), |r| r.proto_name().to_owned());
            let _ = write!(out, "# end: {reason}");
            if end.dropped_frames > 0 {
                let _ = write!(out, ", {} frames not recorded", end.dropped_frames);
            }
            out.push('\n');
        }
        None => out.push_str("# no end record: the recording was cut short\n"),
    }
    out
}

/// The canonical JSON form, laid out for reading: the header first, then one
/// event per line, then the end.
pub fn to_json_text(trace: &Trace) -> String {
    let json = to_json(trace);
    let compact = |v: &serde_json::Value| serde_json::to_string(v).expect("JSON values serialise");
    let mut members = Vec::new();
    if let Some(h) = json.get("header") {
        let pretty = serde_json::to_string_pretty(h).expect("JSON values serialise");
        members.push(format!("  \"header\": {}", pretty.replace('\n', "\n  ")));
    }
    if let Some(serde_json::Value::Array(events)) = json.get("events") {
        let lines: Vec<String> = events
            .iter()
            .map(|e| format!("    {}", compact(e)))
            .collect();
        members.push(format!("  \"events\": [\n{}\n  ]", lines.join(",\n")));
    }
    if let Some(end) = json.get("end") {
        members.push(format!("  \"end\": {}", compact(end)));
    }
    format!("{{\n{}\n}}\n", members.join(",\n"))
}

/// Writes `trace` in the binary form to `path`.
pub fn save_binary(trace: &Trace, path: &Path) -> Result<(), String> {
    let mut out = Vec::new();
    write_trace(&mut out, trace).map_err(|e| e.to_string())?;
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))
}
