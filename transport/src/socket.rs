use std::fmt;
use std::future::poll_fn;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::task::coop;

use crate::context::Context;
use crate::error::{SendError, io_err};
use crate::message::{Incoming, Multipart, Origin, PeerId, SocketKind, origin_of, take_part};
use crate::monitor::{self, HandshakeFailure, SocketEvent};
use crate::options::{DealerOptions, RouterOptions, millis};

/// A ZeroMQ ROUTER or DEALER socket driven by tokio.
///
/// # How waiting works
///
/// libzmq exposes one descriptor per socket (`ZMQ_FD`) that becomes readable
/// when the socket's *state may have changed*; the state itself is read from
/// `ZMQ_EVENTS`. The signal is edge-triggered and libzmq consumes it inside any
/// call on the socket (including sends and receives), so this type keeps one
/// rule: it reads `ZMQ_EVENTS` (or attempts the operation) before every wait,
/// and it clears tokio's readiness only right before reading `ZMQ_EVENTS`
/// again. A wakeup can therefore be spurious but is never lost.
///
/// # Use from one task
///
/// Every method takes `&mut self`: a socket belongs to one task, which
/// typically `select!`s over [`recv`](Self::recv) and its other inputs and
/// sends with [`try_send`](Self::try_send). `recv` is cancel-safe: dropping
/// its future never loses a message. After a wakeup, drain what else is
/// queued with [`try_recv`](Self::try_recv) before going back to `select!`.
/// `recv` and `send` spend tokio's cooperative task budget, so a task that
/// always finds work queued still yields to its neighbours.
///
/// # Closing
///
/// Dropping the socket closes it. libzmq keeps delivering what was queued for
/// up to the socket's `linger` in the background; see [`Context`] for what
/// that means at context shutdown.
pub struct Socket {
    // Declared before `sock` so that it is dropped first: it deregisters the
    // descriptor from the reactor while libzmq still has it open (libzmq
    // closes it only when it reaps the socket, after `zmq_close`).
    fd: AsyncFd<ZmqFd>,
    sock: zmq::Socket,
    kind: SocketKind,
    recv_copy_max: usize,
    // Parts of a message whose receive an error interrupted; the next receive
    // completes it rather than returning a headless message.
    partial: Vec<Bytes>,
    // `RouterOptions::origin_prefix`, and what it found in `partial` so far.
    origin_prefix: Option<Vec<u8>>,
    partial_origin: Option<Box<Origin>>,
    // The reading end of libzmq's monitor of this socket, while watched.
    watch: Option<Watch>,
}

/// The PAIR socket libzmq's monitor sends this socket's events to.
struct Watch {
    // Before `sock`, as in `Socket`.
    fd: AsyncFd<ZmqFd>,
    sock: zmq::Socket,
}

/// Events a watched socket's reader may fall behind by before libzmq's I/O
/// thread waits for it (the monitor's own queue holds 1,000 more).
const WATCH_RCVHWM: i32 = 100_000;

/// libzmq's signalling descriptor, borrowed: libzmq owns and closes it.
struct ZmqFd(RawFd);

impl AsRawFd for ZmqFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl Socket {
    /// A ROUTER socket with `opts` applied. Bind or connect it next.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with I/O enabled.
    pub fn router(ctx: &Context, opts: &RouterOptions) -> io::Result<Self> {
        let sock = ctx.zmq().socket(zmq::ROUTER).map_err(io_err)?;
        opts.apply(&sock).map_err(io_err)?;
        let mut socket = Self::register(sock, SocketKind::Router, opts.recv_copy_max)?;
        socket.origin_prefix.clone_from(&opts.origin_prefix);
        Ok(socket)
    }

    /// A DEALER socket with `opts` applied. Connect (or bind) it next.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with I/O enabled.
    pub fn dealer(ctx: &Context, opts: &DealerOptions) -> io::Result<Self> {
        let sock = ctx.zmq().socket(zmq::DEALER).map_err(io_err)?;
        opts.apply(&sock).map_err(io_err)?;
        Self::register(sock, SocketKind::Dealer, opts.recv_copy_max)
    }

