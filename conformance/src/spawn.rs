//! Starting a worker under test: a fresh ROUTER socket bound on loopback, the
//! worker's command with `{endpoint}` substituted (and `ZROUTE_CONNECT` set),
//! and the tail of its stderr collected for failure reports. For a case
//! with `dns`, the ROUTER is bound on three loopback addresses and the
//! worker is given a name for them, served by the suite's own nameserver.

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use zroute_transport::{Context, RouterOptions, Socket};

use crate::case::DnsSetup;
use crate::dns::DnsServer;

/// How much of a worker's stderr is kept: its tail, so memory stays bounded
/// however much a worker writes.
const STDERR_TAIL: usize = 64 * 1024;

/// A worker started against its own ROUTER socket.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) ctx: Context,
    pub(crate) socket: Socket,
    pub(crate) child: Child,
    /// Ends when the worker's stderr closes.
    pub(crate) stderr_task: JoinHandle<()>,
    /// The command as run, `{endpoint}` substituted.
    pub(crate) argv: Vec<String>,
}

/// Why a worker could not be started.
#[derive(Debug)]
pub(crate) enum SpawnError {
    /// The suite's own fault (no socket, empty command).
    Suite(String),
    /// The worker's program could not be run.
    NotStarted(String),
}

impl SpawnError {
    pub(crate) fn into_message(self) -> String {
        match self {
            Self::Suite(m) | Self::NotStarted(m) => m,
        }
    }
}

/// Binds a ROUTER socket on `tcp://127.0.0.1:*` and starts `worker` (plus
/// `extra_args`) against it; its stderr goes to `stderr`, tail only.
///
/// With `watch`, the socket reports its connection events
/// ([`Socket::watch`], from before the worker starts), which the caller
/// must then read with [`Socket::next`].
pub(crate) fn spawn_worker(
    worker: &[String],
    extra_args: &[String],
    stderr: Arc<Mutex<Vec<u8>>>,
    watch: bool,
) -> Result<Spawned, SpawnError> {
    let ctx = Context::new();
    let (socket, endpoint) = bound_router(&ctx, &suite_router_options(), watch)?;
    launch(ctx, socket, &endpoint, worker, extra_args, stderr)
}

/// A ROUTER with `options`, watched if asked, bound on `tcp://127.0.0.1:*`.
fn bound_router(
    ctx: &Context,
    options: &RouterOptions,
    watch: bool,
) -> Result<(Socket, String), SpawnError> {
    let mut socket = Socket::router(ctx, options)
        .map_err(|e| SpawnError::Suite(format!("cannot create ROUTER socket: {e}")))?;
    if watch {
        socket
            .watch(ctx)
            .map_err(|e| SpawnError::Suite(format!("cannot watch the ROUTER socket: {e}")))?;
    }
    let endpoint = socket
        .bind("tcp://127.0.0.1:*")
        .map_err(|e| SpawnError::Suite(format!("cannot bind ROUTER socket: {e}")))?;
    Ok((socket, endpoint))
}

/// [`spawn_worker`] for a case with `dns`: the ROUTER is bound on
/// 127.0.0.1, .2 and .3 with one port, the nameserver answers `setup`'s
/// first answer, and the worker gets the name, the nameserver and a short
/// resolve interval (spec Appendix A.1).
pub(crate) fn spawn_named(
    worker: &[String],
    extra_args: &[String],
    stderr: Arc<Mutex<Vec<u8>>>,
    setup: &DnsSetup,
) -> Result<(Spawned, Published), SpawnError> {
    let ctx = Context::new();
    let options = RouterOptions {
        // HELLOs carry the descriptor of their connection, which the
        // monitor's accept event maps to the address the worker reached.
        origin_prefix: Some(zroute_proto::frame::Hello::PREFIX.to_vec()),
        ..suite_router_options()
    };
    let (socket, first) = bound_router(&ctx, &options, true)?;
    let port: u16 = first
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .ok_or_else(|| SpawnError::Suite(format!("no port in {first}")))?;
    for n in [2, 3] {
        socket
            .bind(&format!("tcp://127.0.0.{n}:{port}"))
            .map_err(|e| {
                SpawnError::Suite(format!("cannot bind ROUTER socket on 127.0.0.{n}: {e}"))
            })?;
    }
    let server = DnsServer::start()
        .map_err(|e| SpawnError::Suite(format!("cannot start the nameserver: {e}")))?;
    // Nothing cached: each of the worker's lookups reaches the server.
    server.set_ttl(0);
    let published = Published {
        server,
        srv: setup.srv,
        port,
    };
    published.answer(&setup.answer);
    let mut extra = vec![
        "--nameserver".to_owned(),
        published.server.addr().to_string(),
        "--resolve-interval".to_owned(),
        RESOLVE_INTERVAL_MS.to_string(),
    ];
    extra.extend(extra_args.iter().cloned());
    let spawned = launch(ctx, socket, &published.endpoint(), worker, &extra, stderr)?;
    Ok((spawned, published))
}

