//! Socket options, with the defaults of `spec/PROTOCOL.md` section 3.3.

use std::time::Duration;

use crate::curve::{CurveKey, CurveKeyPair};

/// The router's side of CURVE (`spec/PROTOCOL.md` section 14.1): the socket
/// is a CURVE server with this key pair, and asks the ZAP handler of its
/// context (see [`ZapHandler`](crate::ZapHandler)) about every client key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurveServer {
    /// The router's key pair; workers are configured with its public half.
    pub keypair: CurveKeyPair,
    /// `ZMQ_ZAP_DOMAIN`, passed to the ZAP handler with each request.
    pub zap_domain: String,
}

/// A worker's side of CURVE: the router's public key, and the worker's own
/// key pair (whose public half must be in the router's allowlist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurveClient {
    /// The router's public key; a router without its secret half cannot
    /// complete the handshake.
    pub server_key: CurveKey,
    /// This worker's key pair.
    pub keypair: CurveKeyPair,
}

/// ZMTP-level heartbeats (`ZMQ_HEARTBEAT_IVL`, `_TIMEOUT`, `_TTL`).
///
/// A transport safety net that tears down dead TCP connections; the zroute
/// session heartbeat is separate and is what declares a session dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// How often to send a ZMTP PING on an otherwise idle connection. Default 1 s.
    pub interval: Duration,
    /// How long to wait for any traffic after a PING before closing the
    /// connection. Default 3 s.
    pub timeout: Duration,
    /// How long the remote side should wait for traffic before it closes the
    /// connection (sent in our PINGs; libzmq rounds it to 100 ms and caps it
    /// at 6553.5 s). Default 3 s.
    pub ttl: Duration,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(1000),
            timeout: Duration::from_millis(3000),
            ttl: Duration::from_millis(3000),
        }
    }
}

/// Default `ZMQ_MAXMSGSIZE` of a DEALER: 1 MiB, above the largest zroute
/// frame, so that a worker answers an oversized frame with the protocol's
/// precise error instead of silently losing the connection.
pub(crate) const DEFAULT_MAX_MSG_SIZE: u64 = 1 << 20;
/// Default `ZMQ_MAXMSGSIZE` of a ROUTER: the largest zroute frame (8 header
/// bytes and 65,536 payload bytes). libzmq buffers every part of a message
/// before it hands over the first, so the part limit is the only bound it
/// puts on what one peer can make the router hold: a larger part can never
/// be valid, and its sender is disconnected at its first byte instead of
/// after its last.
pub const ROUTER_MAX_MSG_SIZE: u64 = 65_544;
const DEFAULT_HWM: u32 = 10_000;
const DEFAULT_MAX_MSG_PARTS: usize = 8192;
const DEFAULT_MAX_MSG_BYTES: u64 = 16 << 20;
/// See `message::take_part`: 8 KiB is libzmq's receive batch, above which a
/// part always has its own allocation and zero copy pins nothing extra.
const DEFAULT_RECV_COPY_MAX: usize = 8192;