    fn register(sock: zmq::Socket, kind: SocketKind, recv_copy_max: usize) -> io::Result<Self> {
        let fd = register_fd(&sock)?;
        Ok(Self {
            fd,
            sock,
            kind,
            recv_copy_max,
            partial: Vec::new(),
            origin_prefix: None,
            partial_origin: None,
            watch: None,
        })
    }

    /// Starts reporting this socket's connection events ([`SocketEvent`]),
    /// which [`next`](Self::next), [`try_event`](Self::try_event) and
    /// [`connected`](Self::connected) then return. Call it before
    /// [`bind`](Self::bind) or [`connect`](Self::connect) to see every
    /// connection.
    ///
    /// Read the events for as long as the socket is watched, or
    /// [`unwatch`](Self::unwatch) it: libzmq queues them (up to about
    /// 100,000), and past that its I/O thread waits for the reader, which
    /// stalls every socket of the context.
    pub fn watch(&mut self, ctx: &Context) -> io::Result<()> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        if self.watch.is_some() {
            return Ok(());
        }
        let endpoint = format!(
            "inproc://zroute-transport-watch-{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.sock
            .monitor(&endpoint, i32::from(monitor::WATCHED))
            .map_err(io_err)?;
        // libzmq's monitor blocks on its first event until this end is
        // connected; connecting at once, before the caller binds or connects
        // the watched socket, means no event can come earlier.
        let reader = ctx.zmq().socket(zmq::PAIR).map_err(io_err);
        let reader = reader.and_then(|r| {
            r.set_rcvhwm(WATCH_RCVHWM).map_err(io_err)?;
            r.set_linger(0).map_err(io_err)?;
            r.connect(&endpoint).map_err(io_err)?;
            Ok(r)
        });
        match reader.and_then(|sock| Ok((register_fd(&sock)?, sock))) {
            Ok((fd, sock)) => {
                self.watch = Some(Watch { fd, sock });
                Ok(())
            }
            Err(e) => {
                stop_monitor(&mut self.sock);
                Err(e)
            }
        }
    }

    /// Stops reporting connection events and drops those not read yet.
    pub fn unwatch(&mut self) {
        if self.watch.is_some() {
            // Before the reader goes: a monitor whose reader is gone blocks
            // libzmq at its next event.
            stop_monitor(&mut self.sock);
            self.watch = None;
        }
    }

    /// Takes the next connection event if one is queued, without waiting;
    /// `None` also if the socket is not watched.
    pub fn try_event(&mut self) -> io::Result<Option<SocketEvent>> {
        let Some(watch) = &self.watch else {
            return Ok(None);
        };
        loop {
            let first = match watch.sock.recv_bytes(zmq::DONTWAIT) {
                Ok(first) => first,
                Err(zmq::Error::EINTR) => continue,
                Err(zmq::Error::EAGAIN) => return Ok(None),
                Err(e) => return Err(io_err(e)),
            };
            // The rest (the socket's own endpoint) says nothing about the
            // peer; a message arrives whole, so it is there already.
            while watch.sock.get_rcvmore().map_err(io_err)? {
                match watch.sock.recv_bytes(zmq::DONTWAIT) {
                    Ok(_) | Err(zmq::Error::EINTR) => {}
                    Err(e) => return Err(io_err(e)),
                }
            }
            if let Some(event) = monitor::decode(&first) {
                return Ok(Some(event));
            }
        }
    }

    /// Waits for the next message or, on a watched socket, connection event,
    /// whichever is there first (events first).
    ///
    /// Cancel-safe, as [`recv`](Self::recv).
    pub async fn next(&mut self) -> io::Result<Incoming> {
        loop {
            let budget = poll_fn(coop::poll_proceed).await;
            if let Some(event) = self.try_event()? {
                budget.made_progress();
                return Ok(Incoming::Event(event));
            }
            if let Some(msg) = self.try_recv()? {
                budget.made_progress();
                return Ok(Incoming::Message(msg));
            }
            drop(budget);
            // Both failed non-blocking receives applied every pending command.
            self.wait_any().await?;
        }
    }

