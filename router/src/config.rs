//! The router's settings: flags, each also read from a `ZROUTE_*` environment
//! variable, then an optional TOML file, then defaults (in that order of
//! precedence). `Options` is what a user can say; `Config` is what the router
//! runs with, every value resolved.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde::Deserialize;
use zroute_transport::CurveKeyPair;

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
    /// endpoint, bytes: libzmq drops the connection at the first larger
    /// part, before buffering it. At least 65544, the largest valid frame
    /// [default: 65544].
    #[arg(long, env = "ZROUTE_MAX_PART_SIZE")]
    pub max_part_size: Option<u64>,

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
    pub shutdown_timeout: Duration,
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
            ipc_mode: 0o600,
            ipc_group: None,
            h2_max_streams: 200,
            h2_max_reset_streams: 20,
            queue_size: 1024,
            queue_timeout: Duration::from_secs(5),
            startup_grace: Duration::from_secs(2),
            retry_buffer: 64 * 1024,
            stream_buffer: 64 * 1024,
            shutdown_timeout: Duration::from_secs(30),
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

impl Options {
    /// Reads the TOML file named by --config (if any) and fills in what the
    /// command line and environment left unset.
    pub fn resolve(self) -> Result<Config, String> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                toml::from_str::<Self>(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Self::default(),
        };
        let d = Config::default();
        macro_rules! pick {
            ($field:ident) => {
                self.$field.or(file.$field).unwrap_or(d.$field)
            };
        }
        let workers = if !self.workers.is_empty() {
            self.workers
        } else if !file.workers.is_empty() {
            file.workers
        } else {
            d.workers
        };
        let tls = match (
            self.tls_cert.or(file.tls_cert),
            self.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".to_owned()),
        };
        let curve = match (
            self.curve_key.or(file.curve_key),
            self.curve_allow.or(file.curve_allow),
        ) {
            (Some(key), Some(allow)) => Some(CurveConfig {
                keypair: CurveKeyPair::from_file(&key).map_err(|e| format!("--curve-key {e}"))?,
                allow,
            }),
            (None, None) => None,
            _ => return Err("--curve-key and --curve-allow go together".to_owned()),
        };
        if curve.is_some() && !zroute_transport::curve_available() {
            return Err("this build's libzmq has no CURVE support".to_owned());
        }
        let config = Config {
            http: pick!(http),
            workers,
            admin: pick!(admin),
            tls,
            curve,
            insecure: self.insecure || file.insecure,
            heartbeat_interval: pick!(heartbeat_interval),
            heartbeat_liveness: pick!(heartbeat_liveness),
            stream_window: pick!(stream_window),
            session_window: pick!(session_window),
            max_header_pairs: pick!(max_header_pairs),
            max_header_size: pick!(max_header_size),
            max_body_size: pick!(max_body_size),
            request_timeout: pick!(request_timeout),
            first_byte_timeout: pick!(first_byte_timeout),
            idle_timeout: pick!(idle_timeout),
            lingering_time: pick!(lingering_time),
            lingering_timeout: pick!(lingering_timeout),
            max_uri_size: pick!(max_uri_size),
            max_retries: pick!(max_retries),
            max_connections: pick!(max_connections),
            max_frames_per_message: pick!(max_frames_per_message),
            max_streams_per_worker: pick!(max_streams_per_worker),
            max_workers: pick!(max_workers),
            hello_rate: pick!(hello_rate),
            hello_rate_per_source: pick!(hello_rate_per_source),
            max_workers_per_source: pick!(max_workers_per_source),
            max_part_size: pick!(max_part_size),
            ipc_mode: pick!(ipc_mode),
            ipc_group: match self.ipc_group.or(file.ipc_group) {
                Some(group) => Some(resolve_group(&group)?),
                None => None,
            },
            h2_max_streams: pick!(h2_max_streams),
            h2_max_reset_streams: pick!(h2_max_reset_streams),
            queue_size: pick!(queue_size),
            queue_timeout: pick!(queue_timeout),
            startup_grace: pick!(startup_grace),
            retry_buffer: pick!(retry_buffer),
            stream_buffer: pick!(stream_buffer),
            shutdown_timeout: pick!(shutdown_timeout),
            log_format: pick!(log_format),
            log_level: self.log_level.or(file.log_level).unwrap_or(d.log_level),
            access_log: pick!(access_log),
            router_id: self.router_id.or(file.router_id).unwrap_or(d.router_id),
            upgrade_socket: self.upgrade_socket.or(file.upgrade_socket),
            handover_grace: pick!(handover_grace),
            record: self.record.or(file.record),
            record_max_bytes: pick!(record_max_bytes),
            record_max_files: pick!(record_max_files),
            record_queue: pick!(record_queue),
        };
        config.validate()?;
        Ok(config)
    }
}

