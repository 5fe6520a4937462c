//! Spec sections: #heartbeat, #frame-ping.

use std::time::Duration;

use zroute_proto::frame::{Frame, Ping};
use zroute_proto::session::{CloseReason, Event, RouterConfig, WorkerConfig};
use zroute_test_support::pair::{Dir, Pair};

fn pings(pair: &Pair, dir: Dir) -> Vec<u32> {
    pair.sent(dir)
        .filter_map(|f| match f {
            Frame::Ping(p) => Some(p.id()),
            _ => None,
        })
        .collect()
}

/// spec: #heartbeat — an idle session stays alive: each side pings every interval, with its parity, and echoes the other's.
#[test]
fn idle_session_stays_alive() {
    let mut pair = Pair::established();
    pair.advance(Duration::from_secs(10));
    assert!(pair.worker.is_established() && !pair.router().is_closed());
    let router_pings = pings(&pair, Dir::ToWorker);
    let worker_pings = pings(&pair, Dir::ToRouter);
    // Each side's own pings, plus echoes of the other's.
    assert!(
        router_pings.iter().filter(|id| *id % 2 == 1).count() >= 9,
        "{router_pings:?}"
    );
    assert!(
        worker_pings.iter().filter(|id| *id % 2 == 0).count() >= 9,
        "{worker_pings:?}"
    );
    for id in router_pings.iter().filter(|id| *id % 2 == 1) {
        assert!(worker_pings.contains(id), "router ping {id} was echoed");
    }
    assert!(
        pair.take_worker_events()
            .iter()
            .any(|e| matches!(e, Event::Pong { .. }))
    );
}

/// spec: #heartbeat — any traffic counts: a busy sender sends no extra PINGs.
#[test]
fn traffic_replaces_pings() {
    let mut pair = Pair::established();
    pair.clear_wire();
    for _ in 0..20 {
        pair.worker.set_capacity(5).unwrap();
        pair.advance(Duration::from_millis(500));
    }
    let own = pings(&pair, Dir::ToRouter)
        .into_iter()
        .filter(|id| id % 2 == 0)
        .count();
    assert_eq!(
        own, 0,
        "the worker sent a frame every 500 ms, so it never needed a PING"
    );
}

/// spec: #heartbeat — a silent peer is dead after interval × liveness, on both sides.
/// spec: #session-dead
#[test]
fn dead_peer_detected_within_liveness() {
    let config = RouterConfig {
        heartbeat_interval: Duration::from_millis(200),
        heartbeat_liveness: 3,
        ..RouterConfig::default()
    };
    let mut pair = Pair::established_with(WorkerConfig::new("w"), config);
    pair.loss = 1.0; // The link is cut both ways.
    let router_took = pair
        .advance_until(Duration::from_secs(5), |p| {
            p.router.as_ref().unwrap().is_closed()
        })
        .unwrap();
    assert!(
        router_took <= Duration::from_millis(600),
        "router took {router_took:?}"
    );
    assert_eq!(
        pair.router.as_ref().unwrap().close_reason(),
        Some(CloseReason::TimedOut)
    );
    assert!(pair.worker.is_closed());
    assert_eq!(pair.worker.close_reason(), Some(CloseReason::TimedOut));
}

/// spec: #heartbeat — a peer whose link fails one way is still found dead.
#[test]
fn one_way_failure_detected() {
    let mut pair = Pair::established();
    pair.router_down = true;
    let took = pair
        .advance_until(Duration::from_secs(10), |p| {
            p.router.as_ref().unwrap().is_closed()
        })
        .unwrap();
    assert!(took <= Duration::from_secs(3), "took {took:?}");
}

/// spec: #frame-ping — a PING of one's own parity that one never sent is ignored (no loop).
#[test]
fn unsolicited_own_parity_ping_is_ignored() {
    let mut pair = Pair::established();
    pair.clear_wire();
    pair.inject(Dir::ToWorker, Frame::from(Ping::new(1_000_000)).to_bytes());
    pair.drive();
    assert!(pings(&pair, Dir::ToRouter).is_empty());
    pair.inject(Dir::ToWorker, Frame::from(Ping::new(7)).to_bytes());
    pair.drive();
    assert_eq!(
        pings(&pair, Dir::ToRouter),
        [7],
        "router-parity PING is echoed unchanged"
    );
}

/// spec: #heartbeat — heartbeats survive latency close to the interval.
#[test]
fn high_latency_is_not_death() {
    let mut pair = Pair::established();
    pair.latency = Duration::from_millis(900);
    pair.advance(Duration::from_secs(20));
    assert!(pair.worker.is_established());
    assert!(!pair.router().is_closed());
}

/// spec: #transport-messages, #heartbeat — zero-length parts are ignored: they are not frames,
/// so they do not keep a session whose peer has gone silent alive.
#[test]
fn empty_parts_are_no_sign_of_life() {
    let mut pair = Pair::established();
    pair.loss = 1.0; // Every frame is lost; only the injected empty parts arrive.
    for _ in 0..10 {
        pair.inject(Dir::ToWorker, Vec::new());
        pair.advance(Duration::from_millis(500));
    }
    assert_eq!(pair.worker.close_reason(), Some(CloseReason::TimedOut));
}
