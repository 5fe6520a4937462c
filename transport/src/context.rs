use std::fmt;
use std::io;

use crate::error::io_err;

/// A libzmq context: the I/O threads and the registry that sockets share.
///
/// Create one per process and make every [`Socket`](crate::Socket) from it;
/// cloning is cheap and every clone names the same context.
///
/// # I/O threads
///
/// libzmq moves bytes between TCP/IPC connections and socket queues on its own
/// I/O threads. The default is one, which libzmq documents as enough for about
/// a gigabyte per second; a router that saturates it can ask for more with
/// [`Context::with_io_threads`]. The count is fixed when the first socket is
/// created.
///
/// # Shutdown
///
/// The context is terminated when the last handle *and* the last socket made
/// from it are gone (every socket keeps its context alive). Termination waits
/// until each closed socket has flushed its queued messages or used up its
/// `linger` time, so whichever drop comes last may block for up to the largest
/// linger of the sockets that still had messages queued. The default lingers
/// (router 0, dealer 200 ms) keep that bounded; drop the last handle outside
/// the async runtime (or in `spawn_blocking`) if you raise them.
#[derive(Clone)]
pub struct Context {
    inner: zmq::Context,
}

impl Context {
    /// A context with libzmq's default of one I/O thread.
    pub fn new() -> Self {
        Self {
            inner: zmq::Context::new(),
        }
    }

    /// A context with `io_threads` I/O threads (at least 1).
    pub fn with_io_threads(io_threads: u16) -> io::Result<Self> {
        if io_threads == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a context needs at least one I/O thread",
            ));
        }
        let ctx = Self::new();
        ctx.inner
            .set_io_threads(i32::from(io_threads))
            .map_err(io_err)?;
        Ok(ctx)
    }

    /// The number of I/O threads this context runs (or will run).
    pub fn io_threads(&self) -> io::Result<u16> {
        let n = self.inner.get_io_threads().map_err(io_err)?;
        Ok(u16::try_from(n).unwrap_or(u16::MAX))
    }

    pub(crate) fn zmq(&self) -> &zmq::Context {
        &self.inner
    }
}

impl Default for Context {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Context");
        if let Ok(n) = self.inner.get_io_threads() {
            d.field("io_threads", &n);
        }
        d.finish_non_exhaustive()
    }
}
