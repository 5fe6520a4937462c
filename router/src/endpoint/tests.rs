//! The endpoint against real worker sessions, on a virtual clock: a small
//! cousin of proto's `Pair` (proto/tests/pair). A test acts on a worker or
//! on the endpoint, calls `drive()` or `advance()`, then reads what each
//! side saw. One workers socket (index 0); each worker is a routing id.

use std::time::{Duration, Instant};

use bytes::Bytes;
use zroute_proto::frame::{Frame, Hello};
use zroute_proto::session::{CloseReason, Event, RouterConfig, Session, WorkerConfig};
use zroute_proto::{GoAwayStatus, HeaderBlock, RstCode, StreamId};

use super::{
    AdmissionLimits, ConnectionHandle, Endpoint, EndpointConfig, Origin, Outcome, Refusal,
};

/// How many steps `drive` takes before calling it a livelock.
const DRIVE_LIMIT: usize = 10_000;

struct Worker {
    routing_id: Bytes,
    address: String,
    session: Session,
    /// While set, what the worker sends is lost (its host went quiet).
    mute: bool,
    /// Every frame the router sent it, decoded.
    received: Vec<Frame>,
    events: Vec<Event>,
}

struct Pair {
    now: Instant,
    endpoint: Endpoint,
    workers: Vec<Worker>,
    /// What each handed-in part became, in order.
    outcomes: Vec<String>,
    registered: Vec<ConnectionHandle>,
    refused: Vec<Refusal>,
    /// Router session events, by session.
    router_events: Vec<(ConnectionHandle, Event)>,
}

fn config() -> EndpointConfig {
    EndpointConfig {
        session: RouterConfig::default(),
        max_frames_per_message: 64,
        max_streams_per_worker: 1000,
        admission: AdmissionLimits {
            max_workers: 100,
            max_per_source: 100,
            rate: 100,
            rate_per_source: 100,
        },
    }
}

