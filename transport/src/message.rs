use std::fmt;
use std::ops::Deref;
use std::os::fd::RawFd;

use bytes::Bytes;

/// The parts of one ZeroMQ message, in order.
///
/// On a ROUTER socket the first part of a received message is the sender's
/// routing id ([`Multipart::split_peer`] takes it off); on a DEALER every part
/// is payload. In zroute each payload part carries exactly one frame.
/// Which end of the zroute transport a socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketKind {
    /// The router's socket: many peers, each message addressed by routing id.
    Router,
    /// A worker's socket: one router, no addressing.
    Dealer,
}

/// What a socket's `next` found first.
#[derive(Debug)]
pub enum Incoming {
    /// A message, as `recv` returns it.
    Message(Multipart),
    /// An event of a watched socket.
    Event(crate::SocketEvent),
}

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Multipart {
    parts: Vec<Bytes>,
    // Boxed: most messages carry none, and a message is moved often.
    origin: Option<Box<Origin>>,
}

/// Where a received message came from, as libzmq's message metadata tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// libzmq's `Peer-Address` of the connection: the peer's IP address for
    /// tcp:// (without the port), `:uid:gid:pid` for ipc:// on Linux.
    pub address: String,
    /// The connection's descriptor, as [`SocketEvent::Accepted`] and
    /// [`SocketEvent::Disconnected`] name it (libzmq's private `__fd`
    /// property, which backs the deprecated `ZMQ_SRCFD`).
    ///
    /// [`SocketEvent::Accepted`]: crate::SocketEvent::Accepted
    /// [`SocketEvent::Disconnected`]: crate::SocketEvent::Disconnected
    pub fd: Option<RawFd>,
}

impl Multipart {
    /// An empty message (not sendable as is: a message needs at least one part).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty message with room for `n` parts.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            parts: Vec::with_capacity(n),
            origin: None,
        }
    }

    /// Where the message came from, if the socket was asked to find out for
    /// this message (see `RouterOptions::origin_prefix`).
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_deref()
    }

    pub(crate) fn set_origin(&mut self, origin: Option<Box<Origin>>) {
        self.origin = origin;
    }

    /// Appends a part.
    pub fn push(&mut self, part: impl Into<Bytes>) {
        self.parts.push(part.into());
    }

    /// The parts.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// The parts, by value.
    pub fn into_parts(self) -> Vec<Bytes> {
        self.parts
    }

    /// Splits a message received on a ROUTER into the sender's routing id and
    /// the payload parts. `None` for an empty message.
    pub fn split_peer(mut self) -> Option<(PeerId, Self)> {
        if self.parts.is_empty() {
            return None;
        }
        let id = self.parts.remove(0);
        Some((PeerId(id), self))
    }
}

impl Deref for Multipart {
    type Target = [Bytes];

    fn deref(&self) -> &[Bytes] {
        &self.parts
    }
}

impl AsRef<[Bytes]> for Multipart {
    fn as_ref(&self) -> &[Bytes] {
        &self.parts
    }
}

impl From<Vec<Bytes>> for Multipart {
    fn from(parts: Vec<Bytes>) -> Self {
        Self {
            parts,
            origin: None,
        }
    }
}

impl From<Multipart> for Vec<Bytes> {
    fn from(m: Multipart) -> Self {
        m.parts
    }
}

impl<B: Into<Bytes>> FromIterator<B> for Multipart {
    fn from_iter<I: IntoIterator<Item = B>>(iter: I) -> Self {
        Self {
            parts: iter.into_iter().map(Into::into).collect(),
            origin: None,
        }
    }
}

impl IntoIterator for Multipart {
    type Item = Bytes;
    type IntoIter = std::vec::IntoIter<Bytes>;

    fn into_iter(self) -> Self::IntoIter {
        self.parts.into_iter()
    }
}

impl<'a> IntoIterator for &'a Multipart {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;

    fn into_iter(self) -> Self::IntoIter {
        self.parts.iter()
    }
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.parts).finish()
    }
}