/// Options of a ROUTER socket (the router's side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterOptions {
    /// `ZMQ_ROUTER_MANDATORY`. Default `true`: a send to an unknown or
    /// departed peer fails with [`SendError::HostUnreachable`] and a send to a
    /// full peer with [`SendError::WouldBlock`], instead of libzmq silently
    /// dropping the message.
    ///
    /// [`SendError::HostUnreachable`]: crate::SendError::HostUnreachable
    /// [`SendError::WouldBlock`]: crate::SendError::WouldBlock
    pub mandatory: bool,
    /// `ZMQ_MAXMSGSIZE`: the largest inbound part accepted; a peer that sends a
    /// larger one is disconnected (silently, by libzmq: a watched socket sees
    /// [`SocketEvent::Disconnected`]). `None` means no limit. Default
    /// [`ROUTER_MAX_MSG_SIZE`] (65,544 bytes).
    ///
    /// [`SocketEvent::Disconnected`]: crate::SocketEvent::Disconnected
    pub max_msg_size: Option<u64>,
    /// Most parts in one inbound message (native transport only: libzmq
    /// counts parts only once a message is whole). A peer that passes it
    /// is dropped as the part arrives. Default 8,192, above the router's
    /// own protocol-level limit (4,096), which answers with GOAWAY.
    pub max_msg_parts: usize,
    /// Most octets in one inbound message, all parts together (native
    /// transport only). Default 16 MiB.
    pub max_msg_bytes: u64,
    /// `ZMQ_SNDHWM`, in messages, per peer; 0 means no limit. Default 10,000.
    pub sndhwm: u32,
    /// `ZMQ_RCVHWM`, in messages, per peer; 0 means no limit. Default 10,000.
    pub rcvhwm: u32,
    /// ZMTP heartbeats; `None` disables them. Default 1 s / 3 s / 3 s.
    pub heartbeat: Option<Heartbeat>,
    /// `ZMQ_LINGER`: how long messages still queued when the socket is closed
    /// are kept for delivery. Default 0: the router closes after a drain, and
    /// whatever is left then is for peers it gave up on. (libzmq's "forever"
    /// is deliberately not offered.)
    pub linger: Duration,
    /// Received parts up to this many bytes are copied into their `Bytes`;
    /// longer ones are handed over without a copy. Default 8192.
    pub recv_copy_max: usize,
    /// CURVE authentication and encryption; `None` (the default) is the NULL
    /// mechanism, neither authenticated nor encrypted.
    pub curve: Option<CurveServer>,
    /// Which received messages say where they came from
    /// ([`Multipart::origin`]): those with a payload part that starts with
    /// these bytes (an empty prefix selects every message). Each answer costs
    /// two metadata lookups and an allocation, so a router asks only about the
    /// messages it needs to place (HELLOs, say). Default `None`: no message
    /// carries its origin.
    ///
    /// [`Multipart::origin`]: crate::Multipart::origin
    pub origin_prefix: Option<Vec<u8>>,
}

impl Default for RouterOptions {
    fn default() -> Self {
        Self {
            mandatory: true,
            max_msg_size: Some(ROUTER_MAX_MSG_SIZE),
            max_msg_parts: DEFAULT_MAX_MSG_PARTS,
            max_msg_bytes: DEFAULT_MAX_MSG_BYTES,
            sndhwm: DEFAULT_HWM,
            rcvhwm: DEFAULT_HWM,
            heartbeat: Some(Heartbeat::default()),
            linger: Duration::ZERO,
            recv_copy_max: DEFAULT_RECV_COPY_MAX,
            curve: None,
            origin_prefix: None,
        }
    }
}

/// Options of a DEALER socket (a worker's side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealerOptions {
    /// `ZMQ_IMMEDIATE`. Default `true`: messages are queued only on completed
    /// connections, so a send before the router is up fails with
    /// [`SendError::WouldBlock`] and [`Socket::writable`] waits for the
    /// connection.
    ///
    /// [`SendError::WouldBlock`]: crate::SendError::WouldBlock
    /// [`Socket::writable`]: crate::Socket::writable
    pub immediate: bool,
    /// `ZMQ_MAXMSGSIZE`, as for [`RouterOptions::max_msg_size`]. Default 1 MiB.
    pub max_msg_size: Option<u64>,
    /// As [`RouterOptions::max_msg_parts`]. Default 8,192.
    pub max_msg_parts: usize,
    /// As [`RouterOptions::max_msg_bytes`]. Default 16 MiB.
    pub max_msg_bytes: u64,
    /// `ZMQ_SNDHWM`, in messages; 0 means no limit. Default 10,000.
    pub sndhwm: u32,
    /// `ZMQ_RCVHWM`, in messages; 0 means no limit. Default 10,000.
    pub rcvhwm: u32,
    /// ZMTP heartbeats; `None` disables them. Default 1 s / 3 s / 3 s.
    pub heartbeat: Option<Heartbeat>,
    /// `ZMQ_LINGER`. Default 200 ms: enough to flush a final GOAWAY, short
    /// enough that a dead router cannot hold a worker's exit for long.
    pub linger: Duration,
    /// `ZMQ_RECONNECT_IVL`: the delay before reconnecting after a connection
    /// is lost or refused (libzmq adds up to as much again as random jitter);
    /// `None` disables reconnection. Default 100 ms.
    pub reconnect_ivl: Option<Duration>,
    /// `ZMQ_RECONNECT_IVL_MAX`: if set, the reconnect delay doubles up to
    /// this. Default `None` (a constant delay).
    pub reconnect_ivl_max: Option<Duration>,
    /// `ZMQ_ROUTING_ID`. Default `None`, which the protocol requires of
    /// workers: the router then assigns a fresh id to every connection.
    pub routing_id: Option<Vec<u8>>,
    /// As [`RouterOptions::recv_copy_max`]. Default 8192.
    pub recv_copy_max: usize,
    /// CURVE, as a client of the router's key; `None` (the default) is the
    /// NULL mechanism.
    pub curve: Option<CurveClient>,
}

