//! Spec sections: #drain, #router-shutdown, #frame-goaway, #id-exhaustion.

use std::time::Duration;

use bytes::Bytes;
use zroute_proto::frame::{Frame, GoAway};
use zroute_proto::session::{
    CloseReason, CommandError, Event, ResetOrigin, RouterConfig, WorkerConfig,
};
use zroute_proto::{GoAwayStatus, RstCode, StreamId};
use zroute_test_support::fields::{request, response};
use zroute_test_support::pair::{Dir, Pair};

/// spec: #drain — a worker's GOAWAY: no new streams, in-flight ones finish, then both sides end.
#[test]
fn worker_drain_finishes_in_flight() {
    let mut pair = Pair::established();
    let a = pair
        .router()
        .open_stream(request("GET", "/slow", &[]), true)
        .unwrap();
    pair.drive();
    pair.worker.go_away(GoAwayStatus::OK);
    pair.drive();
    assert!(
        matches!(pair.take_router_events()[..], [Event::GoAway { status: GoAwayStatus::OK, last_good, .. }] if last_good == a)
    );
    assert_eq!(
        pair.router().open_stream(request("GET", "/", &[]), true),
        Err(CommandError::Draining)
    );
    assert!(!pair.worker.is_closed(), "still finishing stream {a}");

    pair.worker.reply(a, response(200, &[]), false).unwrap();
    pair.worker
        .send_data(a, Bytes::from_static(b"done"), true)
        .unwrap();
    pair.drive();
    assert_eq!(pair.worker.close_reason(), Some(CloseReason::Drained));
    assert_eq!(pair.router().close_reason(), Some(CloseReason::Drained));
    assert!(
        pair.take_router_events()
            .iter()
            .all(|e| !matches!(e, Event::Reset { .. })),
        "nothing lost"
    );
}

/// spec: #drain — streams above last-good were not processed: the router may retry them.
#[test]
fn streams_above_last_good_are_refused() {
    let mut pair = Pair::established();
    pair.latency = Duration::from_millis(5);
    let a = pair
        .router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    pair.drive();
    // The worker drains while the router's next request is still on the wire.
    pair.worker.go_away(GoAwayStatus::OK);
    let b = pair
        .router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    pair.drive();
    let events = pair.take_router_events();
    let refused: Vec<_> = events.iter().filter(|e| e.is_retry_safe_reset()).collect();
    assert_eq!(
        refused,
        [&Event::Reset {
            id: b,
            code: RstCode::REFUSED_STREAM,
            origin: ResetOrigin::Peer
        }]
    );
    assert!(
        pair.take_worker_events()
            .iter()
            .all(|e| !matches!(e, Event::Request { id, .. } if *id == b)),
        "never processed"
    );
    assert!(pair.sent(Dir::ToRouter).any(|f| matches!(f, Frame::RstStream(r) if r.stream_id() == b && r.code() == RstCode::REFUSED_STREAM)));
    assert_eq!(pair.router().open_streams(), 1, "stream {a} still runs");
}

/// spec: #router-shutdown — the router's GOAWAY: the worker finishes in-flight streams, then its session ends.
#[test]
fn router_shutdown_drains() {
    let mut pair = Pair::established();
    let a = pair
        .router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    pair.drive();
    pair.router().go_away(GoAwayStatus::OK);
    pair.drive();
    assert!(pair.sent(Dir::ToWorker).any(|f| matches!(f, Frame::GoAway(g) if g.last_good_stream_id() == StreamId::ZERO && g.status() == GoAwayStatus::OK)));
    assert!(pair.worker.is_draining() && !pair.worker.is_closed());
    pair.worker.reply(a, response(200, &[]), true).unwrap();
    pair.drive();
    assert_eq!(pair.worker.close_reason(), Some(CloseReason::Drained));
    assert_eq!(pair.router().close_reason(), Some(CloseReason::Drained));
}

/// spec: #router-shutdown — at the shutdown timeout the router cancels what is left.
#[test]
fn shutdown_timeout_cancels() {
    let mut pair = Pair::established();
    let a = pair
        .router()
        .open_stream(request("GET", "/slow", &[]), true)
        .unwrap();
    pair.drive();
    pair.router().go_away(GoAwayStatus::OK);
    pair.advance(Duration::from_millis(500));
    pair.router().reset(a, RstCode::CANCEL);
    pair.drive();
    assert!(pair.router().is_closed());
    assert!(pair.take_worker_events().contains(&Event::Reset {
        id: a,
        code: RstCode::CANCEL,
        origin: ResetOrigin::Peer
    }));
    assert_eq!(pair.worker.close_reason(), Some(CloseReason::Drained));
}

/// spec: #frame-goaway, #session-errors — an error GOAWAY ends the session at once and abandons its streams.
#[test]
fn error_goaway_ends_session() {
    let mut pair = Pair::established();
    let a = pair
        .router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    pair.drive();
    pair.inject(
        Dir::ToWorker,
        Frame::from(GoAway::new(StreamId::ZERO, GoAwayStatus::INTERNAL_ERROR)).to_bytes(),
    );
    pair.drive();
    let events = pair.take_worker_events();
    assert!(events.contains(&Event::Reset {
        id: a,
        code: RstCode::CANCEL,
        origin: ResetOrigin::Session
    }));
    assert_eq!(
        events.last(),
        Some(&Event::Closed(CloseReason::PeerGoAway(
            GoAwayStatus::INTERNAL_ERROR
        )))
    );
}

