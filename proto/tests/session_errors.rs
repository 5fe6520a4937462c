//! Spec sections: #errors, #error-table, #frame-unknown, #frame-header, #transport.

mod pair;

use bytes::Bytes;
use pair::{Dir, Pair, request};
use proptest::prelude::*;
use zroute_proto::frame::{Data, Frame, SynReply, SynStream, Unknown, Welcome};
use zroute_proto::session::{CloseReason, Event, ResetOrigin};
use zroute_proto::{FrameType, GoAwayStatus, HeaderBlock, RstCode, StreamId};

fn goaway_sent(pair: &Pair, dir: Dir) -> Option<GoAwayStatus> {
    pair.sent(dir).find_map(|f| match f {
        Frame::GoAway(g) => Some(g.status()),
        _ => None,
    })
}

fn rst_sent(pair: &Pair, dir: Dir) -> Option<(StreamId, RstCode)> {
    pair.sent(dir).find_map(|f| match f {
        Frame::RstStream(r) => Some((r.stream_id(), r.code())),
        _ => None,
    })
}

/// spec: #error-table — undecodable headers end the session with PROTOCOL_ERROR.
#[test]
fn truncated_and_mismatched_parts_are_session_errors() {
    for part in [
        &[0x80u8, 0x03, 0x00][..],
        &[0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x09, 0, 0, 0, 1],
    ] {
        let mut pair = Pair::established();
        pair.inject(Dir::ToRouter, part.to_vec());
        pair.drive();
        assert_eq!(
            pair.router().close_reason(),
            Some(CloseReason::LocalError(GoAwayStatus::PROTOCOL_ERROR))
        );
        assert_eq!(
            goaway_sent(&pair, Dir::ToWorker),
            Some(GoAwayStatus::PROTOCOL_ERROR)
        );
    }
}

/// spec: #error-table — a control frame of another SPDY version ends the session with UNSUPPORTED_VERSION.
#[test]
fn wrong_version_is_unsupported_version() {
    let mut pair = Pair::established();
    pair.inject(
        Dir::ToWorker,
        vec![0x80, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1],
    );
    pair.drive();
    assert_eq!(
        pair.worker.close_reason(),
        Some(CloseReason::LocalError(GoAwayStatus::UNSUPPORTED_VERSION))
    );
}

/// spec: #error-table — an oversized DATA frame resets only its stream.
#[test]
fn oversized_data_is_frame_too_large() {
    let mut pair = Pair::established();
    let sid = pair
        .router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    pair.drive();
    pair.inject(
        Dir::ToRouter,
        Frame::from(Data::new(sid, Bytes::from(vec![0u8; 65_537]))).to_bytes(),
    );
    pair.drive();
    assert_eq!(
        rst_sent(&pair, Dir::ToWorker),
        Some((sid, RstCode::FRAME_TOO_LARGE))
    );
    assert!(pair.take_router_events().contains(&Event::Reset {
        id: sid,
        code: RstCode::FRAME_TOO_LARGE,
        origin: ResetOrigin::Local
    }));
    assert!(!pair.router().is_closed());
}

/// spec: #error-table — a malformed name/value block resets its stream only.
#[test]
fn malformed_block_resets_stream() {
    let mut pair = Pair::established();
    let sid = pair
        .router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    pair.drive();
    // SYN_REPLY whose block has an uppercase name.
    let mut part = vec![0x80, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00];
    let mut payload = sid.get().to_be_bytes().to_vec();
    payload.extend_from_slice(&1u32.to_be_bytes());
    payload.extend_from_slice(&7u32.to_be_bytes());
    payload.extend_from_slice(b":Status");
    payload.extend_from_slice(&3u32.to_be_bytes());
    payload.extend_from_slice(b"200");
    part[7] = payload.len() as u8;
    part.extend_from_slice(&payload);
    pair.inject(Dir::ToRouter, part);
    pair.drive();
    assert_eq!(
        rst_sent(&pair, Dir::ToWorker),
        Some((sid, RstCode::PROTOCOL_ERROR))
    );
    assert!(!pair.router().is_closed());
}

/// spec: #frame-unknown — unknown control frames and empty parts are ignored.
#[test]
fn unknown_frames_and_empty_parts_are_ignored() {
    let mut pair = Pair::established();
    pair.clear_wire();
    for ty in [5u16, 10, 0x1234, 0xffff] {
        pair.inject(
            Dir::ToWorker,
            Frame::from(Unknown::new(
                FrameType::from_wire(ty),
                0xff,
                Bytes::from_static(b"junk"),
            ))
            .to_bytes(),
        );
    }
    pair.inject(Dir::ToWorker, Vec::new());
    pair.drive();
    assert!(pair.worker.is_established());
    assert_eq!(pair.sent(Dir::ToRouter).count(), 0, "nothing is answered");
}

