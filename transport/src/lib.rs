//! ZeroMQ ROUTER and DEALER sockets for tokio.
//!
//! zroute moves every HTTP request as protocol frames between a router (one
//! ROUTER socket) and its workers (one DEALER socket each). This crate is the
//! one place where libzmq meets tokio, shared by the router, the Rust worker
//! library and the conformance suite.
//!
//! It owns the sockets: options, CURVE keys, readiness, multipart send and
//! receive with typed errors, monitors and listeners. It must not know the
//! protocol: it never decodes a frame or keeps a session, so every part it
//! hands over is opaque bytes, and `zroute-proto` stays free of it.
//!
//! A [`Socket`] waits on libzmq's `ZMQ_FD` through tokio's reactor and reads
//! `ZMQ_EVENTS` after every wakeup, so it never polls and never hops to another
//! thread: a receive that finds messages queued costs no syscall beyond what
//! libzmq does itself, and [`Socket::try_recv`] drains everything one wakeup
//! brought. `docs/transport.md` explains this choice and the measurements
//! behind it.
//!
//! ```no_run
//! use zroute_transport::{Context, DealerOptions, RouterOptions, Socket};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let ctx = Context::new();
//! let mut router = Socket::router(&ctx, &RouterOptions::default())?;
//! let endpoint = router.bind("tcp://127.0.0.1:*")?;
//!
//! let mut worker = Socket::dealer(&ctx, &DealerOptions::default())?;
//! worker.connect(&endpoint)?;
//! worker.writable().await?; // IMMEDIATE=1: wait for the connection
//! worker.send(&[&b"hello"[..]]).await?;
//!
//! let (peer, body) = router.recv().await?.split_peer().expect("a ROUTER prepends the peer");
//! router.send_to(&peer, &body).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Sockets must be created inside a tokio runtime with I/O enabled.

// Unsafe code, each with its reason: registering libzmq's ZMQ_FD with tokio's
// reactor (`socket::register_fd`), ZMQ_USE_FD (`Socket::bind_listener`),
// SO_ATTACH_REUSEPORT_CBPF (`listener::steer_to_newest`), stopping a socket
// monitor, which the zmq crate cannot (`socket::stop_monitor`), and asking the
// kernel who is at the other end of a connection libzmq owns
// (`monitor::peer_of`).
#![deny(unsafe_code)]

mod context;
mod curve;
mod error;
mod listener;
mod message;
mod monitor;
pub mod native;
mod options;
mod socket;
mod zap;

pub use context::Context;
pub use curve::{CurveKey, CurveKeyPair, KEY_LEN, Z85_KEY_LEN, curve_available, parse_key_list};
pub use error::SendError;
pub use listener::{reuseport_listener, steer_to_newest};
pub use message::{Multipart, Origin, PeerId};
pub use monitor::{HandshakeFailure, PeerAddr, SocketEvent};
pub use options::{
    CurveClient, CurveServer, DealerOptions, Heartbeat, ROUTER_MAX_MSG_SIZE, RouterOptions,
};
pub use socket::{Incoming, Socket, SocketKind};
pub use zap::{ZAP_ENDPOINT, ZapHandler, ZapRequest};

/// The version of the libzmq this crate was built against, as `(major, minor, patch)`.
pub fn libzmq_version() -> (i32, i32, i32) {
    zmq::version()
}
