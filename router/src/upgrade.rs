//! Zero-downtime upgrades (issue 14, docs/deploy.md): a new router process
//! takes over from the running one without a client ever being refused.
//!
//! With `--upgrade-socket PATH`, every router listens on a Unix socket at
//! PATH. A router that starts while another listens there is its successor:
//!
//! 1. It asks for the running router's HTTP and admin listeners and gets
//!    them over the socket (`SCM_RIGHTS`): the same kernel sockets, so their
//!    accept queues are never closed and nothing queued is lost.
//! 2. It binds each tcp:// worker port beside the old router's (both have
//!    `SO_REUSEPORT`) and steers every new worker connection to itself
//!    (`zroute_transport::steer_to_newest`): libzmq cannot close the old
//!    router's worker listener without cutting its worker sessions, so the old
//!    listener simply gets nothing new.
//! 3. Once it serves, it says `ready`. The old router stops accepting (the
//!    successor accepts from the shared queues), lets each open client
//!    connection send one more request within `--handover-grace` (answered with
//!    `Connection: close`) while it still has its workers, then drains its
//!    workers with GOAWAY(0, OK): they register again at once, with the
//!    successor, which has held its own requests in its queue meanwhile
//!    (`--startup-grace`). The old router exits when its last request is done.
//! 4. The successor listens on PATH in turn (a rename, so that the path is
//!    never missing), but answers a successor of its own only once its
//!    predecessor has exited: a worker port then never has more than the two
//!    listeners that `steer_to_newest` assumes.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tracing::{info, warn};

const ASK: &[u8] = b"zroute-upgrade 1\n";
const GIVE: &[u8] = b"listeners 1\n";
const READY: &[u8] = b"ready\n";
/// How long a router waits for a successor that took its listeners to say
/// it serves; a successor that says nothing by then has failed.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// What a successor got from the router it replaces.
#[derive(Debug)]
pub(crate) struct Inherited {
    pub(crate) http: std::net::TcpListener,
    pub(crate) admin: std::net::TcpListener,
    pub(crate) predecessor: Predecessor,
}

/// The link to the router being replaced.
#[derive(Debug)]
pub(crate) struct Predecessor(UnixStream);

/// Asks the router listening at `path`, if any, for its listeners. `None`
/// when no router listens there (a first start). `patience` bounds the wait
/// for an answer: a router answers only once its own predecessor has exited.
pub(crate) async fn take_over(
    path: PathBuf,
    patience: Duration,
) -> Result<Option<Inherited>, String> {
    tokio::task::spawn_blocking(move || ask(&path, patience))
        .await
        .map_err(|e| format!("upgrade: {e}"))?
        .map_err(|e| format!("upgrade: {e}"))
}

fn ask(path: &Path, patience: Duration) -> io::Result<Option<Inherited>> {
    let mut link = match UnixStream::connect(path) {
        Ok(link) => link,
        // Nothing there, or a socket file left by a router that is gone.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    info!(socket = %path.display(), "a router runs here: asking for its listeners");
    link.write_all(ASK)?;
    link.set_read_timeout(Some(patience))?;
    let mut data = [0u8; 64];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        &link,
        &mut [IoSliceMut::new(&mut data)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = message {
            fds.extend(rights);
        }
    }
    if &data[..received.bytes] != GIVE || fds.len() != 2 {
        return Err(io::Error::other(format!(
            "the running router answered {:?} with {} descriptors",
            String::from_utf8_lossy(&data[..received.bytes]),
            fds.len()
        )));
    }
    link.set_read_timeout(None)?;
    let mut fds = fds.into_iter();
    let mut listener = || -> io::Result<std::net::TcpListener> {
        let listener = std::net::TcpListener::from(fds.next().expect("two descriptors"));
        listener.set_nonblocking(true)?;
        Ok(listener)
    };
    Ok(Some(Inherited {
        http: listener()?,
        admin: listener()?,
        predecessor: Predecessor(link),
    }))
}

impl Inherited {
    /// Checks that the listeners are where this router's settings say (a
    /// port 0 accepts any), before the old router lets go.
    pub(crate) fn check(&self, http: SocketAddr, admin: SocketAddr) -> Result<(), String> {
        for (what, want, listener) in [("http", http, &self.http), ("admin", admin, &self.admin)] {
            let got = listener.local_addr().map_err(|e| e.to_string())?;
            if want.port() != 0 && got != want {
                return Err(format!(
                    "upgrade: the running router's {what} listener is {got}, this one is set \
                     to {want}; an upgrade keeps the addresses (stop the old router to move)"
                ));
            }
        }
        Ok(())
    }
}

impl Predecessor {
    /// Tells the old router that this one serves: it hands over now. Returns
    /// a watch that turns true once the old router has exited.
    pub(crate) fn confirm(self) -> Result<watch::Receiver<bool>, String> {
        let mut link = self.0;
        link.write_all(READY)
            .map_err(|e| format!("upgrade: the running router went away: {e}"))?;
        let (gone_tx, gone) = watch::channel(false);
        link.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut link = tokio::net::UnixStream::from_std(link).map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            // The old router writes nothing more: this read ends when it exits.
            let mut byte = [0u8; 1];
            let _ = link.read(&mut byte).await;
            info!("the previous router has exited");
            let _ = gone_tx.send(true);
        });
        Ok(gone)
    }
}

