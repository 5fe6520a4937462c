//! `Pair`: a router session and a worker session wired together through a
//! simulated transport, on a virtual clock. Tests read like scripts: act on a
//! session, `drive()`, then look at the events and the frames on the wire.
//!
//! Knobs: one-way `latency`, `loss` (probability a part is dropped), and
//! `reorder` (parts sent in one step may overtake each other), all from a
//! seeded generator so every run is the same.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zroute_proto::StreamId;
use zroute_proto::frame::Frame;
use zroute_proto::session::{Event, RouterConfig, Session, UnknownPeer, WorkerConfig};

use crate::fields::request;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    ToRouter,
    ToWorker,
}

pub struct Pair {
    pub now: Instant,
    pub worker: Session,
    /// `None` while the router knows no session for the worker's socket.
    pub router: Option<Session>,
    pub router_config: RouterConfig,
    pub latency: Duration,
    pub loss: f64,
    pub reorder: bool,
    /// While set, parts toward the router vanish (the router's host is down).
    pub router_down: bool,
    /// Every part put on the wire, decoded where possible, in send order.
    pub wire: Vec<(Instant, Dir, Frame)>,
    pub router_events: Vec<Event>,
    pub worker_events: Vec<Event>,
    to_router: VecDeque<(Instant, Bytes)>,
    to_worker: VecDeque<(Instant, Bytes)>,
    rng: u64,
    sessions: u32,
}

/// How many steps `drive` takes before calling it a livelock.
const DRIVE_LIMIT: usize = 100_000;

