//! Which ZMTP stack the workers sockets use.
//!
//! By default each workers endpoint is a `zroute_transport::native::Socket`:
//! ZMTP on the dispatcher's own task, so a frame costs no thread hand-off.
//! With the `libzmq` cargo feature it is libzmq's `zroute_transport::Socket`
//! instead, CURVE keys judged by a ZAP handler. The wire is the same
//! (`spec/PROTOCOL.md` §3); docs/transport.md compares the two.

use std::io;
use std::sync::Arc;

use zroute_transport::RouterOptions;

use crate::security::Admission;

#[cfg(feature = "libzmq")]
pub(crate) use zroute_transport::{Context, Socket};

#[cfg(not(feature = "libzmq"))]
pub(crate) use zroute_transport::native::{Context, Socket};

/// A watched ROUTER socket with `options`, not yet bound. Under CURVE,
/// `admission` judges each client key (libzmq asks the ZAP handler that
/// `security::start` bound instead).
pub(crate) fn router(
    ctx: &Context,
    options: &RouterOptions,
    admission: Option<&Arc<Admission>>,
) -> io::Result<Socket> {
    #[cfg(feature = "libzmq")]
    {
        let _ = admission;
        let mut socket = Socket::router(ctx, options)?;
        // Before the bind, so that no connection goes unseen.
        socket.watch(ctx)?;
        Ok(socket)
    }
    #[cfg(not(feature = "libzmq"))]
    {
        let _ = ctx;
        let mut socket = Socket::router(options)?;
        socket.watch();
        if let Some(admission) = admission {
            let admission = admission.clone();
            socket.set_curve_allow(move |key, address| {
                admission.admit(Some(key), address, "CURVE")
            })?;
        }
        Ok(socket)
    }
}
