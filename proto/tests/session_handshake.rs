//! Spec sections: #handshake, #unknown-peer, #reregistration, #frame-hello, #frame-welcome.

use std::time::Duration;

use zroute_proto::frame::{Frame, Hello};
use zroute_proto::session::{
    Backoff, CloseReason, ErrorCode, Event, RouterConfig, Session, WorkerConfig,
};
use zroute_proto::{GoAwayStatus, HeaderBlock, PROTOCOL_VERSION};
use zroute_test_support::fields::block;
use zroute_test_support::pair::{Dir, Pair};

/// spec: #handshake — HELLO first, WELCOME answers, with the router's heartbeat and window.
/// spec: #session-states
#[test]
fn hello_then_welcome() {
    let mut config = WorkerConfig::new("w1");
    config.max_concurrent_streams = 7;
    config.initial_window_size = 1000;
    config.routes = vec!["/api".into(), "example.com/static".into()];
    config.labels = vec![("zone".into(), "a".into())];
    let router_config = RouterConfig {
        heartbeat_interval: Duration::from_millis(250),
        heartbeat_liveness: 4,
        ..RouterConfig::default()
    };
    let mut pair = Pair::new(config, router_config);
    pair.drive();

    let first = pair
        .sent(Dir::ToRouter)
        .next()
        .expect("worker sent something");
    let Frame::Hello(hello) = first else {
        panic!("first frame must be HELLO, got {first:?}")
    };
    assert_eq!(hello.version(), PROTOCOL_VERSION);
    assert_eq!(hello.max_concurrent_streams(), 7);
    assert_eq!(hello.initial_window_size(), 1000);
    assert_eq!(hello.attributes().get("id").unwrap(), "w1");
    assert_eq!(
        hello.attributes().values("route").collect::<Vec<_>>(),
        [&b"/api"[..], b"example.com/static"]
    );
    assert_eq!(hello.attributes().get("zone").unwrap(), "a");

    let Frame::Welcome(welcome) = pair.sent(Dir::ToWorker).next().unwrap() else {
        panic!("router must answer WELCOME")
    };
    assert_eq!(welcome.heartbeat_interval_ms(), 250);
    assert_eq!(welcome.heartbeat_liveness(), 4);
    assert_eq!(pair.worker_events.first(), Some(&Event::Established));
    assert_eq!(
        pair.worker.heartbeat_interval(),
        Some(Duration::from_millis(250))
    );
    let router = pair.router();
    assert_eq!(router.capacity(), 7);
    assert_eq!(
        router
            .routes()
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>(),
        ["/api", "example.com/static"]
    );
}

/// spec: #handshake — the worker sends nothing but HELLO before WELCOME, and gives up at the timeout.
#[test]
fn handshake_times_out_without_welcome() {
    let mut config = WorkerConfig::new("w1");
    config.handshake_timeout = Duration::from_secs(3);
    let mut pair = Pair::new(config, RouterConfig::default());
    pair.router_down = true;
    pair.advance(Duration::from_millis(2999));
    assert!(!pair.worker.is_closed());
    pair.advance(Duration::from_millis(1));
    assert_eq!(
        pair.worker.close_reason(),
        Some(CloseReason::HandshakeTimedOut)
    );
    assert_eq!(
        pair.sent(Dir::ToRouter).count(),
        1,
        "only HELLO before WELCOME"
    );
}

fn rejected(hello: Hello) -> GoAwayStatus {
    Session::accept(&RouterConfig::default(), hello, "s", epoch())
        .unwrap_err()
        .status
}

fn attrs(pairs: &[(&str, &str)]) -> HeaderBlock {
    block(pairs)
}

/// spec: #handshake — what a router refuses, and with which status.
#[test]
fn router_refuses_bad_hellos() {
    let id = attrs(&[("id", "w")]);
    assert_eq!(
        rejected(Hello::new(0, 1, 1, id.clone())),
        GoAwayStatus::UNSUPPORTED_VERSION
    );
    assert_eq!(
        rejected(Hello::new(1, 0, 1, id.clone())),
        GoAwayStatus::PROTOCOL_ERROR
    );
    assert_eq!(
        rejected(Hello::new(1, 1, 0, id.clone())),
        GoAwayStatus::PROTOCOL_ERROR
    );
    assert_eq!(
        rejected(Hello::new(1, 1, 1, attrs(&[]))),
        GoAwayStatus::PROTOCOL_ERROR
    );
    assert_eq!(
        rejected(Hello::new(1, 1, 1, attrs(&[("id", &"x".repeat(129))]))),
        GoAwayStatus::PROTOCOL_ERROR
    );
    assert_eq!(
        rejected(Hello::new(
            1,
            1,
            1,
            attrs(&[("id", "w"), ("route", "Bad Route")])
        )),
        GoAwayStatus::PROTOCOL_ERROR
    );
}