    /// Waits until the socket is writable, as [`writable`](Self::writable),
    /// or, on a watched socket, until libzmq gives a connection up for good
    /// ([`HandshakeFailure::is_final`]): a DEALER then never connects, and
    /// the failure says why. Consumes the events it reads.
    pub async fn connected(&mut self) -> io::Result<Result<(), HandshakeFailure>> {
        loop {
            while let Some(event) = self.try_event()? {
                if let SocketEvent::HandshakeFailed(failure) = event
                    && failure.is_final()
                {
                    return Ok(Err(failure));
                }
            }
            if self.events()?.contains(zmq::POLLOUT) {
                return Ok(Ok(()));
            }
            self.wait_any().await?;
        }
    }

    /// Waits for a signal on the socket's or the watch's descriptor, and
    /// clears it: the caller then tries its operations again, so a signal
    /// that comes after the clear sets readiness again and none is lost.
    // `&mut self`: a future holding `&Socket` would need `Socket: Sync`.
    async fn wait_any(&mut self) -> io::Result<()> {
        // The descriptors only: a borrow of `Watch` would need `zmq::Socket: Sync`.
        let fd = &self.fd;
        let watch_fd = self.watch.as_ref().map(|w| &w.fd);
        poll_fn(|cx| {
            if let Poll::Ready(ready) = fd.poll_read_ready(cx) {
                ready?.clear_ready();
                return Poll::Ready(Ok(()));
            }
            if let Some(watch_fd) = watch_fd
                && let Poll::Ready(ready) = watch_fd.poll_read_ready(cx)
            {
                ready?.clear_ready();
                return Poll::Ready(Ok(()));
            }
            Poll::Pending
        })
        .await
    }

    /// ROUTER or DEALER.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// Binds to `endpoint` (`tcp://host:port`, `tcp://host:*` for any free
    /// port, or `ipc://path`) and returns the endpoint actually bound, with the
    /// port filled in.
    pub fn bind(&self, endpoint: &str) -> io::Result<String> {
        check_endpoint(endpoint)?;
        self.sock.bind(endpoint).map_err(io_err)?;
        let bound = self.sock.get_last_endpoint().map_err(io_err)?;
        Ok(bound.unwrap_or_else(|raw| String::from_utf8_lossy(&raw).into_owned()))
    }

    /// Binds to a listening TCP socket made by the caller (`ZMQ_USE_FD`), such
    /// as [`reuseport_listener`](crate::reuseport_listener)'s; libzmq takes
    /// it over and closes it with the socket. `endpoint` names it (libzmq
    /// does not parse it). Returns the endpoint bound, as
    /// [`bind`](Self::bind) does.
    pub fn bind_listener(&mut self, endpoint: &str, listener: OwnedFd) -> io::Result<String> {
        check_endpoint(endpoint)?;
        let fd = listener.into_raw_fd();
        let set = |sock: &mut zmq::Socket, value: libc::c_int| -> io::Result<()> {
            // SAFETY: `sock` is a live socket (the `zmq::Socket` owns it),
            // and the option value is a `c_int`, the size passed, which
            // libzmq copies before returning.
            #[allow(unsafe_code)]
            let rc = unsafe {
                zmq_sys::zmq_setsockopt(
                    sock.as_mut_ptr(),
                    zmq_sys::ZMQ_USE_FD as libc::c_int,
                    (&raw const value).cast(),
                    std::mem::size_of::<libc::c_int>(),
                )
            };
            if rc == 0 {
                return Ok(());
            }
            // SAFETY: reads libzmq's thread-local error number, no arguments.
            #[allow(unsafe_code)]
            let errno = unsafe { zmq_sys::zmq_errno() };
            Err(io_err(zmq::Error::from_raw(errno)))
        };
        let bound = set(&mut self.sock, fd)
            .and_then(|()| self.sock.bind(endpoint).map_err(io_err))
            .and_then(|()| self.sock.get_last_endpoint().map_err(io_err));
        // Later binds of this socket create their own listeners again.
        let _ = set(&mut self.sock, -1);
        match bound {
            Ok(bound) => Ok(bound.unwrap_or_else(|raw| String::from_utf8_lossy(&raw).into_owned())),
            Err(e) => {
                // SAFETY: libzmq did not take the descriptor (the bind
                // failed), so this is its only owner again.
                #[allow(unsafe_code)]
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
                Err(e)
            }
        }
    }

