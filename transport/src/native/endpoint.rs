//! `tcp://` and `ipc://` endpoints: parsing, listeners and streams.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::task::{Context, Poll};

use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::monitor::PeerAddr;

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `tcp://host:port`; `*` as host means every interface, `*` as port
    /// (bind only) any free port. libzmq's `tcp://source:port;host:port`
    /// connects from `source`.
    Tcp {
        host: String,
        port: Option<u16>,
        source: Option<String>,
    },
    /// `ipc://path`, a Unix domain socket; `ipc://@name` is a name in
    /// Linux's abstract namespace (no file), kept here with the leading NUL
    /// that tokio, like the kernel, reads as such.
    Ipc(PathBuf),
    /// `ipc://*` (bind only): a socket in a new directory that only this
    /// user can enter, as libzmq makes one.
    IpcAny,
}

impl Endpoint {
    pub(crate) fn parse(text: &str) -> io::Result<Self> {
        let invalid = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("endpoint {text:?}: {why}"),
            )
        };
        if let Some(path) = text.strip_prefix("ipc://") {
            if path.is_empty() || path.contains('\0') || path == "@" {
                return Err(invalid("an ipc:// endpoint needs a path"));
            }
            if path == "*" {
                return Ok(Self::IpcAny);
            }
            if let Some(name) = path.strip_prefix('@') {
                return Ok(Self::Ipc(PathBuf::from(format!("\0{name}"))));
            }
            return Ok(Self::Ipc(PathBuf::from(path)));
        }
        let Some(rest) = text.strip_prefix("tcp://") else {
            return Err(invalid("only tcp:// and ipc:// are supported"));
        };
        let (source, rest) = match rest.split_once(';') {
            Some((source, rest)) => {
                let (host, port) = split_host_port(source).ok_or_else(|| invalid("bad source"))?;
                let port: u16 = if port == "*" {
                    0
                } else {
                    port.parse().map_err(|_| invalid("bad source port"))?
                };
                (Some(Self::host_port(host, port)), rest)
            }
            None => (None, rest),
        };
        let (host, port) =
            split_host_port(rest).ok_or_else(|| invalid("a tcp:// endpoint needs host:port"))?;
        let port = match port {
            "*" | "0" => None,
            p => Some(p.parse().map_err(|_| invalid("bad port"))?),
        };
        Ok(Self::Tcp {
            host: host.to_owned(),
            port,
            source,
        })
    }

    fn host_port(host: &str, port: u16) -> String {
        let host = if host == "*" { "0.0.0.0" } else { host };
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }

    /// Connects, resolving a host name on tokio's blocking pool.
    pub(crate) async fn connect(&self) -> io::Result<Stream> {
        match self {
            Self::Tcp { host, port, source } => {
                let port = port.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "cannot connect to port *")
                })?;
                let target = Self::host_port(host, port);
                let stream = match source {
                    None => TcpStream::connect(target).await?,
                    Some(source) => connect_from(source, &target).await?,
                };
                stream.set_nodelay(true)?;
                Ok(Stream::Tcp(stream))
            }
            Self::Ipc(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
            Self::IpcAny => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot connect to ipc://*",
            )),
        }
    }

    /// Binds and listens; returns the listener and the endpoint bound, with
    /// the port filled in.
    pub(crate) fn bind(&self) -> io::Result<(Listener, String)> {
        match self {
            Self::Tcp { host, port, .. } => {
                let addr = Self::host_port(host, port.unwrap_or(0));
                let std = std::net::TcpListener::bind(&addr)?;
                std.set_nonblocking(true)?;
                let listener = TcpListener::from_std(std)?;
                let bound = format!("tcp://{}", listener.local_addr()?);
                Ok((Listener::Tcp(listener), bound))
            }
            Self::Ipc(path) => match abstract_name(path) {
                Some(name) => Ok((
                    Listener::Unix(UnixListener::bind(path)?, Trace::default()),
                    format!("ipc://@{name}"),
                )),
                None => {
                    remove_stale_socket(path)?;
                    let listener = UnixListener::bind(path)?;
                    let trace = Trace {
                        file: Some(path.clone()),
                        dir: None,
                    };
                    Ok((
                        Listener::Unix(listener, trace),
                        format!("ipc://{}", path.display()),
                    ))
                }
            },
            Self::IpcAny => {
                let dir = private_dir()?;
                let path = dir.join("socket");
                let listener = match UnixListener::bind(&path) {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = std::fs::remove_dir(&dir);
                        return Err(e);
                    }
                };
                let trace = Trace {
                    file: Some(path.clone()),
                    dir: Some(dir),
                };
                Ok((
                    Listener::Unix(listener, trace),
                    format!("ipc://{}", path.display()),
                ))
            }
        }
    }
}

/// The name of an abstract-namespace path (after its leading NUL).
fn abstract_name(path: &Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let name = bytes.strip_prefix(b"\0")?;
    Some(String::from_utf8_lossy(name).into_owned())
}

/// A new directory of mode 0700 under the temporary directory, for
/// `ipc://*`: nobody but this user (and root) can reach a socket in it.
fn private_dir() -> io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    let mut last = None;
    for _ in 0..16 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("zroute-ipc-{}-{n}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::ErrorKind::AlreadyExists.into()))
}

/// What a Unix listener left on disk: removed when it is dropped.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    file: Option<PathBuf>,
    /// The private directory of an `ipc://*` socket.
    dir: Option<PathBuf>,
}

