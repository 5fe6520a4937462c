use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::watch;
use tracing::info;
use zroute_proto::session::{DEFAULT_WINDOW, Session, WorkerConfig};
use zroute_transport::{CurveClient, CurveKey, CurveKeyPair, DealerOptions};

use crate::transport::{self, Context};

use crate::HttpService;
use crate::discovery::{Discovery, Endpoint};
use crate::driver::Handlers;
use crate::sessions;
use crate::settings::Settings;

/// The router endpoint used when none is configured (spec #transport-sockets).
const DEFAULT_ENDPOINT: &str = "tcp://127.0.0.1:8000";

/// Environment variable read for the endpoints when none is configured:
/// one or more endpoints separated by commas or white space.
const CONNECT_ENV: &str = "ZROUTE_CONNECT";

/// Environment variables read for CURVE when [`Builder::curve`] was not
/// called: the router's public key (Z85, or a file holding it) and this
/// worker's key pair file. Both or neither.
const CURVE_SERVER_KEY_ENV: &str = "ZROUTE_CURVE_SERVER_KEY";
const CURVE_KEY_ENV: &str = "ZROUTE_CURVE_KEY";

/// Environment variables read for named endpoints (spec #transport-discovery)
/// when [`Builder::resolve_interval`] and [`Builder::nameserver`] were not
/// called: the resolve interval in milliseconds, and the nameserver
/// (`IP:PORT`) to ask instead of the system's.
const RESOLVE_INTERVAL_ENV: &str = "ZROUTE_RESOLVE_INTERVAL_MS";
const NAMESERVER_ENV: &str = "ZROUTE_NAMESERVER";

/// The resolve interval of spec #transport-discovery.
const DEFAULT_RESOLVE_INTERVAL: Duration = Duration::from_secs(5);

/// Entry point: `Worker::builder(id)` configures a worker and serves.
#[derive(Debug)]
pub struct Worker {
    _private: (),
}

impl Worker {
    /// Starts configuring a worker whose HELLO `id` is `id` (1 to 128 visible
    /// ASCII characters; it need not be unique).
    pub fn builder(id: impl Into<String>) -> Builder {
        Builder::new(id.into())
    }
}

/// Worker options. Every setter documents its default.
#[derive(Clone, Debug)]
pub struct Builder {
    settings: Settings,
    endpoints: Vec<String>,
    resolve_interval: Option<Duration>,
    nameserver: Option<SocketAddr>,
}

impl Builder {
    fn new(id: String) -> Self {
        // Spelled out rather than taken from `WorkerConfig::new`, so that the
        // defaults documented on the setters stay true.
        let mut config = WorkerConfig::new(id);
        config.max_concurrent_streams = 64;
        config.initial_window_size = DEFAULT_WINDOW;
        config.session_window = 16 * DEFAULT_WINDOW;
        config.handshake_timeout = Duration::from_secs(3);
        Self {
            settings: Settings {
                config,
                graceful_timeout: Duration::from_secs(30),
                max_request_body: 0,
                block_warning: Duration::from_secs(1),
                inline_handlers: false,
                local_handlers: false,
                dealer: DealerOptions::default(),
                discovery: None,
                registered: Arc::default(),
            },
            endpoints: Vec::new(),
            resolve_interval: None,
            nameserver: None,
        }
    }

    /// Adds a router endpoint (`tcp://address:port` or `ipc://path`), or a
    /// name for every router of a tier: `tcp://name:port` (its A records,
    /// else AAAA) or `dns+srv://_service._tcp.name` (its SRV records). The
    /// worker keeps one socket and one session per router; a name is looked
    /// up again every [resolve interval](Self::resolve_interval), a router
    /// that joins its answer gets a session at once, and one that leaves has
    /// its session drained (spec #transport-discovery). Default: the
    /// endpoints in `ZROUTE_CONNECT` (separated by commas or spaces) if it
    /// is set, else `tcp://127.0.0.1:8000`.
    pub fn connect(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoints.push(endpoint.into());
        self
    }

    /// How often a named endpoint is looked up again; sooner when the
    /// answer's TTL runs out first, but not within a second of the last
    /// lookup. Default: `ZROUTE_RESOLVE_INTERVAL_MS` if set, else 5 s.
    pub fn resolve_interval(mut self, interval: Duration) -> Self {
        self.resolve_interval = Some(interval);
        self
    }

