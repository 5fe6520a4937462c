use std::fmt;
use std::future::Future;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::Body;

/// The error type handlers and bodies may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Turns an async function or closure into a [`Service`] that a worker serves.
///
/// ```
/// use std::convert::Infallible;
///
/// use http::{Request, Response};
/// use zroute_worker::{Body, service_fn};
///
/// let svc = service_fn(|req: Request<Body>| async move {
///     Ok::<_, Infallible>(Response::new(format!("you asked for {}", req.uri())))
/// });
/// # let _ = svc;
/// ```
pub fn service_fn<F>(f: F) -> ServiceFn<F> {
    ServiceFn { f }
}

/// The [`Service`] made by [`service_fn`]; always ready.
#[derive(Clone, Copy)]
pub struct ServiceFn<F> {
    f: F,
}

impl<F, Fut, B, E> Service<Request<Body>> for ServiceFn<F>
where
    F: FnMut(Request<Body>) -> Fut,
    Fut: Future<Output = Result<Response<B>, E>>,
{
    type Response = Response<B>;
    type Error = E;
    type Future = Fut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Fut {
        (self.f)(req)
    }
}

impl<F> fmt::Debug for ServiceFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceFn")
            .field("f", &std::any::type_name::<F>())
            .finish()
    }
}