    /// Connects to `endpoint` (`tcp://host:port` or `ipc://path`). Returns at
    /// once: libzmq connects, and reconnects, in the background. With
    /// `immediate` set, [`writable`](Self::writable) tells when it is done.
    pub fn connect(&self, endpoint: &str) -> io::Result<()> {
        check_endpoint(endpoint)?;
        self.sock.connect(endpoint).map_err(io_err)
    }

    /// Changes `ZMQ_LINGER`, typically right before dropping the socket (for
    /// instance to 0 once a drain has finished).
    pub fn set_linger(&self, linger: Duration) -> io::Result<()> {
        self.sock.set_linger(millis(linger)).map_err(io_err)
    }

    /// Closes the socket; the same as dropping it, spelled out.
    pub fn close(self) {}

    /// Nothing to do: libzmq's I/O thread writes every message as it is
    /// queued. Here so that code written for the native socket, which
    /// writes at each flush ([`native::Socket::flush`]), runs on both.
    ///
    /// [`native::Socket::flush`]: crate::native::Socket::flush
    pub fn flush(&mut self) {}

    /// Receives the next message, waiting for one if none is queued.
    ///
    /// On a ROUTER the first part is the sender's routing id
    /// ([`Multipart::split_peer`]).
    ///
    /// Cancel-safe: a message is taken out of libzmq only in the poll that
    /// returns it, so dropping the future never loses one.
    pub async fn recv(&mut self) -> io::Result<Multipart> {
        loop {
            // Without this, a task that always finds a message queued would
            // never yield to the scheduler. Taken before the message, so a
            // forced yield cannot lose one.
            let budget = poll_fn(coop::poll_proceed).await;
            if let Some(msg) = self.try_recv()? {
                budget.made_progress();
                return Ok(msg);
            }
            // Unused budget goes back; the guard must not live across an await.
            drop(budget);
            // A failed non-blocking receive has just made libzmq apply every
            // pending command, so `ZMQ_EVENTS` need not be read again first.
            self.wait(zmq::POLLIN, true).await?;
        }
    }

