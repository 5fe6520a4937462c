//! Spec sections: #flow-control, #flow-control-windows, #flow-control-errors.

use bytes::Bytes;
use zroute_proto::frame::{Data, Frame, Settings, WindowUpdate};
use zroute_proto::session::{
    CloseReason, CommandError, ErrorCode, Event, RouterConfig, WorkerConfig,
};
use zroute_proto::{GoAwayStatus, RstCode, SettingId, StreamId};
use zroute_test_support::fields::{request, response};
use zroute_test_support::pair::{Dir, Pair, body_of};

/// Sends as much of `body` as the windows allow; returns how much went.
fn push(pair: &mut Pair, from_router: bool, sid: StreamId, body: &mut Bytes) -> usize {
    let mut sent = 0;
    loop {
        let session = if from_router {
            pair.router()
        } else {
            &mut pair.worker
        };
        let room = session.send_capacity(sid).min(body.len());
        if room == 0 {
            return sent;
        }
        let chunk = body.split_to(room);
        let fin = body.is_empty();
        session.send_data(sid, chunk, fin).unwrap();
        sent += room;
        if fin {
            return sent;
        }
    }
}

/// spec: #flow-control-windows — an upload stops at the worker's window and resumes on WINDOW_UPDATE.
/// spec: #flow-control-sending
#[test]
fn upload_waits_for_window_updates() {
    let mut config = WorkerConfig::new("w");
    config.initial_window_size = 10_000;
    let mut pair = Pair::established_with(config, RouterConfig::default());
    let total = 1 << 20;
    let mut body = Bytes::from(vec![7u8; total]);
    let sid = pair
        .router()
        .open_stream(request("POST", "/echo", &[]), false)
        .unwrap();

    assert_eq!(
        push(&mut pair, true, sid, &mut body),
        10_000,
        "exactly the stream window"
    );
    pair.drive();
    assert_eq!(
        pair.router().send_capacity(sid),
        0,
        "blocked until the worker consumes"
    );

    let mut received = 0;
    let mut rounds = 0;
    while received < total {
        rounds += 1;
        assert!(rounds < 10_000, "upload made no progress");
        let events = pair.take_worker_events();
        let (chunk, _) = body_of(&events, sid);
        received += chunk.len();
        pair.worker.release_capacity(sid, chunk.len());
        pair.drive();
        push(&mut pair, true, sid, &mut body);
        pair.drive();
    }
    assert_eq!(received, total);
    let max_unacked = pair
        .sent(Dir::ToWorker)
        .filter_map(|f| match f {
            Frame::Data(d) => Some(d.payload().len()),
            _ => None,
        })
        .max()
        .unwrap();
    assert!(
        max_unacked <= 10_000,
        "no DATA frame larger than the window"
    );
    assert!(
        pair.sent(Dir::ToRouter)
            .any(|f| matches!(f, Frame::WindowUpdate(w) if w.stream_id() == sid))
    );
}

/// spec: #flow-control-windows — the response direction is bounded by the router's window.
#[test]
fn download_waits_for_router_window() {
    let router_config = RouterConfig {
        initial_window_size: 4096,
        ..RouterConfig::default()
    };
    let mut pair = Pair::established_with(WorkerConfig::new("w"), router_config);
    let sid = pair.open_get("/large");
    pair.worker.reply(sid, response(200, &[]), false).unwrap();
    let mut body = Bytes::from(vec![1u8; 100_000]);
    assert_eq!(push(&mut pair, false, sid, &mut body), 4096);
    pair.drive();
    let (got, _) = body_of(&pair.take_router_events(), sid);
    pair.router().release_capacity(sid, got.len());
    pair.drive();
    assert!(pair.worker.send_capacity(sid) >= 2048, "credit came back");
    assert_eq!(
        pair.worker
            .send_data(sid, Bytes::from(vec![0u8; 70_000]), false),
        Err(CommandError::WindowExceeded)
    );
}

/// spec: #flow-control-windows — after the handshake both sides raise their session window.
#[test]
fn session_windows_grow_after_handshake() {
    let mut config = WorkerConfig::new("w");
    config.session_window = 1 << 20;
    let pair = Pair::established_with(
        config,
        RouterConfig {
            session_window: 1 << 21,
            ..RouterConfig::default()
        },
    );
    let updates: Vec<(bool, u32)> = pair
        .wire
        .iter()
        .filter_map(|(_, d, f)| match f {
            Frame::WindowUpdate(w) if w.stream_id().is_zero() => {
                Some((*d == Dir::ToRouter, w.delta()))
            }
            _ => None,
        })
        .collect();
    assert!(updates.contains(&(true, (1 << 20) - 65_536)), "{updates:?}");
    assert!(
        updates.contains(&(false, (1 << 21) - 65_536)),
        "{updates:?}"
    );
}