/// spec: #frame-syn-stream — UNIDIRECTIONAL and associated streams do not exist in zroute.
#[test]
fn unidirectional_syn_stream_is_reset() {
    let mut pair = Pair::established();
    let mut syn = SynStream::new(StreamId::new(1), request("GET", "/", &[]));
    syn.set_flags(SynStream::FLAG_FIN | SynStream::FLAG_UNIDIRECTIONAL);
    pair.inject(Dir::ToWorker, Frame::from(syn).to_bytes());
    let mut syn = SynStream::new(StreamId::new(3), request("GET", "/", &[]));
    syn.set_associated_stream_id(StreamId::new(1));
    pair.inject(Dir::ToWorker, Frame::from(syn).to_bytes());
    pair.drive();
    let rsts: Vec<_> = pair
        .sent(Dir::ToRouter)
        .filter_map(|f| match f {
            Frame::RstStream(r) => Some((r.stream_id().get(), r.code())),
            _ => None,
        })
        .collect();
    assert_eq!(
        rsts,
        [(1, RstCode::PROTOCOL_ERROR), (3, RstCode::PROTOCOL_ERROR)]
    );
}

/// spec: #frame-welcome — WELCOME after the handshake, or from a worker, is a session error.
#[test]
fn misplaced_welcome_is_a_session_error() {
    let mut pair = Pair::established();
    pair.inject(
        Dir::ToRouter,
        Frame::from(Welcome::new(1, 1000, 3, 65536, HeaderBlock::new())).to_bytes(),
    );
    pair.drive();
    assert_eq!(
        pair.router().close_reason(),
        Some(CloseReason::LocalError(GoAwayStatus::PROTOCOL_ERROR))
    );
}

/// spec: #errors — a SYN_REPLY on the worker side is a stream error, not a crash.
#[test]
fn syn_reply_to_worker_is_a_stream_error() {
    let mut pair = Pair::established();
    let sid = pair
        .router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    pair.drive();
    pair.inject(
        Dir::ToWorker,
        Frame::from(SynReply::new(sid, pair::response(200, &[]))).to_bytes(),
    );
    pair.drive();
    assert_eq!(
        rst_sent(&pair, Dir::ToRouter),
        Some((sid, RstCode::PROTOCOL_ERROR))
    );
}

/// spec: #transport — after a session ends, nothing it receives changes it.
#[test]
fn closed_session_ignores_input() {
    let mut pair = Pair::established();
    pair.router().abandon();
    pair.drive();
    assert_eq!(pair.router().close_reason(), Some(CloseReason::Abandoned));
    let now = pair.now;
    pair.router().handle_part(
        now,
        Frame::from(SynReply::new(StreamId::new(1), pair::response(200, &[]))).to_bytes(),
    );
    assert!(pair.router().poll_transmit(now).is_none());
}

proptest! {
    /// spec: #errors — whatever a peer sends, a session neither panics nor
    /// answers with more than a bounded number of frames.
    #[test]
    fn arbitrary_parts_never_panic(parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..32), to_worker: bool) {
        let mut pair = Pair::established();
        let sid = pair.router().open_stream(request("POST", "/", &[]), false).unwrap();
        pair.drive();
        let dir = if to_worker { Dir::ToWorker } else { Dir::ToRouter };
        for mut part in parts {
            // Make most parts well-formed headers so they reach the handlers.
            if part.len() >= 8 && part[0] & 0x80 != 0 {
                part[1] = 3;
                part[0] = 0x80;
            }
            if part.len() >= 8 {
                let len = (part.len() - 8) as u32;
                part[5..8].copy_from_slice(&len.to_be_bytes()[1..]);
            }
            if part.len() >= 12 && part[0] & 0x80 == 0 {
                part[..4].copy_from_slice(&sid.get().to_be_bytes());
            }
            let before = pair.wire.len();
            pair.inject(dir, part);
            pair.drive();
            prop_assert!(pair.wire.len() - before <= 4, "one part caused {} frames", pair.wire.len() - before);
        }
    }
}

/// spec: #stream-closed, #frame-decoding — a malformed frame on a closed stream is dropped: no RST for a closed stream.
#[test]
fn malformed_frame_on_closed_stream_is_ignored() {
    let mut pair = Pair::established();
    let sid = pair
        .router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    pair.drive();
    pair.worker
        .reply(sid, pair::response(204, &[]), true)
        .unwrap();
    pair.drive();
    pair.clear_wire();
    pair.inject(
        Dir::ToRouter,
        Frame::from(Data::new(sid, Bytes::from(vec![0u8; 65_537]))).to_bytes(),
    );
    pair.drive();
    assert!(rst_sent(&pair, Dir::ToWorker).is_none());
    assert!(!pair.router().is_closed());
}