/// spec: #goaway-codes — an unknown GOAWAY status is treated as INTERNAL_ERROR, in the event
/// and in the close reason.
#[test]
fn unknown_goaway_status_is_internal_error() {
    let mut pair = Pair::established();
    pair.inject(
        Dir::ToWorker,
        Frame::from(GoAway::new(StreamId::ZERO, GoAwayStatus::from_wire(99))).to_bytes(),
    );
    pair.drive();
    assert!(pair.take_worker_events().contains(&Event::GoAway {
        last_good: StreamId::ZERO,
        status: GoAwayStatus::INTERNAL_ERROR
    }));
    assert_eq!(
        pair.worker.close_reason(),
        Some(CloseReason::PeerGoAway(GoAwayStatus::INTERNAL_ERROR))
    );
}

/// spec: #id-exhaustion — the id after 2^31-1 does not exist; the session must drain.
#[test]
fn stream_ids_run_out() {
    assert_eq!(
        StreamId::new(0x7fff_fffd).next_router_id(),
        Some(StreamId::MAX)
    );
    assert_eq!(StreamId::MAX.next_router_id(), None);

    let mut pair = Pair::established_with(WorkerConfig::new("w"), RouterConfig::default());
    pair.router().skip_stream_ids_to(StreamId::new(0x7fff_fffd));
    let last = pair
        .router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    assert_eq!(last, StreamId::MAX);
    assert_eq!(
        pair.router().open_stream(request("GET", "/", &[]), true),
        Err(CommandError::IdsExhausted)
    );
    pair.drive();
    assert!(pair.worker.is_draining(), "the router sent GOAWAY OK");
    pair.worker.reply(last, response(200, &[]), true).unwrap();
    pair.drive();
    assert_eq!(
        pair.worker.close_reason(),
        Some(CloseReason::Drained),
        "the worker re-registers next"
    );
}

/// spec: #frame-goaway, #drain — a worker's last-good is the highest stream it accepted for
/// processing, not a higher one it refused.
#[test]
fn last_good_skips_refused_streams() {
    let mut config = WorkerConfig::new("w");
    config.max_concurrent_streams = 1;
    let mut pair = Pair::established_with(config, RouterConfig::default());
    let a = pair
        .router()
        .open_stream(request("GET", "/slow", &[]), true)
        .unwrap();
    pair.drive();
    // A router that ignored the capacity: the worker refuses stream 3.
    pair.inject(
        Dir::ToWorker,
        Frame::from(zroute_proto::frame::SynStream::new(
            StreamId::new(3),
            request("GET", "/", &[]),
        ))
        .to_bytes(),
    );
    pair.drive();
    assert!(pair.sent(Dir::ToRouter).any(|f| matches!(f, Frame::RstStream(r) if r.stream_id().get() == 3 && r.code() == RstCode::REFUSED_STREAM)));
    pair.worker.go_away(GoAwayStatus::OK);
    pair.drive();
    let last_good = pair.sent(Dir::ToRouter).find_map(|f| match f {
        Frame::GoAway(g) => Some(g.last_good_stream_id()),
        _ => None,
    });
    assert_eq!(last_good, Some(a));
}

/// spec: #drain, #stream-retry — on a worker's GOAWAY, streams above last-good count as refused
/// unless the worker already sent their SYN_REPLY: such a stream was processed, is never
/// reported as retry-safe, and runs on. Last-good 2^31-1 refuses nothing.
#[test]
fn answered_streams_above_last_good_are_not_refused() {
    let mut pair = Pair::established();
    let a = pair
        .router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    let b = pair
        .router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    pair.drive();
    pair.take_router_events();
    // A broken worker answers b, then drains claiming only a.
    pair.inject(
        Dir::ToRouter,
        Frame::from(zroute_proto::frame::SynReply::new(b, response(200, &[]))).to_bytes(),
    );
    pair.inject(
        Dir::ToRouter,
        Frame::from(GoAway::new(a, GoAwayStatus::OK)).to_bytes(),
    );
    pair.drive();
    let events = pair.take_router_events();
    assert!(
        events.iter().all(|e| !e.is_retry_safe_reset()),
        "{events:?}"
    );
    assert_eq!(pair.router().open_streams(), 2);

    let mut pair = Pair::established();
    pair.router().skip_stream_ids_to(StreamId::new(0x7fff_fffd));
    let last = pair
        .router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    pair.drive();
    pair.take_router_events();
    pair.inject(
        Dir::ToRouter,
        Frame::from(GoAway::new(StreamId::MAX, GoAwayStatus::OK)).to_bytes(),
    );
    pair.drive();
    assert!(
        pair.take_router_events()
            .iter()
            .all(|e| !e.is_retry_safe_reset())
    );
    assert!(pair.router().stream_state(last).is_some());
}