/// This router's end of the upgrade socket: the listeners it offers.
#[derive(Debug)]
pub(crate) struct Offer {
    listener: tokio::net::UnixListener,
    path: PathBuf,
    /// Where it is bound until [`publish`](Self::publish).
    temporary: PathBuf,
    /// The socket file's inode: removed at exit only if still this one.
    inode: u64,
    /// Copies of the HTTP and admin listeners; dropped once given away, so
    /// that a successor that dies later leaves no socket nobody accepts on.
    listeners: std::sync::Mutex<Option<(OwnedFd, OwnedFd)>>,
}

impl Offer {
    /// Listens on a new socket file beside `path`, offering copies of `http`
    /// and `admin`; [`publish`](Self::publish) moves it to `path`.
    pub(crate) fn prepare(
        path: &Path,
        http: &tokio::net::TcpListener,
        admin: &tokio::net::TcpListener,
    ) -> Result<Self, String> {
        let fail = |e: io::Error| format!("--upgrade-socket {}: {e}", path.display());
        let temporary = path.with_extension(format!("{}.new", std::process::id()));
        let _ = std::fs::remove_file(&temporary);
        let listener = UnixListener::bind(&temporary).map_err(fail)?;
        let inode = std::fs::metadata(&temporary).map_err(fail)?.ino();
        listener.set_nonblocking(true).map_err(fail)?;
        Ok(Self {
            listener: tokio::net::UnixListener::from_std(listener).map_err(fail)?,
            path: path.to_owned(),
            temporary,
            inode,
            listeners: std::sync::Mutex::new(Some((
                http.as_fd().try_clone_to_owned().map_err(fail)?,
                admin.as_fd().try_clone_to_owned().map_err(fail)?,
            ))),
        })
    }

    /// Puts the socket at its path, replacing a predecessor's in one rename,
    /// so that the path always answers.
    pub(crate) fn publish(&self) -> Result<(), String> {
        std::fs::rename(&self.temporary, &self.path)
            .map_err(|e| format!("--upgrade-socket {}: {e}", self.path.display()))?;
        info!(socket = %self.path.display(), "upgrade socket listening");
        Ok(())
    }

    /// Waits for a successor (once `predecessor_gone`, if this router has a
    /// predecessor), gives it the listeners and returns once it serves; the
    /// returned link stays open until this router exits.
    pub(crate) async fn successor(
        &self,
        predecessor_gone: Option<watch::Receiver<bool>>,
    ) -> Successor {
        if let Some(mut gone) = predecessor_gone {
            let _ = gone.wait_for(|gone| *gone).await;
        }
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "upgrade socket: accept failed");
                    continue;
                }
            };
            match self.hand_to(stream).await {
                Ok(link) => {
                    self.listeners.lock().expect("not poisoned").take();
                    return Successor { _link: link };
                }
                Err(e) => {
                    warn!(error = %e, "upgrade: the new router did not take over; serving on")
                }
            }
        }
    }

    async fn hand_to(&self, stream: tokio::net::UnixStream) -> io::Result<UnixStream> {
        let mut link = stream.into_std()?;
        let (http, admin) = {
            let listeners = self.listeners.lock().expect("not poisoned");
            let (http, admin) = listeners
                .as_ref()
                .ok_or_else(|| io::Error::other("given away"))?;
            (http.try_clone()?, admin.try_clone()?)
        };
        tokio::task::spawn_blocking(move || {
            link.set_nonblocking(false)?;
            link.set_read_timeout(Some(READY_WITHIN))?;
            let mut ask = [0u8; ASK.len()];
            link.read_exact(&mut ask)?;
            if ask != ASK {
                return Err(io::Error::other(format!(
                    "not an upgrade request: {:?}",
                    String::from_utf8_lossy(&ask)
                )));
            }
            let fds = [http.as_fd(), admin.as_fd()];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            control.push(SendAncillaryMessage::ScmRights(&fds));
            rustix::net::sendmsg(
                &link,
                &[IoSlice::new(GIVE)],
                &mut control,
                SendFlags::empty(),
            )?;
            info!("upgrade: listeners given to a new router; waiting for it to serve");
            let mut ready = [0u8; READY.len()];
            link.read_exact(&mut ready)?;
            if ready != READY {
                return Err(io::Error::other("the new router did not say ready"));
            }
            link.set_read_timeout(None)?;
            Ok(link)
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// The router that took over from this one.
#[derive(Debug)]
pub(crate) struct Successor {
    // Closed when this process exits: the successor's sign that it is alone.
    _link: UnixStream,
}

impl Offer {
    /// Removes the socket file at exit, unless a successor's replaced it.
    pub(crate) fn remove(&self) {
        remove_if_mine(&self.path, self.inode);
        remove_if_mine(&self.temporary, self.inode);
    }
}

fn remove_if_mine(path: &Path, inode: u64) {
    if std::fs::metadata(path).is_ok_and(|m| m.ino() == inode) {
        let _ = std::fs::remove_file(path);
    }
}

/// Tells systemd (`Type=notify`) about this router's state, if it started
/// it: `READY=1` once it serves, `STOPPING=1` when it starts draining.
pub(crate) fn notify_systemd(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let result = (|| -> io::Result<()> {
        let sender = std::os::unix::net::UnixDatagram::unbound()?;
        let bytes = socket.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sender.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            sender.send_to(state.as_bytes(), &socket)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        warn!(error = %e, "cannot notify systemd");
    }
}