/// spec: #handshake — a newer worker gets the version the router speaks.
#[test]
fn newer_worker_gets_version_one() {
    let session = Session::accept(
        &RouterConfig::default(),
        Hello::new(9, 1, 1, attrs(&[("id", "w")])),
        "s",
        epoch(),
    )
    .unwrap();
    assert_eq!(session.welcome().unwrap().version(), 1);
}

/// spec: #handshake — a refused HELLO ends the worker's session with the router's status.
#[test]
fn refused_hello_closes_worker_session() {
    let mut pair = Pair::new(WorkerConfig::new("w1"), RouterConfig::default());
    // The router answers this worker's HELLO as if it refused it.
    pair.router_down = true;
    pair.drive();
    pair.inject(
        Dir::ToWorker,
        Frame::from(zroute_proto::frame::GoAway::new(
            0.into_id(),
            GoAwayStatus::REFUSED,
        ))
        .to_bytes(),
    );
    pair.drive();
    assert_eq!(
        pair.worker.close_reason(),
        Some(CloseReason::PeerGoAway(GoAwayStatus::REFUSED))
    );
}

/// spec: #handshake — any frame other than WELCOME or GOAWAY fails the handshake, unanswered.
#[test]
fn other_frames_before_welcome_fail_the_handshake() {
    let mut pair = Pair::new(WorkerConfig::new("w1"), RouterConfig::default());
    pair.router_down = true;
    pair.drive();
    pair.inject(
        Dir::ToWorker,
        Frame::from(zroute_proto::frame::Ping::new(1)).to_bytes(),
    );
    pair.drive();
    assert_eq!(
        pair.worker.close_reason(),
        Some(CloseReason::HandshakeFailed)
    );
    assert_eq!(
        pair.sent(Dir::ToRouter).count(),
        1,
        "no PING echo before WELCOME"
    );
}

/// spec: #unknown-peer, #reregistration — a restarted router answers the worker's
/// next frame with UNKNOWN_SESSION; the worker registers again on a new socket.
#[test]
fn router_restart_is_survived_by_reregistering() {
    let config = WorkerConfig::new("w1");
    let mut pair = Pair::established_with(config.clone(), RouterConfig::default());
    pair.restart_router();
    let took = pair
        .advance_until(Duration::from_secs(5), |p| p.worker.is_closed())
        .expect("worker noticed the restart");
    assert!(
        took <= Duration::from_millis(1100),
        "noticed within about one heartbeat interval, took {took:?}"
    );
    assert_eq!(
        pair.worker.close_reason(),
        Some(CloseReason::PeerGoAway(GoAwayStatus::UNKNOWN_SESSION))
    );

    let mut backoff = Backoff::default();
    assert_eq!(
        backoff.delay(0.0),
        Duration::ZERO,
        "first attempt is immediate"
    );
    pair.reregister(&config);
    pair.drive();
    assert!(pair.worker.is_established());
    backoff.succeeded();
    assert_eq!(pair.sessions_accepted(), 2);
}

/// spec: #unknown-peer — GOAWAY from an unknown peer is never answered.
#[test]
fn goaway_from_unknown_peer_gets_no_answer() {
    let mut pair = Pair::established();
    pair.restart_router();
    pair.clear_wire();
    pair.worker.go_away(GoAwayStatus::OK);
    pair.drive();
    assert_eq!(pair.sent(Dir::ToWorker).count(), 0);
}