impl Config {
    fn validate(&self) -> Result<(), String> {
        let checks: [(bool, &str); 18] = [
            (
                !self.heartbeat_interval.is_zero(),
                "heartbeat-interval must be above 0",
            ),
            (
                self.heartbeat_liveness >= 1,
                "heartbeat-liveness must be at least 1",
            ),
            (
                (1..=0x7fff_ffff).contains(&self.stream_window),
                "stream-window must be 1..2^31-1",
            ),
            (
                (65_536..=0x7fff_ffff).contains(&self.session_window),
                "session-window must be 65536..2^31-1",
            ),
            (
                self.max_header_size >= 1024,
                "max-header-size must be at least 1024",
            ),
            (self.max_uri_size >= 64, "max-uri-size must be at least 64"),
            (
                self.max_frames_per_message >= 1,
                "max-frames-per-message must be at least 1",
            ),
            (
                self.max_streams_per_worker >= 1,
                "max-streams-per-worker must be at least 1",
            ),
            (self.max_workers >= 1, "max-workers must be at least 1"),
            (self.hello_rate >= 1, "hello-rate must be at least 1"),
            (
                self.hello_rate_per_source >= 1,
                "hello-rate-per-source must be at least 1",
            ),
            (
                self.max_workers_per_source >= 1,
                "max-workers-per-source must be at least 1",
            ),
            (
                self.max_part_size >= zroute_transport::ROUTER_MAX_MSG_SIZE,
                "max-part-size must be at least 65544 (the largest frame)",
            ),
            (
                self.ipc_mode <= 0o777,
                "ipc-mode must be permission bits only (0 to 0777)",
            ),
            (
                self.h2_max_streams >= 1,
                "h2-max-streams must be at least 1",
            ),
            (
                self.stream_buffer >= 1024,
                "stream-buffer must be at least 1024",
            ),
            (
                !self.workers.is_empty(),
                "at least one --workers endpoint is needed",
            ),
            (
                self.record_queue >= 65_544,
                "record-queue must be at least 65544 (one frame)",
            ),
        ];
        if let Some((_, msg)) = checks.iter().find(|(ok, _)| !ok) {
            return Err((*msg).to_owned());
        }
        if self.upgrade_socket.is_some() {
            // The new router holds requests for --startup-grace while the
            // old one keeps the workers for --handover-grace.
            if self.handover_grace >= self.startup_grace {
                return Err("handover-grace must be below startup-grace".to_owned());
            }
            // A successor can share a worker port only if it is the same one.
            if let Some(endpoint) = self
                .workers
                .iter()
                .find(|e| e.starts_with("tcp://") && upgrade_tcp_addr(e).is_none())
            {
                return Err(format!(
                    "--upgrade-socket needs tcp:// worker endpoints with an IP address and a                      fixed port (a successor shares the port): {endpoint}"
                ));
            }
        }
        if self.curve.is_none()
            && !self.insecure
            && let Some(endpoint) = self.exposed_endpoints().next()
        {
            return Err(format!(
                "refusing to bind {endpoint} without CURVE: any host that can reach it could \
                 register as a worker and receive every request.\n\
                 Set up keys (docs/security.md):\n  \
                 zroute-router keygen --out router   # router.key, router.pub\n  \
                 zroute-router keygen --out worker   # one pair per worker; add worker.pub to the allowlist\n  \
                 cat worker.pub >> workers.allow\n  \
                 zroute-router --curve-key router.key --curve-allow workers.allow --workers {endpoint}\n\
                 and start workers with --curve-server-key router.pub --curve-key worker.key.\n\
                 Or bind a loopback or ipc:// endpoint, or pass --insecure (ZROUTE_INSECURE=true) \
                 to accept unauthenticated workers."
            ));
        }
        Ok(())
    }

    /// The workers endpoints that other hosts may reach (spec section 14.2).
    pub fn exposed_endpoints(&self) -> impl Iterator<Item = &str> {
        self.workers
            .iter()
            .map(String::as_str)
            .filter(|e| !is_local_endpoint(e))
    }
}

/// The router's CURVE settings.
#[derive(Clone, Debug)]
pub struct CurveConfig {
    pub keypair: CurveKeyPair,
    /// The allowlist file, read at start and on SIGHUP.
    pub allow: PathBuf,
}

