//! Lingering close (RFC 9112 §9.6): a connection closed while the client may
//! still be sending is shut down for writing first, and read (and discarded)
//! for a while before it is closed. Closing a socket with unread bytes makes
//! the kernel send RST, and the client's stack then throws away the response
//! it had not read yet: an early 413 or 502 would reach the client as
//! "connection reset". nginx does the same (`lingering_close on`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout, timeout_at};
use tracing::debug;

/// How long and how many connections may linger.
#[derive(Clone, Debug)]
pub(crate) struct LingerLimits {
    /// Longest the whole lingering read may take.
    pub(crate) time: Duration,
    /// Longest wait for the next bytes from the client.
    pub(crate) timeout: Duration,
    /// Lingering connections at once; beyond it a connection is closed at once.
    pub(crate) slots: Arc<Semaphore>,
}

/// A client's TCP stream that lingers when dropped if the client may still
/// be sending: the router answered without reading the whole request
/// (`unread`), or bytes are waiting in the receive buffer.
pub(crate) struct LingeringStream {
    stream: Option<TcpStream>,
    unread: Arc<AtomicBool>,
    limits: LingerLimits,
}

impl LingeringStream {
    pub(crate) fn new(stream: TcpStream, unread: Arc<AtomicBool>, limits: LingerLimits) -> Self {
        Self {
            stream: Some(stream),
            unread,
            limits,
        }
    }

    fn stream(self: Pin<&mut Self>) -> Pin<&mut TcpStream> {
        Pin::new(self.get_mut().stream.as_mut().expect("taken only on drop"))
    }
}

impl Drop for LingeringStream {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        let mut probe = [0u8; 1];
        let may_send = match stream.try_read(&mut probe) {
            // The client closed its side: nothing more can come to reset us.
            Ok(0) => false,
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.unread.load(Ordering::Relaxed),
            Err(_) => false,
        };
        if !may_send {
            return;
        }
        let Ok(slot) = self.limits.slots.clone().try_acquire_owned() else {
            return;
        };
        let (time, idle) = (self.limits.time, self.limits.timeout);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _slot = slot;
                linger(stream, time, idle).await;
            });
        }
    }
}

/// Sends FIN, then reads and discards until the client closes, goes quiet
/// for `idle`, or `time` has passed.
async fn linger(mut stream: TcpStream, time: Duration, idle: Duration) {
    let peer = stream.peer_addr().ok();
    let _ = stream.shutdown().await;
    let deadline = Instant::now() + time;
    let mut sink = vec![0u8; 16 * 1024];
    let mut discarded = 0u64;
    let outcome = timeout_at(deadline, async {
        loop {
            match timeout(idle, stream.read(&mut sink)).await {
                Ok(Ok(0)) => return "the client closed",
                Ok(Ok(n)) => discarded += n as u64,
                Ok(Err(_)) => return "the connection failed",
                Err(_) => return "the client went quiet",
            }
        }
    })
    .await
    .unwrap_or("the lingering time ran out");
    debug!(client = ?peer, discarded, outcome, "lingering close done");
}

impl AsyncRead for LingeringStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.stream().poll_read(cx, buf)
    }
}

impl AsyncWrite for LingeringStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.stream().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.stream().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_shutdown(cx)
    }
}
