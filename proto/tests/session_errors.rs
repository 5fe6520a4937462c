//! Spec sections: #errors, #error-table, #frame-unknown, #frame-header, #transport,
//! #frame-decoding, #stream-closed, #rst-codes, #goaway-codes.

use bytes::Bytes;
use proptest::prelude::*;
use zroute_proto::frame::{Data, Frame, RstStream, SynReply, SynStream, Unknown, Welcome};
use zroute_proto::session::{CloseReason, ErrorCode, Event, ResetOrigin};
use zroute_proto::{FrameType, GoAwayStatus, HeaderBlock, RstCode, StreamId};
use zroute_test_support::fields::{request, response};
use zroute_test_support::pair::{Dir, Pair};

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
            pair.router()
                .close_reason()
                .as_ref()
                .and_then(CloseReason::protocol_error)
                .map(|e| e.code),
            Some(ErrorCode::Session(GoAwayStatus::PROTOCOL_ERROR))
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
        pair.worker
            .close_reason()
            .as_ref()
            .and_then(CloseReason::protocol_error)
            .map(|e| e.code),
        Some(ErrorCode::Session(GoAwayStatus::UNSUPPORTED_VERSION))
    );
}

/// spec: #error-table — an oversized DATA frame resets only its stream.
#[test]
fn oversized_data_is_frame_too_large() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/");
    pair.inject(
        Dir::ToRouter,
        Frame::from(Data::new(sid, Bytes::from(vec![0u8; 65_537]))).to_bytes(),
    );
    pair.drive();
    assert_eq!(
        rst_sent(&pair, Dir::ToWorker),
        Some((sid, RstCode::FRAME_TOO_LARGE))
    );
    let events = pair.take_router_events();
    assert!(
        events.iter().any(|e| matches!(e, Event::Reset {
            id,
            code: RstCode::FRAME_TOO_LARGE,
            origin: ResetOrigin::Local(error),
        } if *id == sid && error.stream == Some(sid) && error.frame_type.is_none())),
        "{events:?}"
    );
    assert!(!pair.router().is_closed());
}

/// spec: #error-table — a malformed name/value block resets its stream only.
/// spec: #header-block-rules, #header-block-order
#[test]
fn malformed_block_resets_stream() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/");
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
/// spec: #frame-flags, #frame-extensibility
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
        pair.router()
            .close_reason()
            .as_ref()
            .and_then(CloseReason::protocol_error)
            .map(|e| e.code),
        Some(ErrorCode::Session(GoAwayStatus::PROTOCOL_ERROR))
    );
}

