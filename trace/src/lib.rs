//! zroute trace files: one recorded worker session, frame by frame
//! (`spec/trace.proto`, `spec/TRACE.md`; spec `#trace-format`).
//!
//! It owns the file format and nothing else: reading and writing records, and
//! their JSON form. It must not decode frames or judge them (the conformance
//! suite replays a trace; the router records one), and it must not depend on
//! a socket or the router, so any tool can read a trace.
//!
//! - [`TraceWriter`] streams a trace to a file: the magic, a header record,
//!   then event records, each length-prefixed, and an optional end record.
//! - [`TraceReader`] reads one back, refusing any record above a size limit
//!   so that a corrupt or hostile file cannot make it allocate without bound.
//! - [`json`] converts a whole [`Trace`] to and from the proto3 canonical
//!   JSON mapping, the readable form used for review and hand-editing.
//!
//! Why the messages are written by hand: the schema is six small messages.
//! Generating them (`prost-build`) needs `protoc`, a system dependency, or
//! `protox` at build time, which would compile a protobuf compiler into every
//! build of the router. Instead the `#[derive(prost::Message)]` structs live in
//! [`messages`] and a test compiles `spec/trace.proto` with `protox` (a
//! dev-dependency only) and checks, through `prost-reflect`, that both the
//! binary encoding and the JSON form of these structs agree with the schema.
//! The JSON mapping is likewise hand-written over `serde_json::Value` (the
//! well-known types' text forms come from `prost-types`), rather than
//! generated with `pbjson-build`, for the same reason.
#![forbid(unsafe_code)]

mod file;
pub mod json;
pub mod messages;

pub use file::{
    DEFAULT_MAX_RECORD, MAGIC, TraceError, TraceReader, TraceWriter, read_trace, write_trace,
};
pub use messages::{Direction, EndReason, Recorder, Trace, TraceEnd, TraceEvent, TraceHeader};
