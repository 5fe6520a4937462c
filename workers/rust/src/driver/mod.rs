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
//!
//! This file holds the loop and the socket; the rest is split by what the
//! driver reacts to: `events` (what the session says), `commands` (what the
//! request tasks ask, and the stream bookkeeping), `stopping` (the graceful
//! stop), and `slot` (the driver's view of one stream).
//!
//! Those files add methods to [`Driver`], so they import it from here while
//! this file names their types (`Slot`, `Stopping`): a circle between parent
//! and children that is Rust's way of splitting one type's methods by
//! concern. Nothing outside `driver` takes part in it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use foldhash::HashMap;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tracing::field::Empty;
use tracing::{Instrument, Span, debug, info, info_span, warn};
use zroute_proto::frame::Frame;
use zroute_proto::{ProtocolError, Session, StreamId, mapping};
use zroute_transport::{Multipart, SendError};

use crate::transport::Socket;

use self::slot::Slot;
use self::stopping::Stopping;
use crate::HttpService;
use crate::settings::Settings;
use crate::stream::Command;

mod commands;
mod events;
mod inline;
mod slot;
mod stopping;

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

/// The service, and the runtime its request tasks are spawned on.
#[derive(Clone, Debug)]
pub(crate) struct Handlers<S> {
    pub(crate) service: S,
    pub(crate) runtime: Handle,
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
    /// Header names of earlier requests, reused by the next ones.
    names: mapping::HeaderNames,
    /// Set when the session drains: its WebSockets close with 1001.
    going_away: watch::Sender<bool>,
    /// When to sample the request tasks' poll counts next; `None` while no
    /// stream is open or the warning is off.
    next_block_check: Option<Instant>,
    unsent: Option<Unsent>,
    stop: watch::Receiver<bool>,
    /// Completes once a stop is requested; one future for the driver's
    /// life, as a new one per wait costs a waiter registration each time.
    /// `None` once it has completed.
    stop_requested: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The session's deadlines and the blocked-handler check share one
    /// timer, moved only when the next deadline does (a new one per wait
    /// costs a registration in tokio's timer wheel per wake-up).
    timer: Pin<Box<tokio::time::Sleep>>,
    timer_at: Option<Instant>,
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
        let mut watching = stop.clone();
        let stop_requested: Pin<Box<dyn Future<Output = ()> + Send>> =
            Box::pin(async move { stopped(&mut watching).await });
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
            streams: HashMap::default(),
            names: mapping::HeaderNames::default(),
            going_away: watch::Sender::new(false),
            next_block_check: None,
            unsent: None,
            stop,
            stop_requested: Some(stop_requested),
            timer: Box::pin(tokio::time::sleep_until(Instant::now().into())),
            timer_at: None,
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
            // Handlers polled inline during those events have answered:
            // their replies go out in this turn's flush.
            if self.take_commands() {
                self.process_events();
            }
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
        if timer != self.timer_at {
            if let Some(at) = timer {
                self.timer.as_mut().reset(at.into());
            }
            self.timer_at = timer;
        }
        let armed = self.timer_at.is_some();
        tokio::select! {
            msg = self.socket.recv() => Wake::Message(msg),
            Some(cmd) = self.commands.recv() => Wake::Command(cmd),
            Some(id) = self.credit.recv() => Wake::Credit(id),
            () = &mut self.timer, if armed => {
                self.timer_at = None;
                Wake::Timer
            }
            () = sleep_until(grace) => Wake::Grace,
            () = stop_requested(&mut self.stop_requested), if watch_stop => Wake::Stop,
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
        self.take_commands();
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

    /// Carries out every command already queued; whether there was one.
    fn take_commands(&mut self) -> bool {
        let mut any = false;
        while let Ok(cmd) = self.commands.try_recv() {
            self.on_command(cmd);
            any = true;
        }
        any
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
            // The one write of this turn (the native socket batches until
            // its flush; libzmq's writes as it queues).
            Ok(()) => self.socket.flush(),
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

/// Completes once, when the driver's stop future does; never after that.
async fn stop_requested(slot: &mut Option<Pin<Box<dyn Future<Output = ()> + Send>>>) {
    match slot {
        Some(requested) => {
            requested.await;
            *slot = None;
        }
        None => std::future::pending().await,
    }
}

/// Completes once a stop is requested (or nobody can request one any more).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Carries a task's panic on into the caller, as if the task's code had
/// run there.
pub(crate) fn resume_panic(over: Result<(), tokio::task::JoinError>) {
    if let Err(e) = over
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