/// `host:port`, the host without IPv6 brackets; `None` if either is empty.
fn split_host_port(text: &str) -> Option<(&str, &str)> {
    let (host, port) = text.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && !port.is_empty()).then_some((host, port))
}

/// Connects to `target` from the local address `source`.
async fn connect_from(source: &str, target: &str) -> io::Result<TcpStream> {
    let source: std::net::SocketAddr = tokio::net::lookup_host(source)
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "source resolves to nothing"))?;
    let mut last = None;
    for addr in tokio::net::lookup_host(target).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.bind(source)?;
        match socket.connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "target resolves to nothing")
    }))
}

/// libzmq binds an ipc:// path over a socket file left by a process that
/// died; so do we, but never over anything that is not a socket.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A bound listener.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, Trace),
}

impl Listener {
    /// Takes over a listening TCP socket made by the caller.
    pub(crate) fn from_tcp_fd(fd: OwnedFd) -> io::Result<(Self, String)> {
        let std = std::net::TcpListener::from(fd);
        std.set_nonblocking(true)?;
        let listener = TcpListener::from_std(std)?;
        let bound = format!("tcp://{}", listener.local_addr()?);
        Ok((Self::Tcp(listener), bound))
    }

    pub(crate) fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Stream, Option<PeerAddr>)>> {
        match self {
            Self::Tcp(l) => l.poll_accept(cx).map(|r| {
                let (stream, addr) = r?;
                stream.set_nodelay(true)?;
                Ok((Stream::Tcp(stream), Some(PeerAddr::Tcp(addr))))
            }),
            Self::Unix(l, _) => l.poll_accept(cx).map(|r| {
                let (stream, _) = r?;
                let peer = stream.peer_cred().ok().map(|c| PeerAddr::Local {
                    uid: c.uid(),
                    gid: c.gid(),
                    pid: c.pid().unwrap_or(0),
                });
                Ok((Stream::Unix(stream), peer))
            }),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Self::Unix(_, trace) = self {
            if let Some(file) = &trace.file {
                let _ = std::fs::remove_file(file);
            }
            if let Some(dir) = &trace.dir {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

/// A connected stream.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// This end's address, for a tcp:// stream.
    pub(crate) fn local_tcp_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Self::Tcp(s) => s.local_addr().ok(),
            Self::Unix(_) => None,
        }
    }

    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Tcp(s) => s.poll_read_ready(cx),
            Self::Unix(s) => s.poll_read_ready(cx),
        }
    }

    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Tcp(s) => s.poll_write_ready(cx),
            Self::Unix(s) => s.poll_write_ready(cx),
        }
    }

    /// Reads into `buf`; says also whether the socket is known drained. A
    /// read that fills less than `buf` took all there was, so the readiness
    /// is cleared there and then, as a `WouldBlock` would clear it, without
    /// the second read that would only find that out (nginx saves it the
    /// same way). Nothing is missed: the sockets are edge-triggered, so
    /// octets that arrive later raise a new event, and a peer's close stays
    /// flagged in tokio's readiness after a clear.
    pub(crate) fn read_some(&self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        let (mut short, len) = (None, buf.len());
        let mut read = |n: usize| {
            if n > 0 && n < len {
                short = Some(n);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        };
        let outcome = match self {
            Self::Tcp(s) => s.try_io(Interest::READABLE, || read(s.try_read(buf)?)),
            Self::Unix(s) => s.try_io(Interest::READABLE, || read(s.try_read(buf)?)),
        };
        match (short, outcome) {
            (Some(n), _) => Ok((n, true)),
            (None, outcome) => outcome.map(|n| (n, false)),
        }
    }

    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.try_write(buf),
            Self::Unix(s) => s.try_write(buf),
        }
    }

    /// The peer's address as libzmq's `Peer-Address` gives it (and so
    /// [`crate::Origin::address`]): the IP for TCP, `:uid:gid:pid` for ipc.
    pub(crate) fn peer_text(&self) -> String {
        match self {
            Self::Tcp(s) => s
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            Self::Unix(s) => s
                .peer_cred()
                .map(|c| format!(":{}:{}:{}", c.uid(), c.gid(), c.pid().unwrap_or(0)))
                .unwrap_or_default(),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Self::Tcp(s) => s.as_raw_fd(),
            Self::Unix(s) => s.as_raw_fd(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_libzmq_writes_them() {
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:*").unwrap(),
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: None,
                source: None,
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:5555").unwrap(),
            Endpoint::Tcp {
                host: "::1".into(),
                port: Some(5555),
                source: None,
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.3:0;127.0.0.1:5555").unwrap(),
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: Some(5555),
                source: Some("127.0.0.3:0".into()),
            }
        );
        assert_eq!(
            Endpoint::parse("ipc:///tmp/x.sock").unwrap(),
            Endpoint::Ipc("/tmp/x.sock".into())
        );
        assert_eq!(Endpoint::parse("ipc://*").unwrap(), Endpoint::IpcAny);
        assert_eq!(
            Endpoint::parse("ipc://@zroute").unwrap(),
            Endpoint::Ipc("\0zroute".into())
        );
        for bad in [
            "udp://x:1",
            "tcp://nohost",
            "tcp://:1",
            "tcp://h:99999",
            "ipc://",
            "ipc://@",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Endpoint::host_port("*", 7), "0.0.0.0:7");
        assert_eq!(Endpoint::host_port("::1", 7), "[::1]:7");
    }
}
