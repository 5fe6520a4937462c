//! The session driver: the one task that owns a DEALER socket and its
//! `Session`, on the session thread. Request tasks run on the handlers'
//! runtime and reach it only through channels.
//!
//! Each turn of the loop: wait for one wakeup (a message, a command, a
//! credit note, a timer, a stop), then take
//! everything else already queued (messages, commands, credit notes), then
//! act on the session's events, then send every frame the session queued as
//! ONE multipart message. Batching this way costs one send per wakeup however
//! many streams are busy.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::uri::Scheme;
use http::{Method, Response, StatusCode};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tracing::field::Empty;
use tracing::{Instrument, Span, debug, debug_span, error, info, info_span, trace, warn};
use zroute_proto::frame::Frame;
use zroute_proto::session::{CloseReason, ResetOrigin};
use zroute_proto::{
    Event, GoAwayStatus, HeaderBlock, ProtocolError, RstCode, Session, StreamId, mapping,
};
use zroute_transport::{Multipart, SendError, Socket};

use crate::HttpService;
use crate::blocking::{self, Blocking, PollWatch};
use crate::body::{Body, BodyError, Chunk, Credit};
use crate::builder::Settings;
use crate::endpoint::stopped;
use crate::stream::{self, Command, Done, Outbound, Refusal, Responder, Shared};

/// How many messages one wakeup takes from the socket before the driver
/// acts on them and sends: bounds the work and the frames queued per turn
/// (spec #security-dos, "frames per message").
const MAX_MESSAGES_PER_TURN: usize = 256;

/// How a session ended, for the endpoint's re-registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// No valid WELCOME: a failed attempt, retried after the backoff.
    HandshakeFailed,
    /// GOAWAY(0, OK) answered HELLO: the router is shutting down (spec
    /// #reregistration rule 4: ask again soon, its replacement may be starting).
    RouterShuttingDown,
    /// The session ran and is over: register again at once.
    Closed,
    /// The router is draining this session, which is still running: start a
    /// new one now and call `run(false)` to let this one finish.
    Handoff,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stopping {
    No,
    /// A stop came before WELCOME: GOAWAY may only follow it.
    AfterWelcome {
        deadline: Instant,
    },
    Draining {
        deadline: Instant,
    },
}

/// The service, and the runtime its request tasks are spawned on.
#[derive(Clone, Debug)]
pub(crate) struct Handlers<S> {
    pub(crate) service: S,
    pub(crate) runtime: Handle,
}

/// The driver's view of an accepted stream: while its task runs, and after
/// that while the router may still send request body bytes to credit.
struct Slot {
    /// The request's task, until its last message (see [`Command`]).
    task: Option<AbortHandle>,
    /// Where request body bytes go; `None` after FIN or when there is no body.
    body: Option<mpsc::UnboundedSender<Chunk>>,
    shared: Arc<Shared>,
    received: u64,
    replied: bool,
    /// Spec #router-headers: logged with every line about the request.
    request_id: Option<String>,
    /// For the blocked-handler warning.
    method: Method,
    path: Bytes,
    polls: PollWatch,
    /// At most one chunk per stream, waiting for send window.
    outbound: Option<Outbound>,
}

impl Slot {
    /// Forgets the task once it is over; false if it already was.
    fn end_task(&mut self, id: StreamId) -> bool {
        if self.task.take().is_none() {
            return false;
        }
        if self.polls.warned()
            && let Some(found) = self.polls.end(Instant::now())
        {
            self.log_blocking(id, found);
        }
        true
    }

    fn log_blocking(&self, id: StreamId, found: Blocking) {
        let (stream, method, request_id) = (id.get(), &self.method, self.request_id.as_deref());
        let path = String::from_utf8_lossy(&self.path);
        match found {
            Blocking::Started {
                blocked_for,
                threshold,
            } => warn!(
                stream,
                %method,
                %path,
                request_id,
                ?blocked_for,
                ?threshold,
                "a request handler is blocking its runtime thread, so no other task on that \
                 thread can run; blocking work (std::thread::sleep, synchronous I/O, long \
                 computations) belongs in tokio::task::spawn_blocking"
            ),
            Blocking::Ended(blocked_for) => info!(
                stream,
                %method,
                %path,
                request_id,
                ?blocked_for,
                "the blocking request handler gave its runtime thread back"
            ),
        }
    }
}