impl Pair {
    /// A worker with `worker_config`, handshake not yet run.
    pub fn new(worker_config: WorkerConfig, router_config: RouterConfig) -> Self {
        #[allow(
            clippy::disallowed_methods,
            reason = "the virtual clock starts from one real instant"
        )]
        let now = Instant::now();
        Self {
            now,
            worker: Session::worker(&worker_config, now).expect("valid worker config"),
            router: None,
            router_config,
            latency: Duration::from_millis(1),
            loss: 0.0,
            reorder: false,
            router_down: false,
            wire: Vec::new(),
            router_events: Vec::new(),
            worker_events: Vec::new(),
            to_router: VecDeque::new(),
            to_worker: VecDeque::new(),
            rng: 0x9e37_79b9_7f4a_7c15,
            sessions: 0,
        }
    }

    /// A pair with default configs, handshake done.
    pub fn established() -> Self {
        Self::established_with(WorkerConfig::new("worker-1"), RouterConfig::default())
    }

    pub fn established_with(worker_config: WorkerConfig, router_config: RouterConfig) -> Self {
        let mut pair = Self::new(worker_config, router_config);
        pair.drive();
        assert!(
            pair.worker.is_established(),
            "handshake failed: {:?}",
            pair.worker_events
        );
        assert_eq!(pair.take_worker_events().first(), Some(&Event::Established));
        pair.take_router_events();
        pair
    }

    pub fn seed(&mut self, seed: u64) {
        self.rng = seed.max(1);
    }

    /// The router opens a GET for `path` (no body), and the pair delivers it.
    pub fn open_get(&mut self, path: &str) -> StreamId {
        let id = self
            .router()
            .open_stream(request("GET", path, &[]), true)
            .expect("stream opens");
        self.drive();
        id
    }

    pub fn router(&mut self) -> &mut Session {
        self.router.as_mut().expect("router has a session")
    }

    /// Moves every queued frame onto the wire, delivers what is due, fires
    /// due timers. Returns whether anything happened.
    pub fn step(&mut self) -> bool {
        let mut busy = self.flush();
        while let Some(part) = pop_due(&mut self.to_router, self.now) {
            busy = true;
            self.deliver_to_router(part);
        }
        while let Some(part) = pop_due(&mut self.to_worker, self.now) {
            busy = true;
            self.worker.handle_part(self.now, part);
        }
        if self.worker.poll_timeout().is_some_and(|t| t <= self.now) {
            busy = true;
            self.worker.handle_timeout(self.now);
        }
        if let Some(router) = &mut self.router
            && router.poll_timeout().is_some_and(|t| t <= self.now)
        {
            busy = true;
            router.handle_timeout(self.now);
        }
        self.collect_events();
        busy | self.flush()
    }

    /// Runs until nothing is in flight and nothing is queued, moving the clock
    /// only to deliver parts, never to fire heartbeat timers.
    pub fn drive(&mut self) {
        for _ in 0..DRIVE_LIMIT {
            if self.step() {
                continue;
            }
            match self.next_delivery() {
                Some(at) => self.now = self.now.max(at),
                None => return,
            }
        }
        panic!("drive did not settle after {DRIVE_LIMIT} steps: livelock");
    }

    /// Lets `by` pass on the clock, firing every delivery and timer on the way.
    pub fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        for _ in 0..DRIVE_LIMIT {
            while self.step() {}
            let next = [
                self.next_delivery(),
                self.worker.poll_timeout(),
                self.router.as_ref().and_then(Session::poll_timeout),
            ]
            .into_iter()
            .flatten()
            .filter(|t| *t <= until)
            .min();
            match next {
                Some(t) => self.now = self.now.max(t),
                None => {
                    self.now = until;
                    while self.step() {}
                    return;
                }
            }
        }
        panic!("advance did not settle after {DRIVE_LIMIT} steps: livelock");
    }

    /// Advances until `cond` holds, at most `limit` of virtual time; returns
    /// how long it took.
    pub fn advance_until(
        &mut self,
        limit: Duration,
        mut cond: impl FnMut(&Self) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let tick = Duration::from_millis(10);
        while self.now < start + limit {
            if cond(self) {
                return Some(self.now - start);
            }
            self.advance(tick);
        }
        cond(self).then(|| self.now - start)
    }

    /// The router forgets everything, as after a restart; parts it had sent
    /// and not yet delivered are lost with it.
    pub fn restart_router(&mut self) {
        self.router = None;
        self.to_worker.clear();
    }

    /// The worker gives up its socket and registers again on a new one.
    pub fn reregister(&mut self, config: &WorkerConfig) {
        self.worker = Session::worker(config, self.now).expect("valid worker config");
        self.router = None;
        self.to_router.clear();
        self.to_worker.clear();
    }

    /// Puts raw bytes on the wire, as a misbehaving peer would.
    pub fn inject(&mut self, dir: Dir, part: impl Into<Bytes>) {
        let at = self.now + self.latency;
        match dir {
            Dir::ToRouter => self.to_router.push_back((at, part.into())),
            Dir::ToWorker => self.to_worker.push_back((at, part.into())),
        }
    }

    pub fn take_router_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.router_events)
    }

    pub fn take_worker_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.worker_events)
    }

    /// Frames one side sent, in order.
    pub fn sent(&self, dir: Dir) -> impl Iterator<Item = &Frame> {
        self.wire
            .iter()
            .filter(move |(_, d, _)| *d == dir)
            .map(|(_, _, f)| f)
    }

    pub fn clear_wire(&mut self) {
        self.wire.clear();
    }

    pub fn sessions_accepted(&self) -> u32 {
        self.sessions
    }

    fn deliver_to_router(&mut self, part: Bytes) {
        if let Some(router) = self.router.as_mut().filter(|r| !r.is_closed()) {
            return router.handle_part(self.now, part);
        }
        match UnknownPeer::classify(part) {
            UnknownPeer::Hello(hello) => {
                self.sessions += 1;
                let id = format!("s{}", self.sessions);
                match Session::accept(&self.router_config, hello, &id, self.now) {
                    Ok(session) => self.router = Some(session),
                    Err(rejection) => self.send_raw(Dir::ToWorker, rejection.frame()),
                }
            }
            UnknownPeer::Answer(frame) => self.send_raw(Dir::ToWorker, frame),
            UnknownPeer::Ignore => {}
        }
    }

    fn flush(&mut self) -> bool {
        let mut any = false;
        while let Some(frame) = self.worker.poll_transmit(self.now) {
            any = true;
            self.send_raw(Dir::ToRouter, frame);
        }
        while let Some(frame) = self.router.as_mut().and_then(|r| r.poll_transmit(self.now)) {
            any = true;
            self.send_raw(Dir::ToWorker, frame);
        }
        any
    }

    fn send_raw(&mut self, dir: Dir, frame: Frame) {
        let part = frame.to_bytes();
        self.wire.push((self.now, dir, frame));
        if dir == Dir::ToRouter && self.router_down {
            return;
        }
        if self.loss > 0.0 && self.random() < self.loss {
            return;
        }
        let jitter = if self.reorder {
            self.latency.mul_f64(self.random())
        } else {
            Duration::ZERO
        };
        let at = self.now + self.latency + jitter;
        let queue = match dir {
            Dir::ToRouter => &mut self.to_router,
            Dir::ToWorker => &mut self.to_worker,
        };
        // Keep each queue sorted by delivery time; equal times stay in send order.
        let pos = queue
            .iter()
            .rposition(|(t, _)| *t <= at)
            .map_or(0, |p| p + 1);
        queue.insert(pos, (at, part));
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.worker.poll_event() {
            self.worker_events.push(e);
        }
        while let Some(e) = self.router.as_mut().and_then(Session::poll_event) {
            self.router_events.push(e);
        }
    }

    fn next_delivery(&self) -> Option<Instant> {
        [self.to_router.front(), self.to_worker.front()]
            .into_iter()
            .flatten()
            .map(|(t, _)| *t)
            .min()
    }

    /// xorshift64: deterministic, and enough for dropping and shuffling parts.
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn pop_due(queue: &mut VecDeque<(Instant, Bytes)>, now: Instant) -> Option<Bytes> {
    if queue.front().is_some_and(|(t, _)| *t <= now) {
        queue.pop_front().map(|(_, p)| p)
    } else {
        None
    }
}

/// All DATA delivered for `id` in `events`, concatenated, and whether FIN came.
pub fn body_of(events: &[Event], id: StreamId) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    let mut fin = false;
    for e in events {
        if let Event::Data {
            id: i,
            data,
            fin: f,
        } = e
            && *i == id
        {
            body.extend_from_slice(data);
            fin |= f;
        }
    }
    (body, fin)
}
