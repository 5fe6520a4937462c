//! An async zroute worker: serve any tower [`Service`] (an axum `Router`, a
//! [`service_fn`], ...) behind a zroute router.
//!
//! A worker connects one DEALER socket per router endpoint, registers with
//! HELLO, and from then on receives HTTP requests as zroute streams
//! (`spec/PROTOCOL.md`). Each request runs in its own task; its body streams in
//! under flow control and the response streams out the same way.
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use http::{Request, Response};
//! use zroute_worker::{Body, Worker, service_fn};
//!
//! # async fn demo() -> Result<(), zroute_worker::Error> {
//! let hello = service_fn(|_req: Request<Body>| async {
//!     Ok::<_, Infallible>(Response::new(String::from("Hello")))
//! });
//! Worker::builder("worker-1")
//!     .connect("tcp://127.0.0.1:8000")
//!     .serve(hello) // until SIGTERM or ctrl-c, then drains
//!     .await
//! # }
//! ```
//!
//! # What it owns, and what it must not touch
//!
//! This crate owns the worker's side of the I/O: one DEALER socket per
//! router endpoint (through `zroute-transport`, the only crate that names
//! zmq), the session thread with one driver task per session, the request
//! tasks, and the mapping between zroute streams and a tower `Service`'s
//! requests and responses. It must not touch the protocol's rules: every
//! frame is built, checked and interpreted by [`zroute_proto::Session`];
//! the driver moves the parts the session asks it to send, acts on its
//! events, and logs its errors, but never decodes or builds a frame itself.
//!
//! # What a handler sees
//!
//! The request looks like what hyper hands an HTTP/1.1 server: an origin-form
//! URI (`/path?query`), the method, the client's HTTP version, and the headers
//! the router forwarded, `host` (from `:host`) and `x-request-id` included. The
//! scheme the client used (`:scheme`) is the request extension
//! [`http::uri::Scheme`]. The [`Body`] streams the request body: every chunk the
//! handler takes is credited back to the router, so a handler that stops
//! reading stops the upload, and no more than the stream window is ever
//! buffered.
//!
//! The response's status code is what the client gets; a [`ReasonPhrase`]
//! response extension puts the handler's own words after it, which an
//! HTTP/1.x client sees on the status line (without one, the router writes
//! the registered phrase).
//!
//! A handler error or panic before the response head becomes a 500 response;
//! after it, the stream is reset with INTERNAL_ERROR. A reset from the router
//! (the client went away) aborts the handler's task.
//!
//! # Threads
//!
//! The handlers run as tasks on the runtime that polls [`Builder::serve`]:
//! yours. The sessions (sockets, heartbeats, flow control) run on a thread of
//! their own, `zroute-session`, with its own current-thread runtime, so a
//! handler that blocks its thread delays other handlers but never the
//! heartbeats: the router does not take the worker for dead. Blocking work
//! still belongs in `tokio::task::spawn_blocking`, and a handler that holds
//! its thread for longer than [`Builder::blocked_handler_warning`] (1 s by
//! default) in one poll is logged as a WARN naming the request.
//!
//! # Shutdown
//!
//! [`Builder::serve`] drains on SIGTERM or ctrl-c; [`Builder::serve_with_shutdown`]
//! on any future. Draining sends GOAWAY(OK): requests already accepted finish
//! (up to the graceful timeout), anything newer is refused so that the router
//! retries it elsewhere.

#![forbid(unsafe_code)]

mod blocking;
mod body;
mod builder;
mod discovery;
mod driver;
mod endpoint;
mod handshake;
mod service;
mod sessions;
mod settings;
mod stream;
mod transport;
pub mod websocket;

pub use body::{Body, BodyError};
pub use builder::{Builder, Error, Worker};
pub use service::{BoxError, HttpService, ServiceFn, service_fn};
pub use stream::PreserveChunks;
pub use zroute_proto::mapping::ReasonPhrase;

/// Re-exported so that handlers can name the trait without a dependency of their own.
pub use tower_service::Service;
/// CURVE keys, for [`Builder::curve`].
pub use zroute_transport::{CurveKey, CurveKeyPair};
