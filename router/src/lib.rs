//! The zroute router: an HTTP front (hyper) and a ZeroMQ ROUTER socket that
//! workers connect to. It names no backend: workers register with HELLO and
//! take requests by their declared capacity.
//!
//! Layout: `http` takes client requests, checks them at the edge and maps
//! them to streams; `endpoint` is the sans-IO worker table (peers, unknown
//! peers and their rate limit, admission, session ids: messages in, frames
//! out, time passed in); `dispatch` is the I/O task that drives it, owns the
//! worker sockets and moves streams between the two; `admin` serves metrics
//! and the worker list; `error` types what can fail a request, with its
//! source and whether a retry is safe.
//!
//! # What it owns, and what it must not touch
//!
//! The router owns the HTTP edge (what reaches a worker is what the client
//! sent, validated, plus the fields the router vouches for), the choice of
//! worker, retries and the router's own limits. It must not implement the
//! protocol's rules itself: frames, windows and stream states are
//! `zroute-proto`'s, and sockets are `zroute-transport`'s. It must not know
//! any backend by configuration: workers announce themselves.
#![forbid(unsafe_code)]

mod admin;
pub mod cli;
pub mod config;
mod dispatch;
mod endpoint;
mod error;
mod http;
pub mod keygen;
mod metrics;
mod record;
mod security;
mod tls;
mod transport;
mod upgrade;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracing::info;
use zroute_proto::session::RouterConfig;
use zroute_transport::{CurveServer, RouterOptions};

use crate::transport::{Context, Socket};

pub use self::config::{Config, LogFormat, Options};
use self::dispatch::{Dispatcher, Msg};
use self::metrics::Metrics;

