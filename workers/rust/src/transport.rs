//! Which ZMTP stack the worker speaks through.
//!
//! By default the worker's DEALER is `zroute_transport::native::Socket`:
//! ZMTP on the tokio reactor of the session's own task. With the `libzmq`
//! cargo feature it is libzmq's, through `zroute_transport::Socket`. Both
//! speak the same wire (`spec/PROTOCOL.md` §3), so a worker built either
//! way serves any router. The rest of the library sees one `Socket` with
//! the same methods, and this one `Context`.

#[cfg(feature = "libzmq")]
pub(crate) use zroute_transport::{Context, Socket};

#[cfg(not(feature = "libzmq"))]
pub(crate) use zroute_transport::native::{Context, Socket};

/// Ends the context. libzmq's blocks until its sockets have flushed, up to
/// their linger; the native sockets flushed as they closed.
pub(crate) fn terminate(ctx: Context) {
    #[cfg(feature = "libzmq")]
    drop(ctx);
    #[cfg(not(feature = "libzmq"))]
    let _ = ctx;
}

/// Connects `socket` to `endpoint`; it connects (and reconnects) while its
/// owner waits on it.
pub(crate) fn connect(socket: &mut Socket, endpoint: &str) -> std::io::Result<()> {
    socket.connect(endpoint)
}

/// A DEALER with `options`, watched (its connection events feed
/// `Socket::connected`), not yet connected.
pub(crate) fn dealer(
    ctx: &Context,
    options: &zroute_transport::DealerOptions,
) -> std::io::Result<Socket> {
    #[cfg(feature = "libzmq")]
    {
        let mut socket = Socket::dealer(ctx, options)?;
        socket.watch(ctx)?;
        Ok(socket)
    }
    #[cfg(not(feature = "libzmq"))]
    {
        let _ = ctx;
        let mut socket = Socket::dealer(options)?;
        socket.watch();
        Ok(socket)
    }
}