/// The routing id a ROUTER socket gives a connected peer (libzmq assigns a
/// fresh 5-byte id per connection unless the peer sets its own).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(Bytes);

impl PeerId {
    /// Wraps raw routing-id bytes.
    pub fn new(id: impl Into<Bytes>) -> Self {
        Self(id.into())
    }

    /// The routing-id bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The routing-id bytes, by value.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl AsRef<[u8]> for PeerId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Bytes> for PeerId {
    fn from(id: Bytes) -> Self {
        Self(id)
    }
}

impl fmt::Debug for PeerId {
    // Generated ids are binary; hex is what one can compare across log lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerId(")?;
        for b in self.0.iter() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// Owner for [`Bytes::from_owner`]: keeps the libzmq message (and the buffer
/// it points into) alive for as long as any `Bytes` view of it exists.
///
/// `zmq::Message` is `Send` (its `zmq_msg_t` is plain bytes, and libzmq lets a
/// message be closed on any thread); it is moved into the `Bytes` allocation
/// before `as_ref` is called, so the data pointer of a small message stored
/// inline in the `zmq_msg_t` stays valid too.
#[cfg(feature = "libzmq")]
struct ZmqBuf(zmq::Message);

#[cfg(feature = "libzmq")]
impl AsRef<[u8]> for ZmqBuf {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Reads where `msg` came from out of its metadata.
#[cfg(feature = "libzmq")]
pub(crate) fn origin_of(msg: &mut zmq::Message) -> Option<Box<Origin>> {
    let address = msg.gets("Peer-Address")?.to_owned();
    let fd = msg.gets("__fd").and_then(|fd| fd.parse().ok());
    Some(Box::new(Origin { address, fd }))
}

/// Takes a received part out of libzmq.
///
/// Parts longer than `copy_max` are handed over without a copy. Shorter ones
/// are copied on purpose: libzmq decodes most parts that fit its 8 KiB receive
/// batch in place, in a buffer shared by every part of the batch, so a
/// zero-copy 100-byte `Bytes` would pin that whole buffer (about 18 KiB with
/// its refcounts) for as long as it lives.
#[cfg(feature = "libzmq")]
pub(crate) fn take_part(msg: zmq::Message, copy_max: usize) -> Bytes {
    if msg.is_empty() {
        Bytes::new()
    } else if msg.len() <= copy_max {
        Bytes::copy_from_slice(&msg)
    } else {
        Bytes::from_owner(ZmqBuf(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "libzmq")]
    #[test]
    fn zero_copy_part_keeps_its_bytes_after_the_message_moves() {
        let data: Vec<u8> = (0..=255u8).cycle().take(20_000).collect();
        let msg = zmq::Message::from(&data[..]);
        let part = take_part(msg, 8192);
        let clone = part.slice(10..20);
        drop(part);
        assert_eq!(&clone[..], &data[10..20]);
    }

    #[cfg(feature = "libzmq")]
    #[test]
    fn small_and_empty_parts_are_copied() {
        // 10 bytes: libzmq stores this inline in the zmq_msg_t.
        let part = take_part(zmq::Message::from(&b"0123456789"[..]), 8192);
        assert_eq!(&part[..], b"0123456789");
        assert!(take_part(zmq::Message::new(), 8192).is_empty());
        // A zero-copy view of an inline message stays valid: the owner is
        // moved to the heap before the slice is taken.
        let inline = take_part(zmq::Message::from(&b"abc"[..]), 0);
        assert_eq!(&inline[..], b"abc");
    }

    #[test]
    fn split_peer_takes_the_first_part() {
        let m: Multipart = [&b"id"[..], b"a", b"b"]
            .into_iter()
            .map(Bytes::from_static)
            .collect();
        let (peer, body) = m.split_peer().unwrap();
        assert_eq!(peer.as_ref(), b"id");
        assert_eq!(body.len(), 2);
        assert_eq!(format!("{peer:?}"), "PeerId(6964)");
        assert!(Multipart::new().split_peer().is_none());
    }
}
