//! One router endpoint: connect a fresh DEALER, register, run the session,
//! and start over on a new socket whenever it ends (spec #reregistration).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};
use zroute_proto::Session;
use zroute_proto::session::Backoff;
use zroute_transport::HandshakeFailure;

use crate::transport::{self, Context, Socket};

use crate::HttpService;
use crate::driver::{Driver, End, Handlers, stopped};
use crate::handshake::report_handshake_failure;
use crate::settings::Settings;

pub(crate) async fn run<S>(
    handlers: Handlers<S>,
    settings: Arc<Settings>,
    ctx: Context,
    endpoint: String,
    mut stop: watch::Receiver<bool>,
) where
    S: HttpService,
{
    let span = info_span!("endpoint", worker = %settings.config.id, endpoint = %endpoint);
    async move {
        let mut backoff = Backoff::default();
        // Sessions the router is draining finish here while the next one runs
        // (spec #router-shutdown allows the overlap).
        let mut draining = JoinSet::new();
        let mut attempt = 0u32;
        // The heartbeat interval of this endpoint's last WELCOME: how soon a
        // router that is shutting down is asked again (spec #reregistration).
        let mut last_interval = None;
        loop {
            while draining.try_join_next().is_some() {}
            let delay = backoff.delay(jitter());
            if !delay.is_zero() {
                info!(?delay, "waiting before the next registration attempt");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stopped(&mut stop) => break,
                }
            }
            if *stop.borrow() {
                break;
            }
            // Spec #reregistration: never a second HELLO on one socket.
            let socket = match connect(&ctx, &settings, &endpoint) {
                Ok(socket) => socket,
                Err(e) => {
                    warn!(error = %e, "cannot open a socket");
                    backoff.failed();
                    continue;
                }
            };
            let mut socket = socket;
            // Spec #handshake: HELLO waits for a completed connection, for as
            // long as it takes; that wait is not a failed attempt.
            let curve_key = settings.dealer.curve.as_ref().map(|c| c.keypair.public());
            tokio::select! {
                ready = connected(&mut socket, curve_key.is_some()) => match ready {
                    Ok(Connection::Up) => socket.unwatch(),
                    Ok(Connection::Failed(failure)) => {
                        report_handshake_failure(failure, curve_key.as_ref());
                        backoff.failed();
                        continue;
                    }
                    Ok(Connection::TimedOut) => {
                        warn!(
                            public_key = %curve_key.expect("only CURVE connections time out"),
                            "no connection to the router within {CURVE_CONNECT_TIMEOUT:?}: \
                             it refused this worker's CURVE key (is the key in its allowlist?), \
                             or it is unreachable; trying again on a new socket"
                        );
                        backoff.failed();
                        continue;
                    }
                    Err(e) => {
                        warn!(error = %e, "socket failed while connecting");
                        backoff.failed();
                        continue;
                    }
                },
                () = stopped(&mut stop) => break,
            }
            attempt += 1;
            if attempt > 1 {
                info!(attempt, "registering again on a new socket");
            }
            let session = Session::worker(&settings.config, Instant::now())
                .expect("the configuration was checked before serving");
            let mut driver = Driver::new(
                handlers.clone(),
                settings.clone(),
                socket,
                session,
                stop.clone(),
            );
            let end = driver.run(true).await;
            if let Some(interval) = driver.heartbeat_interval() {
                last_interval = Some(interval);
            }
            match end {
                End::HandshakeFailed => backoff.failed(),
                End::RouterShuttingDown => backoff.router_shutting_down(last_interval),
                End::Closed => backoff.succeeded(),
                End::Handoff => {
                    backoff.succeeded();
                    draining.spawn(
                        async move {
                            driver.run(false).await;
                        }
                        .in_current_span(),
                    );
                }
            }
        }
        while draining.join_next().await.is_some() {}
    }
    .instrument(span)
    .await;
}

/// libzmq gives up a connection whose CURVE handshake the router refused
/// (ZAP status 400) and never reconnects it, so with CURVE a socket that has
/// not connected after this long is replaced: a key added to the router's
/// allowlist later is then picked up. Without CURVE the wait is unbounded.
const CURVE_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

enum Connection {
    Up,
    /// libzmq gave the connection up for good: a new socket must try again.
    Failed(HandshakeFailure),
    /// With CURVE, no connection within [`CURVE_CONNECT_TIMEOUT`].
    TimedOut,
}

/// Waits for a completed connection, or for libzmq to give it up.
async fn connected(socket: &mut Socket, curve: bool) -> std::io::Result<Connection> {
    let outcome =
        |r: Result<(), HandshakeFailure>| r.map_or_else(Connection::Failed, |()| Connection::Up);
    if !curve {
        return socket.connected().await.map(outcome);
    }
    match tokio::time::timeout(CURVE_CONNECT_TIMEOUT, socket.connected()).await {
        Ok(ready) => ready.map(outcome),
        Err(_) => Ok(Connection::TimedOut),
    }
}

fn connect(ctx: &Context, settings: &Settings, endpoint: &str) -> std::io::Result<Socket> {
    // Watched until connected: some connections are given up for good
    // (CURVE on one side only, a refused key) and only the events say why.
    let mut socket = transport::dealer(ctx, &settings.dealer)?;
    transport::connect(&mut socket, endpoint)?;
    Ok(socket)
}

/// A number in [0, 1) for the backoff jitter, from the standard library's
/// randomly keyed hasher, so that workers restarted together spread out.
pub(crate) fn jitter() -> f64 {
    let bits = RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}
