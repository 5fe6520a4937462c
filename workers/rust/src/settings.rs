//! What every session of a worker shares, besides the service. Its own
//! module so that the builder, which fills it in, and the endpoint and
//! driver, which read it, all import it from here: imports run one way
//! (builder → sessions → endpoint → driver → settings).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use zroute_proto::session::WorkerConfig;
use zroute_transport::DealerOptions;

use crate::discovery::Discovery;

#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) config: WorkerConfig,
    pub(crate) graceful_timeout: Duration,
    pub(crate) max_request_body: u64,
    /// See [`Builder::blocked_handler_warning`](crate::Builder::blocked_handler_warning);
    /// zero: no warning.
    pub(crate) block_warning: Duration,
    /// See [`Builder::inline_handlers`](crate::Builder::inline_handlers).
    pub(crate) inline_handlers: bool,
    /// See [`Builder::local_handlers`](crate::Builder::local_handlers);
    /// implies the first poll of `inline_handlers`, whatever that says.
    pub(crate) local_handlers: bool,
    pub(crate) dealer: DealerOptions,
    /// How named endpoints are looked up; `None` when every endpoint is static.
    pub(crate) discovery: Option<Discovery>,
    /// Whether any session of this worker has registered; cleared by each
    /// `serve`, shared with the caller by `Builder::registered_flag`. Until
    /// it is set, the worker says once where it is trying.
    pub(crate) registered: Arc<AtomicBool>,
}
