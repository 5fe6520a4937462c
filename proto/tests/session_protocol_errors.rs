//! The session says why it reset a stream or went away: one `ProtocolError`
//! per RST_STREAM or GOAWAY it sends of its own accord, also carried by the
//! `Reset` or `Closed` event it causes.
//!
//! Spec sections: #error-reporting, #error-table.

use bytes::Bytes;
use zroute_proto::frame::{Data, Frame, Settings, SynReply, SynStream};
use zroute_proto::session::{
    CloseReason, ErrorCode, Event, MAX_QUEUED_ERRORS, ResetOrigin, WorkerConfig,
};
use zroute_proto::{FrameType, GoAwayStatus, ProtocolError, RstCode, SettingId, StreamId};
use zroute_test_support::fields::{request, response};
use zroute_test_support::pair::{Dir, Pair};

fn errors(session: &mut zroute_proto::Session) -> Vec<ProtocolError> {
    std::iter::from_fn(|| session.poll_protocol_error()).collect()
}

/// spec: #error-reporting — a reset of an open stream carries the rule, and
/// the error queue holds the same error.
#[test]
fn a_reset_carries_its_error() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/");
    pair.worker.reply(sid, response(200, &[]), false).unwrap();
    pair.drive();
    pair.take_router_events();
    pair.inject(
        Dir::ToRouter,
        Frame::from(SynReply::new(sid, response(200, &[]))).to_bytes(),
    );
    pair.drive();
    let events = pair.take_router_events();
    let [
        Event::Reset {
            id,
            code: RstCode::STREAM_IN_USE,
            origin: ResetOrigin::Local(error),
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(*id, sid);
    assert_eq!(error.stream, Some(sid));
    assert_eq!(error.code, ErrorCode::Stream(RstCode::STREAM_IN_USE));
    assert_eq!(error.frame_type, Some(FrameType::SYN_REPLY));
    assert!(error.reason.contains("row 38"), "{}", error.reason);
    assert_eq!(events[0].protocol_error(), Some(error));
    assert_eq!(errors(pair.router()), [*error]);
}

/// spec: #stream-closed — DATA on a never-opened stream gets INVALID_STREAM
/// and no event (no stream ended), but the error is still reported.
#[test]
fn an_error_without_a_stream_is_reported() {
    let mut pair = Pair::established();
    let never = StreamId::new(7);
    pair.inject(
        Dir::ToRouter,
        Frame::from(Data::new(never, Bytes::from_static(b"x"))).to_bytes(),
    );
    pair.drive();
    assert_eq!(pair.take_router_events(), []);
    let [error] = errors(pair.router())[..] else {
        panic!("one error expected");
    };
    assert_eq!(error.stream, Some(never));
    assert_eq!(error.code, ErrorCode::Stream(RstCode::INVALID_STREAM));
    assert_eq!(error.frame_type, None, "DATA has no type code");
    assert!(!error.is_session_error());
}

/// spec: #capacity — a refused SYN_STREAM is reported as a refusal.
#[test]
fn a_refused_stream_is_reported() {
    let mut config = WorkerConfig::new("w1");
    config.max_concurrent_streams = 1;
    let mut pair = Pair::established_with(config, Default::default());
    pair.open_get("/a");
    // The router keeps to the worker's capacity: send a second stream by hand.
    let second = StreamId::new(3);
    pair.inject(
        Dir::ToWorker,
        Frame::from(SynStream::new(second, request("GET", "/b", &[]))).to_bytes(),
    );
    pair.drive();
    let [error] = errors(&mut pair.worker)[..] else {
        panic!("one error expected");
    };
    assert!(error.is_refusal());
    assert_eq!(error.stream, Some(second));
    assert_eq!(error.frame_type, Some(FrameType::SYN_STREAM));
}

/// spec: #session-errors — the close reason carries the session error.
#[test]
fn a_session_error_closes_with_its_error() {
    let mut pair = Pair::established();
    let mut settings = Settings::new();
    settings.push(SettingId::INITIAL_WINDOW_SIZE, 0x8000_0000);
    pair.inject(Dir::ToWorker, Frame::from(settings).to_bytes());
    pair.drive();
    let Some(CloseReason::ProtocolError(error)) = pair.worker.close_reason() else {
        panic!("{:?}", pair.worker.close_reason());
    };
    assert_eq!(error.stream, None);
    assert_eq!(
        error.code,
        ErrorCode::Session(GoAwayStatus::FLOW_CONTROL_ERROR)
    );
    assert_eq!(error.frame_type, Some(FrameType::SETTINGS));
    assert!(error.is_session_error());
    assert_eq!(errors(&mut pair.worker), [error]);
    assert!(
        pair.take_worker_events()
            .last()
            .is_some_and(|e| e.protocol_error() == Some(&error))
    );
}

/// An error GOAWAY the application asked for is no protocol error.
#[test]
fn a_commanded_goaway_reports_nothing() {
    let mut pair = Pair::established();
    pair.router().go_away(GoAwayStatus::PROTOCOL_ERROR);
    assert_eq!(
        pair.router().close_reason(),
        Some(CloseReason::LocalError(GoAwayStatus::PROTOCOL_ERROR))
    );
    assert_eq!(errors(pair.router()), []);
}

/// A caller that never polls the errors keeps bounded memory.
#[test]
fn unpolled_errors_are_bounded() {
    let mut pair = Pair::established();
    for n in 0..(MAX_QUEUED_ERRORS as u32 + 10) {
        let never = StreamId::new(1001 + 2 * n);
        pair.inject(
            Dir::ToRouter,
            Frame::from(Data::new(never, Bytes::from_static(b"x"))).to_bytes(),
        );
    }
    pair.drive();
    let errors = errors(pair.router());
    assert_eq!(errors.len(), MAX_QUEUED_ERRORS);
    assert_eq!(
        errors.last().and_then(|e| e.stream),
        Some(StreamId::new(1001 + 2 * (MAX_QUEUED_ERRORS as u32 + 9))),
        "the newest are kept"
    );
}