/// Runs the router until `shutdown` resolves, then drains: no new streams,
/// GOAWAY to every worker, open requests finish up to the shutdown timeout,
/// the rest are cancelled. With `--upgrade-socket`, it also ends when a new
/// router takes over (see `upgrade`).
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), String> {
    let config = Arc::new(config);
    // An upgrade takes the running router's listeners before anything is bound.
    let inherited = match &config.upgrade_socket {
        Some(path) => upgrade::take_over(path.clone(), config.shutdown_timeout * 2).await?,
        None => None,
    };
    if let Some(inherited) = &inherited {
        inherited.check(config.http, config.admin)?;
    }
    let tls = match &config.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    let ctx = Context::new();
    let metrics = Arc::new(Metrics::new());
    let mut options = RouterOptions {
        max_msg_size: Some(config.max_part_size),
        max_msg_bytes: config.max_message_size,
        // A message the protocol refuses by its frame count is answered
        // with GOAWAY, so the transport's own bound must not drop it first.
        max_msg_parts: RouterOptions::default()
            .max_msg_parts
            .max(config.max_frames_per_message.saturating_add(1)),
        // The source a HELLO counts against (--hello-rate-per-source).
        origin_prefix: Some(zroute_proto::frame::Hello::PREFIX.to_vec()),
        ..RouterOptions::default()
    };
    // The ZAP handler must be bound before the first CURVE socket.
    let (admission, security_tasks) = match &config.curve {
        Some(curve) => {
            let allowlist = security::Allowlist::load(&curve.allow)
                .map_err(|e| format!("--curve-allow {e}"))?;
            options.curve = Some(CurveServer {
                keypair: curve.keypair.clone(),
                zap_domain: security::ZAP_DOMAIN.to_owned(),
            });
            let (admission, tasks) = security::start(&ctx, Arc::new(allowlist), metrics.clone())
                .map_err(|e| format!("ZAP handler: {e}"))?;
            (Some(admission), tasks)
        }
        None => (None, Vec::new()),
    };
    let mut sockets = Vec::new();
    let mut endpoints = Vec::new();
    let mut bound_files = Vec::new();
    let ipc = security::IpcPermissions {
        mode: config.ipc_mode,
        gid: config.ipc_group,
    };
    for endpoint in &config.workers {
        let mut socket = transport::router(&ctx, &options, admission.as_ref())
            .map_err(|e| format!("ROUTER socket: {e}"))?;
        let bound = match config
            .upgrade_socket
            .as_ref()
            .and(config::upgrade_tcp_addr(endpoint))
        {
            Some(addr) => bind_shared(&mut socket, endpoint, addr, inherited.is_some())
                .map(|endpoint| security::Bound {
                    endpoint,
                    file: None,
                })
                .map_err(|e| format!("cannot bind {endpoint}: {e}"))?,
            None => security::bind(&mut socket, endpoint, ipc)?,
        };
        info!(endpoint = %bound.endpoint, curve = options.curve.is_some(), "workers endpoint bound");
        security::announce_who_can_register(&bound.endpoint, options.curve.is_some());
        sockets.push(socket);
        endpoints.push(bound.endpoint.clone());
        bound_files.push(bound);
    }
    let (http_listener, admin_listener, predecessor) = match inherited {
        Some(inherited) => {
            let adopt = |l: std::net::TcpListener| {
                TcpListener::from_std(l).map_err(|e| format!("upgrade: {e}"))
            };
            let (http, admin) = (adopt(inherited.http)?, adopt(inherited.admin)?);
            (http, admin, Some(inherited.predecessor))
        }
        None => {
            let http = TcpListener::bind(config.http)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", config.http))?;
            let admin = TcpListener::bind(config.admin)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", config.admin))?;
            (http, admin, None)
        }
    };

    let session_config = RouterConfig {
        router_id: config.router_id.clone(),
        heartbeat_interval: config.heartbeat_interval,
        heartbeat_liveness: config.heartbeat_liveness,
        initial_window_size: config.stream_window,
        session_window: config.session_window,
        max_header_pairs: config.max_header_pairs,
    };
    let (recorder, record_thread) = match &config.record {
        Some(dir) => {
            let record_config = record::RecordConfig {
                dir: dir.clone(),
                max_bytes: config.record_max_bytes,
                max_files: config.record_max_files,
                queue_bytes: config.record_queue,
            };
            let (recorder, thread) = record::start(record_config, metrics.clone())?;
            (Some(recorder), Some(thread))
        }
        None => (None, None),
    };
    let (dispatcher, handle) = Dispatcher::new(
        sockets,
        endpoints,
        config.curve.is_some(),
        session_config,
        dispatch::Limits {
            queue: config.queue_size,
            frames_per_message: config.max_frames_per_message,
            streams_per_worker: config.max_streams_per_worker,
            workers: config.max_workers,
            workers_per_source: config.max_workers_per_source,
            hello_rate: config.hello_rate,
            hello_rate_per_source: config.hello_rate_per_source,
            startup_grace: config.startup_grace,
        },
        metrics.clone(),
        recorder,
    );
    let dispatcher = tokio::spawn(dispatcher.run());

    let draining = Arc::new(AtomicBool::new(false));
    let admin = admin::Admin {
        dispatch: handle.clone(),
        metrics: metrics.clone(),
        draining: draining.clone(),
    };
    // Made before anything can fail after the old router hands over.
    let offer = match &config.upgrade_socket {
        Some(path) => Some(upgrade::Offer::prepare(
            path,
            &http_listener,
            &admin_listener,
        )?),
        None => None,
    };
    // Accepting starts once the old router has let go: until then it may
    // still decide to serve on (if this one fails), and the queues are shared.
    let predecessor_gone = match predecessor {
        Some(predecessor) => {
            let gone = predecessor.confirm()?;
            info!("upgrade: took over from the running router");
            Some(gone)
        }
        None => None,
    };
    info!(addr = %http::local_addr(&admin_listener), "admin listening");
    let admin_task = tokio::spawn(admin::serve(admin_listener, admin));
    if let Some(offer) = &offer {
        offer.publish()?;
    }

    info!(
        addr = %http::local_addr(&http_listener),
        tls = tls.is_some(),
        "http listening"
    );
    upgrade::notify_systemd("READY=1");
    let proxy = Arc::new(http::Proxy::new(handle.clone(), config.clone(), metrics));
    // Kept until this process ends: closing it tells the successor.
    let successor_link = std::sync::Mutex::new(None);
    let on_shutdown = {
        let handle = handle.clone();
        let draining = draining.clone();
        let admin_task = admin_task.abort_handle();
        let config = config.clone();
        let offer = offer.as_ref();
        let successor_link = &successor_link;
        async move {
            let successor = async {
                match offer {
                    Some(offer) => offer.successor(predecessor_gone).await,
                    None => std::future::pending().await,
                }
            };
            let successor = tokio::select! {
                () = shutdown => None,
                successor = successor => Some(successor),
            };
            draining.store(true, Ordering::Relaxed);
            upgrade::notify_systemd("STOPPING=1");
            let Some(successor) = successor else {
                info!("shutting down");
                handle.send(Msg::Drain);
                return http::Stop::Now;
            };
            info!("handing over to the new router");
            *successor_link.lock().expect("not poisoned") = Some(successor);
            // The new router accepts admin connections from the shared queue.
            admin_task.abort();
            http::Stop::Handover {
                grace: config.handover_grace,
                release: Box::new(move || {
                    info!("handover: the workers go to the new router");
                    handle.send(Msg::Handover);
                }),
            }
        }
    };
    http::serve(http_listener, tls, proxy, config.clone(), on_shutdown).await;

    let (done_tx, done_rx) = oneshot::channel();
    if handle.send(Msg::Stop(done_tx)) {
        let _ = done_rx.await;
    }
    let _ = dispatcher.await;
    for bound in &bound_files {
        bound.remove_file();
    }
    // The dispatcher, and with it the recorder's channel, is gone: the writer
    // thread ends every open trace file and exits.
    if let Some(thread) = record_thread {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    admin_task.abort();
    // Only now: the workers sockets are closed, and none may outlive the handler.
    for task in security_tasks {
        task.abort();
    }
    if let Some(offer) = &offer {
        offer.remove();
    }
    info!("stopped");
    drop(successor_link);
    Ok(())
}

/// Worker connections that may wait to be accepted on a shared worker port
/// (libzmq's own default is 100): at a handover every worker reconnects at once.
const WORKER_BACKLOG: u32 = 1024;

/// Binds a worker endpoint on a listener that a successor can share
/// (`SO_REUSEPORT`); a successor also steers new connections to itself.
fn bind_shared(
    socket: &mut Socket,
    endpoint: &str,
    addr: std::net::SocketAddr,
    successor: bool,
) -> std::io::Result<String> {
    let listener = zroute_transport::reuseport_listener(addr, WORKER_BACKLOG).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse && successor {
            std::io::Error::new(
                e.kind(),
                format!("{e} (the running router must have --upgrade-socket too)"),
            )
        } else {
            e
        }
    })?;
    if successor {
        zroute_transport::steer_to_newest(std::os::fd::AsFd::as_fd(&listener))?;
    }
    socket.bind_listener(endpoint, listener)
}
