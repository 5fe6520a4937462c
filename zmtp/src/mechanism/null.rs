//! The NULL mechanism: 37/ZMTP, "The NULL Security Mechanism", and the
//! metadata checks of "Connection Metadata".
//!
//! ```text
//! null  = ready *message | error
//! ready = command-size %d5 "READY" metadata
//! error = command-size %d5 "ERROR" error-reason
//! ```
//!
//! The client sends READY as soon as the greeting is done. The server
//! waits for it: "The server SHOULD parse, and MAY validate the READY
//! command. If there is no error, it MUST send a READY command in reply."
//! So a client we refuse gets ERROR in place of READY, while it is still in
//! its handshake, where libzmq takes it as fatal. (libzmq's server does not
//! wait; we accept either order.) A READY that names a socket type we do
//! not pair with is refused as the RFC advises, "by returning an ERROR
//! command, and then disconnecting the peer".

use bytes::{Bytes, BytesMut};

use crate::command::Command;
use crate::error::HandshakeError;
use crate::metadata::{Metadata, SocketType};

/// The peer, as the handshake left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub(crate) socket_type: SocketType,
    pub(crate) metadata: Metadata,
    /// The client's long-term CURVE key, when we are the CURVE server.
    pub(crate) curve_key: Option<[u8; 32]>,
}

impl Peer {
    /// Its socket type (checked to pair with ours).
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// Its metadata, every property as received.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The identity it announced for a ROUTER to route by, if any: at most
    /// 255 octets, not starting with a zero octet (checked when we are the
    /// ROUTER).
    pub fn identity(&self) -> Option<&Bytes> {
        self.metadata.identity()
    }

    /// The long-term public key the peer proved it holds, when we are the
    /// CURVE server (26/CURVEZMQ, INITIATE's `C`): the key the allowlist
    /// admitted.
    pub fn curve_key(&self) -> Option<&[u8; 32]> {
        self.curve_key.as_ref()
    }
}

#[derive(Debug)]
pub(crate) struct NullHandshake {
    ours: SocketType,
    server: bool,
    metadata: Metadata,
}

impl NullHandshake {
    /// `server`: whether we are the peer that binds (37/ZMTP, "The NULL
    /// Security Mechanism": "The peer that binds SHALL be the server").
    pub(crate) fn new(ours: SocketType, server: bool, metadata: Metadata) -> Self {
        Self {
            ours,
            server,
            metadata,
        }
    }

    /// The greeting is done: a client queues its READY.
    pub(crate) fn start(&self, tx: &mut BytesMut) {
        if !self.server {
            Command::Ready(self.metadata.clone()).encode(tx);
        }
    }

    /// Handles a command that came before the handshake completed: queues
    /// the server's READY on success, ERROR on a refusal of the peer's
    /// metadata.
    pub(crate) fn handle_command(
        &self,
        command: Command,
        tx: &mut BytesMut,
    ) -> Result<Peer, HandshakeError> {
        match command {
            Command::Ready(metadata) => match check_peer(self.ours, metadata) {
                Ok(peer) => {
                    if self.server {
                        Command::Ready(self.metadata.clone()).encode(tx);
                    }
                    Ok(peer)
                }
                Err(e) => {
                    Command::Error {
                        reason: Bytes::from_static(reason(&e)),
                    }
                    .encode(tx);
                    Err(e)
                }
            },
            Command::Error { reason } => Err(HandshakeError::PeerError { reason }),
            other => Err(HandshakeError::UnexpectedCommand {
                name: other.name().as_bytes().clone(),
            }),
        }
    }
}

/// The ERROR reason for a refused READY (or CURVE INITIATE) metadata.
pub(crate) fn reason(e: &HandshakeError) -> &'static [u8] {
    match e {
        HandshakeError::BadIdentity => b"Invalid identity",
        _ => b"Invalid socket type",
    }
}

