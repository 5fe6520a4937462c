//! What a user can say: the command line (clap), whose flags are also read
//! from `ZROUTE_*` environment variables and, by the same names, from the
//! TOML file (serde).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde::Deserialize;

use super::values::{de_duration, de_mode, parse_duration, parse_mode};

/// zroute router: HTTP in front, workers behind a ZeroMQ ROUTER socket, no backend list.
///
/// Every flag can also be set with the environment variable named in its help,
/// or in the TOML file given with --config (keys are the flag names without
/// the leading dashes). Durations take a unit: 500ms, 30s, 2m.
#[derive(Debug, Default, Parser, Deserialize)]
#[command(name = "zroute-router", version, about)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Options {
    #[command(subcommand)]
    #[serde(skip)]
    pub command: Option<Command>,

    /// TOML file with any of these settings; flags and environment win over it.
    #[arg(long, env = "ZROUTE_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address the HTTP front listens on [default: 127.0.0.1:9000].
    #[arg(long, env = "ZROUTE_HTTP")]
    pub http: Option<SocketAddr>,

    /// ZeroMQ endpoint workers connect to; repeat for several (tcp:// or ipc://)
    /// [default: tcp://127.0.0.1:8000].
    #[arg(long = "workers", env = "ZROUTE_WORKERS", value_delimiter = ',')]
    pub workers: Vec<String>,

    /// Address of the admin listener (/metrics, /workers, /healthz) [default: 127.0.0.1:9001].
    #[arg(long, env = "ZROUTE_ADMIN")]
    pub admin: Option<SocketAddr>,

    /// This router's CURVE key pair (a file from `zroute-router keygen`): workers must
    /// then use CURVE with its public key and be in --curve-allow.
    #[arg(long, env = "ZROUTE_CURVE_KEY")]
    pub curve_key: Option<PathBuf>,

    /// Allowlist of worker public keys (Z85, one per line, # comments), read again on SIGHUP.
    #[arg(long, env = "ZROUTE_CURVE_ALLOW")]
    pub curve_allow: Option<PathBuf>,

    /// Allow binding a --workers endpoint that other hosts can reach without CURVE:
    /// anyone who connects can then receive requests.
    #[arg(long, env = "ZROUTE_INSECURE")]
    #[serde(default)]
    pub insecure: bool,

    /// PEM certificate chain: serve HTTPS (h2 and http/1.1 by ALPN) instead of cleartext.
    #[arg(long, env = "ZROUTE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "ZROUTE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Heartbeat interval announced to workers [default: 1s].
    #[arg(long, env = "ZROUTE_HEARTBEAT_INTERVAL", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub heartbeat_interval: Option<Duration>,

    /// Heartbeat intervals without a frame before a worker is dead [default: 3].
    #[arg(long, env = "ZROUTE_HEARTBEAT_LIVENESS")]
    pub heartbeat_liveness: Option<u32>,

    /// Receive window per response stream, bytes [default: 65536].
    #[arg(long, env = "ZROUTE_STREAM_WINDOW")]
    pub stream_window: Option<u32>,

    /// Receive window per worker session, bytes [default: 1048576].
    #[arg(long, env = "ZROUTE_SESSION_WINDOW")]
    pub session_window: Option<u32>,

    /// Most name/value pairs accepted in a block from a worker [default: 100].
    #[arg(long, env = "ZROUTE_MAX_HEADER_PAIRS")]
    pub max_header_pairs: Option<usize>,

    /// Largest request head a client may send, bytes (431 above) [default: 32768].
    #[arg(long, env = "ZROUTE_MAX_HEADER_SIZE")]
    pub max_header_size: Option<usize>,

    /// Largest request body, bytes; 0 for no limit (413 above) [default: 0].
    #[arg(long, env = "ZROUTE_MAX_BODY_SIZE")]
    pub max_body_size: Option<u64>,

    /// Whole-request deadline until the response head (504 after) [default: 60s].
    #[arg(long, env = "ZROUTE_REQUEST_TIMEOUT", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub request_timeout: Option<Duration>,

    /// Time a worker has, once it got the request, to send the response head (504 after) [default: 30s].
    #[arg(long, env = "ZROUTE_FIRST_BYTE_TIMEOUT", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub first_byte_timeout: Option<Duration>,

    /// Idle keep-alive connections, and slow request heads, are closed after this [default: 60s].
    #[arg(long, env = "ZROUTE_IDLE_TIMEOUT", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub idle_timeout: Option<Duration>,

    /// After answering a client that may still be sending (an early 413, 502,
    /// 400), how long the router reads and discards before closing, so the
    /// client's stack does not drop the answer on a reset [default: 30s].
    #[arg(long, env = "ZROUTE_LINGERING_TIME", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub lingering_time: Option<Duration>,

    /// Longest wait for more bytes while lingering; a quiet client is closed then [default: 5s].
    #[arg(long, env = "ZROUTE_LINGERING_TIMEOUT", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub lingering_timeout: Option<Duration>,

    /// Longest request target (path and query), bytes (414 above) [default: 8192].
    #[arg(long, env = "ZROUTE_MAX_URI_SIZE")]
    pub max_uri_size: Option<usize>,

    /// Most times one request is sent again after the worker serving it died
    /// (only requests that are safe to replay); 0 never retries. A request
    /// that kills every worker it reaches cannot take down the pool [default: 1].
    #[arg(long, env = "ZROUTE_MAX_RETRIES")]
    pub max_retries: Option<u32>,

    /// Most client connections open at once; more wait in the listen backlog [default: 10000].
    #[arg(long, env = "ZROUTE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Most frames (parts) in one message from a worker; a worker that sends
    /// more loses its session (GOAWAY PROTOCOL_ERROR) [default: 4096].
    #[arg(long, env = "ZROUTE_MAX_FRAMES_PER_MESSAGE")]
    pub max_frames_per_message: Option<usize>,

    /// Most requests open on one worker at once, whatever capacity it
    /// declares [default: 1024].
    #[arg(long, env = "ZROUTE_MAX_STREAMS_PER_WORKER")]
    pub max_streams_per_worker: Option<u32>,

    /// Most worker sessions at once; a HELLO beyond it is refused
    /// (GOAWAY REFUSED, the worker retries with backoff) [default: 4096].
    #[arg(long, env = "ZROUTE_MAX_WORKERS")]
    pub max_workers: Option<usize>,

    /// Most HELLOs accepted per second, all workers together, with bursts of
    /// as many; more are refused (GOAWAY REFUSED) [default: 1000].
    #[arg(long, env = "ZROUTE_HELLO_RATE")]
    pub hello_rate: Option<u32>,

    /// Most HELLOs accepted per second from one source (an IPv4 address, an
    /// IPv6 /64, or the user of an ipc:// peer), with bursts of as many;
    /// more are refused (GOAWAY REFUSED) [default: 100].
    #[arg(long, env = "ZROUTE_HELLO_RATE_PER_SOURCE")]
    pub hello_rate_per_source: Option<u32>,

    /// Most worker sessions at once from one source (as for
    /// --hello-rate-per-source); a HELLO beyond it is refused (GOAWAY
    /// REFUSED). On loopback every worker is the same source [default: 1024].
    #[arg(long, env = "ZROUTE_MAX_WORKERS_PER_SOURCE")]
    pub max_workers_per_source: Option<usize>,

    /// Largest message part (one frame) a peer may send to a --workers
    /// endpoint, bytes: the connection is dropped at the first larger part,
    /// before buffering it. At least 65544, the largest valid frame
    /// [default: 65544].
    #[arg(long, env = "ZROUTE_MAX_PART_SIZE")]
    pub max_part_size: Option<u64>,

    /// Largest message, all its parts together, a peer may send to a
    /// --workers endpoint, bytes: the connection is dropped as the part that
    /// passes it arrives (native transport; libzmq cannot bound a message
    /// before its last part). At least --max-part-size [default: 16777216].
    #[arg(long, env = "ZROUTE_MAX_MESSAGE_SIZE")]
    pub max_message_size: Option<u64>,

    /// File mode of ipc:// --workers sockets, octal: who may connect, and so
    /// register (connecting needs write permission). Set before any process
    /// can reach the socket [default: 0600].
    #[arg(long, env = "ZROUTE_IPC_MODE", value_parser = parse_mode)]
    #[serde(default, deserialize_with = "de_mode")]
    pub ipc_mode: Option<u32>,

    /// Group of ipc:// --workers sockets, a name from /etc/group or a number;
    /// with --ipc-mode 0660 its members may register [default: the router's group].
    #[arg(long, env = "ZROUTE_IPC_GROUP")]
    pub ipc_group: Option<String>,

    /// Most concurrent streams per HTTP/2 client connection [default: 200].
    #[arg(long, env = "ZROUTE_H2_MAX_STREAMS")]
    pub h2_max_streams: Option<u32>,

    /// Streams an HTTP/2 client may reset before they are served before the
    /// connection gets GOAWAY (rapid-reset flood) [default: 20].
    #[arg(long, env = "ZROUTE_H2_MAX_RESET_STREAMS")]
    pub h2_max_reset_streams: Option<usize>,

    /// Requests that may wait for a busy pool (503 beyond) [default: 1024].
    #[arg(long, env = "ZROUTE_QUEUE_SIZE")]
    pub queue_size: Option<usize>,

    /// How long a request waits for a worker with spare capacity (503 after) [default: 5s].
    #[arg(long, env = "ZROUTE_QUEUE_TIMEOUT", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub queue_timeout: Option<Duration>,

    /// After the router starts, how long a request for which no worker is
    /// registered waits (in the queue) for workers to register, instead of
    /// 503 at once: workers reconnect after a router restart [default: 2s].
    #[arg(long, env = "ZROUTE_STARTUP_GRACE", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub startup_grace: Option<Duration>,

    /// Largest WebSocket message, each way; a client's larger one is closed with 1009 [default: 16777216].
    #[arg(long, env = "ZROUTE_WS_MAX_MESSAGE")]
    pub ws_max_message: Option<usize>,

    /// A WebSocket with no message either way for this long is closed with 1001; 0 = never [default: 0].
    #[arg(long, env = "ZROUTE_WS_IDLE_TIMEOUT", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub ws_idle_timeout: Option<Duration>,

    /// When the router drains, its WebSockets live on this long, then close with 1001 [default: 1s].
    #[arg(long, env = "ZROUTE_WS_DRAIN_GRACE", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub ws_drain_grace: Option<Duration>,

    /// How long a WebSocket close waits for the other side's close before the connection is cut [default: 5s].
    #[arg(long, env = "ZROUTE_WS_CLOSE_TIMEOUT", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub ws_close_timeout: Option<Duration>,

    /// Request body bytes kept to replay a refused request on another worker [default: 65536].
    #[arg(long, env = "ZROUTE_RETRY_BUFFER")]
    pub retry_buffer: Option<usize>,

    /// Request body bytes buffered per stream while the worker's window is closed [default: 65536].
    #[arg(long, env = "ZROUTE_STREAM_BUFFER")]
    pub stream_buffer: Option<usize>,

    /// On SIGTERM, how long in-flight requests may take to finish [default: 30s].
    #[arg(long, env = "ZROUTE_SHUTDOWN_TIMEOUT", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub shutdown_timeout: Option<Duration>,

    /// Threads that run the router: 1 runs everything (HTTP connections,
    /// the dispatcher, the worker sockets) on one thread, with no hand-off
    /// between threads on a request's path, as nginx's `worker_processes 1`;
    /// N spreads the HTTP connections over N threads (worth it for TLS-heavy
    /// loads on many cores); 0 is one per core [default: 1].
    #[arg(long, env = "ZROUTE_THREADS")]
    pub threads: Option<usize>,

    /// Log format: human or json [default: human].
    #[arg(long, env = "ZROUTE_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Log filter, as RUST_LOG [default: info].
    #[arg(long, env = "ZROUTE_LOG_LEVEL")]
    pub log_level: Option<String>,

    /// Write an access log line per request (target "access") [default: true].
    #[arg(long, env = "ZROUTE_ACCESS_LOG")]
    pub access_log: Option<bool>,

    /// This router's name in WELCOME and logs [default: zroute].
    #[arg(long, env = "ZROUTE_ROUTER_ID")]
    pub router_id: Option<String>,

    /// Unix socket for zero-downtime upgrades (docs/deploy.md): a router
    /// started while another listens on it takes over that router's HTTP and
    /// admin listeners, and shares its worker ports, instead of binding its
    /// own; the old router then hands over and exits [default: off].
    #[arg(long, env = "ZROUTE_UPGRADE_SOCKET", value_name = "PATH")]
    pub upgrade_socket: Option<PathBuf>,

    /// During an upgrade, how long the old router keeps its workers while
    /// its open client connections send one more request each (answered
    /// with `Connection: close`); then the workers move to the new router.
    /// Below --startup-grace [default: 1s].
    #[arg(long, env = "ZROUTE_HANDOVER_GRACE", value_parser = parse_duration)]
    #[serde(default, deserialize_with = "de_duration")]
    pub handover_grace: Option<Duration>,

    /// Record every worker session, every frame both ways, to one trace file
    /// per session in this directory (spec Appendix D) [default: off].
    #[arg(long, env = "ZROUTE_RECORD", value_name = "DIR")]
    pub record: Option<PathBuf>,

    /// Largest trace file, bytes; the rest of that session is not recorded; 0 for no limit [default: 67108864].
    #[arg(long, env = "ZROUTE_RECORD_MAX_BYTES")]
    pub record_max_bytes: Option<u64>,

    /// Trace files kept in the --record directory, the oldest deleted first; 0 for no limit [default: 100].
    #[arg(long, env = "ZROUTE_RECORD_MAX_FILES")]
    pub record_max_files: Option<usize>,

    /// Frame bytes waiting to be written before recording drops frames [default: 8388608].
    #[arg(long, env = "ZROUTE_RECORD_QUEUE")]
    pub record_queue: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Creates a CURVE key pair (for the router or a worker) and prints its public key.
    Keygen {
        /// Write PREFIX.key (the pair, mode 0600) and PREFIX.pub (the public key) instead
        /// of printing the pair; existing files are not overwritten.
        #[arg(long, value_name = "PREFIX")]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}
