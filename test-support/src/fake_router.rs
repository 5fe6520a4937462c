//! A small zroute router for tests: a ROUTER socket (zroute-transport) and
//! one `Session::accept` per peer, driven by a task. Tests open streams on
//! the sessions it accepts and read what the worker answers.
//!
//! Every wait has a deadline ([`DEADLINE`]) and panics when it passes, so a
//! broken worker fails a test instead of hanging it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use zroute_proto::frame::{Frame, Hello};
use zroute_proto::session::{CommandError, RouterConfig, Session, UnknownPeer};
use zroute_proto::{Event, GoAwayStatus, HeaderBlock, RstCode, StreamId};
use zroute_transport::{Context, Multipart, PeerId, RouterOptions, SendError, Socket};

use crate::wait::within;

#[derive(Clone, Debug)]
pub struct Options {
    pub config: RouterConfig,
    /// Added to the capacity the worker announces, as the router sees it, so
    /// that tests can send more streams than the worker accepts.
    pub inflate_capacity: u32,
    /// Answer the first this many HELLOs with GOAWAY(0, REFUSED).
    pub refuse_hellos: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            config: RouterConfig {
                router_id: "test-router".to_owned(),
                // A short interval makes idle PINGs (and so the discovery of
                // a restarted router) quick; a high liveness keeps a loaded
                // machine, or a panic printing its backtrace, from passing
                // for a dead peer.
                heartbeat_interval: Duration::from_millis(200),
                heartbeat_liveness: 15,
                ..RouterConfig::default()
            },
            inflate_capacity: 0,
            refuse_hellos: 0,
        }
    }
}

pub struct TestRouter {
    endpoint: String,
    sessions: mpsc::UnboundedReceiver<PeerSession>,
    /// When each accepted or refused HELLO arrived.
    hellos: mpsc::UnboundedReceiver<(Instant, bool)>,
    task: JoinHandle<()>,
    ctx: Option<Context>,
}

impl TestRouter {
    pub async fn bind(endpoint: &str) -> Self {
        Self::bind_with(endpoint, Options::default()).await
    }

    pub async fn bind_with(endpoint: &str, options: Options) -> Self {
        let ctx = Context::new();
        let socket = Socket::router(&ctx, &RouterOptions::default()).expect("router socket");
        let endpoint = socket.bind(endpoint).expect("bind");
        let (commands, cmd_rx) = mpsc::unbounded_channel();
        let (sessions_tx, sessions) = mpsc::unbounded_channel();
        let (hellos_tx, hellos) = mpsc::unbounded_channel();
        let task = tokio::spawn(
            RouterTask {
                socket,
                options,
                peers: HashMap::new(),
                muted: HashSet::new(),
                commands: cmd_rx,
                commands_tx: commands.clone(),
                new_sessions: sessions_tx,
                hellos: hellos_tx,
                accepted: 0,
                refused: 0,
            }
            .run(),
        );
        Self {
            endpoint,
            sessions,
            hellos,
            task,
            ctx: Some(ctx),
        }
    }

    /// The endpoint actually bound (the port filled in).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The next session a worker registers.
    pub async fn next_session(&mut self) -> PeerSession {
        within("a worker's HELLO", self.sessions.recv())
            .await
            .expect("router task alive")
    }

    /// When the next HELLO arrived, and whether it was accepted.
    pub async fn next_hello(&mut self) -> (Instant, bool) {
        within("a HELLO", self.hellos.recv())
            .await
            .expect("router task alive")
    }

    /// Closes the socket and waits until the endpoint is free to bind again,
    /// as a router process that exits.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
        let ctx = self.ctx.take().expect("context");
        // Terminating the context waits for libzmq to close the listener.
        tokio::task::spawn_blocking(move || drop(ctx))
            .await
            .expect("context terminated");
    }
}

