//! `--attach ENDPOINT`: run the cases against a worker that is already
//! running (under a debugger, in a container, ...).
//!
//! The suite plays the router, so it still binds: one ROUTER socket on
//! ENDPOINT, kept for the whole run, to which the worker connects. Each case
//! ends with GOAWAY(UNKNOWN_SESSION) to the worker, which makes it register
//! again at once on a new socket ([spec](../../spec/PROTOCOL.md#unknown-peer));
//! that HELLO starts the next case. Frames of an older session that arrive
//! first are answered the same way. Limits, by construction:
//!
//! - cases run one at a time (`--jobs 1`): there is one worker;
//! - the suite cannot see the worker exit, so there is no CRASH outcome
//!   (a dead worker shows as TIMEOUT) and no restart;
//! - cases that pass arguments to the worker (`worker_args`) are UNSUPPORTED;
//! - whether HELLO is the first frame on a new socket cannot be judged.
//!
//! The runner decides what these limits mean for a case (it imports this
//! module, never the other way round).

use std::sync::{Arc, Mutex};

use zroute_transport::{Context, Socket};

use crate::spawn::suite_router_options;

/// The ROUTER socket of an attached run: bound by the first case, handed
/// from case to case. Its socket belongs to the tokio runtime of the first
/// case, so one `Attached` serves one `run_suite` (which uses one runtime
/// with `jobs` = 1).
#[derive(Clone, Debug)]
pub struct Attached {
    pub endpoint: String,
    slot: Arc<Mutex<Option<(Context, Socket)>>>,
}

impl Attached {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            slot: Arc::default(),
        }
    }

    /// The socket, bound on first use.
    pub(crate) fn take(&self) -> Result<(Context, Socket), String> {
        if let Some(pair) = self.slot.lock().expect("attach lock").take() {
            return Ok(pair);
        }
        let ctx = Context::new();
        let socket = Socket::router(&ctx, &suite_router_options())
            .map_err(|e| format!("cannot create ROUTER socket: {e}"))?;
        socket
            .bind(&self.endpoint)
            .map_err(|e| format!("cannot bind {}: {e}", self.endpoint))?;
        Ok((ctx, socket))
    }

    pub(crate) fn give_back(&self, ctx: Context, socket: Socket) {
        *self.slot.lock().expect("attach lock") = Some((ctx, socket));
    }
}
