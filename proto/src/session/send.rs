//! The commands that put streams, heads, data and settings on the wire, each
//! checked against the stream's state and the windows before anything is
//! queued ([spec](../../../spec/PROTOCOL.md#flow-control)).

use bytes::Bytes;

use super::{CommandError, Role, Session, Stream, fits_in_frame};
use crate::frame::{Data, Headers, MAX_PAYLOAD_LEN, RstStream, Settings, SynReply, SynStream};
use crate::{GoAwayStatus, HeaderBlock, RstCode, SettingId, StreamId, http};

impl Session {
    /// Router: opens a stream carrying a request head. `fin` when there is no body.
    pub fn open_stream(
        &mut self,
        headers: HeaderBlock,
        fin: bool,
    ) -> Result<StreamId, CommandError> {
        if self.role != Role::Router {
            return Err(CommandError::OutOfOrder);
        }
        if !self.is_established() {
            return Err(CommandError::NotEstablished);
        }
        if self.is_draining() {
            return Err(CommandError::Draining);
        }
        if self.streams.len() >= self.capacity as usize {
            return Err(CommandError::AtCapacity);
        }
        let info = http::check_request(&headers).map_err(|_| CommandError::InvalidMessage)?;
        // Spec #http-request: `:host` carries the host; #frame-size: one frame.
        if headers.get("host").is_some() || !fits_in_frame(SYN_STREAM_FIXED_LEN, &headers) {
            return Err(CommandError::InvalidMessage);
        }
        let Some(id) = self.highest_stream.next_router_id() else {
            self.go_away(GoAwayStatus::OK);
            return Err(CommandError::IdsExhausted);
        };
        if fin && (info.content_length.is_some_and(|n| n > 0) || info.websocket) {
            return Err(CommandError::InvalidMessage);
        }
        self.highest_stream = id;
        let mut stream = Stream::new(self.peer_initial_window, self.local_initial_window);
        stream.is_head = info.is_head;
        stream.websocket = info.websocket;
        stream.send_body.expected = info.content_length;
        stream.local_fin = fin;
        self.streams.insert(id, stream);
        let mut syn = SynStream::new(id, headers);
        syn.set_fin(fin);
        self.queue(syn);
        Ok(id)
    }

    /// Worker: sends the response head. `fin` when there is no body.
    pub fn reply(
        &mut self,
        id: StreamId,
        headers: HeaderBlock,
        fin: bool,
    ) -> Result<(), CommandError> {
        if self.role != Role::Worker {
            return Err(CommandError::OutOfOrder);
        }
        let stream = self
            .streams
            .get_mut(&id)
            .ok_or(CommandError::UnknownStream)?;
        if stream.replied {
            return Err(CommandError::OutOfOrder);
        }
        let info = http::check_response(&headers, stream.websocket)
            .map_err(|_| CommandError::InvalidMessage)?;
        // Spec #http-response: the worker sends `:version`; #frame-size: one frame.
        if headers.get(http::VERSION).is_none() || !fits_in_frame(STREAM_BLOCK_FIXED_LEN, &headers)
        {
            return Err(CommandError::InvalidMessage);
        }
        stream.send_body.expected = info.content_length;
        stream.send_body.exempt = http::is_length_exempt(stream.is_head, info.status);
        if fin && !stream.send_body.is_complete() {
            return Err(CommandError::InvalidMessage);
        }
        stream.replied = true;
        let mut reply = SynReply::new(id, headers);
        reply.set_fin(fin);
        self.queue(reply);
        if fin {
            self.finish_local(id);
        }
        Ok(())
    }

    /// The stream `id`, if we may still send body or trailers on it: it is
    /// active, our side has not ended, and (worker) its SYN_REPLY went first
    /// (spec #stream-response).
    fn sending_stream(&mut self, id: StreamId) -> Result<&mut Stream, CommandError> {
        let role = self.role;
        let stream = self
            .streams
            .get_mut(&id)
            .ok_or(CommandError::UnknownStream)?;
        if stream.local_fin {
            return Err(CommandError::AlreadyFinished);
        }
        if role == Role::Worker && !stream.replied {
            return Err(CommandError::OutOfOrder);
        }
        Ok(stream)
    }

    /// Sends body bytes; `data.len()` must not exceed [`send_capacity`](Self::send_capacity).
    pub fn send_data(&mut self, id: StreamId, data: Bytes, fin: bool) -> Result<(), CommandError> {
        let session_room = self.session_send.available();
        let stream = self.sending_stream(id)?;
        let len = data.len();
        if len
            > stream
                .send
                .available()
                .min(session_room)
                .min(MAX_PAYLOAD_LEN)
        {
            return Err(CommandError::WindowExceeded);
        }
        let mut body = stream.send_body;
        if !body.add(len) || (fin && !body.is_complete()) {
            return Err(CommandError::InvalidMessage);
        }
        stream.send_body = body;
        stream.send.consume(len);
        self.session_send.consume(len);
        let mut frame = Data::new(id, data);
        frame.set_fin(fin);
        self.queue(frame);
        if fin {
            self.finish_local(id);
        }
        Ok(())
    }

    /// Sends trailers, which end our side of the stream.
    pub fn send_trailers(
        &mut self,
        id: StreamId,
        headers: HeaderBlock,
    ) -> Result<(), CommandError> {
        let stream = self.sending_stream(id)?;
        if http::check_trailers(&headers).is_err()
            || !stream.send_body.is_complete()
            || !fits_in_frame(STREAM_BLOCK_FIXED_LEN, &headers)
        {
            return Err(CommandError::InvalidMessage);
        }
        self.queue(Headers::trailers(id, headers));
        self.finish_local(id);
        Ok(())
    }

    /// Ends a stream at once with RST_STREAM. Unknown or finished streams are left alone.
    /// A code the spec does not define (0, 10, ...) is sent as INTERNAL_ERROR.
    pub fn reset(&mut self, id: StreamId, code: RstCode) {
        if self.remove_stream(id).is_some() {
            self.queue(RstStream::new(id, code.effective()));
            self.check_drained();
        }
    }

    /// Worker: announces a new capacity (0 = no new streams for now).
    pub fn set_capacity(&mut self, capacity: u32) -> Result<(), CommandError> {
        if self.role != Role::Worker || !self.is_established() {
            return Err(CommandError::OutOfOrder);
        }
        self.capacity = capacity;
        let mut settings = Settings::new();
        settings.push(SettingId::MAX_CONCURRENT_STREAMS, capacity);
        self.queue(settings);
        Ok(())
    }
}

/// The fixed fields before the name/value block, per frame type.
const SYN_STREAM_FIXED_LEN: usize = 10;
const STREAM_BLOCK_FIXED_LEN: usize = 4;
