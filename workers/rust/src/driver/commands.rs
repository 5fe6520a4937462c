//! What the driver does with the request tasks' commands (a response head,
//! body chunks, trailers, the task's end) and their credit notes, and how it
//! ends a stream itself: a 500, a 413, or a reset.

use std::sync::atomic::Ordering;
use std::time::Instant;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use tracing::{debug, error, info};
use zroute_proto::{RstCode, StreamId, mapping};

use super::Driver;
use super::slot::{self, Slot};
use crate::HttpService;
use crate::blocking;
use crate::body::{BodyError, Chunk};
use crate::stream::{Command, Done, Outbound, Refusal};

impl<S> Driver<S>
where
    S: HttpService,
{
    pub(super) fn on_command(&mut self, cmd: Command) {
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
    pub(super) fn push(&mut self, id: StreamId) {
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
                self.fail(id, replied, slot::text(request_id.as_ref()), &why);
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
            self.fail(id, replied, slot::text(request_id.as_ref()), &why);
        }
        self.retire_if_over(id);
    }

    /// Forgets a stream whose task is done once the session has closed it
    /// too; until then the router may still send body bytes to credit.
    pub(super) fn retire_if_over(&mut self, id: StreamId) {
        let done = self
            .streams
            .get(&id)
            .is_some_and(|slot| slot.task.is_none() && slot.outbound.is_none());
        if done && self.session.stream_state(id).is_none() {
            self.streams.remove(&id);
        }
    }

    pub(super) fn on_credit(&mut self, id: StreamId) {
        if let Some(slot) = self.streams.get(&id) {
            let n = slot.shared.consumed.swap(0, Ordering::AcqRel);
            self.session.release_capacity(id, n);
        }
        // A stream without a slot has ended; the session credited its bytes then.
    }

    /// Warns about request tasks stuck in one poll (see [`blocking`]).
    pub(super) fn check_blocking(&mut self, now: Instant) {
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

    pub(super) fn too_large(&mut self, id: StreamId, limit: u64) {
        let Some(slot) = self.streams.remove(&id) else {
            return;
        };
        let (stream, replied) = (id.get(), slot.replied);
        let request_id = slot.request_id.clone();
        let request_id = slot::text(request_id.as_ref());
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
    pub(super) fn answer(&mut self, id: StreamId, status: StatusCode, stop_upload: bool) {
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

    pub(super) fn drop_slot(&mut self, slot: Slot, why: BodyError) {
        if let Some(task) = slot.task {
            task.abort();
        }
        if let Some(tx) = slot.body {
            let _ = tx.send(Chunk::Abort(why));
        }
        // Dropping `outbound` drops its answer channel: the task sees the
        // stream gone (it is being aborted anyway).
    }
}