    /// Takes the next message if one is already queued, without waiting.
    ///
    /// Call it in a loop after a wakeup to handle everything that wakeup
    /// brought before waiting again.
    pub fn try_recv(&mut self) -> io::Result<Option<Multipart>> {
        loop {
            let mut msg = zmq::Message::new();
            match self.sock.recv(&mut msg, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EINTR) => continue,
                Err(zmq::Error::EAGAIN) => return Ok(None),
                Err(e) => return Err(io_err(e)),
            }
            let more = msg.get_more();
            // A ROUTER's first part is the routing id it made up itself.
            if let Some(prefix) = &self.origin_prefix
                && self.partial_origin.is_none()
                && (self.kind == SocketKind::Dealer || !self.partial.is_empty())
                && msg.starts_with(prefix)
            {
                self.partial_origin = origin_of(&mut msg);
            }
            self.partial.push(take_part(msg, self.recv_copy_max));
            if !more {
                let mut msg = Multipart::from(mem::take(&mut self.partial));
                msg.set_origin(self.partial_origin.take());
                return Ok(Some(msg));
            }
        }
    }

    /// Queues a message without waiting.
    ///
    /// On a ROUTER the first part selects the peer (see
    /// [`try_send_to`](Self::try_send_to)). The parts are copied into libzmq.
    /// Fails with [`SendError::WouldBlock`] when the peer's queue is full (or,
    /// for a DEALER with `immediate`, when it has no connection yet) and with
    /// [`SendError::HostUnreachable`] when a ROUTER with `mandatory` knows no
    /// such peer; in both cases nothing was queued.
    pub fn try_send<P: AsRef<[u8]>>(&mut self, parts: &[P]) -> Result<(), SendError> {
        self.try_send_parts(None, parts)
    }

    /// [`try_send`](Self::try_send) to `peer` on a ROUTER: sends the routing
    /// id, then `parts`.
    pub fn try_send_to<P: AsRef<[u8]>>(
        &mut self,
        peer: &PeerId,
        parts: &[P],
    ) -> Result<(), SendError> {
        self.try_send_parts(Some(peer.as_ref()), parts)
    }

    /// Queues a message, waiting while the peer's queue is full.
    ///
    /// Fails at once with anything but [`SendError::WouldBlock`]. Bound the
    /// wait with `tokio::time::timeout`; dropping the future before it
    /// completes means the message was not queued.
    ///
    /// On a ROUTER, libzmq cannot say *which* peer has room again, so this
    /// retries after every change libzmq signals; on a DEALER it waits for
    /// `ZMQ_EVENTS` to report room.
    pub async fn send<P: AsRef<[u8]>>(&mut self, parts: &[P]) -> Result<(), SendError> {
        self.send_parts(None, parts).await
    }

    /// [`send`](Self::send) to `peer` on a ROUTER.
    pub async fn send_to<P: AsRef<[u8]>>(
        &mut self,
        peer: &PeerId,
        parts: &[P],
    ) -> Result<(), SendError> {
        self.send_parts(Some(peer.as_ref()), parts).await
    }

    /// Waits until `ZMQ_EVENTS` reports the socket writable.
    ///
    /// On a DEALER with `immediate` set that means a connection is complete
    /// and has room: a worker awaits this before its first frame. On a ROUTER
    /// with `mandatory` set it means *some* peer has room (and none at all
    /// while no peer is connected).
    pub async fn writable(&mut self) -> io::Result<()> {
        self.wait(zmq::POLLOUT, false).await
    }

    fn try_send_parts<P: AsRef<[u8]>>(
        &mut self,
        head: Option<&[u8]>,
        parts: &[P],
    ) -> Result<(), SendError> {
        match self.send_now(head, parts) {
            Err(SendError::WouldBlock) => {
                // Inside a send libzmq applies "the peer has room again"
                // notifications only every millisecond or so; reading
                // ZMQ_EVENTS applies them all, so a refusal that was only
                // stale gets a second chance.
                self.events()?;
                self.send_now(head, parts)
            }
            other => other,
        }
    }

    async fn send_parts<P: AsRef<[u8]>>(
        &mut self,
        head: Option<&[u8]>,
        parts: &[P],
    ) -> Result<(), SendError> {
        // As in `recv`: a sender that never meets a full queue must still yield.
        let budget = poll_fn(coop::poll_proceed).await;
        match self.send_now(head, parts) {
            Err(SendError::WouldBlock) => {}
            other => {
                budget.made_progress();
                return other;
            }
        }
        drop(budget);
        loop {
            match self.kind {
                SocketKind::Dealer => self.wait(zmq::POLLOUT, false).await?,
                SocketKind::Router => {
                    // POLLOUT on a ROUTER says "some peer has room", which
                    // would spin while this one stays full. Instead: apply
                    // everything pending, retry, and if that fails sleep until
                    // libzmq signals the next change of any kind.
                    self.events()?;
                    match self.send_now(head, parts) {
                        Err(SendError::WouldBlock) => {}
                        other => return other,
                    }
                    self.fd.readable().await?.clear_ready();
                    continue;
                }
            }
            match self.send_now(head, parts) {
                Err(SendError::WouldBlock) => {}
                other => return other,
            }
        }
    }

    fn send_now<P: AsRef<[u8]>>(
        &mut self,
        head: Option<&[u8]>,
        parts: &[P],
    ) -> Result<(), SendError> {
        if parts.is_empty() {
            return Err(SendError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a message needs at least one part after the routing id",
            )));
        }
        let total = usize::from(head.is_some()) + parts.len();
        let all = head.into_iter().chain(parts.iter().map(AsRef::as_ref));
        let mut failed = None;
        for (i, part) in all.enumerate() {
            let flags = if i + 1 < total {
                zmq::DONTWAIT | zmq::SNDMORE
            } else {
                zmq::DONTWAIT
            };
            loop {
                match self.sock.send(part, flags) {
                    Ok(()) => break,
                    Err(zmq::Error::EINTR) => continue,
                    // libzmq decides on the first part for lack of room or peer.
                    Err(e) if i == 0 => return Err(SendError::from_zmq(e)),
                    // A later part fails if the connection the message
                    // started on goes meanwhile (EAGAIN), or the context is
                    // torn down. A DEALER then drops the parts that follow,
                    // up to the last: they must still be sent, or the next
                    // message would be taken for the rest of this one and
                    // silently dropped.
                    Err(e) => {
                        failed.get_or_insert(e);
                        break;
                    }
                }
            }
        }
        match failed {
            None => Ok(()),
            Some(e) => Err(SendError::Io(io_err(e))),
        }
    }

    /// Waits until `ZMQ_EVENTS` contains one of `want`. `fresh` says that the
    /// caller's last call into libzmq already applied every pending command
    /// and found nothing wanted, which saves one `ZMQ_EVENTS` read.
    ///
    /// Cancel-safe: it consumes nothing but tokio's readiness flag, and only
    /// right before re-reading the state that flag stood for.
    async fn wait(&mut self, want: zmq::PollEvents, fresh: bool) -> io::Result<()> {
        if !fresh && self.events()?.intersects(want) {
            return Ok(());
        }
        loop {
            // Any signal after the clear sets readiness again, and
            // everything signalled before it is applied by the `events()`
            // that follows, so clearing here cannot lose a wakeup.
            self.fd.readable().await?.clear_ready();
            if self.events()?.intersects(want) {
                return Ok(());
            }
        }
    }

    /// Reads `ZMQ_EVENTS`, which also makes libzmq apply pending commands
    /// (arrived messages, peers with room again, new and lost connections).
    fn events(&self) -> io::Result<zmq::PollEvents> {
        loop {
            match self.sock.get_events() {
                Ok(ev) => return Ok(ev),
                Err(zmq::Error::EINTR) => continue,
                Err(e) => return Err(io_err(e)),
            }
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.unwatch();
    }
}

