//! Starting a worker under test: a fresh ROUTER socket bound on loopback, the
//! worker's command with `{endpoint}` substituted (and `ZROUTE_CONNECT` set),
//! and the tail of its stderr collected for failure reports.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use zroute_transport::{Context, RouterOptions, Socket};

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
    let mut socket = Socket::router(&ctx, &suite_router_options())
        .map_err(|e| SpawnError::Suite(format!("cannot create ROUTER socket: {e}")))?;
    if watch {
        socket
            .watch(&ctx)
            .map_err(|e| SpawnError::Suite(format!("cannot watch the ROUTER socket: {e}")))?;
    }
    let endpoint = socket
        .bind("tcp://127.0.0.1:*")
        .map_err(|e| SpawnError::Suite(format!("cannot bind ROUTER socket: {e}")))?;
    let mut argv: Vec<String> = worker
        .iter()
        .map(|a| a.replace("{endpoint}", &endpoint))
        .collect();
    argv.extend(extra_args.iter().cloned());
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| SpawnError::Suite("empty worker command".into()))?;
    let mut child = Command::new(prog)
        .args(args)
        .env("ZROUTE_CONNECT", &endpoint)
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