/// spec: #flow-control-errors — DATA beyond the stream window resets the stream.
#[test]
fn stream_window_overrun_is_reset() {
    let mut config = WorkerConfig::new("w");
    config.initial_window_size = 100;
    let mut pair = Pair::established_with(config, RouterConfig::default());
    let sid = pair
        .router()
        .open_stream(request("POST", "/", &[]), false)
        .unwrap();
    pair.drive();
    pair.inject(
        Dir::ToWorker,
        Frame::from(Data::new(sid, Bytes::from(vec![0u8; 101]))).to_bytes(),
    );
    pair.drive();
    assert!(
        pair.sent(Dir::ToRouter)
            .any(|f| matches!(f, Frame::RstStream(r) if r.code() == RstCode::FLOW_CONTROL_ERROR))
    );
    assert!(!pair.worker.is_closed());
}

/// spec: #flow-control-errors — DATA beyond the session window ends the session.
#[test]
fn session_window_overrun_is_goaway() {
    let mut config = WorkerConfig::new("w");
    config.session_window = 65_536;
    config.initial_window_size = 1 << 20;
    let mut pair = Pair::established_with(config, RouterConfig::default());
    let sid = pair
        .router()
        .open_stream(request("POST", "/", &[]), false)
        .unwrap();
    pair.drive();
    for _ in 0..2 {
        pair.inject(
            Dir::ToWorker,
            Frame::from(Data::new(sid, Bytes::from(vec![0u8; 40_000]))).to_bytes(),
        );
    }
    pair.drive();
    assert_eq!(
        pair.worker
            .close_reason()
            .as_ref()
            .and_then(CloseReason::protocol_error)
            .map(|e| e.code),
        Some(ErrorCode::Session(GoAwayStatus::FLOW_CONTROL_ERROR))
    );
}

/// spec: #flow-control-errors — a WINDOW_UPDATE past 2^31-1 is a stream or session error.
#[test]
fn window_overflow() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/");
    pair.inject(
        Dir::ToWorker,
        Frame::from(WindowUpdate::new(sid, 0x7fff_ffff)).to_bytes(),
    );
    pair.drive();
    assert!(
        pair.sent(Dir::ToRouter)
            .any(|f| matches!(f, Frame::RstStream(r) if r.code() == RstCode::FLOW_CONTROL_ERROR))
    );
    pair.inject(
        Dir::ToWorker,
        Frame::from(WindowUpdate::new(StreamId::ZERO, 0x7fff_ffff)).to_bytes(),
    );
    pair.drive();
    assert_eq!(
        pair.worker
            .close_reason()
            .as_ref()
            .and_then(CloseReason::protocol_error)
            .map(|e| e.code),
        Some(ErrorCode::Session(GoAwayStatus::FLOW_CONTROL_ERROR))
    );
}

/// spec: #flow-control-errors — a zero delta: stream error on a stream, session error on the session.
#[test]
fn zero_delta() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/");
    let zero = |s: u32| {
        let mut b = vec![0x80, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08];
        b.extend_from_slice(&s.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b
    };
    pair.inject(Dir::ToWorker, zero(sid.get()));
    pair.drive();
    assert!(pair.sent(Dir::ToRouter).any(|f| matches!(f, Frame::RstStream(r) if r.stream_id() == sid && r.code() == RstCode::PROTOCOL_ERROR)));
    assert!(!pair.worker.is_closed());
    pair.inject(Dir::ToWorker, zero(0));
    pair.drive();
    assert_eq!(
        pair.worker
            .close_reason()
            .as_ref()
            .and_then(CloseReason::protocol_error)
            .map(|e| e.code),
        Some(ErrorCode::Session(GoAwayStatus::PROTOCOL_ERROR))
    );
}

/// spec: #flow-control-windows — INITIAL_WINDOW_SIZE shifts open streams' windows, even below zero.
#[test]
fn settings_shift_open_windows() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/");
    pair.worker.reply(sid, response(200, &[]), false).unwrap();
    pair.worker
        .send_data(sid, Bytes::from(vec![0u8; 60_000]), false)
        .unwrap();
    let mut settings = Settings::new();
    settings.push(SettingId::INITIAL_WINDOW_SIZE, 1000);
    pair.inject(Dir::ToWorker, Frame::from(settings).to_bytes());
    pair.drive();
    assert_eq!(
        pair.worker.send_capacity(sid),
        0,
        "65,536 - 60,000 - 64,536 < 0"
    );
    assert_eq!(
        pair.worker.peer_initial_window(),
        1000,
        "new streams start at the new size"
    );
    pair.inject(
        Dir::ToWorker,
        Frame::from(WindowUpdate::new(sid, 64_000)).to_bytes(),
    );
    pair.drive();
    assert_eq!(
        pair.worker.send_capacity(sid),
        5000,
        "65,536 - 60,000 - 64,536 + 64,000"
    );
    let mut too_big = Settings::new();
    too_big.push(SettingId::INITIAL_WINDOW_SIZE, 0x8000_0000);
    pair.inject(Dir::ToWorker, Frame::from(too_big).to_bytes());
    pair.drive();
    assert_eq!(
        pair.worker
            .close_reason()
            .as_ref()
            .and_then(CloseReason::protocol_error)
            .map(|e| e.code),
        Some(ErrorCode::Session(GoAwayStatus::FLOW_CONTROL_ERROR))
    );
}

