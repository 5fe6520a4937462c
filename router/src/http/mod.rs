//! The HTTP front: accept connections (cleartext, or TLS with ALPN h2 and
//! http/1.1), serve HTTP/1.1 or HTTP/2 on each (`protocol` decides which),
//! hand each request to the proxy, and shut down gracefully.

mod body;
mod cancel;
mod drain;
mod forwarding;
mod lean;
mod linger;
mod protocol;
mod proxy;
mod validate;
mod websocket;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

pub(crate) use self::drain::Stop;
use self::drain::{Activity, Draining, drive, first_request_deadline};
use self::forwarding::ClientHop;
use self::lean::{Ended, Lane};
use self::linger::{LingerLimits, LingeringStream};
pub(crate) use self::proxy::Proxy;
use crate::config::Config;

/// Accepts and serves clients until `shutdown` resolves, then lets open
/// requests finish for up to the shutdown timeout (see [`Stop`]).
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    proxy: Arc<Proxy>,
    config: Arc<Config>,
    shutdown: impl Future<Output = Stop>,
) {
    // One server per version: each connection is served the version that ALPN
    // or its first line chose, never both (see `protocol`).
    let mut http1 = http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        // Also the keep-alive idle limit: the timer runs while hyper waits for the next head.
        .header_read_timeout(config.idle_timeout)
        .max_buf_size(config.max_header_size.max(8192));
    let mut http2 = http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX))
        .max_concurrent_streams(config.h2_max_streams)
        // RFC 8441: WebSockets over HTTP/2, as extended CONNECT.
        .enable_connect_protocol()
        // Rapid reset (CVE-2023-44487): streams a client resets before they
        // are served; beyond this many the connection gets GOAWAY.
        .max_pending_accept_reset_streams(config.h2_max_reset_streams)
        .keep_alive_interval(Some(config.idle_timeout / 2))
        .keep_alive_timeout(config.idle_timeout / 2);
    let builders = Arc::new(Builders { http1, http2 });
    // Set once shutdown starts; each connection then finishes what it has.
    let (draining_tx, draining) = watch::channel(Draining::No);
    // Every connection task holds a clone; `recv` ends when all are gone.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let scheme: &'static str = if tls.is_some() { "https" } else { "http" };
    let linger = LingerLimits {
        time: config.lingering_time,
        timeout: config.lingering_timeout,
        slots: Arc::new(Semaphore::new(config.max_connections)),
    };
    // One connection, served until it ends or the graceful shutdown closes it.
    let serve_connection = |stream: TcpStream, client: SocketAddr, permit: OwnedSemaphorePermit| {
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        let activity = Arc::new(Activity::default());
        let hop = Arc::new(ClientHop::new(client, scheme));
        let stream = LingeringStream::new(stream, hop.unread.clone(), linger.clone());
        let lane = Lane {
            proxy: proxy.clone(),
            hop: hop.clone(),
            activity: activity.clone(),
            draining: draining.clone(),
            head_limit: config.max_header_size.max(8192),
            head_timeout: config.idle_timeout,
        };
        let service = {
            let activity = activity.clone();
            service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let busy = activity.begin();
                let proxy = proxy.clone();
                let hop = hop.clone();
                async move {
                    let response = proxy.handle(req.map(Some), &hop).await;
                    drop(busy);
                    Ok::<_, Infallible>(response)
                }
            })
        };
        let builders = builders.clone();
        let draining = draining.clone();
        let open = open_tx.clone();
        let tls = tls.clone();
        let (head_limit, head_timeout) = (config.max_header_size, config.idle_timeout);
        tokio::spawn(async move {
            let _permit = permit;
            let _open = open;
            // Served with the version ALPN agreed on, else the one the
            // client's first line asks for (`protocol`).
            macro_rules! hyper {
                ($version:expr, $stream:expr) => {{
                    let io = TokioIo::new($stream);
                    // HTTP/1.1 may switch to a WebSocket: served with upgrades.
                    let result: Result<(), BoxError> = match $version {
                        protocol::Version::Http1 => {
                            let conn = builders.http1.serve_connection(io, service).with_upgrades();
                            drive(conn, activity, draining).await.map_err(Into::into)
                        }
                        protocol::Version::Http2 => {
                            let conn = builders.http2.serve_connection(io, service);
                            drive(conn, activity, draining).await.map_err(Into::into)
                        }
                    };
                    result
                }};
            }
            // HTTP/1.1 starts on the lean path, which hands the connection
            // to hyper at the first request it does not take (`lean`).
            macro_rules! serve {
                ($version:expr, $stream:expr) => {{
                    match $version {
                        protocol::Version::Http1 => match lane.serve($stream).await {
                            Ok(Ended::Closed) => Ok(()),
                            Ok(Ended::Hyper(stream)) => hyper!($version, stream),
                            Err(e) => Err(e.into()),
                        },
                        protocol::Version::Http2 => hyper!($version, $stream),
                    }
                }};
            }
            macro_rules! sniff_and_serve {
                ($stream:expr) => {{
                    let give_up = first_request_deadline(draining.clone());
                    match protocol::sniff($stream, head_limit, head_timeout, give_up).await {
                        Ok((version, stream)) => serve!(version, stream),
                        Err(e) => return refused(client, &e),
                    }
                }};
            }
            let result = match tls {
                None => sniff_and_serve!(stream),
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => match protocol::from_alpn(stream.get_ref().1.alpn_protocol()) {
                        Some(version) => serve!(version, stream),
                        None => sniff_and_serve!(stream),
                    },
                    Err(e) => {
                        debug!(%client, error = %e, "TLS handshake failed");
                        return;
                    }
                },
            };
            if let Err(e) = result {
                if is_rejection(&*e) {
                    info!(%client, error = %e, "client rejected");
                } else {
                    debug!(%client, error = %e, "connection ended with an error");
                }
            }
        });
    };
    tokio::pin!(shutdown);
    let stop = loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("never closed"),
            stop = &mut shutdown => break stop,
        };
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    continue;
                }
            },
            stop = &mut shutdown => break stop,
        };
        serve_connection(stream, client, permit);
    };
    proxy.going_away();
    let release = match stop {
        Stop::Now => {
            let _ = draining_tx.send(Draining::Stop);
            None
        }
        Stop::Handover { grace, release } => {
            let _ = draining_tx.send(Draining::Handover(grace));
            Some((grace, release))
        }
    };
    // Connections the kernel already completed may carry requests: serve
    // them (answered 503 "shutting down" if no worker session can take them)
    // rather than reset them when the listener closes. Only what arrives in
    // the instant between this and the close is still refused.
    let listener = listener.into_std();
    // After a handover the new router accepts from this queue: leave it.
    if let (Ok(listener), None) = (&listener, &release) {
        while let Ok((stream, client)) = listener.accept() {
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                break;
            };
            match stream
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(stream))
            {
                Ok(stream) => serve_connection(stream, client, permit),
                Err(e) => warn!(error = %e, "accept failed"),
            }
        }
    }
    // Closed now, not when this function returns: a client that connects
    // while the open requests finish is refused at once rather than left
    // waiting in the listen backlog.
    drop(listener);
    info!("no longer accepting connections; waiting for open requests");
    drop(open_tx);
    if let Some((grace, release)) = release {
        tokio::select! {
            _ = open_rx.recv() => info!("handover: every connection closed"),
            () = tokio::time::sleep(grace) => info!("handover: grace over"),
        }
        release();
    }
    let closed = async {
        let _ = open_rx.recv().await;
        // Upgraded connections outlive their HTTP connection task.
        proxy.websockets_closed().await;
    };
    tokio::select! {
        () = closed => info!("every connection closed"),
        () = tokio::time::sleep(config.shutdown_timeout) => warn!("shutdown timeout: closing what is left"),
    }
}

/// The HTTP/1.1 and HTTP/2 servers.
struct Builders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Logs a connection closed before any HTTP was served.
fn refused(client: SocketAddr, why: &protocol::Refused) {
    match why {
        protocol::Refused::Io(_) => debug!(%client, error = %why, "connection ended"),
        _ => info!(%client, error = %why, "client rejected"),
    }
}

/// Whether a connection ended because the client broke a rule (invalid or
/// oversized HTTP, a head not sent within the idle timeout, an HTTP/2
/// protocol error or reset flood) rather than by going away.
fn is_rejection(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(e) = source {
        if let Some(e) = e.downcast_ref::<hyper::Error>()
            && (e.is_parse() || e.is_parse_too_large() || e.is_timeout())
        {
            return true;
        }
        if let Some(e) = e.downcast_ref::<h2::Error>() {
            // Raised by our side: the client broke the protocol.
            return e.is_library();
        }
        // The lean HTTP/1.1 path's head timeout (`lean`).
        if let Some(e) = e.downcast_ref::<std::io::Error>()
            && e.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// The address a listener really got (port 0 picks one).
pub(crate) fn local_addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .expect("a bound listener has an address")
}