// Registering a descriptor this code does not own is an I/O-safety
// obligation that tokio (since 1.53.3) makes the caller state with `unsafe`;
// its older safe constructors are deprecated as unsound.
#[allow(unsafe_code)]
fn register_fd(sock: &zmq::Socket) -> io::Result<AsyncFd<ZmqFd>> {
    let raw = sock.get_fd().map_err(io_err)?;
    // READABLE only: the descriptor is a signaller that is only ever read;
    // write interest would report it ready all the time.
    //
    // SAFETY: the descriptor must stay open, and name the same open file
    // description, for as long as the `AsyncFd` lives. It is the mailbox
    // signaller of `sock`, which libzmq closes only when it reaps the socket
    // after `zmq_close`; `zmq_close` runs when `sock` is dropped, and both
    // `Socket` and `Watch` declare their `AsyncFd` before their `zmq::Socket`,
    // so the `AsyncFd` is dropped (and deregistered) first. Nothing in this
    // crate closes or replaces the descriptor, and `ZmqFd` always returns the
    // same one.
    unsafe { AsyncFd::register_with_interest(ZmqFd(raw), Interest::READABLE) }.map_err(Into::into)
}

/// `zmq_socket_monitor(s, NULL, 0)`, which the `zmq` crate cannot express:
/// stops the monitor at once, under libzmq's monitor lock, so that no event
/// is sent after it returns.
#[allow(unsafe_code)]
fn stop_monitor(sock: &mut zmq::Socket) {
    // SAFETY: the pointer is the live socket that `sock` owns (closed only
    // when `sock` is dropped, after this call), and a NULL endpoint is
    // libzmq's documented way to stop monitoring; it fails only on a
    // terminated context, when no more events are sent either.
    let _ = unsafe { zmq_sys::zmq_socket_monitor(sock.as_mut_ptr(), std::ptr::null(), 0) };
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("kind", &self.kind)
            .field("zmq_fd", &self.fd.get_ref().0)
            .finish_non_exhaustive()
    }
}

/// The `zmq` crate panics on an endpoint with an interior NUL; refuse it here.
fn check_endpoint(endpoint: &str) -> io::Result<()> {
    if endpoint.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "endpoint contains a NUL byte",
        ));
    }
    Ok(())
}
