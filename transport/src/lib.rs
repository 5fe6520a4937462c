//! ZeroMQ ROUTER and DEALER sockets for tokio.
//!
//! zroute moves every HTTP request as protocol frames between a router (one
//! ROUTER socket) and its workers (one DEALER socket each). This crate is
//! where ZMTP meets tokio, shared by the router, the Rust worker library and
//! the conformance suite, with two implementations of the same sockets:
//!
//! - [`native::Socket`]: ZMTP 3.1 spoken here, through the sans-IO state
//!   machine of `zroute-zmtp`, on the reactor of the task that owns the
//!   socket: no I/O thread, no channel. The router's and the worker's
//!   default.
//! - `Socket` (with the `libzmq` feature): libzmq's, waiting on `ZMQ_FD`
//!   through tokio's reactor and reading `ZMQ_EVENTS` after every wakeup, so
//!   it never polls. The router's and the worker's `libzmq` feature, and the
//!   interop partner of every test.
//!
//! It owns the sockets: options, CURVE keys, readiness, multipart send and
//! receive with typed errors, connection events and listeners. It must not
//! know the protocol: it never decodes a frame or keeps a session, so every
//! part it hands over is opaque bytes, and `zroute-proto` stays free of it.
//! `docs/transport.md` explains both designs and the measurements behind
//! them.
//!
//! ```no_run
//! use zroute_transport::{DealerOptions, RouterOptions, native::Socket};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let mut router = Socket::router(&RouterOptions::default())?;
//! let endpoint = router.bind("tcp://127.0.0.1:*")?;
//!
//! let mut worker = Socket::dealer(&DealerOptions::default())?;
//! worker.connect(&endpoint)?;
//! // A native socket moves bytes while its owner waits on it: the two
//! // waits run together here, as they would in two processes.
//! let (sent, received) = tokio::join!(
//!     async {
//!         worker.writable().await?; // the handshake is done
//!         worker.send(&[&b"hello"[..]]).await.map_err(std::io::Error::from)
//!     },
//!     router.recv(),
//! );
//! sent?;
//! let (peer, body) = received?.split_peer().expect("a ROUTER prepends the peer");
//! router.try_send_to(&peer, &body).map_err(std::io::Error::from)?;
//! router.flush();
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

#[cfg(feature = "libzmq")]
mod context;
mod curve;
mod error;
mod listener;
mod message;
mod monitor;
pub mod native;
mod options;
#[cfg(feature = "libzmq")]
mod socket;
#[cfg(feature = "libzmq")]
mod zap;

#[cfg(feature = "libzmq")]
pub use context::Context;
pub use curve::{CurveKey, CurveKeyPair, KEY_LEN, Z85_KEY_LEN, curve_available, parse_key_list};
pub use error::SendError;
pub use listener::{reuseport_listener, steer_to_newest};
pub use message::{Incoming, Multipart, Origin, PeerId, SocketKind};
pub use monitor::{HandshakeFailure, PeerAddr, SocketEvent};
pub use options::{
    CurveClient, CurveServer, DealerOptions, Heartbeat, ROUTER_MAX_MSG_SIZE, RouterOptions,
};
#[cfg(feature = "libzmq")]
pub use socket::Socket;
#[cfg(feature = "libzmq")]
pub use zap::{ZAP_ENDPOINT, ZapHandler, ZapRequest};

/// The version of the libzmq this crate was built against, as `(major, minor, patch)`.
#[cfg(feature = "libzmq")]
pub fn libzmq_version() -> (i32, i32, i32) {
    zmq::version()
}
