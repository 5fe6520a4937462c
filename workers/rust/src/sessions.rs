//! The session thread: every endpoint's sessions (sockets, heartbeats, flow
//! control) run on one OS thread of their own, on a current-thread runtime,
//! apart from the request handlers, which run on the caller's runtime. A
//! handler that blocks its thread then delays other handlers, but never the
//! PINGs that keep the router from declaring the worker dead (issue 14,
//! item 11).

use std::any::Any;
use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::{self, Context};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tracing::warn;

use crate::discovery::Endpoint;
use crate::driver::{Handlers, resume_panic};
use crate::settings::Settings;
use crate::{HttpService, discovery, endpoint};

/// How the session thread ended: `Err` carries a panic to resume.
pub(crate) type Outcome = Result<(), Box<dyn Any + Send + 'static>>;

/// Starts the session thread, serving `endpoints` until `stop` turns true
/// (then draining) or the returned receiver is dropped (then at once). The
/// receiver hears once every session is over and `ctx` is terminated.
pub(crate) fn start<S>(
    handlers: Handlers<S>,
    settings: Arc<Settings>,
    ctx: Context,
    endpoints: Vec<Endpoint>,
    stop: watch::Receiver<bool>,
) -> io::Result<oneshot::Receiver<Outcome>>
where
    S: HttpService,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Log lines from the session thread go where the caller's go, even when
    // the caller set its subscriber for its own threads only.
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let (mut done_tx, done) = oneshot::channel();
    std::thread::Builder::new()
        .name("zroute-session".into())
        .spawn(move || {
            let outcome = tracing::dispatcher::with_default(&dispatch, || {
                std::panic::catch_unwind(AssertUnwindSafe(|| {
                    run(
                        runtime,
                        handlers,
                        settings,
                        &ctx,
                        endpoints,
                        stop,
                        &mut done_tx,
                    );
                    // Terminating a libzmq context blocks until its sockets
                    // have flushed (up to their linger): here, off any runtime.
                    transport::terminate(ctx);
                }))
            });
            let _ = done_tx.send(outcome);
        })?;
    Ok(done)
}

/// How long a worker that has reached no router waits before it says so.
pub(crate) const UNREACHED_WARNING: Duration = Duration::from_secs(5);

/// After [`UNREACHED_WARNING`], if no session has registered, one line
/// saying where the worker is trying and how to start a router there: a
/// worker waiting silently looks like one that hangs. Then pends forever.
fn unreached_warning(
    settings: &Arc<Settings>,
    endpoints: &[Endpoint],
) -> impl Future<Output = ()> + use<> {
    let settings = settings.clone();
    let endpoints: Vec<String> = endpoints.iter().map(ToString::to_string).collect();
    async move {
        tokio::time::sleep(UNREACHED_WARNING).await;
        if !settings
            .registered
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            let first = endpoints.first().cloned().unwrap_or_default();
            warn!(
                endpoints = %endpoints.join(", "),
                "no router reached in {} s; still trying. Is a router listening there? \
                 Start one with: zroute-router --workers {first}",
                UNREACHED_WARNING.as_secs()
            );
        }
        std::future::pending::<()>().await;
    }
}

fn run<S>(
    runtime: tokio::runtime::Runtime,
    handlers: Handlers<S>,
    settings: Arc<Settings>,
    ctx: &Context,
    endpoints: Vec<Endpoint>,
    stop: watch::Receiver<bool>,
    done: &mut oneshot::Sender<Outcome>,
) where
    S: HttpService,
{
    runtime.block_on(async {
        let mut running = JoinSet::new();
        let unreached = unreached_warning(&settings, &endpoints);
        for endpoint in endpoints {
            let (handlers, settings, ctx, stop) = (
                handlers.clone(),
                settings.clone(),
                ctx.clone(),
                stop.clone(),
            );
            match endpoint {
                Endpoint::Static(endpoint) => {
                    running.spawn(endpoint::run(handlers, settings, ctx, endpoint, stop))
                }
                Endpoint::Named(named) => {
                    running.spawn(discovery::run(handlers, settings, ctx, named, stop))
                }
            };
        }
        let all_over = async {
            while let Some(over) = running.join_next().await {
                resume_panic(over);
            }
        };
        tokio::select! {
            () = all_over => {}
            // Never completes; it logs at most once.
            () = unreached => {}
            // The caller dropped `serve` (or its runtime shut down): nobody
            // waits for a drain, so the sessions end now, as they did when
            // they ran on the caller's runtime.
            () = done.closed() => {}
        }
    });
    // Sessions given up above close their sockets here.
    drop(runtime);
}
