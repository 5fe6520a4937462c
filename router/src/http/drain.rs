//! How client connections end when the router stops taking new ones: on
//! SIGTERM, or when a new router has taken over the listener (an upgrade,
//! `crate::upgrade`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::rt::bounds::Http2ServerConnExec;
use hyper::rt::{Read, Write};
use hyper::server::conn::{http1, http2};
use hyper::service::HttpService;
use tokio::sync::{Notify, watch};

/// Why the HTTP front stops accepting.
pub(crate) enum Stop {
    /// SIGTERM: serve what was accepted, the listen queue included, and close
    /// the listener.
    Now,
    /// A new router took over the listener and accepts from its queue: let
    /// each open connection send one more request within `grace` (the
    /// workers are still here), then call `release` (once every connection
    /// has closed, or when `grace` is over), which moves the workers.
    Handover {
        grace: Duration,
        release: Box<dyn FnOnce() + Send>,
    },
}

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Now => f.write_str("Now"),
            Self::Handover { grace, .. } => f
                .debug_struct("Handover")
                .field("grace", grace)
                .finish_non_exhaustive(),
        }
    }
}

/// The state each connection watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Draining {
    No,
    /// After SIGTERM: finish the request in progress, or the first one.
    Stop,
    /// After a handover: finish the request in progress, or the next one
    /// sent within this long.
    Handover(Duration),
}

/// How long shutdown lets a connection that has not sent a request yet send
/// its first one. Its request may already be on its way (the client connected
/// just before shutdown): closing the connection at once would reset it. Go's
/// net/http grants new connections the same 5 s.
pub(crate) const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(5);

/// A connection's requests: how many it has had, how many are in the
/// router's hands now (until their response head), and a wake-up per new one.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    requests: AtomicU64,
    busy: AtomicUsize,
    arrived: Notify,
}

/// Held while a request is being handled.
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Activity {
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.busy.fetch_add(1, Ordering::Relaxed);
        self.arrived.notify_waiters();
        Busy(self.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Resolves once shutdown has given a connection without a request line
/// long enough: [`FIRST_REQUEST_GRACE`] after SIGTERM, the handover grace
/// after a handover.
pub(crate) async fn first_request_deadline(mut draining: watch::Receiver<Draining>) {
    let mode = draining.wait_for(|d| *d != Draining::No).await.map(|m| *m);
    let Ok(mode) = mode else {
        return std::future::pending().await;
    };
    tokio::time::sleep(match mode {
        Draining::Handover(grace) => grace,
        _ => FIRST_REQUEST_GRACE,
    })
    .await;
}

/// Serves `conn` until it ends. Once draining: after SIGTERM it finishes the
/// request in progress (or its first one, within [`FIRST_REQUEST_GRACE`]);
/// after a handover it finishes the request in progress, or, idle, the next
/// one the client sends within the grace (a keep-alive client mid-way through
/// a series gets its answer with `Connection: close` rather than a closed
/// connection under its next request); then it closes.
/// A connection that can be shut down gracefully: hyper's HTTP/1 connection
/// with upgrades (WebSockets) and its HTTP/2 one. hyper-util's trait for it
/// is sealed and leaves out the first; its own upgradeable connection would
/// serve any version, whatever ALPN agreed on.
pub(crate) trait GracefulConnection: Future<Output = Result<(), Self::Error>> {
    type Error;

    fn graceful_shutdown(self: Pin<&mut Self>);
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<I, S, B> GracefulConnection for http1::UpgradeableConnection<I, S>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: Read + Write + Unpin + Send + 'static,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    type Error = hyper::Error;

    fn graceful_shutdown(self: Pin<&mut Self>) {
        Self::graceful_shutdown(self);
    }
}

impl<I, S, E, B> GracefulConnection for http2::Connection<I, S, E>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: Read + Write + Unpin,
    B: Body + 'static,
    B::Error: Into<BoxError>,
    E: Http2ServerConnExec<S::Future, B>,
{
    type Error = hyper::Error;

    fn graceful_shutdown(self: Pin<&mut Self>) {
        Self::graceful_shutdown(self);
    }
}

pub(crate) fn drive<'a, C>(
    conn: C,
    activity: Arc<Activity>,
    mut draining: watch::Receiver<Draining>,
) -> Pin<Box<dyn Future<Output = Result<(), C::Error>> + Send + 'a>>
where
    C: GracefulConnection + Send + 'a,
{
    // Boxed with `Send` stated here: rustc cannot prove it at the spawn for an
    // async fn generic over a connection that borrows its builder.
    Box::pin(async move {
        tokio::pin!(conn);
        let mode = tokio::select! {
            // Draining first: checked before the connection runs further.
            biased;
            mode = draining.wait_for(|d| *d != Draining::No) => mode.map_or(Draining::Stop, |m| *m),
            result = conn.as_mut() => return result,
        };
        // Registered before the counters are read, so that a request that
        // starts in between is not missed.
        let arrived = activity.arrived.notified();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        let wait = match mode {
            Draining::Handover(grace) if activity.busy.load(Ordering::Relaxed) == 0 => Some(grace),
            Draining::Stop if activity.requests.load(Ordering::Relaxed) == 0 => {
                Some(FIRST_REQUEST_GRACE)
            }
            _ => None,
        };
        if let Some(wait) = wait {
            tokio::select! {
                // A request that has arrived is seen before the connection
                // is polled again: polled first, it could answer the request
                // (keep-alive) before the shutdown, and then close idle
                // instead of saying `Connection: close`.
                biased;
                () = arrived => {}
                result = conn.as_mut() => return result,
                () = tokio::time::sleep(wait) => {}
            }
        }
        conn.as_mut().graceful_shutdown();
        conn.await
    })
}
