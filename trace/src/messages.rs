//! The messages of `spec/trace.proto`, package `zroute.trace.v1`. Field tags
//! and types must match the schema; `tests/schema.rs` checks that they do.

use bytes::Bytes;
use prost_types::{Duration, Timestamp};

/// One record of a streamed trace file: exactly one member is set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Record {
    #[prost(oneof = "RecordKind", tags = "1, 2, 3")]
    pub kind: Option<RecordKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum RecordKind {
    #[prost(message, tag = "1")]
    Header(TraceHeader),
    #[prost(message, tag = "2")]
    Event(TraceEvent),
    #[prost(message, tag = "3")]
    End(TraceEnd),
}

/// A whole trace in one message: what the JSON form holds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Trace {
    #[prost(message, optional, tag = "1")]
    pub header: Option<TraceHeader>,
    #[prost(message, repeated, tag = "2")]
    pub events: Vec<TraceEvent>,
    /// Absent if the recording was cut short.
    #[prost(message, optional, tag = "3")]
    pub end: Option<TraceEnd>,
}

/// What was recorded, by whom, when.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TraceHeader {
    /// The zroute protocol version of the session.
    #[prost(uint32, tag = "1")]
    pub protocol_version: u32,
    #[prost(message, optional, tag = "2")]
    pub recorder: Option<Recorder>,
    /// The worker's `id` attribute from its HELLO.
    #[prost(string, tag = "3")]
    pub worker_id: String,
    /// The router's session id, as sent in WELCOME.
    #[prost(string, tag = "4")]
    pub session_id: String,
    /// Wall-clock time of the trace start; event times count from here.
    #[prost(message, optional, tag = "5")]
    pub started_at: Option<Timestamp>,
}

/// The program that recorded the trace.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Recorder {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
}

/// Which way a frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Direction {
    Unspecified = 0,
    RouterToWorker = 1,
    WorkerToRouter = 2,
}

/// One frame as it crossed the socket.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TraceEvent {
    /// A [`Direction`].
    #[prost(enumeration = "Direction", tag = "1")]
    pub direction: i32,
    /// Monotonic time since the trace start.
    #[prost(message, optional, tag = "2")]
    pub at: Option<Duration>,
    /// The router's session id.
    #[prost(string, tag = "3")]
    pub session_id: String,
    /// The frame's exact bytes: one ZeroMQ message part.
    #[prost(bytes = "bytes", tag = "4")]
    pub frame: Bytes,
}

/// Why the recording stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EndReason {
    Unspecified = 0,
    SessionClosed = 1,
    RecorderStopped = 2,
    MaxBytes = 3,
    FramesDropped = 4,
}

/// The last record of a trace that ended in order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TraceEnd {
    /// An [`EndReason`].
    #[prost(enumeration = "EndReason", tag = "1")]
    pub reason: i32,
    /// Frames of this session that are not in the trace.
    #[prost(uint64, tag = "2")]
    pub dropped_frames: u64,
}

impl Direction {
    /// The name in `spec/trace.proto` (and in the JSON form).
    pub fn proto_name(self) -> &'static str {
        match self {
            Self::Unspecified => "DIRECTION_UNSPECIFIED",
            Self::RouterToWorker => "ROUTER_TO_WORKER",
            Self::WorkerToRouter => "WORKER_TO_ROUTER",
        }
    }

    pub fn from_proto_name(name: &str) -> Option<Self> {
        [
            Self::Unspecified,
            Self::RouterToWorker,
            Self::WorkerToRouter,
        ]
        .into_iter()
        .find(|d| d.proto_name() == name)
    }
}

impl EndReason {
    /// The name in `spec/trace.proto` (and in the JSON form).
    pub fn proto_name(self) -> &'static str {
        match self {
            Self::Unspecified => "END_REASON_UNSPECIFIED",
            Self::SessionClosed => "SESSION_CLOSED",
            Self::RecorderStopped => "RECORDER_STOPPED",
            Self::MaxBytes => "MAX_BYTES",
            Self::FramesDropped => "FRAMES_DROPPED",
        }
    }

    pub fn from_proto_name(name: &str) -> Option<Self> {
        [
            Self::Unspecified,
            Self::SessionClosed,
            Self::RecorderStopped,
            Self::MaxBytes,
            Self::FramesDropped,
        ]
        .into_iter()
        .find(|r| r.proto_name() == name)
    }
}

impl TraceEvent {
    /// An event `at` after the trace start.
    pub fn new(
        direction: Direction,
        at: std::time::Duration,
        session_id: &str,
        frame: Bytes,
    ) -> Self {
        Self {
            direction: direction as i32,
            at: Some(duration(at)),
            session_id: session_id.to_owned(),
            frame,
        }
    }

    /// The event's time since the trace start (zero if absent or negative).
    pub fn elapsed(&self) -> std::time::Duration {
        self.at
            .and_then(|d| std::time::Duration::try_from(d).ok())
            .unwrap_or_default()
    }
}

impl TraceEnd {
    pub fn new(reason: EndReason, dropped_frames: u64) -> Self {
        Self {
            reason: reason as i32,
            dropped_frames,
        }
    }
}

fn duration(d: std::time::Duration) -> Duration {
    Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: d.subsec_nanos() as i32,
    }
}