/// Checks the peer's metadata against our socket type: 37/ZMTP,
/// "Connection Metadata"; CURVE carries the same metadata in its boxes.
pub(crate) fn check_peer(ours: SocketType, metadata: Metadata) -> Result<Peer, HandshakeError> {
    let name = metadata
        .socket_type()
        .ok_or(HandshakeError::MissingSocketType)?;
    let peer = SocketType::from_name(name)
        .ok_or_else(|| HandshakeError::UnknownSocketType { name: name.clone() })?;
    if ours.zroute_peer() != Some(peer) {
        return Err(HandshakeError::IncompatibleSocketType { ours, peer });
    }
    // "For all other socket types, the Identity property shall be
    // ignored": only a ROUTER routes by it.
    if ours == SocketType::ROUTER
        && let Some(identity) = metadata.identity()
        && (identity.len() > 255 || identity[0] == 0)
    {
        return Err(HandshakeError::BadIdentity);
    }
    Ok(Peer {
        socket_type: peer,
        metadata,
        curve_key: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameDecoder;
    use crate::limits::Limits;

    fn ready(props: &[(&str, &[u8])]) -> Command {
        let mut metadata = Metadata::new();
        for (n, v) in props {
            metadata.insert(n.to_string(), v.to_vec()).unwrap();
        }
        Command::Ready(metadata)
    }

    /// The command queued in `tx`, decoded.
    fn sent(tx: &BytesMut) -> Command {
        let mut input = &tx[..];
        let frame = FrameDecoder::new(Limits::default())
            .decode(&mut input)
            .unwrap()
            .unwrap();
        assert!(input.is_empty(), "one command queued");
        Command::parse(frame.into_body()).unwrap()
    }

    #[test]
    fn pairs_router_with_dealer_both_ways() {
        let router = NullHandshake::new(SocketType::ROUTER, false, Metadata::new());
        let mut tx = BytesMut::new();
        let peer = router
            .handle_command(
                ready(&[("Socket-Type", b"DEALER"), ("Identity", b"w-1")]),
                &mut tx,
            )
            .unwrap();
        assert_eq!(peer.socket_type(), SocketType::DEALER);
        assert_eq!(peer.identity().unwrap().as_ref(), b"w-1");
        assert!(tx.is_empty(), "nothing to answer");
        let dealer = NullHandshake::new(SocketType::DEALER, false, Metadata::new());
        let peer = dealer
            .handle_command(ready(&[("socket-type", b"router")]), &mut tx)
            .unwrap();
        assert_eq!(peer.socket_type(), SocketType::ROUTER);
        assert_eq!(peer.identity(), None);
    }

    #[test]
    fn refuses_other_socket_types_with_an_error_command() {
        for (ours, theirs) in [
            (SocketType::ROUTER, &b"ROUTER"[..]),
            (SocketType::DEALER, b"DEALER"),
            (SocketType::ROUTER, b"PUB"),
        ] {
            let mut tx = BytesMut::new();
            let err = NullHandshake::new(ours, false, Metadata::new())
                .handle_command(ready(&[("Socket-Type", theirs)]), &mut tx)
                .unwrap_err();
            assert!(
                matches!(err, HandshakeError::IncompatibleSocketType { .. }),
                "{err}"
            );
            assert_eq!(
                sent(&tx),
                Command::Error {
                    reason: Bytes::from_static(b"Invalid socket type")
                }
            );
        }
        let mut tx = BytesMut::new();
        let router = NullHandshake::new(SocketType::ROUTER, false, Metadata::new());
        assert_eq!(
            router.handle_command(ready(&[("Identity", b"x")]), &mut tx),
            Err(HandshakeError::MissingSocketType)
        );
        assert!(matches!(
            router.handle_command(ready(&[("Socket-Type", b"STREAM")]), &mut tx),
            Err(HandshakeError::UnknownSocketType { .. })
        ));
    }

    #[test]
    fn a_router_refuses_a_reserved_or_long_identity() {
        let router = NullHandshake::new(SocketType::ROUTER, false, Metadata::new());
        for identity in [&b"\x00abc"[..], &[b'i'; 256]] {
            let mut tx = BytesMut::new();
            assert_eq!(
                router.handle_command(
                    ready(&[("Socket-Type", b"DEALER"), ("Identity", identity)]),
                    &mut tx
                ),
                Err(HandshakeError::BadIdentity)
            );
            assert!(matches!(sent(&tx), Command::Error { .. }));
        }
        // A DEALER ignores the identity of its ROUTER.
        let dealer = NullHandshake::new(SocketType::DEALER, false, Metadata::new());
        let mut tx = BytesMut::new();
        assert!(
            dealer
                .handle_command(
                    ready(&[("Socket-Type", b"ROUTER"), ("Identity", b"\x00x")]),
                    &mut tx
                )
                .is_ok()
        );
    }

    #[test]
    fn reports_the_peers_error_and_refuses_other_commands() {
        let router = NullHandshake::new(SocketType::ROUTER, false, Metadata::new());
        let mut tx = BytesMut::new();
        assert_eq!(
            router.handle_command(
                Command::Error {
                    reason: Bytes::from_static(b"go away")
                },
                &mut tx
            ),
            Err(HandshakeError::PeerError {
                reason: Bytes::from_static(b"go away")
            })
        );
        assert_eq!(
            router.handle_command(
                Command::Ping {
                    ttl: 0,
                    context: Bytes::new()
                },
                &mut tx
            ),
            Err(HandshakeError::UnexpectedCommand {
                name: Bytes::from_static(b"PING")
            })
        );
        assert!(tx.is_empty(), "no ERROR in answer to an ERROR");
    }

    #[test]
    fn a_server_answers_ready_only_after_checking_the_clients() {
        let mut ours = Metadata::new();
        ours.insert("Socket-Type", "ROUTER").unwrap();
        let server = NullHandshake::new(SocketType::ROUTER, true, ours.clone());
        let mut tx = BytesMut::new();
        server.start(&mut tx);
        assert!(tx.is_empty(), "the server waits for the client's READY");
        server
            .handle_command(ready(&[("Socket-Type", b"DEALER")]), &mut tx)
            .unwrap();
        assert_eq!(sent(&tx), Command::Ready(ours.clone()));
        let mut tx = BytesMut::new();
        assert!(
            server
                .handle_command(ready(&[("Socket-Type", b"PUB")]), &mut tx)
                .is_err()
        );
        assert!(
            matches!(sent(&tx), Command::Error { .. }),
            "ERROR in place of READY"
        );
        let client = NullHandshake::new(SocketType::DEALER, false, ours.clone());
        let mut tx = BytesMut::new();
        client.start(&mut tx);
        assert_eq!(sent(&tx), Command::Ready(ours));
    }
}