/// spec: #flow-control-windows — bytes of a stream reset before they were consumed are credited
/// back to the session, so a session never leaks its window.
#[test]
fn reset_streams_credit_the_session() {
    let mut config = WorkerConfig::new("w");
    config.session_window = 65_536;
    config.initial_window_size = 65_536;
    let mut pair = Pair::established_with(config, RouterConfig::default());
    for _ in 0..10 {
        let sid = pair
            .router()
            .open_stream(request("POST", "/", &[]), false)
            .unwrap();
        let room = pair.router().send_capacity(sid);
        assert!(room >= 40_000, "session window leaked: only {room} left");
        pair.router()
            .send_data(sid, Bytes::from(vec![0u8; 40_000]), false)
            .unwrap();
        pair.drive();
        // The application never consumes the bytes; the router gives up.
        pair.router().reset(sid, RstCode::CANCEL);
        pair.drive();
    }
    let events = pair.take_router_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::WindowOpened { id } if id.is_zero()))
    );
}

/// spec: #flow-control — DATA on a closed stream still counts against, and is credited back to, the session.
#[test]
fn ignored_data_is_credited() {
    let mut config = WorkerConfig::new("w");
    config.session_window = 65_536;
    let mut pair = Pair::established_with(config, RouterConfig::default());
    let sid = pair.open_get("/");
    pair.worker.reply(sid, response(200, &[]), true).unwrap();
    pair.drive();
    pair.clear_wire();
    for _ in 0..4 {
        pair.inject(
            Dir::ToWorker,
            Frame::from(Data::new(sid, Bytes::from(vec![0u8; 30_000]))).to_bytes(),
        );
        pair.drive();
    }
    assert!(
        !pair.worker.is_closed(),
        "credited bytes keep the session window open"
    );
    assert!(
        pair.sent(Dir::ToRouter)
            .any(|f| matches!(f, Frame::WindowUpdate(w) if w.stream_id().is_zero()))
    );
}

/// spec: #flow-control-updates — a WINDOW_UPDATE for a direction we already ended is ignored, even one that would overflow.
#[test]
fn window_update_after_our_fin_is_ignored() {
    let mut pair = Pair::established();
    let sid = pair
        .router()
        .open_stream(request("POST", "/", &[]), false)
        .unwrap();
    pair.router()
        .send_data(sid, Bytes::from_static(b"x"), true)
        .unwrap();
    pair.drive();
    pair.clear_wire();
    pair.inject(
        Dir::ToRouter,
        Frame::from(WindowUpdate::new(sid, 0x7fff_ffff)).to_bytes(),
    );
    pair.drive();
    assert_eq!(
        pair.sent(Dir::ToWorker).count(),
        0,
        "no RST for an update on an ended direction"
    );
    assert_eq!(pair.router().open_streams(), 1);
}

/// spec: #flow-control-settings — SETTINGS that push an open stream past 2^31-1 is a session error.
#[test]
fn settings_overflow_is_a_session_error() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/");
    pair.worker.reply(sid, response(200, &[]), false).unwrap();
    pair.inject(
        Dir::ToWorker,
        Frame::from(WindowUpdate::new(sid, 0x7fff_ffff - 65_536)).to_bytes(),
    );
    let mut settings = Settings::new();
    settings.push(SettingId::INITIAL_WINDOW_SIZE, 65_537);
    pair.inject(Dir::ToWorker, Frame::from(settings).to_bytes());
    pair.drive();
    assert_eq!(
        pair.worker
            .close_reason()
            .as_ref()
            .and_then(CloseReason::protocol_error)
            .map(|e| e.code),
        Some(ErrorCode::Session(GoAwayStatus::FLOW_CONTROL_ERROR))
    );
}

/// spec: #flow-control-windows, #frame-size — an oversized DATA still counts against the session
/// window; overrunning it is a session error, which outranks the stream error.
#[test]
fn oversized_data_counts_against_the_session() {
    let mut config = WorkerConfig::new("w");
    config.session_window = 65_536;
    let mut pair = Pair::established_with(config, RouterConfig::default());
    let sid = pair
        .router()
        .open_stream(request("POST", "/", &[]), false)
        .unwrap();
    pair.drive();
    pair.inject(
        Dir::ToWorker,
        Frame::from(Data::new(sid, Bytes::from(vec![0u8; 65_537]))).to_bytes(),
    );
    pair.drive();
    assert_eq!(
        pair.worker
            .close_reason()
            .as_ref()
            .and_then(CloseReason::protocol_error)
            .map(|e| e.code),
        Some(ErrorCode::Session(GoAwayStatus::FLOW_CONTROL_ERROR))
    );
}
