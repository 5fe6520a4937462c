use std::time::Duration;

use super::flow::DEFAULT_WINDOW;

/// The router's default limit on name/value pairs per block it receives
/// ([spec](../../../spec/PROTOCOL.md#header-block-limits)).
pub const DEFAULT_MAX_HEADER_PAIRS: usize = 100;

/// The worker's default: a client's 100 header fields plus the 9 pairs the
/// router adds must fit.
pub const DEFAULT_WORKER_MAX_HEADER_PAIRS: usize = 128;

/// What a worker announces in HELLO, and how long it waits for WELCOME.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// `id` attribute: 1 to 128 visible ASCII bytes.
    pub id: String,
    /// Capacity: streams the worker takes at once (at least 1).
    pub max_concurrent_streams: u32,
    /// The worker's receive window for each request body.
    pub initial_window_size: u32,
    /// The session receive window kept after the handshake (at least 65,536).
    pub session_window: u32,
    /// `route` values; none means "everything no other route takes".
    pub routes: Vec<String>,
    /// `feature` values: optional parts of the spec the worker implements.
    pub features: Vec<String>,
    /// Free-form labels, shown by the router.
    pub labels: Vec<(String, String)>,
    /// How long to wait for WELCOME before giving up on this socket.
    pub handshake_timeout: Duration,
    /// The most name/value pairs accepted in a block from the router
    /// (SYN_STREAM, HEADERS, WELCOME); a block with more is malformed: a
    /// stream error PROTOCOL_ERROR, or a failed handshake for WELCOME
    /// ([spec](../../../spec/PROTOCOL.md#header-block-limits)). The spec asks
    /// workers to accept at least 100; the pseudo-headers and the fields the
    /// router adds count too. Default 100.
    pub max_header_pairs: usize,
}

impl WorkerConfig {
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            max_concurrent_streams: 64,
            initial_window_size: DEFAULT_WINDOW,
            session_window: 16 * DEFAULT_WINDOW,
            routes: Vec::new(),
            features: Vec::new(),
            labels: Vec::new(),
            handshake_timeout: Duration::from_millis(3000),
            max_header_pairs: DEFAULT_WORKER_MAX_HEADER_PAIRS,
        }
    }
}

/// The router's side of every session: heartbeat policy and windows.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// `router` attribute of WELCOME.
    pub router_id: String,
    pub heartbeat_interval: Duration,
    /// Intervals without any frame after which a session is dead.
    pub heartbeat_liveness: u32,
    /// The router's receive window for each response body.
    pub initial_window_size: u32,
    /// The session receive window kept after the handshake (at least 65,536).
    pub session_window: u32,
    /// The most name/value pairs accepted in a block from a worker (HELLO,
    /// SYN_REPLY, HEADERS); a block with more is malformed: a stream error
    /// PROTOCOL_ERROR, or GOAWAY(0, PROTOCOL_ERROR) for HELLO
    /// ([spec](../../../spec/PROTOCOL.md#header-block-limits)). Default 100.
    pub max_header_pairs: usize,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            router_id: "zroute".to_owned(),
            heartbeat_interval: Duration::from_millis(1000),
            heartbeat_liveness: 3,
            initial_window_size: DEFAULT_WINDOW,
            session_window: 16 * DEFAULT_WINDOW,
            max_header_pairs: DEFAULT_MAX_HEADER_PAIRS,
        }
    }
}