/// spec: #errors — a SYN_REPLY on the worker side is a stream error, not a crash.
#[test]
fn syn_reply_to_worker_is_a_stream_error() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/");
    pair.inject(
        Dir::ToWorker,
        Frame::from(SynReply::new(sid, response(200, &[]))).to_bytes(),
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
        Frame::from(SynReply::new(StreamId::new(1), response(200, &[]))).to_bytes(),
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
    let sid = pair.open_get("/");
    pair.worker.reply(sid, response(204, &[]), true).unwrap();
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

/// A SYN_STREAM's bytes with any name/value block, checked or not.
fn raw_syn_stream(id: u32, fin: bool, block: &[u8]) -> Vec<u8> {
    let mut payload = id.to_be_bytes().to_vec();
    payload.extend_from_slice(&[0, 0, 0, 0, 0x60, 0]);
    payload.extend_from_slice(block);
    let mut part = vec![0x80, 0x03, 0x00, 0x01, u8::from(fin)];
    part.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    part.extend_from_slice(&payload);
    part
}

/// A block with one pair whose name has an uppercase letter: malformed.
fn uppercase_block() -> Vec<u8> {
    let mut b = 1u32.to_be_bytes().to_vec();
    b.extend_from_slice(&7u32.to_be_bytes());
    b.extend_from_slice(b":Method");
    b.extend_from_slice(&3u32.to_be_bytes());
    b.extend_from_slice(b"GET");
    b
}

fn rsts_sent(pair: &Pair, dir: Dir) -> Vec<(u32, RstCode)> {
    pair.sent(dir)
        .filter_map(|f| match f {
            Frame::RstStream(r) => Some((r.stream_id().get(), r.code())),
            _ => None,
        })
        .collect()
}

/// spec: #stream-closed, #frame-decoding — a SYN_STREAM that fails to decode (malformed block,
/// or over 65,536 bytes) but whose id passes the id checks opens that id, and the reset
/// closes it: DATA that follows on it is ignored, not answered with INVALID_STREAM.
#[test]
fn undecodable_syn_stream_opens_its_id() {
    let oversized = {
        let mut block = request("POST", "/", &[]);
        let fill = 65_537 - 10 - block.encoded_len() - 8 - "x-fill".len();
        block.insert("x-fill", "a".repeat(fill)).unwrap();
        Frame::from(SynStream::new(StreamId::new(1), block)).to_bytes()
    };
    for (part, code) in [
        (
            Bytes::from(raw_syn_stream(1, false, &uppercase_block())),
            RstCode::PROTOCOL_ERROR,
        ),
        (oversized, RstCode::FRAME_TOO_LARGE),
    ] {
        let mut pair = Pair::established();
        pair.clear_wire();
        pair.inject(Dir::ToWorker, part);
        pair.inject(
            Dir::ToWorker,
            Frame::from(Data::new(StreamId::new(1), Bytes::from_static(b"body"))).to_bytes(),
        );
        pair.drive();
        assert_eq!(rsts_sent(&pair, Dir::ToRouter), [(1, code)], "{code}");
        assert_eq!(pair.worker.highest_stream_id(), StreamId::new(1));
        assert!(pair.worker.is_established());
    }
}

/// spec: #stream-ids, #error-table — a SYN_STREAM whose id breaks the id rules is a session
/// error even when its block is malformed too: the id checks come before the stream error.
#[test]
fn undecodable_syn_stream_with_a_used_id_is_a_session_error() {
    for reused in [1, 2] {
        let mut pair = Pair::established();
        pair.router()
            .open_stream(request("POST", "/", &[]), false)
            .unwrap();
        pair.drive();
        pair.clear_wire();
        pair.inject(
            Dir::ToWorker,
            raw_syn_stream(reused, false, &uppercase_block()),
        );
        pair.drive();
        assert_eq!(
            pair.worker
                .close_reason()
                .as_ref()
                .and_then(CloseReason::protocol_error)
                .map(|e| e.code),
            Some(ErrorCode::Session(GoAwayStatus::PROTOCOL_ERROR)),
            "stream id {reused}"
        );
        assert!(rsts_sent(&pair, Dir::ToRouter).is_empty());
    }
}

/// spec: #frame-syn-stream, #error-kinds — a SYN_STREAM from a worker naming one of the
/// router's active streams is a stream error on that stream: RST_STREAM, and the router
/// closes the stream too. Naming a closed stream, it is ignored.
#[test]
fn worker_syn_stream_on_an_active_stream_closes_it() {
    let mut pair = Pair::established();
    let sid = pair
        .router()
        .open_stream(request("POST", "/", &[]), false)
        .unwrap();
    pair.drive();
    pair.take_router_events();
    pair.clear_wire();
    let syn = Frame::from(SynStream::new(sid, request("GET", "/", &[]))).to_bytes();
    pair.inject(Dir::ToRouter, syn.clone());
    pair.drive();
    let events = pair.take_router_events();
    assert!(
        matches!(events.as_slice(), [Event::Reset {
            id,
            code: RstCode::PROTOCOL_ERROR,
            origin: ResetOrigin::Local(error),
        }] if *id == sid && error.frame_type == Some(FrameType::SYN_STREAM)),
        "{events:?}"
    );
    assert_eq!(pair.router().open_streams(), 0);
    assert_eq!(
        rsts_sent(&pair, Dir::ToWorker),
        [(sid.get(), RstCode::PROTOCOL_ERROR)]
    );
    // Stream 1 is closed now: the same frame again is ignored.
    pair.inject(Dir::ToRouter, syn);
    pair.drive();
    assert_eq!(rsts_sent(&pair, Dir::ToWorker).len(), 1);
    assert!(!pair.router().is_closed());
}

/// spec: #stream-closed, #error-table — a WINDOW_UPDATE with delta 0 on a never-opened stream
/// is ignored like any WINDOW_UPDATE there; on an active stream it is a stream error.
#[test]
fn zero_delta_on_a_never_opened_stream_is_ignored() {
    let mut pair = Pair::established();
    pair.clear_wire();
    let zero_delta = |id: u32| {
        let mut b = vec![0x80, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08];
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b
    };
    pair.inject(Dir::ToWorker, zero_delta(99));
    pair.inject(Dir::ToWorker, zero_delta(100));
    pair.drive();
    assert_eq!(pair.sent(Dir::ToRouter).count(), 0, "nothing is answered");
    assert!(pair.worker.is_established());
}

/// spec: #rst-codes — a received RST_STREAM code of 0, 10 or any unknown value means
/// INTERNAL_ERROR; a reset with such a code is sent as INTERNAL_ERROR.
/// spec: #status-codes
#[test]
fn unknown_rst_codes_mean_internal_error() {
    for raw in [0, 10, 99] {
        let mut pair = Pair::established();
        let sid = pair.open_get("/");
        pair.take_router_events();
        pair.inject(
            Dir::ToRouter,
            Frame::from(RstStream::new(sid, RstCode::from_wire(raw))).to_bytes(),
        );
        pair.drive();
        assert_eq!(
            pair.take_router_events(),
            [Event::Reset {
                id: sid,
                code: RstCode::INTERNAL_ERROR,
                origin: ResetOrigin::Peer
            }],
            "code {raw}"
        );

        let sid = pair.open_get("/");
        pair.clear_wire();
        pair.router().reset(sid, RstCode::from_wire(raw));
        pair.drive();
        assert_eq!(
            rsts_sent(&pair, Dir::ToWorker),
            [(sid.get(), RstCode::INTERNAL_ERROR)],
            "code {raw}"
        );
    }
}

/// spec: #goaway-codes — no side sends a GOAWAY status the spec does not define, and a worker
/// never sends the router's UNKNOWN_SESSION or REFUSED: those go out as INTERNAL_ERROR.
#[test]
fn goaway_statuses_sent_are_defined_ones() {
    let cases = [
        (true, GoAwayStatus::from_wire(42)),
        (false, GoAwayStatus::from_wire(42)),
        (false, GoAwayStatus::UNKNOWN_SESSION),
        (false, GoAwayStatus::REFUSED),
    ];
    for (router, status) in cases {
        let mut pair = Pair::established();
        pair.clear_wire();
        let dir = if router {
            pair.router().go_away(status);
            Dir::ToWorker
        } else {
            pair.worker.go_away(status);
            Dir::ToRouter
        };
        pair.drive();
        assert_eq!(
            goaway_sent(&pair, dir),
            Some(GoAwayStatus::INTERNAL_ERROR),
            "{status} from the {}",
            if router { "router" } else { "worker" }
        );
    }
}