impl Pair {
    fn new(config: EndpointConfig) -> Self {
        #[allow(
            clippy::disallowed_methods,
            reason = "the virtual clock starts from one real instant"
        )]
        let now = Instant::now();
        Self {
            now,
            endpoint: Endpoint::new(config, now),
            workers: Vec::new(),
            outcomes: Vec::new(),
            registered: Vec::new(),
            refused: Vec::new(),
            router_events: Vec::new(),
        }
    }

    /// A worker whose HELLO is queued; returns its index.
    fn add_worker(&mut self, id: &str, address: &str) -> usize {
        let session = Session::worker(&WorkerConfig::new(id), self.now).expect("valid config");
        let routing_id = Bytes::from(format!("rid-{}", self.workers.len()));
        self.workers.push(Worker {
            routing_id,
            address: address.to_owned(),
            session,
            mute: false,
            received: Vec::new(),
            events: Vec::new(),
        });
        self.workers.len() - 1
    }

    /// Hands one part from `worker`'s routing id to the endpoint, as the
    /// dispatcher does: a session that has ended is retired first.
    fn deliver_to_router(&mut self, worker: usize, part: Bytes) {
        let (rid, address) = {
            let w = &self.workers[worker];
            (w.routing_id.clone(), w.address.clone())
        };
        let origin = Some(Origin {
            address: &address,
            fd: None,
        });
        let mut part = part;
        loop {
            let outcome = self.endpoint.handle(self.now, 0, &rid, origin, part);
            self.outcomes
                .push(format!("{outcome:?}").split('(').next().unwrap().to_owned());
            match outcome {
                Outcome::Ended(h, back) => {
                    self.settle(h);
                    self.endpoint.forget(h).expect("ended sessions are known");
                    part = back;
                    continue;
                }
                Outcome::Registered(h) => self.registered.push(h),
                Outcome::Refused(r) => self.refused.push(r.reason),
                Outcome::Session(_) | Outcome::Unknown => {}
            }
            return;
        }
    }

    fn deliver_to_worker(&mut self, rid: &Bytes, part: Bytes) {
        let now = self.now;
        let Some(w) = self.workers.iter_mut().find(|w| w.routing_id == rid) else {
            return;
        };
        w.received
            .push(Frame::decode(part.clone()).expect("the router sends valid frames"));
        w.session.handle_part(now, part);
    }

    /// A session's events to `router_events`, its frames to its worker.
    /// Whether anything moved.
    fn settle(&mut self, h: ConnectionHandle) -> bool {
        self.endpoint.take_transmit(h, self.now);
        let Some(peer) = self.endpoint.get_mut(h) else {
            return false;
        };
        let mut moved = !peer.outbox.is_empty();
        while let Some(event) = peer.session.poll_event() {
            self.router_events.push((h, event));
            moved = true;
        }
        let rid = peer.routing_id.clone();
        let frames: Vec<Bytes> = peer.outbox.drain(..).collect();
        for frame in frames {
            self.deliver_to_worker(&rid, frame);
        }
        moved
    }

    /// Moves every frame both ways until nothing moves.
    fn drive(&mut self) {
        for _ in 0..DRIVE_LIMIT {
            let mut moved = false;
            for i in 0..self.workers.len() {
                while let Some(frame) = self.workers[i].session.poll_transmit(self.now) {
                    moved = true;
                    if !self.workers[i].mute {
                        self.deliver_to_router(i, frame.to_bytes());
                    }
                }
                while let Some(event) = self.workers[i].session.poll_event() {
                    self.workers[i].events.push(event);
                }
            }
            while let Some(t) = self.endpoint.poll_transmit() {
                moved = true;
                self.deliver_to_worker(&t.routing_id, t.frame);
            }
            let handles: Vec<ConnectionHandle> = self.endpoint.iter().map(|(h, _)| h).collect();
            for h in handles {
                moved |= self.settle(h);
                if self.endpoint.get(h).is_some_and(|p| p.session.is_closed()) {
                    self.endpoint.forget(h);
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
        panic!("livelock");
    }

    /// Lets `by` pass on the virtual clock in steps of 10 ms, firing every
    /// due timer on both sides.
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while self.now < end {
            self.now = (self.now + Duration::from_millis(10)).min(end);
            let now = self.now;
            for w in &mut self.workers {
                if w.session.poll_timeout().is_some_and(|t| t <= now) {
                    w.session.handle_timeout(now);
                }
            }
            let mut due = Vec::new();
            self.endpoint.handle_timeout(now, &mut due);
            self.drive();
        }
    }

    fn worker(&mut self, i: usize) -> &mut Worker {
        &mut self.workers[i]
    }

    /// The GOAWAY statuses worker `i` received.
    fn goaways(&self, i: usize) -> Vec<GoAwayStatus> {
        self.workers[i]
            .received
            .iter()
            .filter_map(|f| match f {
                Frame::GoAway(g) => Some(g.status()),
                _ => None,
            })
            .collect()
    }

    /// Sends a raw part as if from routing id `rid`, with no session of a worker.
    fn inject(&mut self, rid: &str, part: Bytes) -> Vec<Bytes> {
        let rid = Bytes::copy_from_slice(rid.as_bytes());
        let outcome = self.endpoint.handle(self.now, 0, &rid, None, part);
        assert!(
            matches!(outcome, Outcome::Unknown),
            "an unknown peer makes no session: {outcome:?}"
        );
        std::iter::from_fn(|| self.endpoint.poll_transmit())
            .map(|t| {
                assert_eq!(t.routing_id, rid, "the answer goes back to the sender");
                t.frame
            })
            .collect()
    }
}

fn goaway_status(part: &Bytes) -> GoAwayStatus {
    match Frame::decode(part.clone()).expect("valid frame") {
        Frame::GoAway(g) => g.status(),
        other => panic!("expected GOAWAY, got {other:?}"),
    }
}

fn hello_bytes(version: u16, capacity: u32, id: &str) -> Bytes {
    let mut attributes = HeaderBlock::new();
    attributes
        .insert("id".to_owned(), id.to_owned())
        .expect("valid id");
    Frame::from(Hello::new(version, capacity, 65_536, attributes)).to_bytes()
}

fn request() -> HeaderBlock {
    let mut block = HeaderBlock::new();
    for (name, value) in [
        (":method", "GET"),
        (":path", "/"),
        (":version", "HTTP/1.1"),
        (":host", "example.com"),
        (":scheme", "http"),
    ] {
        block
            .insert(name.to_owned(), value.to_owned())
            .expect("valid header");
    }
    block
}

fn established(p: &Pair, i: usize) -> bool {
    p.workers[i].session.is_established()
}

#[test]
fn a_hello_registers_a_session_with_its_own_id() {
    let mut p = Pair::new(config());
    let a = p.add_worker("alpha", "10.0.0.1");
    let b = p.add_worker("beta", "10.0.0.2");
    p.drive();
    assert!(established(&p, a) && established(&p, b));
    assert_eq!(p.registered.len(), 2);
    assert_eq!(p.endpoint.len(), 2);
    let ids: Vec<(&str, &str)> = p
        .registered
        .iter()
        .map(|h| {
            let peer = p.endpoint.get(*h).expect("registered");
            (peer.worker_id.as_str(), peer.session_id.as_str())
        })
        .collect();
    assert_eq!(ids, [("alpha", "zroute-1"), ("beta", "zroute-2")]);
    let h = p.registered[0];
    assert_eq!(
        p.endpoint.find(0, b"rid-0"),
        Some(h),
        "the routing id finds the session's handle"
    );
    // Parts after the HELLO go to the session by its handle.
    p.worker(a).session.go_away(GoAwayStatus::OK);
    p.drive();
    assert!(p.outcomes.contains(&"Session".to_owned()));
}

#[test]
fn a_worker_registers_again_after_its_session_ended() {
    let mut p = Pair::new(config());
    let w = p.add_worker("alpha", "10.0.0.1");
    p.drive();
    let first = p.registered[0];
    // The worker drains: with no stream open, both sides end the session.
    p.worker(w).session.go_away(GoAwayStatus::OK);
    p.drive();
    assert!(
        p.endpoint.get(first).is_none(),
        "an ended session leaves the table"
    );
    assert!(
        p.router_events
            .iter()
            .any(|(h, e)| *h == first && matches!(e, Event::Closed(CloseReason::Drained)))
    );
    // Its new socket (a new routing id) registers afresh.
    let again = p.add_worker("alpha", "10.0.0.1");
    p.drive();
    assert!(established(&p, again));
    let second = p.registered[1];
    assert_ne!(first, second, "a reused slot gets a handle of its own");
    assert!(p.endpoint.get(first).is_none(), "the old handle stays dead");
    assert_eq!(p.endpoint.get(second).unwrap().session_id, "zroute-2");
    assert_eq!(p.endpoint.len(), 1);
}

#[test]
fn a_closed_session_is_retired_before_its_routing_id_speaks_again() {
    let mut p = Pair::new(config());
    let w = p.add_worker("alpha", "10.0.0.1");
    p.drive();
    let first = p.registered[0];
    // A message of too many parts ends the session (spec #security-dos)...
    let rid = p.workers[w].routing_id.clone();
    assert_eq!(p.endpoint.check_batch(p.now, 0, &rid, 65), Err(Some(first)));
    assert!(p.endpoint.get(first).unwrap().session.is_closed());
    assert!(p.settle(first));
    assert_eq!(p.goaways(w), [GoAwayStatus::PROTOCOL_ERROR]);
    // ...and a HELLO from the same routing id first retires it.
    p.deliver_to_router(w, hello_bytes(3, 4, "alpha"));
    assert_eq!(p.outcomes[p.outcomes.len() - 2..], ["Ended", "Registered"]);
    assert!(p.endpoint.get(first).is_none());
    assert_eq!(p.endpoint.len(), 1);
}

#[test]
fn an_unknown_peer_is_told_its_session_is_unknown() {
    let mut p = Pair::new(config());
    let ping = Frame::from(zroute_proto::frame::Ping::new(1)).to_bytes();
    let answers = p.inject("ghost", ping);
    assert_eq!(answers.len(), 1);
    assert_eq!(goaway_status(&answers[0]), GoAwayStatus::UNKNOWN_SESSION);
    assert!(
        p.inject("ghost", Bytes::new()).is_empty(),
        "an empty part is not answered"
    );
    let goaway = Frame::from(zroute_proto::frame::GoAway::new(
        StreamId::ZERO,
        GoAwayStatus::OK,
    ))
    .to_bytes();
    assert!(
        p.inject("other", goaway).is_empty(),
        "a GOAWAY is never answered"
    );
    assert_eq!(p.endpoint.len(), 0);
}

#[test]
fn unknown_peers_get_one_answer_per_heartbeat_interval() {
    let mut p = Pair::new(config());
    let ping = Frame::from(zroute_proto::frame::Ping::new(1)).to_bytes();
    assert_eq!(p.inject("ghost", ping.clone()).len(), 1);
    p.now += Duration::from_millis(500);
    assert!(
        p.inject("ghost", ping.clone()).is_empty(),
        "within the interval: not answered again"
    );
    assert_eq!(
        p.inject("other", ping.clone()).len(),
        1,
        "the limit is per peer"
    );
    p.now += Duration::from_millis(500);
    assert_eq!(
        p.inject("ghost", ping.clone()).len(),
        1,
        "one interval later: answered again"
    );
    let mut due = Vec::new();
    p.now += Duration::from_secs(2);
    p.endpoint.handle_timeout(p.now, &mut due);
    assert!(
        p.endpoint.unknown_answers.is_empty(),
        "old answers are forgotten: memory stays bounded"
    );
}

#[test]
fn admission_refuses_with_goaway_refused() {
    let mut cfg = config();
    cfg.admission.max_workers = 1;
    cfg.admission.rate_per_source = 2;
    let mut p = Pair::new(cfg);
    let a = p.add_worker("a", "10.0.0.1");
    let b = p.add_worker("b", "10.0.0.2");
    p.drive();
    assert!(established(&p, a));
    assert!(!established(&p, b));
    assert_eq!(p.goaways(b), [GoAwayStatus::REFUSED]);
    assert_eq!(p.refused, [Refusal::MaxWorkers]);
    assert_eq!(p.endpoint.len(), 1);
    // The per-source rate: a third HELLO from 10.0.0.1 in the same instant.
    p.worker(a).session.go_away(GoAwayStatus::OK);
    p.drive();
    assert_eq!(p.endpoint.len(), 0);
    let c = p.add_worker("c", "10.0.0.1");
    p.drive();
    assert!(established(&p, c), "the second of its burst of 2");
    p.worker(c).session.go_away(GoAwayStatus::OK);
    p.drive();
    let d = p.add_worker("d", "10.0.0.1");
    p.drive();
    assert_eq!(p.goaways(d), [GoAwayStatus::REFUSED]);
    assert_eq!(
        p.refused,
        [Refusal::MaxWorkers, Refusal::HelloRatePerSource]
    );
}

#[test]
fn bad_hellos_are_refused_with_their_status() {
    let mut p = Pair::new(config());
    let answers = p.inject("zero", hello_bytes(3, 0, "w"));
    assert_eq!(
        answers.iter().map(goaway_status).collect::<Vec<_>>(),
        [GoAwayStatus::PROTOCOL_ERROR],
        "capacity 0"
    );
    let answers = p.inject("zeroth", hello_bytes(0, 8, "w"));
    assert_eq!(
        answers.iter().map(goaway_status).collect::<Vec<_>>(),
        [GoAwayStatus::UNSUPPORTED_VERSION]
    );
    assert_eq!(p.endpoint.len(), 0);

    // The router's own id cannot be sent in WELCOME: its fault, not the worker's.
    let mut cfg = config();
    cfg.session.router_id = "bad\nid".to_owned();
    let mut p = Pair::new(cfg);
    let answers = p.inject("w", hello_bytes(3, 8, "w"));
    assert_eq!(
        answers.iter().map(goaway_status).collect::<Vec<_>>(),
        [GoAwayStatus::INTERNAL_ERROR]
    );
}

#[test]
fn drain_sends_goaway_ok_and_refuses_new_workers_with_it() {
    let mut p = Pair::new(config());
    let a = p.add_worker("a", "10.0.0.1");
    p.drive();
    let mut sessions = Vec::new();
    assert!(p.endpoint.drain(p.now, &mut sessions));
    assert_eq!(sessions, p.registered);
    assert!(
        !p.endpoint.drain(p.now, &mut Vec::new()),
        "the second drain does nothing"
    );
    p.drive();
    assert_eq!(p.goaways(a), [GoAwayStatus::OK]);
    let late = p.add_worker("late", "10.0.0.2");
    p.drive();
    assert!(!established(&p, late));
    assert_eq!(p.goaways(late), [GoAwayStatus::OK]);
    assert_eq!(p.registered.len(), 1, "no session while draining");
    assert!(p.refused.is_empty(), "not an admission refusal");
}

#[test]
fn a_silent_worker_dies_by_heartbeat() {
    let mut p = Pair::new(config());
    let a = p.add_worker("a", "10.0.0.1");
    let b = p.add_worker("b", "10.0.0.2");
    p.drive();
    let (ha, hb) = (p.registered[0], p.registered[1]);
    p.worker(a).mute = true;
    // Heartbeat interval 1 s, liveness 3: dead after 3 s of silence.
    p.advance(Duration::from_millis(2500));
    assert!(p.endpoint.get(ha).is_some(), "not yet");
    p.advance(Duration::from_millis(1000));
    assert!(p.endpoint.get(ha).is_none(), "the silent one is gone");
    assert!(
        p.router_events
            .iter()
            .any(|(h, e)| *h == ha && matches!(e, Event::Closed(CloseReason::TimedOut)))
    );
    assert!(
        p.endpoint.get(hb).is_some() && established(&p, b),
        "the one that answers its PINGs lives"
    );
}

#[test]
fn a_refused_stream_is_safe_to_retry_on_another_session() {
    let mut p = Pair::new(config());
    let a = p.add_worker("a", "10.0.0.1");
    let b = p.add_worker("b", "10.0.0.2");
    p.drive();
    let (ha, hb) = (p.registered[0], p.registered[1]);
    let id = p
        .endpoint
        .get_mut(ha)
        .unwrap()
        .session
        .open_stream(request(), true)
        .expect("opens");
    p.drive();
    assert!(
        p.workers[a]
            .events
            .iter()
            .any(|e| matches!(e, Event::Request { .. }))
    );
    p.worker(a).session.reset(id, RstCode::REFUSED_STREAM);
    p.drive();
    let reset = p
        .router_events
        .iter()
        .find(|(h, e)| *h == ha && matches!(e, Event::Reset { .. }))
        .map(|(_, e)| e.clone())
        .expect("the router saw the reset");
    assert!(reset.is_retry_safe_reset(), "{reset:?}");
    // The retry goes to the other session, which serves it.
    p.endpoint
        .get_mut(hb)
        .unwrap()
        .session
        .open_stream(request(), true)
        .expect("opens");
    p.drive();
    assert!(
        p.workers[b]
            .events
            .iter()
            .any(|e| matches!(e, Event::Request { .. }))
    );
    assert!(
        p.endpoint.get(ha).is_some(),
        "a refused stream leaves its session alive"
    );
}

#[test]
fn protocol_errors_are_answered_and_the_session_ends() {
    let mut p = Pair::new(config());
    let a = p.add_worker("a", "10.0.0.1");
    p.drive();
    let h = p.registered[0];
    // A second HELLO on a live session breaks the protocol (spec #handshake).
    p.deliver_to_router(a, hello_bytes(3, 4, "a"));
    assert!(p.settle(h));
    assert_eq!(p.goaways(a), [GoAwayStatus::PROTOCOL_ERROR]);
    assert!(p.endpoint.get(h).unwrap().session.is_closed());
    assert_eq!(
        p.endpoint.get(h).unwrap().reports.1,
        1,
        "the error was reported once"
    );
}

#[test]
fn the_next_deadline_is_the_earliest_session_timer_and_the_heap_stays_small() {
    let mut p = Pair::new(config());
    for i in 0..20 {
        p.add_worker(&format!("w{i}"), &format!("10.0.0.{i}"));
    }
    p.drive();
    assert_eq!(p.endpoint.len(), 20);
    // What a scan of every session, as the endpoint once did per turn, finds.
    let scan = |p: &Pair| {
        p.endpoint
            .iter()
            .filter_map(|(_, peer)| peer.session.poll_timeout())
            .min()
    };
    for _ in 0..50 {
        p.advance(Duration::from_millis(130));
        assert_eq!(p.endpoint.poll_timeout(), scan(&p));
    }
    assert!(
        p.endpoint.poll_timeout().is_some(),
        "heartbeats keep a deadline armed"
    );
    assert!(
        p.endpoint.timers.len() <= 2 * p.endpoint.len(),
        "{} entries for {} sessions",
        p.endpoint.timers.len(),
        p.endpoint.len()
    );
}