impl Drop for TestRouter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One worker session, as the router sees it.
pub struct PeerSession {
    pub peer: PeerId,
    pub hello: Hello,
    pub session_id: String,
    events: mpsc::UnboundedReceiver<Event>,
    commands: mpsc::UnboundedSender<Cmd>,
}

impl PeerSession {
    /// A HELLO attribute, as text.
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.hello
            .attributes()
            .get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Opens a stream whose response data is credited back as it arrives.
    pub async fn open(&self, head: HeaderBlock, fin: bool) -> TestStream {
        self.try_open(head, fin, true).await.expect("open_stream")
    }

    /// Opens a stream; without `auto_release` the test grants response
    /// credit itself with [`TestStream::release`].
    pub async fn try_open(
        &self,
        head: HeaderBlock,
        fin: bool,
        auto_release: bool,
    ) -> Result<TestStream, CommandError> {
        let (reply, answer) = oneshot::channel();
        self.send(Cmd::Open {
            peer: self.peer.clone(),
            head,
            fin,
            auto_release,
            reply,
        });
        let (id, events, sent) = answer.await.expect("router task alive")?;
        Ok(TestStream {
            id,
            sender: StreamSender {
                peer: self.peer.clone(),
                id,
                commands: self.commands.clone(),
            },
            events,
            sent,
        })
    }

    /// The next session-level event (GoAway, Closed, ...).
    pub async fn next_event(&mut self) -> Event {
        within("a session event", self.events.recv())
            .await
            .expect("session events end with Closed")
    }

    /// Waits for a session event that `pick` accepts, skipping others.
    pub async fn wait_event<T>(&mut self, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        loop {
            let event = self.next_event().await;
            if let Some(v) = pick(&event) {
                return v;
            }
        }
    }

    /// From now on the router ignores this peer and sends it nothing, as a
    /// router that hangs would.
    pub fn mute(&self) {
        self.send(Cmd::Mute {
            peer: self.peer.clone(),
        });
    }

    pub fn go_away(&self, status: GoAwayStatus) {
        self.send(Cmd::GoAway {
            peer: self.peer.clone(),
            status,
        });
    }

    fn send(&self, cmd: Cmd) {
        self.commands.send(cmd).expect("router task alive");
    }
}

/// Sends request body and control frames on one stream; cloneable so that a
/// test can upload from one task while it reads the response in another.
#[derive(Clone)]
pub struct StreamSender {
    peer: PeerId,
    id: StreamId,
    commands: mpsc::UnboundedSender<Cmd>,
}

impl StreamSender {
    /// Queues body bytes (any amount; the router splits them by its send
    /// window) and waits until the last byte went into the session.
    pub async fn send(&self, data: impl Into<Bytes>, fin: bool) {
        let (done, queued) = oneshot::channel();
        self.cmd(Cmd::Data {
            peer: self.peer.clone(),
            id: self.id,
            data: data.into(),
            fin,
            done,
        });
        queued.await.expect("stream still open while sending");
    }

    pub fn trailers(&self, headers: HeaderBlock) {
        self.cmd(Cmd::Trailers {
            peer: self.peer.clone(),
            id: self.id,
            headers,
        });
    }

    pub fn reset(&self, code: RstCode) {
        self.cmd(Cmd::Reset {
            peer: self.peer.clone(),
            id: self.id,
            code,
        });
    }

    /// Grants `len` bytes of response credit (for streams opened without
    /// `auto_release`).
    pub fn release(&self, len: usize) {
        self.cmd(Cmd::Release {
            peer: self.peer.clone(),
            id: self.id,
            len,
        });
    }

    fn cmd(&self, cmd: Cmd) {
        self.commands.send(cmd).expect("router task alive");
    }
}

pub struct TestStream {
    pub id: StreamId,
    sender: StreamSender,
    events: mpsc::UnboundedReceiver<Event>,
    sent: watch::Receiver<u64>,
}

/// A whole response, as the router received it.
#[derive(Debug)]
pub struct TestResponse {
    pub head: HeaderBlock,
    pub head_fin: bool,
    pub body: Vec<u8>,
    /// The payload size of each DATA frame, in order.
    pub frames: Vec<usize>,
    pub trailers: Option<HeaderBlock>,
}