    /// Sends every lookup of a named endpoint to this nameserver, over UDP,
    /// instead of the system's (`/etc/resolv.conf`, and `/etc/hosts`).
    /// Default: `ZROUTE_NAMESERVER` (`IP:PORT`) if set, else the system's.
    pub fn nameserver(mut self, server: SocketAddr) -> Self {
        self.nameserver = Some(server);
        self
    }

    /// How many requests the worker serves at once on each session (HELLO's
    /// Max-Concurrent-Streams); the router sends no more, and the worker
    /// refuses any excess with REFUSED_STREAM. At least 1. Default 64.
    pub fn capacity(mut self, streams: u32) -> Self {
        self.settings.config.max_concurrent_streams = streams;
        self
    }

    /// How many bytes of one request body the router may send ahead of the
    /// handler reading them (HELLO's Initial-Window-Size), which bounds the
    /// body bytes buffered per request. Default 65,536.
    pub fn initial_window(mut self, bytes: u32) -> Self {
        self.settings.config.initial_window_size = bytes;
        self
    }

    /// How many request body bytes, over all requests of a session, the
    /// router may send ahead of the handlers reading them. At least 65,536.
    /// Default 1,048,576.
    pub fn session_window(mut self, bytes: u32) -> Self {
        self.settings.config.session_window = bytes;
        self
    }

    /// Adds a route this worker serves: `/prefix`, `host`, `host/prefix` or
    /// `*.domain/prefix` (spec #routing-syntax). Default: none, which puts
    /// the worker in the router's default pool.
    pub fn route(mut self, route: impl Into<String>) -> Self {
        self.settings.config.routes.push(route.into());
        self
    }

    /// Announces an optional protocol feature; version 1 defines `trailers`.
    /// Default: none.
    pub fn feature(mut self, feature: impl Into<String>) -> Self {
        self.settings.config.features.push(feature.into());
        self
    }

