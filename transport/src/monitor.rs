//! Connection events, from libzmq's socket monitor ([`Socket::watch`]).
//!
//! libzmq reports them on an inproc PAIR socket that it binds and the
//! watcher connects. Two of its habits shape this module:
//!
//! - The monitor sends each event with a *blocking* send, on whichever
//!   thread raised it, usually libzmq's I/O thread. If nobody reads the
//!   events, or the reading PAIR is closed while the monitor still runs,
//!   that thread stops at the next event, and with it every connection of
//!   the context. So the PAIR belongs to the [`Socket`] it watches, which
//!   stops the monitor (`zmq_socket_monitor(s, NULL, 0)`) before it closes
//!   the PAIR, and which its owner keeps reading (or
//!   [`unwatch`](Socket::unwatch)es).
//! - Version 1 events carry one number and the socket's own endpoint, not
//!   the peer's. Where an event carries a connection's descriptor, this
//!   module asks the kernel who is on the other end when the event is read:
//!   by then the connection may be gone (the address is unknown) or, rarely,
//!   the descriptor may already belong to a newer connection.
//!
//! [`Socket`]: crate::Socket
//! [`Socket::watch`]: crate::Socket::watch

use std::fmt;
use std::io;
use std::net::SocketAddr;
#[cfg(feature = "libzmq")]
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

// The events a watched socket reports (zmq.h, ZMQ_EVENT_*).
#[cfg(feature = "libzmq")]
const EVENT_CONNECTED: u16 = 0x0001;
#[cfg(feature = "libzmq")]
const EVENT_ACCEPTED: u16 = 0x0020;
#[cfg(feature = "libzmq")]
const EVENT_DISCONNECTED: u16 = 0x0200;
#[cfg(feature = "libzmq")]
const EVENT_HANDSHAKE_FAILED_NO_DETAIL: u16 = 0x0800;
#[cfg(feature = "libzmq")]
const EVENT_HANDSHAKE_SUCCEEDED: u16 = 0x1000;
#[cfg(feature = "libzmq")]
const EVENT_HANDSHAKE_FAILED_PROTOCOL: u16 = 0x2000;
#[cfg(feature = "libzmq")]
const EVENT_HANDSHAKE_FAILED_AUTH: u16 = 0x4000;

#[cfg(feature = "libzmq")]
/// Every event [`Socket::watch`](crate::Socket::watch) subscribes to: the
/// life of a connection, not the retries of a connecting socket (those come
/// every reconnect interval and say nothing new).
pub(crate) const WATCHED: u16 = EVENT_CONNECTED
    | EVENT_ACCEPTED
    | EVENT_DISCONNECTED
    | EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | EVENT_HANDSHAKE_SUCCEEDED
    | EVENT_HANDSHAKE_FAILED_PROTOCOL
    | EVENT_HANDSHAKE_FAILED_AUTH;

// ZMQ_PROTOCOL_ERROR_* values of EVENT_HANDSHAKE_FAILED_PROTOCOL that name a
// misconfiguration rather than a broken peer.
#[cfg(feature = "libzmq")]
const PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC: u32 = 0x1100_0001;
#[cfg(feature = "libzmq")]
const PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH: u32 = 0x1100_0002;

/// Something that happened to one of a watched socket's connections.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketEvent {
    /// A bound socket accepted a connection (`ZMQ_EVENT_ACCEPTED`), before
    /// any ZMTP handshake.
    Accepted {
        /// libzmq's descriptor for the connection; [`Disconnected`] names it
        /// again. The kernel reuses descriptor numbers once they are closed.
        ///
        /// [`Disconnected`]: Self::Disconnected
        fd: RawFd,
        /// Who connected, read from the descriptor when the event was read:
        /// `None` if the connection had already closed by then.
        peer: Option<PeerAddr>,
        /// The address the peer reached, for a tcp:// connection: the
        /// router's own address on that connection, which names it even
        /// when it bound a wildcard such as `tcp://0.0.0.0:8000`.
        local: Option<SocketAddr>,
    },
    /// A connecting socket's connection is up (`ZMQ_EVENT_CONNECTED`), before
    /// any ZMTP handshake.
    Connected {
        /// libzmq's descriptor for the connection.
        fd: RawFd,
    },
    /// The ZMTP handshake of a connection completed, CURVE and ZAP included
    /// (`ZMQ_EVENT_HANDSHAKE_SUCCEEDED`). libzmq does not say which
    /// connection.
    HandshakeSucceeded,
    /// The ZMTP handshake of a connection failed; libzmq does not say which
    /// connection, but raises [`Disconnected`](Self::Disconnected) for it
    /// right after, on the same thread.
    HandshakeFailed(HandshakeFailure),
    /// A connection ended (`ZMQ_EVENT_DISCONNECTED`). libzmq does not say
    /// why: the peer closed it, or libzmq did (a part over
    /// `ZMQ_MAXMSGSIZE`, a ZMTP protocol error, a heartbeat timeout).
    Disconnected {
        /// The descriptor of the connection, as in [`Accepted`](Self::Accepted)
        /// or [`Connected`](Self::Connected).
        fd: RawFd,
    },
    /// The peer passed a bound on what it may make us hold, and was
    /// dropped: native transport only (libzmq has no such bound; see
    /// [`RouterOptions::max_msg_parts`](crate::RouterOptions::max_msg_parts)).
    LimitExceeded {
        /// The connection's descriptor, as in [`Accepted`](Self::Accepted).
        fd: RawFd,
        /// Who it was, where known.
        peer: Option<PeerAddr>,
        /// Which bound, its value, and what the peer attempted.
        what: String,
    },
}