/// Whether only this host can reach `endpoint`: ipc:// and inproc://, and
/// tcp:// on a loopback address (127.0.0.0/8, ::1, `localhost`, `lo`). A
/// wildcard (`*`, 0.0.0.0, ::), any other address, interface or transport is
/// exposed.
pub fn is_local_endpoint(endpoint: &str) -> bool {
    if endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://") {
        return true;
    }
    let Some(rest) = endpoint.strip_prefix("tcp://") else {
        return false;
    };
    let Some((host, _port)) = rest.rsplit_once(':') else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host {
        "localhost" | "lo" => true,
        _ => host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()),
    }
}

/// The address of a `tcp://IP:PORT` worker endpoint with a fixed port, which
/// an upgrade's two routers can share (SO_REUSEPORT).
pub fn upgrade_tcp_addr(endpoint: &str) -> Option<SocketAddr> {
    let addr: SocketAddr = endpoint.strip_prefix("tcp://")?.parse().ok()?;
    (addr.port() != 0).then_some(addr)
}

/// A file mode in octal, as chmod takes it: `0660`, `660`, `0o660`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.trim().trim_start_matches("0o");
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("invalid file mode {text:?}: octal digits, as 0660"))
}

fn de_mode<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<u32>, D::Error> {
    let text = Option::<String>::deserialize(de)?;
    text.map(|t| parse_mode(&t).map_err(serde::de::Error::custom))
        .transpose()
}

/// A group given by number, or by name from /etc/group (groups only a name
/// service knows, LDAP say, need their number).
pub fn resolve_group(group: &str) -> Result<u32, String> {
    if let Ok(gid) = group.parse() {
        return Ok(gid);
    }
    let table = std::fs::read_to_string("/etc/group")
        .map_err(|e| format!("--ipc-group {group}: /etc/group: {e}"))?;
    table
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let gid = fields.nth(1)?.parse().ok()?;
            Some((name, gid))
        })
        .find(|(name, _)| *name == group)
        .map(|(_, gid)| gid)
        .ok_or_else(|| {
            format!("--ipc-group {group}: no such group in /etc/group (give its number instead)")
        })
}

/// `250ms`, `30s`, `2m`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}"))?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("invalid duration {text:?}: use ms, s or m")),
    }
}