impl TestResponse {
    pub fn status(&self) -> u16 {
        let raw = self.head.get(":status").expect(":status");
        std::str::from_utf8(&raw[..3]).unwrap().parse().unwrap()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head
            .get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

impl TestStream {
    pub fn sender(&self) -> StreamSender {
        self.sender.clone()
    }

    pub async fn send(&self, data: impl Into<Bytes>, fin: bool) {
        self.sender.send(data, fin).await;
    }

    pub fn reset(&self, code: RstCode) {
        self.sender.reset(code);
    }

    pub fn release(&self, len: usize) {
        self.sender.release(len);
    }

    /// How many request body bytes the router has put on the wire so far.
    pub fn sent(&self) -> watch::Receiver<u64> {
        self.sent.clone()
    }

    pub async fn next_event(&mut self) -> Event {
        within("a stream event", self.events.recv())
            .await
            .expect("stream events end with the stream")
    }

    /// The next event, if one comes within `wait` (for checking that
    /// nothing more arrives).
    pub async fn event_within(&mut self, wait: Duration) -> Option<Event> {
        tokio::time::timeout(wait, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// Reads the whole response; `Err` with the code if the stream is reset.
    pub async fn response(&mut self) -> Result<TestResponse, RstCode> {
        let (head, head_fin) = match self.next_event().await {
            Event::Response { headers, fin, .. } => (headers, fin),
            Event::Reset { code, .. } => return Err(code),
            other => panic!("expected the response head, got {other:?}"),
        };
        let mut res = TestResponse {
            head,
            head_fin,
            body: Vec::new(),
            frames: Vec::new(),
            trailers: None,
        };
        if head_fin {
            return Ok(res);
        }
        loop {
            match self.next_event().await {
                Event::Data { data, fin, .. } => {
                    res.frames.push(data.len());
                    res.body.extend_from_slice(&data);
                    if fin {
                        return Ok(res);
                    }
                }
                Event::Trailers { headers, .. } => {
                    res.trailers = Some(headers);
                    return Ok(res);
                }
                Event::Reset { code, .. } => return Err(code),
                other => panic!("unexpected stream event {other:?}"),
            }
        }
    }
}

// ---- the router task ----

type Opened = Result<
    (
        StreamId,
        mpsc::UnboundedReceiver<Event>,
        watch::Receiver<u64>,
    ),
    CommandError,
>;

enum Cmd {
    Open {
        peer: PeerId,
        head: HeaderBlock,
        fin: bool,
        auto_release: bool,
        reply: oneshot::Sender<Opened>,
    },
    Data {
        peer: PeerId,
        id: StreamId,
        data: Bytes,
        fin: bool,
        done: oneshot::Sender<()>,
    },
    Trailers {
        peer: PeerId,
        id: StreamId,
        headers: HeaderBlock,
    },
    Reset {
        peer: PeerId,
        id: StreamId,
        code: RstCode,
    },
    Release {
        peer: PeerId,
        id: StreamId,
        len: usize,
    },
    GoAway {
        peer: PeerId,
        status: GoAwayStatus,
    },
    Mute {
        peer: PeerId,
    },
}

struct Peer {
    session: Session,
    events: mpsc::UnboundedSender<Event>,
    streams: HashMap<StreamId, StreamEntry>,
    unsent: Vec<Bytes>,
}

struct StreamEntry {
    events: mpsc::UnboundedSender<Event>,
    auto_release: bool,
    outbound: VecDeque<(Bytes, bool, Option<oneshot::Sender<()>>)>,
    sent: watch::Sender<u64>,
}

struct RouterTask {
    socket: Socket,
    options: Options,
    peers: HashMap<PeerId, Peer>,
    muted: HashSet<PeerId>,
    commands: mpsc::UnboundedReceiver<Cmd>,
    commands_tx: mpsc::UnboundedSender<Cmd>,
    new_sessions: mpsc::UnboundedSender<PeerSession>,
    hellos: mpsc::UnboundedSender<(Instant, bool)>,
    accepted: u32,
    refused: u32,
}

impl RouterTask {
    async fn run(mut self) {
        loop {
            self.settle();
            let timer = self
                .peers
                .values()
                .filter_map(|p| p.session.poll_timeout())
                .min();
            tokio::select! {
                msg = self.socket.recv() => self.on_message(msg.expect("router recv")),
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => return,
                },
                () = sleep_until(timer) => {}
            }
            while let Ok(Some(msg)) = self.socket.try_recv() {
                self.on_message(msg);
            }
            while let Ok(cmd) = self.commands.try_recv() {
                self.on_command(cmd);
            }
            let now = Instant::now();
            for peer in self.peers.values_mut() {
                if peer.session.poll_timeout().is_some_and(|t| t <= now) {
                    peer.session.handle_timeout(now);
                }
            }
        }
    }

    fn on_message(&mut self, msg: Multipart) {
        let Some((peer_id, parts)) = msg.split_peer() else {
            return;
        };
        if self.muted.contains(&peer_id) {
            return;
        }
        let now = Instant::now();
        for part in parts {
            if let Some(peer) = self.peers.get_mut(&peer_id) {
                peer.session.handle_part(now, part);
                continue;
            }
            match UnknownPeer::classify(part) {
                UnknownPeer::Hello(hello) => self.on_hello(peer_id.clone(), hello, now),
                UnknownPeer::Answer(frame) => {
                    let _ = self.socket.try_send_to(&peer_id, &[frame.to_bytes()]);
                }
                UnknownPeer::Ignore => {}
            }
        }
    }

    fn on_hello(&mut self, peer_id: PeerId, hello: Hello, now: Instant) {
        if self.refused < self.options.refuse_hellos {
            self.refused += 1;
            let _ = self.hellos.send((now, false));
            let goaway = zroute_proto::frame::GoAway::new(StreamId::ZERO, GoAwayStatus::REFUSED);
            let _ = self
                .socket
                .try_send_to(&peer_id, &[Frame::from(goaway).to_bytes()]);
            return;
        }
        let _ = self.hellos.send((now, true));
        self.accepted += 1;
        let session_id = format!("s{}", self.accepted);
        // The router session believes whatever capacity the test wants it to.
        let seen = Hello::new(
            hello.version(),
            hello.max_concurrent_streams() + self.options.inflate_capacity,
            hello.initial_window_size(),
            hello.attributes().clone(),
        );
        match Session::accept(&self.options.config, seen, &session_id, now) {
            Ok(session) => {
                let (events_tx, events) = mpsc::unbounded_channel();
                self.peers.insert(
                    peer_id.clone(),
                    Peer {
                        session,
                        events: events_tx,
                        streams: HashMap::new(),
                        unsent: Vec::new(),
                    },
                );
                let _ = self.new_sessions.send(PeerSession {
                    peer: peer_id,
                    hello,
                    session_id,
                    events,
                    commands: self.commands_tx.clone(),
                });
            }
            Err(rejection) => {
                let _ = self
                    .socket
                    .try_send_to(&peer_id, &[rejection.frame().to_bytes()]);
            }
        }
    }

    fn on_command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Open {
                peer,
                head,
                fin,
                auto_release,
                reply,
            } => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    let _ = reply.send(Err(CommandError::NotEstablished));
                    return;
                };
                let opened = p.session.open_stream(head, fin).map(|id| {
                    let (events_tx, events) = mpsc::unbounded_channel();
                    let (sent_tx, sent) = watch::channel(0);
                    p.streams.insert(
                        id,
                        StreamEntry {
                            events: events_tx,
                            auto_release,
                            outbound: VecDeque::new(),
                            sent: sent_tx,
                        },
                    );
                    (id, events, sent)
                });
                let _ = reply.send(opened);
            }
            Cmd::Data {
                peer,
                id,
                data,
                fin,
                done,
            } => {
                if let Some(p) = self.peers.get_mut(&peer)
                    && let Some(s) = p.streams.get_mut(&id)
                {
                    s.outbound.push_back((data, fin, Some(done)));
                    push(&mut p.session, id, s);
                }
            }
            Cmd::Trailers { peer, id, headers } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.session.send_trailers(id, headers).expect("send_trailers");
                }
            }
            Cmd::Reset { peer, id, code } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.session.reset(id, code);
                    p.streams.remove(&id);
                }
            }
            Cmd::Release { peer, id, len } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.session.release_capacity(id, len);
                }
            }
            Cmd::GoAway { peer, status } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.session.go_away(status);
                }
            }
            Cmd::Mute { peer } => {
                self.peers.remove(&peer);
                self.muted.insert(peer);
            }
        }
    }

    /// Hands events out, moves body bytes into sessions, sends what the
    /// sessions queued, and forgets sessions that are over.
    fn settle(&mut self) {
        let now = Instant::now();
        let mut gone = Vec::new();
        for (peer_id, peer) in &mut self.peers {
            while let Some(event) = peer.session.poll_event() {
                dispatch(peer, event);
            }
            let mut parts = std::mem::take(&mut peer.unsent);
            while let Some(frame) = peer.session.poll_transmit(now) {
                parts.push(frame.to_bytes());
            }
            if !parts.is_empty() {
                match self.socket.try_send_to(peer_id, &parts) {
                    Ok(()) => {}
                    Err(SendError::WouldBlock) => peer.unsent = parts,
                    Err(_) => peer.session.abandon(),
                }
            }
            while let Some(event) = peer.session.poll_event() {
                dispatch(peer, event);
            }
            if peer.session.is_closed() {
                gone.push(peer_id.clone());
            }
        }
        for peer_id in gone {
            self.peers.remove(&peer_id);
        }
    }
}

