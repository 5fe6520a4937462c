use std::fmt;
use std::future::Future;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body as HttpBody;
use tower_service::Service;

use crate::Body;

/// The error type handlers and bodies may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A [`Service`] a worker can serve: one that takes a `Request<`[`Body`]`>`
/// and answers a `Response` whose body, errors and futures may cross to the
/// tasks and threads the worker runs them on. Every such service has it
/// (axum's `Router`, [`service_fn`], any tower stack) through a blanket
/// impl, so it is never implemented by hand: it is sealed, as hyper's
/// `HttpService` is, and stands for that seven-line bound wherever code is
/// generic over what a worker serves. [`ResBody`](Self::ResBody) names the
/// response body type.
pub trait HttpService:
    Service<
        Request<Body>,
        Response = Response<Self::ResBody>,
        Future: Send + 'static,
        Error: Into<BoxError>,
    >
    + Clone
    + Send
    + 'static
    + sealed::Sealed
{
    /// The body of the service's responses.
    type ResBody: HttpBody<Data: Send, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> HttpService for S
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: HttpBody + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type ResBody = B;
}

mod sealed {
    use super::{Body, Request, Service};

    pub trait Sealed {}

    // Wider than `HttpService` needs: it only has to cover every implementor.

    impl<S: Service<Request<Body>>> Sealed for S {}
}

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