/// spec: #frame-hello — a second HELLO on an established session is a session error.
#[test]
fn second_hello_is_a_session_error() {
    let mut pair = Pair::established();
    pair.inject(
        Dir::ToRouter,
        Frame::from(Hello::new(1, 1, 1, attrs(&[("id", "w")]))).to_bytes(),
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
    assert_eq!(
        pair.worker.close_reason(),
        Some(CloseReason::PeerGoAway(GoAwayStatus::PROTOCOL_ERROR))
    );
}

/// spec: #frame-welcome — a WELCOME with a zero heartbeat interval fails the handshake.
#[test]
fn bad_welcome_fails_handshake() {
    let mut pair = Pair::new(WorkerConfig::new("w1"), RouterConfig::default());
    pair.router_down = true;
    pair.drive();
    let welcome = zroute_proto::frame::Welcome::new(1, 0, 3, 65536, attrs(&[]));
    pair.inject(Dir::ToWorker, Frame::from(welcome).to_bytes());
    pair.drive();
    assert_eq!(
        pair.worker.close_reason(),
        Some(CloseReason::HandshakeFailed)
    );
    let goaway = pair.sent(Dir::ToRouter).nth(1);
    assert!(
        matches!(goaway, Some(Frame::GoAway(g)) if g.status() == GoAwayStatus::PROTOCOL_ERROR),
        "the worker tells the router to forget the session: {goaway:?}"
    );
}

/// spec: #handshake — a worker config that cannot make a valid HELLO is refused up front.
#[test]
fn invalid_worker_config_is_refused() {
    let now = epoch();
    assert!(Session::worker(&WorkerConfig::new(""), now).is_err());
    assert!(Session::worker(&WorkerConfig::new("has space"), now).is_err());
    let mut zero = WorkerConfig::new("w");
    zero.max_concurrent_streams = 0;
    assert!(Session::worker(&zero, now).is_err());
    let mut label_clash = WorkerConfig::new("w");
    label_clash.labels = vec![("id".into(), "other".into())];
    assert!(Session::worker(&label_clash, now).is_err());
}

/// Any fixed instant will do: these tests never read the clock again.
fn epoch() -> std::time::Instant {
    #[allow(clippy::disallowed_methods, reason = "one fixed starting instant")]
    std::time::Instant::now()
}

trait IntoId {
    fn into_id(self) -> zroute_proto::StreamId;
}

impl IntoId for u32 {
    fn into_id(self) -> zroute_proto::StreamId {
        zroute_proto::StreamId::new(self)
    }
}

/// spec: #frame-hello — the router treats an empty `route` value as no routes: the worker
/// joins the default pool instead of being refused.
#[test]
fn empty_route_value_means_no_routes() {
    let session = Session::accept(
        &RouterConfig::default(),
        Hello::new(1, 1, 1, attrs(&[("id", "w"), ("route", "")])),
        "s",
        epoch(),
    )
    .expect("an empty route value is accepted");
    assert!(session.routes().is_empty());
}

/// spec: #routing-syntax — a worker sends only routes that match the grammar: a config with
/// any other route cannot make a HELLO.
#[test]
fn worker_refuses_invalid_routes() {
    for bad in ["", "Example.com", "/a?b", "host:80/x"] {
        let mut config = WorkerConfig::new("w");
        config.routes = vec!["/ok".into(), bad.into()];
        assert!(Session::worker(&config, epoch()).is_err(), "{bad:?}");
    }
}

/// spec: #handshake — before WELCOME a worker sends nothing but HELLO: giving the session up
/// then sends no GOAWAY.
#[test]
fn go_away_before_welcome_sends_nothing() {
    let mut pair = Pair::new(WorkerConfig::new("w1"), RouterConfig::default());
    pair.router_down = true;
    pair.drive();
    pair.worker.go_away(GoAwayStatus::OK);
    pair.drive();
    assert!(pair.worker.is_closed());
    assert_eq!(pair.worker.close_reason(), Some(CloseReason::Abandoned));
    assert_eq!(pair.sent(Dir::ToRouter).count(), 1, "only HELLO");
}

/// spec: #heartbeat — both sides use the same I: the router runs on the whole milliseconds it
/// announces in WELCOME, not on a finer configured interval.
#[test]
fn router_uses_the_announced_interval() {
    let config = RouterConfig {
        heartbeat_interval: Duration::from_micros(1500),
        ..RouterConfig::default()
    };
    let session = Session::accept(
        &config,
        Hello::new(1, 1, 1, attrs(&[("id", "w")])),
        "s",
        epoch(),
    )
    .unwrap();
    let announced = session.welcome().unwrap().heartbeat_interval_ms();
    assert_eq!(announced, 1);
    assert_eq!(
        session.heartbeat_interval(),
        Some(Duration::from_millis(u64::from(announced)))
    );
}

/// spec: #header-block-limits — the router treats a HELLO with more attributes than its pair
/// limit (default 100) as malformed; the limit is configurable.
#[test]
fn hello_over_the_pair_limit_is_refused() {
    let mut pairs: Vec<(String, String)> = vec![("id".into(), "w".into())];
    pairs.extend((0..100).map(|i| (format!("label-{i}"), "x".into())));
    let block = HeaderBlock::from_pairs(pairs.iter().map(|(n, v)| (n.clone(), v.clone()))).unwrap();
    assert_eq!(block.len(), 101);
    assert_eq!(
        rejected(Hello::new(1, 1, 1, block.clone())),
        GoAwayStatus::PROTOCOL_ERROR
    );
    let config = RouterConfig {
        max_header_pairs: 101,
        ..RouterConfig::default()
    };
    assert!(Session::accept(&config, Hello::new(1, 1, 1, block), "s", epoch()).is_ok());
}

/// spec: #header-block-limits, #handshake — a WELCOME with more attributes than the worker's
/// pair limit is invalid: a failed handshake, with GOAWAY(0, PROTOCOL_ERROR).
#[test]
fn welcome_over_the_pair_limit_fails_the_handshake() {
    let mut config = WorkerConfig::new("w1");
    config.max_header_pairs = 2;
    let mut pair = Pair::new(config, RouterConfig::default());
    pair.router_down = true;
    pair.drive();
    let welcome = zroute_proto::frame::Welcome::new(
        1,
        1000,
        3,
        65536,
        attrs(&[("router", "r"), ("session", "s"), ("zone", "z")]),
    );
    pair.inject(Dir::ToWorker, Frame::from(welcome).to_bytes());
    pair.drive();
    assert_eq!(
        pair.worker.close_reason(),
        Some(CloseReason::HandshakeFailed)
    );
    assert!(
        matches!(pair.sent(Dir::ToRouter).nth(1), Some(Frame::GoAway(g)) if g.status() == GoAwayStatus::PROTOCOL_ERROR)
    );
}

/// spec: #handshake, #frame-header — a WELCOME that fails the header checks (its length field
/// disagrees with its part) is an invalid WELCOME too: the worker still sends GOAWAY.
#[test]
fn welcome_with_a_bad_length_field_gets_goaway() {
    let mut pair = Pair::new(WorkerConfig::new("w1"), RouterConfig::default());
    pair.router_down = true;
    pair.drive();
    let mut part = Frame::from(zroute_proto::frame::Welcome::new(
        1,
        1000,
        3,
        65536,
        attrs(&[]),
    ))
    .to_bytes()
    .to_vec();
    part[7] += 1;
    pair.inject(Dir::ToWorker, part);
    pair.drive();
    assert_eq!(
        pair.worker.close_reason(),
        Some(CloseReason::HandshakeFailed)
    );
    assert!(
        matches!(pair.sent(Dir::ToRouter).nth(1), Some(Frame::GoAway(g)) if g.status() == GoAwayStatus::PROTOCOL_ERROR)
    );
}

/// spec: #frame-size — a worker config whose HELLO would exceed 65,536 payload bytes is refused.
#[test]
fn hello_must_fit_in_one_frame() {
    let mut config = WorkerConfig::new("w");
    config.labels = vec![("big".into(), "x".repeat(65_536))];
    assert!(Session::worker(&config, epoch()).is_err());
    config.labels = vec![(
        "big".into(),
        "x".repeat(65_536 - 12 - 4 - 8 - 2 - 1 - 8 - 3),
    )];
    assert!(Session::worker(&config, epoch()).is_ok());
}

/// spec: #handshake — the handshake timer starts when HELLO is sent, not when the session is
/// created: time spent waiting for a writable socket does not count.
#[test]
fn handshake_timer_starts_when_hello_is_sent() {
    let t0 = epoch();
    let mut config = WorkerConfig::new("w1");
    config.handshake_timeout = Duration::from_secs(3);
    let mut worker = Session::worker(&config, t0).unwrap();
    // The socket only becomes writable 5 s later.
    let sent = t0 + Duration::from_secs(5);
    assert!(matches!(worker.poll_transmit(sent), Some(Frame::Hello(_))));
    assert_eq!(worker.poll_timeout(), Some(sent + Duration::from_secs(3)));
    worker.handle_timeout(sent + Duration::from_millis(2999));
    assert!(!worker.is_closed());
    worker.handle_timeout(sent + Duration::from_secs(3));
    assert_eq!(worker.close_reason(), Some(CloseReason::HandshakeTimedOut));
}