impl Default for DealerOptions {
    fn default() -> Self {
        Self {
            immediate: true,
            max_msg_size: Some(DEFAULT_MAX_MSG_SIZE),
            max_msg_parts: DEFAULT_MAX_MSG_PARTS,
            max_msg_bytes: DEFAULT_MAX_MSG_BYTES,
            sndhwm: DEFAULT_HWM,
            rcvhwm: DEFAULT_HWM,
            heartbeat: Some(Heartbeat::default()),
            linger: Duration::from_millis(200),
            reconnect_ivl: Some(Duration::from_millis(100)),
            reconnect_ivl_max: None,
            routing_id: None,
            recv_copy_max: DEFAULT_RECV_COPY_MAX,
            curve: None,
        }
    }
}

/// How these options become libzmq socket options.
#[cfg(feature = "libzmq")]
mod libzmq {
    use std::time::Duration;

    use super::{DealerOptions, Heartbeat, RouterOptions};

    /// libzmq takes milliseconds as a C int; saturate rather than wrap.
    pub(crate) fn millis(d: Duration) -> i32 {
        i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
    }

    fn hwm(n: u32) -> i32 {
        i32::try_from(n).unwrap_or(i32::MAX)
    }

    fn max_msg_size(limit: Option<u64>) -> i64 {
        limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
    }

    fn apply_common(
        s: &zmq::Socket,
        max: Option<u64>,
        sndhwm: u32,
        rcvhwm: u32,
        heartbeat: Option<Heartbeat>,
        linger: Duration,
    ) -> zmq::Result<()> {
        s.set_maxmsgsize(max_msg_size(max))?;
        s.set_sndhwm(hwm(sndhwm))?;
        s.set_rcvhwm(hwm(rcvhwm))?;
        if let Some(hb) = heartbeat {
            s.set_heartbeat_ivl(millis(hb.interval))?;
            s.set_heartbeat_timeout(millis(hb.timeout))?;
            s.set_heartbeat_ttl(millis(hb.ttl))?;
        }
        s.set_linger(millis(linger))
    }

    impl RouterOptions {
        pub(crate) fn apply(&self, s: &zmq::Socket) -> zmq::Result<()> {
            s.set_router_mandatory(self.mandatory)?;
            if let Some(curve) = &self.curve {
                s.set_curve_server(true)?;
                s.set_curve_secretkey(curve.keypair.secret_bytes())?;
                s.set_zap_domain(&curve.zap_domain)?;
            }
            apply_common(
                s,
                self.max_msg_size,
                self.sndhwm,
                self.rcvhwm,
                self.heartbeat,
                self.linger,
            )
        }
    }

    impl DealerOptions {
        pub(crate) fn apply(&self, s: &zmq::Socket) -> zmq::Result<()> {
            s.set_immediate(self.immediate)?;
            // libzmq reads 0 as "never reconnect" too; a zero delay asked for here means "at once".
            s.set_reconnect_ivl(self.reconnect_ivl.map_or(-1, |d| millis(d).max(1)))?;
            s.set_reconnect_ivl_max(self.reconnect_ivl_max.map_or(0, millis))?;
            if let Some(id) = &self.routing_id {
                s.set_identity(id)?;
            }
            if let Some(curve) = &self.curve {
                s.set_curve_serverkey(curve.server_key.as_bytes())?;
                s.set_curve_publickey(curve.keypair.public().as_bytes())?;
                s.set_curve_secretkey(curve.keypair.secret_bytes())?;
            }
            apply_common(
                s,
                self.max_msg_size,
                self.sndhwm,
                self.rcvhwm,
                self.heartbeat,
                self.linger,
            )
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn conversions_saturate() {
            assert_eq!(millis(Duration::from_secs(u64::MAX)), i32::MAX);
            assert_eq!(hwm(u32::MAX), i32::MAX);
            assert_eq!(max_msg_size(None), -1);
            assert_eq!(max_msg_size(Some(u64::MAX)), i64::MAX);
        }
    }
}

#[cfg(feature = "libzmq")]
pub(crate) use libzmq::millis;
