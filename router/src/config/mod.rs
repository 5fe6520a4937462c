//! The router's settings: flags, each also read from a `ZROUTE_*` environment
//! variable, then an optional TOML file, then defaults (in that order of
//! precedence). `Options` is what a user can say; `Config` is what the router
//! runs with, every value resolved.
//!
//! One file per concern: `cli` (the flags: clap and serde), `resolve`
//! (precedence, then every value checked), `values` (durations, modes,
//! groups, endpoints). This file holds [`Config`] and its defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use zroute_transport::CurveKeyPair;

mod cli;
mod resolve;
#[cfg(test)]
mod tests;
mod values;

pub use self::cli::{Command, LogFormat, Options};
pub use self::values::{
    is_local_endpoint, parse_duration, parse_mode, resolve_group, upgrade_tcp_addr,
};

/// Everything the router runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub http: SocketAddr,
    pub workers: Vec<String>,
    pub admin: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// CURVE on every workers endpoint: `None` is the NULL mechanism.
    pub curve: Option<CurveConfig>,
    pub insecure: bool,
    pub heartbeat_interval: Duration,
    pub heartbeat_liveness: u32,
    pub stream_window: u32,
    pub session_window: u32,
    pub max_header_pairs: usize,
    pub max_header_size: usize,
    pub max_body_size: u64,
    pub request_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub idle_timeout: Duration,
    pub lingering_time: Duration,
    pub lingering_timeout: Duration,
    pub max_uri_size: usize,
    pub max_retries: u32,
    pub max_connections: usize,
    pub max_frames_per_message: usize,
    pub max_streams_per_worker: u32,
    pub max_workers: usize,
    pub hello_rate: u32,
    pub hello_rate_per_source: u32,
    pub max_workers_per_source: usize,
    pub max_part_size: u64,
    pub max_message_size: u64,
    /// Mode of ipc:// workers socket files.
    pub ipc_mode: u32,
    /// Group (gid) of ipc:// workers socket files; `None` leaves the router's.
    pub ipc_group: Option<u32>,
    pub h2_max_streams: u32,
    pub h2_max_reset_streams: usize,
    pub queue_size: usize,
    pub queue_timeout: Duration,
    pub startup_grace: Duration,
    pub retry_buffer: usize,
    pub stream_buffer: usize,
    pub ws_max_message: usize,
    pub ws_close_timeout: Duration,
    pub ws_drain_grace: Duration,
    /// Zero: WebSockets are never closed for being idle.
    pub ws_idle_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// Runtime threads; 1 is a current-thread runtime, 0 one per core.
    pub threads: usize,
    pub log_format: LogFormat,
    pub log_level: String,
    pub access_log: bool,
    pub router_id: String,
    /// The --upgrade-socket path; `None`: no upgrades.
    pub upgrade_socket: Option<PathBuf>,
    pub handover_grace: Duration,
    /// The --record directory; `None`: recording is off.
    pub record: Option<PathBuf>,
    pub record_max_bytes: u64,
    pub record_max_files: usize,
    pub record_queue: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: ([127, 0, 0, 1], 9000).into(),
            workers: vec!["tcp://127.0.0.1:8000".to_owned()],
            admin: ([127, 0, 0, 1], 9001).into(),
            tls: None,
            curve: None,
            insecure: false,
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_liveness: 3,
            stream_window: 65_536,
            session_window: 1 << 20,
            max_header_pairs: 100,
            max_header_size: 32 * 1024,
            max_body_size: 0,
            request_timeout: Duration::from_secs(60),
            first_byte_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            lingering_time: Duration::from_secs(30),
            lingering_timeout: Duration::from_secs(5),
            max_uri_size: 8192,
            max_retries: 1,
            max_connections: 10_000,
            max_frames_per_message: 4096,
            max_streams_per_worker: 1024,
            max_workers: 4096,
            hello_rate: 1000,
            hello_rate_per_source: 100,
            max_workers_per_source: 1024,
            max_part_size: zroute_transport::ROUTER_MAX_MSG_SIZE,
            max_message_size: zroute_transport::RouterOptions::default().max_msg_bytes,
            ipc_mode: 0o600,
            ipc_group: None,
            h2_max_streams: 200,
            h2_max_reset_streams: 20,
            queue_size: 1024,
            queue_timeout: Duration::from_secs(5),
            startup_grace: Duration::from_secs(2),
            retry_buffer: 64 * 1024,
            ws_max_message: 16 << 20,
            ws_close_timeout: Duration::from_secs(5),
            ws_drain_grace: Duration::from_secs(1),
            ws_idle_timeout: Duration::ZERO,
            stream_buffer: 64 * 1024,
            shutdown_timeout: Duration::from_secs(30),
            threads: 1,
            log_format: LogFormat::Human,
            log_level: "info".to_owned(),
            access_log: true,
            router_id: "zroute".to_owned(),
            upgrade_socket: None,
            handover_grace: Duration::from_secs(1),
            record: None,
            record_max_bytes: 64 << 20,
            record_max_files: 100,
            record_queue: 8 << 20,
        }
    }
}

/// The router's CURVE settings.
#[derive(Clone, Debug)]
pub struct CurveConfig {
    pub keypair: CurveKeyPair,
    /// The allowlist file, read at start and on SIGHUP.
    pub allow: PathBuf,
}