/// A multipart message the socket would not take yet (EAGAIN).
struct Unsent {
    parts: Vec<Bytes>,
    since: Instant,
}

enum Wake {
    Message(io::Result<Multipart>),
    Command(Command),
    Credit(StreamId),
    Timer,
    Grace,
    Stop,
}

pub(crate) struct Driver<S> {
    handlers: Handlers<S>,
    settings: Arc<Settings>,
    socket: Socket,
    session: Session,
    span: Span,
    commands_tx: mpsc::UnboundedSender<Command>,
    commands: mpsc::UnboundedReceiver<Command>,
    credit_tx: mpsc::UnboundedSender<StreamId>,
    credit: mpsc::UnboundedReceiver<StreamId>,
    streams: HashMap<StreamId, Slot>,
    /// When to sample the request tasks' poll counts next; `None` while no
    /// stream is open or the warning is off.
    next_block_check: Option<Instant>,
    unsent: Option<Unsent>,
    stop: watch::Receiver<bool>,
    stopping: Stopping,
    established: bool,
    /// The router answered HELLO with GOAWAY(0, OK).
    refused_by_shutdown: bool,
    handoff: bool,
    window_opened: bool,
}

impl<S> Driver<S>
where
    S: HttpService,
{
    pub(crate) fn new(
        handlers: Handlers<S>,
        settings: Arc<Settings>,
        socket: Socket,
        session: Session,
        stop: watch::Receiver<bool>,
    ) -> Self {
        // Unbounded, yet never long: a task has at most two commands queued
        // (a reply, then a chunk it waits on), and the session accepts no
        // more streams than its capacity.
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (credit_tx, credit) = mpsc::unbounded_channel();
        let span = info_span!("session", session = Empty);
        Self {
            handlers,
            settings,
            socket,
            session,
            span,
            commands_tx,
            commands,
            credit_tx,
            credit,
            streams: HashMap::new(),
            next_block_check: None,
            unsent: None,
            stop,
            stopping: Stopping::No,
            established: false,
            refused_by_shutdown: false,
            handoff: false,
            window_opened: false,
        }
    }

    /// Runs the session until it is over or, with `until_handoff`, until the
    /// router starts draining it.
    pub(crate) async fn run(&mut self, until_handoff: bool) -> End {
        let span = self.span.clone();
        self.run_inner(until_handoff).instrument(span).await
    }

    async fn run_inner(&mut self, until_handoff: bool) -> End {
        if *self.stop.borrow_and_update() && self.stopping == Stopping::No {
            self.begin_stop();
        }
        loop {
            self.process_events();
            self.flush();
            // A failed send abandons the session, which has events to tell.
            self.process_events();
            if self.session.is_closed() {
                // What could not be sent now never will be.
                self.unsent = None;
                return self.finish();
            }
            if until_handoff && self.handoff {
                return End::Handoff;
            }
            if self.unsent.is_some() {
                self.wait_writable().await;
                self.take_ready();
                continue;
            }
            let wake = self.wait().await;
            self.on_wake(wake);
            self.take_ready();
        }
    }

    async fn wait(&mut self) -> Wake {
        // One timer for the session's deadlines and the blocked-handler check.
        let timer = match (self.session.poll_timeout(), self.next_block_check) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let grace = match self.stopping {
            Stopping::No => None,
            Stopping::AfterWelcome { deadline } | Stopping::Draining { deadline } => Some(deadline),
        };
        let watch_stop = self.stopping == Stopping::No;
        tokio::select! {
            msg = self.socket.recv() => Wake::Message(msg),
            Some(cmd) = self.commands.recv() => Wake::Command(cmd),
            Some(id) = self.credit.recv() => Wake::Credit(id),
            () = sleep_until(timer) => Wake::Timer,
            () = sleep_until(grace) => Wake::Grace,
            () = stopped(&mut self.stop), if watch_stop => Wake::Stop,
        }
    }

    /// Spec #transport-send-failures: a worker that cannot send for one
    /// heartbeat interval declares the session dead.
    async fn wait_writable(&mut self) {
        let Some(unsent) = &self.unsent else { return };
        let patience = self
            .session
            .heartbeat_interval()
            .unwrap_or(self.settings.config.handshake_timeout);
        let limit = unsent.since + patience;
        tokio::select! {
            ready = self.socket.writable() => {
                if let Err(e) = ready {
                    warn!(error = %e, "socket failed; abandoning the session");
                    self.session.abandon();
                }
            }
            () = sleep_until(Some(limit)) => {
                warn!(?patience, "could not send for a heartbeat interval: session dead");
                self.session.abandon();
            }
        }
    }

    fn on_wake(&mut self, wake: Wake) {
        match wake {
            Wake::Message(Ok(msg)) => self.on_message(msg),
            Wake::Message(Err(e)) => {
                warn!(error = %e, "receive failed; abandoning the session");
                self.session.abandon();
            }
            Wake::Command(cmd) => self.on_command(cmd),
            Wake::Credit(id) => self.on_credit(id),
            Wake::Timer => {}
            Wake::Grace => self.give_up(),
            Wake::Stop => self.begin_stop(),
        }
    }

    /// Takes whatever else is already waiting, so that one flush carries the
    /// answers to all of it. Messages go first: a WINDOW_UPDATE among them
    /// makes room for the data commands that follow.
    fn take_ready(&mut self) {
        for _ in 0..MAX_MESSAGES_PER_TURN {
            match self.socket.try_recv() {
                Ok(Some(msg)) => self.on_message(msg),
                Ok(None) => break,
                Err(e) => {
                    warn!(error = %e, "receive failed; abandoning the session");
                    self.session.abandon();
                    break;
                }
            }
        }
        while let Ok(cmd) = self.commands.try_recv() {
            self.on_command(cmd);
        }
        while let Ok(id) = self.credit.try_recv() {
            self.on_credit(id);
        }
        let now = Instant::now();
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now);
        }
        if self.next_block_check.is_some_and(|t| t <= now) {
            self.check_blocking(now);
        }
    }

    fn on_message(&mut self, msg: Multipart) {
        let now = Instant::now();
        for part in msg {
            self.session.handle_part(now, part);
        }
        // Spec #error-reporting: every stream and session error we raise is
        // logged, with the rule the router broke. Drained per message, as the
        // session keeps only the last few.
        while let Some(error) = self.session.poll_protocol_error() {
            log_protocol_error(&error);
        }
    }

    // ---- session events ----

    fn process_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Established => self.on_established(),
                Event::Request { id, headers, fin } => self.on_request(id, &headers, fin),
                Event::Data { id, data, fin } => self.on_data(id, data, fin),
                Event::Trailers { id, headers } => self.on_trailers(id, &headers),
                Event::Reset { id, code, origin } => self.on_reset(id, code, origin),
                Event::WindowOpened { .. } => self.window_opened = true,
                Event::GoAway { last_good, status } => self.on_goaway(last_good, status),
                Event::Pong { rtt } => trace!(?rtt, "heartbeat answered"),
                // Router-side events.
                Event::Response { .. } | Event::CapacityChanged { .. } => {}
                Event::Closed(reason) => self.on_closed(reason),
            }
        }
        if std::mem::take(&mut self.window_opened) {
            let waiting: Vec<StreamId> = self
                .streams
                .iter()
                .filter(|(_, slot)| slot.outbound.is_some())
                .map(|(id, _)| *id)
                .collect();
            for id in waiting {
                self.push(id);
            }
        }
    }

    fn on_established(&mut self) {
        self.established = true;
        let welcome = self.session.welcome();
        let attr = |name: &str| {
            welcome
                .and_then(|w| w.attributes().get(name))
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let session_id = attr("session");
        self.span.record("session", session_id.as_str());
        info!(
            router = %attr("router"),
            heartbeat = ?self.session.heartbeat_interval(),
            capacity = self.session.capacity(),
            "registered"
        );
        if let Stopping::AfterWelcome { deadline } = self.stopping {
            self.drain(deadline);
        }
    }

    fn on_request(&mut self, id: StreamId, head: &HeaderBlock, fin: bool) {
        let request_id = head
            .get("x-request-id")
            .map(|v| String::from_utf8_lossy(v).into_owned());
        let span = debug_span!(parent: &self.span, "stream", id = id.get(), request_id = request_id.as_deref());
        let mut req = match mapping::request_from_block(head) {
            Ok(req) => req,
            Err(e) => {
                warn!(parent: &span, error = %e, "request head has no HTTP equivalent: 400");
                return self.answer(id, StatusCode::BAD_REQUEST, !fin);
            }
        };
        if let Some(scheme) = mapping::scheme_of(head).and_then(|s| Scheme::try_from(s).ok()) {
            req.extensions_mut().insert(scheme);
        }
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let limit = self.settings.max_request_body;
        if limit > 0 && declared.is_some_and(|n| n > limit) {
            info!(parent: &span, limit, "request body over the limit: 413");
            return self.answer(id, StatusCode::PAYLOAD_TOO_LARGE, !fin);
        }
        let method = req.method().clone();
        let is_head = method == Method::HEAD;
        let path = head
            .get(zroute_proto::http::PATH)
            .cloned()
            .unwrap_or_default();
        let shared = Arc::new(Shared::default());
        let (body, body_tx) = if fin {
            (Body::empty(), None)
        } else {
            let (tx, rx) = mpsc::unbounded_channel();
            let credit = Credit {
                id,
                shared: shared.clone(),
                notify: self.credit_tx.clone(),
            };
            (Body::incoming(rx, credit, declared), Some(tx))
        };
        let task = stream::serve(
            self.handlers.service.clone(),
            req.map(|()| body),
            Responder::new(id, self.commands_tx.clone()),
            is_head,
        );
        let task = blocking::counting_polls(shared.clone(), task.instrument(span));
        // Dropping the JoinHandle detaches the task: it reports through its
        // Responder, and the AbortHandle is all the driver needs.
        let task = self.handlers.runtime.spawn(task).abort_handle();
        self.streams.insert(
            id,
            Slot {
                task: Some(task),
                body: body_tx,
                shared,
                received: 0,
                replied: false,
                request_id,
                method,
                path,
                polls: PollWatch::default(),
                outbound: None,
            },
        );
        let threshold = self.settings.block_warning;
        if self.next_block_check.is_none() && !threshold.is_zero() {
            self.next_block_check = Some(Instant::now() + blocking::check_interval(threshold));
        }
    }

    fn on_data(&mut self, id: StreamId, data: Bytes, fin: bool) {
        let len = data.len();
        let Some(slot) = self.streams.get_mut(&id) else {
            // Nobody reads this stream any more (spec #stream-response: keep
            // accepting, and crediting, what the router still sends).
            return self.session.release_capacity(id, len);
        };
        slot.received += len as u64;
        let limit = self.settings.max_request_body;
        if limit > 0 && slot.received > limit {
            return self.too_large(id, limit);
        }
        // The channel is unbounded but never holds more than the stream
        // window: the session rejects DATA beyond it.
        let delivered = slot
            .body
            .as_ref()
            .is_some_and(|tx| tx.send(Chunk::Data(data)).is_ok());
        if !delivered {
            self.session.release_capacity(id, len);
        }
        if fin && let Some(tx) = slot.body.take() {
            let _ = tx.send(Chunk::End);
        }
        if fin {
            self.retire_if_over(id);
        }
    }

    fn on_trailers(&mut self, id: StreamId, head: &HeaderBlock) {
        let Some(tx) = self.streams.get_mut(&id).and_then(|s| s.body.take()) else {
            return;
        };
        match mapping::trailers_from_block(head) {
            Ok(map) => {
                let _ = tx.send(Chunk::Trailers(map));
            }
            // No HTTP equivalent: like hyper, drop trailers it cannot represent.
            Err(e) => {
                debug!(stream = id.get(), error = %e, "request trailers dropped");
                let _ = tx.send(Chunk::End);
            }
        }
        self.retire_if_over(id);
    }

    fn on_reset(&mut self, id: StreamId, code: RstCode, origin: ResetOrigin) {
        match origin {
            ResetOrigin::Peer => debug!(stream = id.get(), %code, "router reset the stream"),
            // Our own RST_STREAM was logged with its reason (`on_message`).
            ResetOrigin::Local(_) | ResetOrigin::Session => {}
        }
        if let Some(slot) = self.streams.remove(&id) {
            self.drop_slot(slot, BodyError::reset(code));
        }
    }

    fn on_goaway(&mut self, last_good: StreamId, status: GoAwayStatus) {
        if status == GoAwayStatus::OK {
            info!(
                open = self.session.open_streams(),
                "router is draining the session"
            );
            // Spec #router-shutdown: finish these streams, and register anew.
            if self.stopping == Stopping::No {
                self.handoff = true;
            }
        } else {
            debug!(%status, last_good = last_good.get(), "router sent GOAWAY");
        }
    }

    fn on_closed(&mut self, reason: CloseReason) {
        let open = self.streams.len();
        match reason {
            CloseReason::Drained => info!("session drained"),
            CloseReason::TimedOut => warn!(
                open,
                "nothing from the router for a heartbeat period: session dead"
            ),
            CloseReason::HandshakeTimedOut => warn!("no WELCOME within the handshake timeout"),
            CloseReason::HandshakeFailed => warn!(
                "handshake failed: the router answered HELLO with something other than WELCOME"
            ),
            // Spec #router-shutdown: a router shutting down answers HELLO so.
            CloseReason::PeerGoAway(GoAwayStatus::OK) if !self.established => {
                info!("router is shutting down: registration refused");
                self.refused_by_shutdown = true;
            }
            CloseReason::PeerGoAway(status) if !self.established => {
                warn!(%status, "router refused the registration");
            }
            CloseReason::PeerGoAway(GoAwayStatus::UNKNOWN_SESSION) => {
                info!(open, "router no longer knows the session (restarted?)");
            }
            CloseReason::PeerGoAway(status) => warn!(%status, open, "router ended the session"),
            CloseReason::ProtocolError(error) => {
                warn!(code = %error.code, reason = error.reason, open, "session error: sent GOAWAY");
            }
            CloseReason::LocalError(status) => warn!(%status, open, "session ended: sent GOAWAY"),
            CloseReason::Abandoned => warn!(open, "session abandoned"),
        }
        // Spec #session-dead: the work of every stream is cancelled.
        for (_, slot) in std::mem::take(&mut self.streams) {
            self.drop_slot(slot, BodyError::session_gone());
        }
    }

    // ---- commands from request tasks ----

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Reply {
                id,
                head,
                fin,
                first,
            } => match self.session.reply(id, head, fin) {
                Ok(()) => {
                    if let Some(slot) = self.streams.get_mut(&id) {
                        slot.replied = true;
                    }
                    match first {
                        Some(chunk) => self.take_chunk(id, chunk),
                        None if fin => self.task_finished(id),
                        None => {}
                    }
                }
                Err(e) => self.refused(id, Refusal::from_command(e), first.and_then(|c| c.done)),
            },
            Command::Data { id, chunk } => self.take_chunk(id, chunk),
            Command::Trailers { id, trailers } => match self.session.send_trailers(id, trailers) {
                Ok(()) => self.task_finished(id),
                Err(e) => self.refused(id, Refusal::from_command(e), None),
            },
            Command::Ended { id, failure } => self.on_ended(id, failure),
        }
    }

    fn take_chunk(&mut self, id: StreamId, chunk: Outbound) {
        match self.streams.get_mut(&id) {
            Some(slot) if self.session.stream_state(id).is_some() => {
                slot.outbound = Some(chunk);
                self.push(id);
            }
            _ => self.refused(id, Refusal::Gone, chunk.done),
        }
    }

    /// Moves as much of a stream's waiting chunk into the session as the
    /// windows allow; once all of it is in, the task hears back (or, for its
    /// last chunk, is done).
    fn push(&mut self, id: StreamId) {
        let Some(slot) = self.streams.get_mut(&id) else {
            return;
        };
        // A chunk that could never fit the router's stream window is split
        // even when the response asked for whole frames. The router's current
        // initial window counts (spec #test-app-stream): SETTINGS may have
        // lowered it since WELCOME.
        let whole_max =
            (self.session.peer_initial_window() as usize).min(zroute_proto::frame::MAX_PAYLOAD_LEN);
        let (sent, done) = loop {
            let Some(out) = &mut slot.outbound else {
                return;
            };
            let room = self.session.send_capacity(id);
            let len = out.data.len();
            if len > 0 && (room == 0 || (out.whole && len <= whole_max && len > room)) {
                // Wait for WindowOpened.
                return;
            }
            let chunk = out.data.split_to(len.min(room));
            let fin = out.fin && out.data.is_empty();
            let sent = self.session.send_data(id, chunk, fin);
            if sent.is_err() || out.data.is_empty() {
                let out = slot.outbound.take().expect("checked above");
                break (sent, out.done);
            }
        };
        match (sent, done) {
            (sent, Some(done)) => {
                let _ = done.send(sent.map_err(Refusal::from_command));
            }
            (Ok(()), None) => self.task_finished(id),
            (Err(e), None) => self.refused(id, Refusal::from_command(e), None),
        }
    }

    /// A command was not carried out. A task waiting on `done` hears why and
    /// ends itself; otherwise the driver ends the stream here.
    fn refused(&mut self, id: StreamId, refusal: Refusal, done: Option<Done>) {
        if let Some(done) = done {
            let _ = done.send(Err(refusal));
            return;
        }
        let Some(slot) = self.streams.remove(&id) else {
            return;
        };
        let (replied, request_id) = (slot.replied, slot.request_id.clone());
        match refusal {
            Refusal::Gone => self.drop_slot(slot, BodyError::reset(RstCode::CANCEL)),
            Refusal::Invalid(e) => {
                self.drop_slot(slot, BodyError::reset(RstCode::INTERNAL_ERROR));
                let why = format!("handler failed: the session rejected the response: {e:?}");
                self.fail(id, replied, request_id.as_deref(), &why);
            }
        }
    }

    /// The task's last message was carried out: the response is complete.
    fn task_finished(&mut self, id: StreamId) {
        if let Some(slot) = self.streams.get_mut(&id) {
            slot.end_task(id);
            self.retire_if_over(id);
        }
    }

    /// The task ended without completing its response.
    fn on_ended(&mut self, id: StreamId, failure: Option<String>) {
        // Without a slot, or a task, the driver ended the stream itself.
        let Some(slot) = self.streams.get_mut(&id) else {
            return;
        };
        if !slot.end_task(id) {
            return;
        }
        let failure =
            failure.or_else(|| (!slot.replied).then(|| "handler ended without a response".into()));
        // Whatever the handler left unread is credited from now on (`on_data`).
        let n = slot.shared.consumed.swap(0, Ordering::AcqRel);
        let (replied, request_id) = (slot.replied, slot.request_id.clone());
        self.session.release_capacity(id, n);
        if let Some(why) = failure {
            self.fail(id, replied, request_id.as_deref(), &why);
        }
        self.retire_if_over(id);
    }

    /// Forgets a stream whose task is done once the session has closed it
    /// too; until then the router may still send body bytes to credit.
    fn retire_if_over(&mut self, id: StreamId) {
        let done = self
            .streams
            .get(&id)
            .is_some_and(|slot| slot.task.is_none() && slot.outbound.is_none());
        if done && self.session.stream_state(id).is_none() {
            self.streams.remove(&id);
        }
    }

    fn on_credit(&mut self, id: StreamId) {
        if let Some(slot) = self.streams.get(&id) {
            let n = slot.shared.consumed.swap(0, Ordering::AcqRel);
            self.session.release_capacity(id, n);
        }
        // A stream without a slot has ended; the session credited its bytes then.
    }

    /// Warns about request tasks stuck in one poll (see [`blocking`]).
    fn check_blocking(&mut self, now: Instant) {
        let threshold = self.settings.block_warning;
        for (id, slot) in &mut self.streams {
            if slot.task.is_some()
                && let Some(found) = slot.polls.sample(&slot.shared.polls, now, threshold)
            {
                slot.log_blocking(*id, found);
            }
        }
        self.next_block_check =
            (!self.streams.is_empty()).then(|| now + blocking::check_interval(threshold));
    }

    /// Spec #stream-response: a 500 while no head went out, else INTERNAL_ERROR.
    fn fail(&mut self, id: StreamId, replied: bool, request_id: Option<&str>, why: &str) {
        let stream = id.get();
        if self.session.stream_state(id).is_none() {
            return debug!(stream, request_id, "{why}, after the stream ended");
        }
        if replied {
            error!(
                stream,
                request_id, "{why} after the response head: RST_STREAM INTERNAL_ERROR"
            );
            self.session.reset(id, RstCode::INTERNAL_ERROR);
        } else {
            error!(stream, request_id, "{why}: answering 500");
            self.answer(id, StatusCode::INTERNAL_SERVER_ERROR, false);
        }
    }

    fn too_large(&mut self, id: StreamId, limit: u64) {
        let Some(slot) = self.streams.remove(&id) else {
            return;
        };
        let (stream, replied) = (id.get(), slot.replied);
        let request_id = slot.request_id.clone();
        let request_id = request_id.as_deref();
        self.drop_slot(slot, BodyError::too_large(limit));
        if replied {
            info!(
                stream,
                request_id, limit, "request body over the limit: reset"
            );
            self.session.reset(id, RstCode::CANCEL);
        } else {
            info!(
                stream,
                request_id, limit, "request body over the limit: 413"
            );
            self.answer(id, StatusCode::PAYLOAD_TOO_LARGE, true);
        }
    }

    /// Answers a stream from the driver itself, with an empty body. With
    /// `stop_upload` the rest of the request body is refused with
    /// RST_STREAM(CANCEL) once the answer is out; otherwise it is accepted
    /// and discarded.
    fn answer(&mut self, id: StreamId, status: StatusCode, stop_upload: bool) {
        let mut res = Response::new(());
        *res.status_mut() = status;
        res.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        if status != StatusCode::INTERNAL_SERVER_ERROR {
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        }
        let head = mapping::response_block(&res).expect("a plain status maps");
        if let Err(e) = self.session.reply(id, head, true) {
            debug!(stream = id.get(), error = ?e, "could not answer {status}");
        }
        if stop_upload {
            self.session.reset(id, RstCode::CANCEL);
        }
    }

    fn drop_slot(&mut self, slot: Slot, why: BodyError) {
        if let Some(task) = slot.task {
            task.abort();
        }
        if let Some(tx) = slot.body {
            let _ = tx.send(Chunk::Abort(why));
        }
        // Dropping `outbound` drops its answer channel: the task sees the
        // stream gone (it is being aborted anyway).
    }

    // ---- stopping ----

    fn begin_stop(&mut self) {
        let deadline = Instant::now() + self.settings.graceful_timeout;
        if self.session.is_established() {
            self.drain(deadline);
        } else if !self.session.is_closed() {
            // Spec #handshake: nothing but HELLO before WELCOME. Let the
            // handshake finish (or time out) so the router hears GOAWAY rather
            // than waiting out a heartbeat period with requests we never take.
            self.stopping = Stopping::AfterWelcome { deadline };
        }
    }

    fn drain(&mut self, deadline: Instant) {
        info!(
            open = self.session.open_streams(),
            "draining: GOAWAY(OK), finishing the requests already accepted"
        );
        self.stopping = Stopping::Draining { deadline };
        self.session.go_away(GoAwayStatus::OK);
    }

    fn give_up(&mut self) {
        if self.session.is_established() {
            warn!(
                open = self.session.open_streams(),
                timeout = ?self.settings.graceful_timeout,
                "graceful timeout: giving up the requests still running"
            );
            // The router handles the streams as for a dead session: it
            // retries those it safely can and answers the rest with an error.
            self.session.go_away(GoAwayStatus::INTERNAL_ERROR);
        } else {
            self.session.abandon();
        }
    }

    // ---- sending ----

    /// Sends every queued frame as one multipart message, behind whatever
    /// the socket refused before (frames must keep their order).
    fn flush(&mut self) {
        let now = Instant::now();
        let (mut parts, since) = match self.unsent.take() {
            Some(unsent) => (unsent.parts, unsent.since),
            None => (Vec::new(), now),
        };
        while let Some(frame) = self.session.poll_transmit(now) {
            log_sent(&frame);
            parts.push(frame.to_bytes());
        }
        if parts.is_empty() {
            return;
        }
        match self.socket.try_send(&parts) {
            Ok(()) => {}
            Err(SendError::WouldBlock) => self.unsent = Some(Unsent { parts, since }),
            Err(e) => {
                warn!(error = %e, "send failed; abandoning the session");
                self.session.abandon();
            }
        }
    }

    fn finish(&mut self) -> End {
        if self.established {
            End::Closed
        } else if self.refused_by_shutdown {
            End::RouterShuttingDown
        } else {
            End::HandshakeFailed
        }
    }

    /// The heartbeat interval the router announced, once established.
    pub(crate) fn heartbeat_interval(&self) -> Option<std::time::Duration> {
        self.session.heartbeat_interval()
    }
}

