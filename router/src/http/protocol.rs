//! Which HTTP version a client connection gets.
//!
//! Over TLS, ALPN has already decided: a connection that agreed on `h2` is
//! served HTTP/2 only and one that agreed on `http/1.1` HTTP/1.1 only (RFC 9113
//! §3.3: after ALPN picks h2, HTTP/1.1 bytes are a connection error, not a
//! request). Only where nothing was negotiated (cleartext, or TLS without
//! ALPN) does the router look at the client's first line: the HTTP/2
//! connection preface (prior knowledge, RFC 9113 §3.3) gets HTTP/2, a request
//! line (any version: hyper answers 400 or 505 where it must) gets HTTP/1.1,
//! and bytes that are no request line at all get a closed connection: they
//! are not HTTP/1, so they are taken as an invalid HTTP/2 preface (RFC 9113
//! §3.4: a connection error, whose GOAWAY "MAY be omitted" since the peer
//! does not speak HTTP/2).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The first line of the HTTP/2 connection preface (RFC 9113 §3.4); the h2
/// crate checks the rest of the preface itself.
const PREFACE_LINE: &[u8] = b"PRI * HTTP/2.0";

/// The HTTP version a connection is served with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    Http1,
    Http2,
}

/// What ALPN agreed on, if anything: `None` leaves the choice to [`sniff`].
pub(crate) fn from_alpn(protocol: Option<&[u8]>) -> Option<Version> {
    match protocol? {
        b"h2" => Some(Version::Http2),
        // The acceptor offers only h2 and http/1.1 (tls.rs).
        _ => Some(Version::Http1),
    }
}

/// Why [`sniff`] gave up on a connection.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The first line is neither the HTTP/2 preface nor an HTTP/1.x request line.
    NotHttp,
    /// The client sent no complete first line within the head timeout.
    Timeout,
    /// The router began shutting down, and gave the client time enough.
    ShuttingDown,
    /// The client went away, or the read failed.
    Io(io::Error),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotHttp => f.write_str(
                "neither the HTTP/2 connection preface nor an HTTP/1.x request line: closed",
            ),
            Self::Timeout => f.write_str("no request line within the idle timeout"),
            Self::ShuttingDown => f.write_str("no request line before shutdown"),
            Self::Io(e) => write!(f, "reading the request line: {e}"),
        }
    }
}

/// Reads the client's first line (at most `limit` bytes, within `timeout`,
/// and before `give_up` resolves) and decides its version. The bytes read are
/// handed back in a [`Replay`] so that the HTTP server reads them again.
pub(crate) async fn sniff<S>(
    mut stream: S,
    limit: usize,
    timeout: Duration,
    give_up: impl Future<Output = ()>,
) -> Result<(Version, Replay<S>), Refused>
where
    S: AsyncRead + Unpin,
{
    let mut buf = Vec::with_capacity(256);
    let read = async {
        loop {
            if let Some(version) = decide(&buf, limit)? {
                return Ok(version);
            }
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await.map_err(Refused::Io)?;
            if n == 0 {
                return Err(Refused::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    let version = tokio::select! {
        read = tokio::time::timeout(timeout, read) => read.map_err(|_| Refused::Timeout)??,
        () = give_up => return Err(Refused::ShuttingDown),
    };
    Ok((version, Replay::new(buf, stream)))
}

/// The version the bytes so far call for, `None` if more are needed.
fn decide(buf: &[u8], limit: usize) -> Result<Option<Version>, Refused> {
    // RFC 9112 §2.2: empty lines before a request line are tolerated (hyper
    // skips them); the HTTP/2 preface has none.
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    let Some(end) = rest.iter().position(|&b| b == b'\n') else {
        // A line longer than the head limit: HTTP/1 answers it (414 or 431)
        // better than a silent close would.
        return if buf.len() >= limit {
            Ok(Some(Version::Http1))
        } else {
            Ok(None)
        };
    };
    let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
    if start == 0 && line == PREFACE_LINE {
        return Ok(Some(Version::Http2));
    }
    if is_request_line(line) {
        Ok(Some(Version::Http1))
    } else {
        Err(Refused::NotHttp)
    }
}

/// Whether `line` has the shape of an HTTP/1 request line (RFC 9112 §3):
/// `method SP request-target SP HTTP/d.d`, the method a token. Only the
/// shape: hyper judges the rest and answers a malformed request 400 and an
/// unsupported version 505, as an HTTP/1.x client expects.
fn is_request_line(line: &[u8]) -> bool {
    let (Some(first), Some(last)) = (
        line.iter().position(|&b| b == b' '),
        line.iter().rposition(|&b| b == b' '),
    ) else {
        return false;
    };
    let (method, version) = (&line[..first], &line[last + 1..]);
    let tchar = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    last > first + 1
        && !method.is_empty()
        && method.iter().all(tchar)
        && version.len() == 8
        && version.starts_with(b"HTTP/")
        && version[5].is_ascii_digit()
        && version[6] == b'.'
        && version[7].is_ascii_digit()
}

/// A stream whose first bytes were already read: it returns them first.
#[derive(Debug)]
pub(crate) struct Replay<S> {
    head: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Replay<S> {
    pub(crate) fn new(head: Vec<u8>, inner: S) -> Self {
        Self { head, at: 0, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.at < this.head.len() {
            let n = out.remaining().min(this.head.len() - this.at);
            out.put_slice(&this.head[this.at..this.at + n]);
            this.at += n;
            if this.at == this.head.len() {
                this.head = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(bytes: &[u8]) -> Result<Option<Version>, Refused> {
        decide(bytes, 8192)
    }

    #[test]
    fn the_preface_is_http2() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        assert!(matches!(decided(preface), Ok(Some(Version::Http2))));
        // Half a preface: wait for the line to end.
        assert!(matches!(decided(&preface[..10]), Ok(None)));
    }

    #[test]
    fn http1_request_lines_are_http1() {
        for line in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"POST /echo HTTP/1.0\n",
            b"\r\nGET / HTTP/1.1\r\n",
            // Malformed, or another version, but request lines: hyper
            // answers 400 or 505.
            b"GET /a b HTTP/1.1\r\n",
            b"GET / HTTP/9.9\r\n",
            b"GET / HTTP/2.0\r\n",
            b"PRI * HTTP/2.1\r\n",
            b"\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            assert!(
                matches!(decided(line), Ok(Some(Version::Http1))),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        assert!(matches!(decided(b"GET / HTTP/1.1"), Ok(None)));
    }

    #[test]
    fn anything_else_is_refused() {
        for line in [
            // h2spec http2/3.5/2
            &b"INVALID CONNECTION PREFACE\r\n\r\n"[..],
            // A TLS ClientHello on the cleartext port.
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
            b"GET /\r\n",
            b"HTTP/1.1\r\n",
            b"GET  HTTP/1.1\r\n",
            b"GET / HTTP/1.10\r\n",
            b"G{T / HTTP/1.1\r\n",
        ] {
            assert!(
                matches!(decided(line), Err(Refused::NotHttp)),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn an_endless_line_goes_to_http1() {
        let long = vec![b'a'; 100];
        assert!(matches!(decide(&long, 64), Ok(Some(Version::Http1))));
        assert!(matches!(decide(&long, 128), Ok(None)));
    }
}