/// The resolve interval a `dns` case gives the worker, in milliseconds.
pub(crate) const RESOLVE_INTERVAL_MS: u64 = 300;

const NAME: &str = "routers.conformance.test";
const SRV_NAME: &str = "_zroute._tcp.routers.conformance.test";

/// The suite's ROUTER, published under a name.
#[derive(Debug)]
pub(crate) struct Published {
    server: DnsServer,
    srv: bool,
    port: u16,
}

impl Published {
    /// What the worker is given.
    fn endpoint(&self) -> String {
        if self.srv {
            format!("dns+srv://{SRV_NAME}")
        } else {
            format!("tcp://{NAME}:{}", self.port)
        }
    }

    /// The name answers with `addresses` from now on.
    pub(crate) fn answer(&self, addresses: &[Ipv4Addr]) {
        if !self.srv {
            self.server.set_addresses(NAME, addresses);
            return;
        }
        let targets: Vec<String> = addresses
            .iter()
            .map(|ip| format!("r{}.conformance.test", ip.octets()[3]))
            .collect();
        for (ip, target) in addresses.iter().zip(&targets) {
            self.server.set_addresses(target, &[*ip]);
        }
        let services: Vec<(u16, &str)> = targets.iter().map(|t| (self.port, t.as_str())).collect();
        self.server.set_services(SRV_NAME, &services);
    }

    pub(crate) fn set_failing(&self, failing: bool) {
        self.server.set_failing(failing);
    }
}

fn launch(
    ctx: Context,
    socket: Socket,
    endpoint: &str,
    worker: &[String],
    extra_args: &[String],
    stderr: Arc<Mutex<Vec<u8>>>,
) -> Result<Spawned, SpawnError> {
    let mut argv: Vec<String> = worker
        .iter()
        .map(|a| a.replace("{endpoint}", endpoint))
        .collect();
    argv.extend(extra_args.iter().cloned());
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| SpawnError::Suite("empty worker command".into()))?;
    let mut child = Command::new(prog)
        .args(args)
        .env("ZROUTE_CONNECT", endpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| SpawnError::NotStarted(format!("cannot start worker {prog:?}: {e}")))?;
    let mut pipe = child
        .stderr
        .take()
        .ok_or_else(|| SpawnError::Suite("no stderr pipe".into()))?;
    let stderr_task = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let mut s = stderr.lock().expect("stderr lock");
            s.extend_from_slice(&buf[..n]);
            let excess = s.len().saturating_sub(STDERR_TAIL);
            s.drain(..excess);
        }
    });
    Ok(Spawned {
        ctx,
        socket,
        child,
        stderr_task,
        argv,
    })
}

/// The suite's ROUTER: a router's defaults, but a worker's 1 MiB part limit
/// instead of the router's 65,544 bytes, so that a worker that sends an
/// oversized frame is reported for it (spec #frame-size) rather than just
/// losing its connection.
pub(crate) fn suite_router_options() -> RouterOptions {
    RouterOptions {
        max_msg_size: Some(1 << 20),
        ..RouterOptions::default()
    }
}