/// Why a ZMTP handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeFailure {
    /// One side uses CURVE and the other does not
    /// (`ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH`). libzmq does not
    /// reconnect such a connection.
    MechanismMismatch,
    /// A CURVE box did not open (`ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC`):
    /// typically a client configured with another server public key.
    Cryptographic,
    /// Any other ZMTP protocol error (a `ZMQ_PROTOCOL_ERROR_*` code).
    Protocol(u32),
    /// The ZAP handler refused the peer (`ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`),
    /// with this status code (400 for a key not in the allowlist). libzmq
    /// does not reconnect such a connection.
    Auth(u32),
    /// The connection broke during the handshake, with this errno
    /// (`ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL`); a connecting socket retries
    /// by itself.
    NoDetail(i32),
}

impl HandshakeFailure {
    /// Whether libzmq gives the connection up for good: a connecting socket
    /// then never completes, and only a new socket tries again.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::NoDetail(_))
    }

    /// A short name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MechanismMismatch => "mechanism-mismatch",
            Self::Cryptographic => "cryptographic",
            Self::Protocol(_) => "protocol",
            Self::Auth(_) => "auth",
            Self::NoDetail(_) => "no-detail",
        }
    }
}

impl fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MechanismMismatch => f.write_str(
                "security mechanism mismatch: one side uses CURVE and the other does not",
            ),
            Self::Cryptographic => f.write_str("CURVE cryptographic error"),
            Self::Protocol(code) => write!(f, "ZMTP protocol error 0x{code:08x}"),
            Self::Auth(status) => write!(f, "refused by the ZAP handler (status {status})"),
            Self::NoDetail(errno) => write!(
                f,
                "connection lost during the handshake ({})",
                io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

/// The other end of a connection, as the kernel tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerAddr {
    /// A tcp:// peer.
    Tcp(SocketAddr),
    /// An ipc:// peer: the credentials of the process that connected
    /// (`SO_PEERCRED`).
    Local {
        /// Its user id.
        uid: u32,
        /// Its group id.
        gid: u32,
        /// Its process id.
        pid: i32,
    },
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => addr.fmt(f),
            Self::Local { uid, gid, pid } => write!(f, "uid={uid} gid={gid} pid={pid}"),
        }
    }
}

#[cfg(feature = "libzmq")]
/// Decodes a version-1 monitor event: its first part holds the event number
/// (16 bits) and its value (32 bits), in the host's byte order.
pub(crate) fn decode(first: &[u8]) -> Option<SocketEvent> {
    let event = u16::from_ne_bytes(first.get(0..2)?.try_into().ok()?);
    let value = u32::from_ne_bytes(first.get(2..6)?.try_into().ok()?);
    // Descriptors and errnos are C ints carried in the unsigned field.
    let int = i32::from_ne_bytes(value.to_ne_bytes());
    Some(match event {
        EVENT_ACCEPTED => SocketEvent::Accepted {
            fd: int,
            peer: peer_of(int),
            local: local_of(int),
        },
        EVENT_CONNECTED => SocketEvent::Connected { fd: int },
        EVENT_DISCONNECTED => SocketEvent::Disconnected { fd: int },
        EVENT_HANDSHAKE_SUCCEEDED => SocketEvent::HandshakeSucceeded,
        EVENT_HANDSHAKE_FAILED_PROTOCOL => SocketEvent::HandshakeFailed(match value {
            PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH => HandshakeFailure::MechanismMismatch,
            PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC => HandshakeFailure::Cryptographic,
            code => HandshakeFailure::Protocol(code),
        }),
        EVENT_HANDSHAKE_FAILED_AUTH => SocketEvent::HandshakeFailed(HandshakeFailure::Auth(value)),
        EVENT_HANDSHAKE_FAILED_NO_DETAIL => {
            SocketEvent::HandshakeFailed(HandshakeFailure::NoDetail(int))
        }
        _ => return None,
    })
}