impl<S> Drop for Driver<S> {
    /// A driver dropped before its session ended (the worker's caller gave
    /// up on `serve`): its request tasks live on another runtime and would
    /// otherwise run on for nobody.
    fn drop(&mut self) {
        for task in self.streams.values().filter_map(|slot| slot.task.as_ref()) {
            task.abort();
        }
    }
}

/// Spec #error-reporting: a stream refused, or a rule the router broke. The
/// session raises some of these without an event (a refused or malformed
/// SYN_STREAM), so its error queue is the one place to see them all.
fn log_protocol_error(error: &ProtocolError) {
    let stream = error.stream.map(StreamId::get);
    let (code, frame, reason) = (error.code, error.frame_type, error.reason);
    if error.is_refusal() {
        info!(stream, reason, "refused a stream");
    } else if error.is_session_error() {
        warn!(%code, ?frame, reason, "session error: the router broke the protocol");
    } else {
        warn!(stream, %code, ?frame, reason, "stream error: the router broke the protocol");
    }
}

/// The RST_STREAMs and GOAWAYs the driver asked for; those the session
/// raised itself were logged with their reason (`log_protocol_error`).
fn log_sent(frame: &Frame) {
    match frame {
        Frame::RstStream(f) => {
            debug!(stream = f.stream_id().get(), code = %f.code(), "sent RST_STREAM");
        }
        Frame::GoAway(f) => {
            debug!(status = %f.status(), last_good = f.last_good_stream_id().get(), "sent GOAWAY");
        }
        _ => {}
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