    /// Adds an informational HELLO attribute that the router shows (for
    /// example `version`). Names are lowercase tokens other than `id`,
    /// `route` and `feature`. Default: none.
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings
            .config
            .labels
            .push((name.into(), value.into()));
        self
    }

    /// How long to wait for the router's WELCOME after HELLO before trying
    /// again on a new socket. Default 3 s.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.settings.config.handshake_timeout = timeout;
        self
    }

    /// Connects with CURVE (spec #security-curve): `server_key` is the
    /// router's public key, `keypair` this worker's pair, whose public half
    /// must be in the router's allowlist. Default: CURVE if
    /// `ZROUTE_CURVE_SERVER_KEY` and `ZROUTE_CURVE_KEY` are set (see
    /// [`curve_files`](Self::curve_files)), else none.
    pub fn curve(mut self, server_key: CurveKey, keypair: CurveKeyPair) -> Self {
        self.settings.dealer.curve = Some(CurveClient {
            server_key,
            keypair,
        });
        self
    }

    /// [`curve`](Self::curve) with keys read from files, as
    /// `zroute-router keygen --out NAME` writes them: `server_key` is the
    /// router's `NAME.pub` file or its 40 Z85 characters, `key_file` this
    /// worker's `NAME.key` file.
    pub fn curve_files(self, server_key: &str, key_file: impl AsRef<Path>) -> Result<Self, Error> {
        let server = CurveKey::from_z85_or_file(server_key)
            .map_err(|e| Error::config(format!("CURVE server key: {e}")))?;
        let pair = CurveKeyPair::from_file(key_file.as_ref())
            .map_err(|e| Error::config(format!("CURVE key: {e}")))?;
        Ok(self.curve(server, pair))
    }

    /// How long a shutdown waits for requests in flight to finish before it
    /// gives them up. Default 30 s.
    pub fn graceful_timeout(mut self, timeout: Duration) -> Self {
        self.settings.graceful_timeout = timeout;
        self
    }

    /// The largest request body accepted, in bytes; a larger one is answered
    /// 413 (if no response head went out yet) and its stream reset. 0 means
    /// no limit. Default 0.
    pub fn max_request_body(mut self, bytes: u64) -> Self {
        self.settings.max_request_body = bytes;
        self
    }

    /// How long a request handler may hold its runtime thread in one go (a
    /// `std::thread::sleep`, synchronous I/O, a long computation) before the
    /// worker logs a warning naming the request; once per episode, and a
    /// second line when the handler lets go. The session does not depend on
    /// it: it runs on a thread of its own, so heartbeats go on regardless.
    /// Such work belongs in `tokio::task::spawn_blocking`. `Duration::ZERO`
    /// turns the warning off. Default 1 s.
    pub fn blocked_handler_warning(mut self, after: Duration) -> Self {
        self.settings.block_warning = after;
        self
    }

    /// Polls the handler of each request without a body once on the session
    /// thread, before spawning it on the handlers' runtime. A handler that
    /// answers in that poll costs no task and no hand-off between threads,
    /// which makes small requests cheaper (bench/NOTES.md measures it); one
    /// that does not is spawned as usual. Only for services whose handlers
    /// never block: a first poll that blocks holds the session thread, and
    /// with it the heartbeats of every session, which the default keeps
    /// apart. Default off.
    pub fn inline_handlers(mut self, on: bool) -> Self {
        self.settings.inline_handlers = on;
        self
    }

    /// A flag the worker sets once any of its sessions has registered with a
    /// router (WELCOME received), for a supervisor that must know a new
    /// worker serves before it stops an old one (the Python binding's
    /// graceful reload). `serve` clears it when it starts.
    pub fn registered_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.settings.registered = flag;
        self
    }

    /// Runs every request's handler on the session thread, start to end,
    /// instead of on the handlers' runtime. For services whose handlers only
    /// hand the request to threads of their own and wait for the answer, as
    /// a language binding's do: the thread that answers then wakes the
    /// session thread directly, where it would otherwise wake a runtime
    /// thread that wakes the session thread in turn (bench/NOTES.md
    /// measures it). Like [`inline_handlers`](Self::inline_handlers), which
    /// it implies, only for handlers that never block: one that does holds
    /// up every session. Default off.
    pub fn local_handlers(mut self, on: bool) -> Self {
        self.settings.local_handlers = on;
        self
    }

    /// Serves `service` until SIGTERM or ctrl-c, then drains: see
    /// [`serve_with_shutdown`](Self::serve_with_shutdown).
    pub async fn serve<S>(self, service: S) -> Result<(), Error>
    where
        S: HttpService,
    {
        self.serve_with_shutdown(service, shutdown_signal()).await
    }

    /// Serves `service` until `signal` completes, then drains every session:
    /// GOAWAY(OK) goes out, requests already accepted finish, requests the
    /// router sent after that are refused (and retried by the router
    /// elsewhere). After the graceful timeout the rest are given up with
    /// GOAWAY(INTERNAL_ERROR). Returns once every session is over.
    ///
    /// The handlers run as tasks on the runtime that polls this future; the
    /// sessions run on a thread of their own (see the crate docs). Dropping
    /// the future ends the sessions at once, without a drain.
    ///
    /// Fails at once if the configuration is invalid (id, routes, labels,
    /// endpoints) or if it is not polled within a tokio runtime; after that,
    /// connection and registration problems are logged and retried, never
    /// returned.
    pub async fn serve_with_shutdown<S, F>(self, service: S, signal: F) -> Result<(), Error>
    where
        S: HttpService,
        F: Future<Output = ()> + Send,
    {
        let (settings, endpoints) = self.finish()?;
        settings.registered.store(false, Ordering::Relaxed);
        let runtime = Handle::try_current()
            .map_err(|_| Error::config("serve must run within a tokio runtime"))?;
        let ctx = Context::new();
        // Malformed endpoints fail here rather than in a retry loop.
        for endpoint in &endpoints {
            let Endpoint::Static(endpoint) = endpoint else {
                continue;
            };
            let mut socket = transport::dealer(&ctx, &settings.dealer).map_err(Error::io)?;
            transport::connect(&mut socket, endpoint)
                .map_err(|e| Error::config(format!("cannot connect to {endpoint:?}: {e}")))?;
        }
        let settings = Arc::new(settings);
        let (stop, stopped) = watch::channel(false);
        let handlers = Handlers { service, runtime };
        let mut over = sessions::start(handlers, settings.clone(), ctx, endpoints, stopped)
            .map_err(Error::thread)?;
        let outcome = tokio::select! {
            () = signal => {
                info!(worker = %settings.config.id, "shutting down: draining every session");
                // Receivers live in the endpoint tasks until they finish.
                let _ = stop.send(true);
                (&mut over).await
            }
            // Only a panic ends the sessions before they are told to stop.
            outcome = &mut over => outcome,
        };
        if let Ok(Err(panic)) = outcome {
            std::panic::resume_unwind(panic);
        }
        info!(worker = %settings.config.id, "stopped");
        Ok(())
    }

    fn finish(mut self) -> Result<(Settings, Vec<Endpoint>), Error> {
        if Session::worker(&self.settings.config, Instant::now()).is_err() {
            return Err(Error::config(format!(
                "invalid worker configuration: id {:?} must be 1 to 128 visible ASCII \
                 characters, capacity at least 1, routes valid route syntax, labels \
                 lowercase names other than id/route/feature, and HELLO must fit one frame",
                self.settings.config.id
            )));
        }
        if self.settings.config.initial_window_size == 0 {
            return Err(Error::config("the initial window must be at least 1 byte"));
        }
        if self.endpoints.is_empty() {
            self.endpoints = match std::env::var(CONNECT_ENV) {
                Ok(list) => list
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                Err(_) => vec![DEFAULT_ENDPOINT.to_owned()],
            };
        }
        if self.endpoints.is_empty() {
            return Err(Error::config(format!("{CONNECT_ENV} names no endpoint")));
        }
        if self.settings.dealer.curve.is_none() {
            match (
                std::env::var(CURVE_SERVER_KEY_ENV),
                std::env::var_os(CURVE_KEY_ENV),
            ) {
                (Ok(server), Some(key)) => self = self.curve_files(&server, key)?,
                (Err(_), None) => {}
                _ => {
                    return Err(Error::config(format!(
                        "{CURVE_SERVER_KEY_ENV} and {CURVE_KEY_ENV} go together"
                    )));
                }
            }
        }
        if self.settings.dealer.curve.is_some() && !zroute_transport::curve_available() {
            return Err(Error::config("this build's libzmq has no CURVE support"));
        }
        let endpoints = self
            .endpoints
            .iter()
            .map(|e| Endpoint::parse(e).map_err(Error::config))
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.iter().any(|e| matches!(e, Endpoint::Named(_))) {
            let interval = match self.resolve_interval {
                Some(interval) => interval,
                None => match std::env::var(RESOLVE_INTERVAL_ENV) {
                    Ok(ms) => ms.trim().parse().map(Duration::from_millis).map_err(|_| {
                        Error::config(format!(
                            "{RESOLVE_INTERVAL_ENV}: {ms:?} is not milliseconds"
                        ))
                    })?,
                    Err(_) => DEFAULT_RESOLVE_INTERVAL,
                },
            };
            if interval.is_zero() {
                return Err(Error::config("the resolve interval must be above 0"));
            }
            let nameserver = match self.nameserver {
                Some(server) => Some(server),
                None => match std::env::var(NAMESERVER_ENV) {
                    Ok(server) => Some(server.trim().parse().map_err(|_| {
                        Error::config(format!("{NAMESERVER_ENV}: {server:?} is not IP:PORT"))
                    })?),
                    Err(_) => None,
                },
            };
            self.settings.discovery =
                Some(Discovery::new(interval, nameserver).map_err(Error::config)?);
        }
        Ok((self.settings, endpoints))
    }
}

/// SIGTERM (on Unix) or ctrl-c, whichever comes first.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Why a worker could not start.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    Config(String),
    Io(io::Error),
    Thread(io::Error),
}

impl Error {
    fn config(msg: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Config(msg.into()),
        }
    }

    fn io(e: io::Error) -> Self {
        Self {
            kind: ErrorKind::Io(e),
        }
    }

    fn thread(e: io::Error) -> Self {
        Self {
            kind: ErrorKind::Thread(e),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Config(msg) => f.write_str(msg),
            ErrorKind::Io(e) => write!(f, "cannot create a socket: {e}"),
            ErrorKind::Thread(e) => write!(f, "cannot start the session thread: {e}"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.kind {
            ErrorKind::Config(_) => None,
            ErrorKind::Io(e) | ErrorKind::Thread(e) => Some(e),
        }
    }
}