#[cfg(feature = "libzmq")]
/// Asks the kernel who is at the other end of `fd`, a descriptor libzmq owns.
///
/// Plain `getpeername(2)` and `getsockopt(2)` on a number, not an `OwnedFd`
/// or `BorrowedFd`: the descriptor may have been closed since the event was
/// raised, which the calls then report (EBADF, ENOTSOCK, ENOTCONN) and
/// which would break the contract of those types.
fn peer_of(fd: RawFd) -> Option<PeerAddr> {
    match socket_name(fd, libc::getpeername)? {
        Name::Inet(addr) => Some(PeerAddr::Tcp(addr)),
        Name::Unix => peer_credentials(fd),
    }
}

#[cfg(feature = "libzmq")]
/// The local end of `fd` (`getsockname(2)`), for a tcp:// connection; with
/// the same care about a descriptor that may have closed as [`peer_of`].
fn local_of(fd: RawFd) -> Option<SocketAddr> {
    match socket_name(fd, libc::getsockname)? {
        Name::Inet(addr) => Some(addr),
        Name::Unix => None,
    }
}

#[cfg(feature = "libzmq")]
enum Name {
    Inet(SocketAddr),
    Unix,
}

#[cfg(feature = "libzmq")]
type GetName =
    unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int;

#[cfg(feature = "libzmq")]
#[allow(unsafe_code)]
fn socket_name(fd: RawFd, get: GetName) -> Option<Name> {
    // SAFETY: an all-zero sockaddr_storage is a valid value (integers and
    // byte arrays only).
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(size_of::<libc::sockaddr_storage>()).ok()?;
    // SAFETY: `storage` is writable for `len` bytes and `len` is a valid
    // pointer; getpeername and getsockname write at most `len` bytes and
    // only touch memory, whatever `fd` names now.
    let rc = unsafe {
        get(
            fd,
            (&raw mut storage).cast::<libc::sockaddr>(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (family AF_INET), which
            // sockaddr_storage is large and aligned enough to hold.
            let sin = unsafe { &*(&raw const storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(Name::Inet(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for a sockaddr_in6 (family AF_INET6).
            let sin6 = unsafe { &*(&raw const storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(Name::Inet(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            ))))
        }
        libc::AF_UNIX => Some(Name::Unix),
        _ => None,
    }
}

#[cfg(feature = "libzmq")]
#[allow(unsafe_code)]
fn peer_credentials(fd: RawFd) -> Option<PeerAddr> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = libc::socklen_t::try_from(size_of::<libc::ucred>()).ok()?;
    // SAFETY: `cred` is writable for `len` bytes, and `len` is a valid
    // pointer; the call only writes there.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast::<libc::c_void>(),
            &raw mut len,
        )
    };
    (rc == 0).then_some(PeerAddr::Local {
        uid: cred.uid,
        gid: cred.gid,
        pid: cred.pid,
    })
}

#[cfg(all(test, feature = "libzmq"))]
mod tests {
    use super::*;

    fn raw(event: u16, value: u32) -> Vec<u8> {
        let mut v = event.to_ne_bytes().to_vec();
        v.extend_from_slice(&value.to_ne_bytes());
        v
    }

    #[test]
    fn events_decode() {
        assert_eq!(
            decode(&raw(EVENT_HANDSHAKE_FAILED_PROTOCOL, 0x1100_0002)),
            Some(SocketEvent::HandshakeFailed(
                HandshakeFailure::MechanismMismatch
            ))
        );
        assert_eq!(
            decode(&raw(EVENT_HANDSHAKE_FAILED_AUTH, 400)),
            Some(SocketEvent::HandshakeFailed(HandshakeFailure::Auth(400)))
        );
        assert_eq!(
            decode(&raw(EVENT_DISCONNECTED, 7)),
            Some(SocketEvent::Disconnected { fd: 7 })
        );
        // A descriptor that is not open has no peer.
        assert_eq!(
            decode(&raw(EVENT_ACCEPTED, 1_000_000)),
            Some(SocketEvent::Accepted {
                fd: 1_000_000,
                peer: None,
                local: None,
            })
        );
        assert_eq!(
            decode(&raw(0x0400, 0)),
            None,
            "MONITOR_STOPPED is not watched"
        );
        assert_eq!(decode(&[1, 2, 3]), None);
        assert!(!HandshakeFailure::NoDetail(104).is_final());
        assert!(HandshakeFailure::MechanismMismatch.is_final());
    }

    #[test]
    fn the_peer_of_a_tcp_and_a_unix_socket() {
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert_eq!(
            peer_of(server.as_raw_fd()),
            Some(PeerAddr::Tcp(client.local_addr().unwrap()))
        );
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        match peer_of(a.as_raw_fd()) {
            Some(PeerAddr::Local { pid, .. }) => {
                assert_eq!(pid, i32::try_from(std::process::id()).unwrap());
            }
            other => panic!("{other:?}"),
        }
    }
}
