use bytes::Bytes;

use crate::frame::{ErrorKind, Frame, GoAway, Hello};
use crate::{FrameType, GoAwayStatus, StreamId};

/// What a router does with a part from a routing id it has no session for
/// ([spec](../../../spec/PROTOCOL.md#unknown-peer)). The router keeps no state
/// for such a peer, so this is a pure function of the part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnknownPeer {
    /// A well-formed HELLO: run the handshake (`Session::accept`).
    Hello(Hello),
    /// Send this GOAWAY back, and forget the peer.
    Answer(Frame),
    /// Say nothing: an empty part, or a GOAWAY (never answered).
    Ignore,
}

impl UnknownPeer {
    pub fn classify(part: Bytes) -> Self {
        if part.is_empty() {
            return Self::Ignore;
        }
        let status = match Frame::decode(part) {
            Ok(Frame::Hello(hello)) => return Self::Hello(hello),
            Ok(Frame::GoAway(_)) => return Self::Ignore,
            Err(e) if matches!(e.kind(), ErrorKind::UnsupportedVersion(_)) => {
                GoAwayStatus::UNSUPPORTED_VERSION
            }
            // A malformed HELLO (spec #handshake: payload too short, or a bad
            // attribute block) is refused; a part whose header checks fail is
            // not a HELLO at all, and gets UNKNOWN_SESSION like any other.
            Err(e)
                if e.frame_type() == Some(FrameType::HELLO)
                    && matches!(
                        e.kind(),
                        ErrorKind::BadPayloadSize | ErrorKind::HeaderBlock(_)
                    ) =>
            {
                GoAwayStatus::PROTOCOL_ERROR
            }
            _ => GoAwayStatus::UNKNOWN_SESSION,
        };
        Self::Answer(GoAway::new(StreamId::ZERO, status).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Ping;

    fn answer(part: &[u8]) -> Option<GoAwayStatus> {
        match UnknownPeer::classify(Bytes::copy_from_slice(part)) {
            UnknownPeer::Answer(Frame::GoAway(g)) => Some(g.status()),
            _ => None,
        }
    }

    /// spec: #unknown-peer — the answer to each kind of part from a peer without a session.
    #[test]
    fn answers_per_spec() {
        assert_eq!(
            answer(&Frame::from(Ping::new(2)).to_bytes()),
            Some(GoAwayStatus::UNKNOWN_SESSION)
        );
        assert_eq!(answer(&[1, 2, 3]), Some(GoAwayStatus::UNKNOWN_SESSION));
        assert_eq!(
            answer(&[0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]),
            Some(GoAwayStatus::UNSUPPORTED_VERSION)
        );
        // A HELLO too short to hold its fixed fields.
        assert_eq!(
            answer(&[0x80, 0x03, 0x5a, 0x01, 0, 0, 0, 4, 0, 1, 0, 0]),
            Some(GoAwayStatus::PROTOCOL_ERROR)
        );
        // A HELLO whose length field disagrees with its part fails the header
        // checks: not a HELLO, so UNKNOWN_SESSION.
        assert_eq!(
            answer(&[0x80, 0x03, 0x5a, 0x01, 0, 0, 0, 13, 0, 1, 0, 0]),
            Some(GoAwayStatus::UNKNOWN_SESSION)
        );
        let goaway = Frame::from(GoAway::new(StreamId::ZERO, GoAwayStatus::OK)).to_bytes();
        assert_eq!(UnknownPeer::classify(goaway), UnknownPeer::Ignore);
        assert_eq!(UnknownPeer::classify(Bytes::new()), UnknownPeer::Ignore);
    }
}
