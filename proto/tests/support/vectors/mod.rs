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

use std::path::Path;
use std::{fs, io};

mod build;
mod data;
mod frame_header;
mod goaway;
mod group;
mod header_block;
mod headers;
mod hello;
pub(crate) mod json;
mod ping;
mod rst_stream;
mod settings;
mod syn_reply;
mod syn_stream;
mod unknown;
mod welcome;
mod window_update;

use self::group::{Group, Vector};
use self::json::Json;

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

fn groups() -> Vec<Group> {
    vec![
        frame_header::frame_header(),
        syn_stream::syn_stream(),
        syn_reply::syn_reply(),
        rst_stream::rst_stream(),
        settings::settings(),
        ping::ping(),
        goaway::goaway(),
        headers::headers(),
        window_update::window_update(),
        data::data(),
        hello::hello(),
        welcome::welcome(),
        unknown::unknown(),
        header_block::header_block(),
    ]
}
