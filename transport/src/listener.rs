//! TCP listeners that a ROUTER socket binds through `ZMQ_USE_FD`, so that two
//! router processes can listen on one worker port during an upgrade.
//!
//! The router replacing another binds the same port with `SO_REUSEPORT` (the
//! old one did too) and then [`steer_to_newest`] makes the kernel hand every
//! new connection to it, so that workers leaving the old router (GOAWAY) all
//! reach the new one at the first try, and nothing new queues on the old
//! listener, which libzmq cannot close without dropping the old router's
//! worker connections: its accept queue is empty when the old process exits,
//! so no connection is reset.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// Binds and listens on `addr` with `SO_REUSEPORT` set, non-blocking: a
/// descriptor for [`Socket::bind_listener`](crate::Socket::bind_listener).
/// `backlog` is the listen queue's length.
pub fn reuseport_listener(addr: SocketAddr, backlog: u32) -> io::Result<OwnedFd> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

/// Makes the kernel pick, for every new connection to the port of `fd`'s
/// `SO_REUSEPORT` group, the socket at index 1: the one that joined second.
///
/// The group's sockets are indexed in the order they joined, and a closed one
/// is replaced by the last. While the old router (index 0) and its
/// replacement (index 1) both listen, every connection goes to the
/// replacement; once the old one has closed, index 1 no longer exists and the
/// kernel falls back to its hash over the one socket left. The program is the
/// group's, not the socket's: a later replacement attaches its own.
///
/// This holds for one upgrade at a time: a router hands over only once its
/// own predecessor has exited (see the router's `upgrade` module), so the
/// group never has more than two sockets.
pub fn steer_to_newest(fd: BorrowedFd<'_>) -> io::Result<()> {
    // One classic BPF instruction: return 1 (BPF_RET | BPF_K).
    let mut program = [libc::sock_filter {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: 1,
    }];
    let fprog = libc::sock_fprog {
        len: 1,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: `fd` is a valid open socket for the duration of the call;
    // `fprog` points to `program`, one initialised instruction that outlives
    // the call, and the kernel copies the program before returning; the
    // length passed is that of `sock_fprog`.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&raw const fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