fn dispatch(peer: &mut Peer, event: Event) {
    let stream_id = match &event {
        Event::Response { id, .. }
        | Event::Data { id, .. }
        | Event::Trailers { id, .. }
        | Event::Reset { id, .. } => Some(*id),
        Event::WindowOpened { .. } => {
            let ids: Vec<StreamId> = peer.streams.keys().copied().collect();
            for id in ids {
                let s = peer.streams.get_mut(&id).expect("listed");
                push(&mut peer.session, id, s);
            }
            None
        }
        _ => None,
    };
    let Some(id) = stream_id else {
        let _ = peer.events.send(event);
        return;
    };
    let Some(entry) = peer.streams.get_mut(&id) else {
        return;
    };
    if let Event::Data { data, .. } = &event
        && entry.auto_release
    {
        peer.session.release_capacity(id, data.len());
    }
    // Events are handed out after the session processed a whole batch, so a
    // stream may be closed while its events are pending: only a reset is
    // surely the last one. Entries of streams that ended otherwise stay, which
    // costs a test nothing.
    let last = matches!(event, Event::Reset { .. });
    let _ = entry.events.send(event);
    if last {
        peer.streams.remove(&id);
    }
}

/// Moves queued body bytes into the session as far as the windows allow.
fn push(session: &mut Session, id: StreamId, s: &mut StreamEntry) {
    while let Some((data, fin, _)) = s.outbound.front_mut() {
        let room = session.send_capacity(id);
        if !data.is_empty() && room == 0 {
            return;
        }
        let chunk = data.split_to(data.len().min(room));
        let last = data.is_empty();
        let len = chunk.len() as u64;
        if (len > 0 || *fin) && session.send_data(id, chunk, *fin && last).is_err() {
            s.outbound.clear();
            return;
        }
        s.sent.send_modify(|n| *n += len);
        if last {
            let (_, _, done) = s.outbound.pop_front().expect("front");
            if let Some(done) = done {
                let _ = done.send(());
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