fn de_duration<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    let text = Option::<String>::deserialize(de)?;
    text.map(|t| parse_duration(&t).map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("ms").is_err());
    }

    #[test]
    fn flags_beat_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zroute.toml");
        std::fs::write(
            &path,
            "http = \"127.0.0.1:7000\"\nqueue-size = 5\nrequest-timeout = \"9s\"\n",
        )
        .unwrap();
        let opts = Options::parse_from([
            "zroute-router",
            "--config",
            path.to_str().unwrap(),
            "--queue-size",
            "7",
        ]);
        let config = opts.resolve().unwrap();
        assert_eq!(config.http, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(config.queue_size, 7);
        assert_eq!(config.request_timeout, Duration::from_secs(9));
        assert_eq!(config.admin, Config::default().admin);
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zroute.toml");
        std::fs::write(&path, "htp = \"127.0.0.1:7000\"\n").unwrap();
        let opts = Options::parse_from(["zroute-router", "--config", path.to_str().unwrap()]);
        assert!(opts.resolve().unwrap_err().contains("htp"));
    }

    // spec: #security-insecure
    #[test]
    fn exposed_endpoints_need_curve_or_insecure() {
        for local in [
            "tcp://127.0.0.1:8000",
            "tcp://127.1.2.3:*",
            "tcp://[::1]:8000",
            "tcp://localhost:8000",
            "ipc:///tmp/zroute.sock",
        ] {
            assert!(is_local_endpoint(local), "{local}");
            let opts = Options::parse_from(["zroute-router", "--workers", local]);
            assert!(opts.resolve().is_ok(), "{local}");
        }
        for exposed in [
            "tcp://*:8000",
            "tcp://0.0.0.0:8000",
            "tcp://[::]:8000",
            "tcp://10.0.0.5:8000",
            "tcp://eth0:8000",
            "tcp://example.com:8000",
            "ws://127.0.0.1:8000",
        ] {
            assert!(!is_local_endpoint(exposed), "{exposed}");
            let opts = Options::parse_from(["zroute-router", "--workers", exposed]);
            let err = opts.resolve().unwrap_err();
            assert!(
                err.contains("keygen") && err.contains("--insecure"),
                "{err}"
            );
            let opts = Options::parse_from(["zroute-router", "--insecure", "--workers", exposed]);
            assert!(opts.resolve().is_ok(), "{exposed}");
        }
    }

    #[test]
    fn curve_key_and_allowlist_go_together() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("router.key");
        std::fs::write(&key, CurveKeyPair::generate().unwrap().to_key_file_text()).unwrap();
        let path = dir.path().join("zroute.toml");
        std::fs::write(&path, format!("curve-key = {:?}\n", key.to_str().unwrap())).unwrap();
        let opts = Options::parse_from(["zroute-router", "--config", path.to_str().unwrap()]);
        assert!(opts.resolve().unwrap_err().contains("go together"));
        let allow = dir.path().join("workers.allow");
        let opts = Options::parse_from([
            "zroute-router",
            "--config",
            path.to_str().unwrap(),
            "--curve-allow",
            allow.to_str().unwrap(),
            "--workers",
            "tcp://0.0.0.0:8000",
        ]);
        let config = opts.resolve().unwrap();
        assert_eq!(config.curve.unwrap().allow, allow);
    }

    #[test]
    fn record_settings_from_flag_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zroute.toml");
        std::fs::write(&path, "record = \"/tmp/traces\"\nrecord-max-files = 3\n").unwrap();
        let opts = Options::parse_from(["zroute-router", "--config", path.to_str().unwrap()]);
        let config = opts.resolve().unwrap();
        assert_eq!(config.record, Some(PathBuf::from("/tmp/traces")));
        assert_eq!(config.record_max_files, 3);
        assert_eq!(config.record_max_bytes, 64 << 20);
        let off = Options::parse_from(["zroute-router"]).resolve().unwrap();
        assert_eq!(off.record, None);
        let opts = Options::parse_from(["zroute-router", "--record", "d", "--record-queue", "10"]);
        assert!(opts.resolve().unwrap_err().contains("record-queue"));
    }

    #[test]
    fn upgrade_settings() {
        let opts = Options::parse_from(["zroute-router"]);
        let config = opts.resolve().unwrap();
        assert_eq!(config.upgrade_socket, None);
        assert_eq!(config.handover_grace, Duration::from_secs(1));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zroute.toml");
        std::fs::write(
            &path,
            "upgrade-socket = \"/run/zroute/upgrade.sock\"\nhandover-grace = \"500ms\"\n",
        )
        .unwrap();
        let opts = Options::parse_from(["zroute-router", "--config", path.to_str().unwrap()]);
        let config = opts.resolve().unwrap();
        assert_eq!(
            config.upgrade_socket,
            Some(PathBuf::from("/run/zroute/upgrade.sock"))
        );
        assert_eq!(config.handover_grace, Duration::from_millis(500));
        for (bad, why) in [
            (["--workers", "tcp://127.0.0.1:*"], "fixed port"),
            (["--workers", "tcp://localhost:8000"], "IP address"),
            (["--handover-grace", "2s"], "below startup-grace"),
        ] {
            let mut args = vec!["zroute-router", "--upgrade-socket", "/tmp/u.sock"];
            args.extend(bad);
            let err = Options::parse_from(args).resolve().unwrap_err();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn worker_port_limits_from_flag_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zroute.toml");
        std::fs::write(
            &path,
            "ipc-mode = \"0660\"\nipc-group = \"root\"\nhello-rate-per-source = 7\n",
        )
        .unwrap();
        let opts = Options::parse_from(["zroute-router", "--config", path.to_str().unwrap()]);
        let config = opts.resolve().unwrap();
        assert_eq!(config.ipc_mode, 0o660);
        assert_eq!(config.ipc_group, Some(0));
        assert_eq!(config.hello_rate_per_source, 7);
        assert_eq!(config.max_workers_per_source, 1024);
        assert_eq!(config.max_part_size, 65_544);
        let defaults = Options::parse_from(["zroute-router"]).resolve().unwrap();
        assert_eq!(defaults.ipc_mode, 0o600);
        assert_eq!(defaults.ipc_group, None);
        for bad in [
            &["--max-part-size", "65543"][..],
            &["--hello-rate-per-source", "0"],
            &["--max-workers-per-source", "0"],
            &["--ipc-mode", "4755"],
            &["--ipc-group", "no-such-group-here"],
        ] {
            let opts =
                Options::parse_from(std::iter::once("zroute-router").chain(bad.iter().copied()));
            assert!(opts.resolve().is_err(), "{bad:?}");
        }
        assert_eq!(parse_mode("0o640"), Ok(0o640));
        assert!(parse_mode("0999").is_err());
    }

    #[test]
    fn invalid_values_are_refused() {
        let opts = Options::parse_from(["zroute-router", "--session-window", "100"]);
        assert!(opts.resolve().is_err());
    }
}
