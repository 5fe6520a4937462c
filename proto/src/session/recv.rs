//! Frames from the peer: decoding, the checks before a stream's state, and
//! each frame type's effect on its stream
//! ([spec](../../../spec/PROTOCOL.md#frame-decoding)). WINDOW_UPDATE and
//! SETTINGS go on to `credit`.

use std::time::Instant;

use bytes::Bytes;

use super::error::decode_reason;
use super::{Event, ProtocolError, ResetOrigin, Role, Session, State, Stream};
use crate::frame::{Data, Frame, Headers, Reaction, RstStream, SynReply, SynStream};
use crate::{FrameType, GoAwayStatus, RstCode, StreamId, http};

enum Lookup {
    Active,
    Closed,
    NeverOpened,
}

impl Session {
    /// Processes one received message part (one frame).
    pub fn handle_part(&mut self, now: Instant, part: Bytes) {
        if self.is_closed() {
            return;
        }
        if part.is_empty() {
            // Spec #transport-messages: zero-length parts are ignored (REQ-style
            // envelopes); not being frames, they are no sign of life either.
            return;
        }
        self.last_recv = now;
        let data_len = (part[0] & 0x80 == 0).then(|| part.len().saturating_sub(8));
        let error = match Frame::decode(part) {
            Ok(frame) => return self.handle_frame(now, frame),
            Err(e) => e,
        };
        if let State::Handshake { .. } = self.state {
            // Spec #handshake: anything but a valid WELCOME or a GOAWAY fails it.
            return self.fail_handshake(error.frame_type() == Some(crate::FrameType::WELCOME));
        }
        let (ty, reason) = (error.frame_type(), decode_reason(error.kind()));
        match error.reaction() {
            Reaction::Session(status) => self.session_error(status, ty, reason),
            Reaction::Stream(id, code) => {
                // Spec #flow-control-windows: every DATA payload counts against the
                // session window, accepted or not; a session error outranks a stream error.
                if let Some(len) = data_len {
                    if !self.session_recv.receive(len) {
                        return self.session_error(
                            GoAwayStatus::FLOW_CONTROL_ERROR,
                            None,
                            SESSION_WINDOW_OVERRUN,
                        );
                    }
                    self.release_session(len);
                }
                self.frame_stream_error(ty, id, code, reason);
            }
        }
    }

    /// A frame naming stream `id` broke a rule checked before its stream's
    /// state (spec #frame-decoding steps 4, 8 and 9, and the pair limit):
    /// `code` is the stream error, unless the stream's state says otherwise
    /// (spec #error-table, after the table).
    fn frame_stream_error(
        &mut self,
        ty: Option<FrameType>,
        id: StreamId,
        code: RstCode,
        reason: &'static str,
    ) {
        if self.role == Role::Worker && ty == Some(FrameType::SYN_STREAM) {
            // Spec #stream-ids: the id rules come first and are session errors;
            // an id that passes them is opened, and at once closed, by the reset.
            if !id.is_router_initiated() || id <= self.highest_stream {
                return self.session_error(GoAwayStatus::PROTOCOL_ERROR, ty, SYN_STREAM_BAD_ID);
            }
            self.highest_stream = id;
            return self.stream_error(id, code, ty, reason);
        }
        match self.lookup(id) {
            // Spec #stream-closed: never an RST_STREAM for a closed stream.
            Lookup::Closed => {}
            // Spec #stream-closed: a WINDOW_UPDATE on a never-opened stream is ignored.
            Lookup::NeverOpened if ty == Some(FrameType::WINDOW_UPDATE) => {}
            Lookup::NeverOpened | Lookup::Active => self.stream_error(id, code, ty, reason),
        }
    }

    /// Processes one decoded frame, as `handle_part` does after decoding.
    pub fn handle_frame(&mut self, now: Instant, frame: Frame) {
        if self.is_closed() {
            return;
        }
        self.last_recv = now;
        if let State::Handshake { .. } = self.state {
            return self.handle_handshake_frame(now, frame);
        }
        // Spec #header-block-limits: a block with more pairs than our limit is malformed.
        let over_limit = match &frame {
            Frame::SynStream(f) => Some((FrameType::SYN_STREAM, f.stream_id(), f.headers())),
            Frame::SynReply(f) => Some((FrameType::SYN_REPLY, f.stream_id(), f.headers())),
            Frame::Headers(f) => Some((FrameType::HEADERS, f.stream_id(), f.headers())),
            _ => None,
        }
        .filter(|(_, _, block)| block.len() > self.max_header_pairs);
        if let Some((ty, id, _)) = over_limit {
            return self.frame_stream_error(
                Some(ty),
                id,
                RstCode::PROTOCOL_ERROR,
                "more name/value pairs than the receiver's limit (spec #header-block-limits, #error-table row 11)",
            );
        }
        match frame {
            Frame::SynStream(f) => self.on_syn_stream(f),
            Frame::SynReply(f) => self.on_syn_reply(f),
            Frame::Data(f) => self.on_data(f),
            Frame::Headers(f) => self.on_headers(f),
            Frame::RstStream(f) => self.on_rst_stream(&f),
            Frame::WindowUpdate(f) => self.on_window_update(&f),
            Frame::Settings(f) => self.on_settings(&f),
            Frame::Ping(f) => self.on_ping(now, &f),
            Frame::GoAway(f) => self.on_goaway(&f),
            // Registration happens once, before anything else.
            Frame::Hello(_) => self.session_error(
                GoAwayStatus::PROTOCOL_ERROR,
                Some(FrameType::HELLO),
                "HELLO on an established session (spec #error-table rows 17 and 18)",
            ),
            Frame::Welcome(_) => self.session_error(
                GoAwayStatus::PROTOCOL_ERROR,
                Some(FrameType::WELCOME),
                "WELCOME on an established session (spec #error-table rows 19 and 20)",
            ),
            Frame::Unknown(_) => {}
        }
    }

    fn on_syn_stream(&mut self, f: SynStream) {
        let id = f.stream_id();
        if self.role == Role::Router {
            // Spec #frame-syn-stream: workers never open streams. A stream error
            // on the id it names: that may be one of ours, which then closes.
            return self.frame_stream_error(
                SYN_STREAM,
                id,
                RstCode::PROTOCOL_ERROR,
                "SYN_STREAM received by the router: workers never open streams (spec #error-table row 30)",
            );
        }
        if !id.is_router_initiated() || id <= self.highest_stream {
            return self.session_error(GoAwayStatus::PROTOCOL_ERROR, SYN_STREAM, SYN_STREAM_BAD_ID);
        }
        self.highest_stream = id;
        // The stream is not ours yet: each reset below leaves no event.
        if self.is_draining() {
            return self.stream_error(
                id,
                RstCode::REFUSED_STREAM,
                SYN_STREAM,
                "SYN_STREAM while draining: not processed (spec #error-table row 36)",
            );
        }
        if self.streams.len() >= self.capacity as usize {
            return self.stream_error(
                id,
                RstCode::REFUSED_STREAM,
                SYN_STREAM,
                "SYN_STREAM beyond the worker's capacity (spec #error-table row 35)",
            );
        }
        if f.is_unidirectional() || !f.associated_stream_id().is_zero() {
            return self.stream_error(
                id,
                RstCode::PROTOCOL_ERROR,
                SYN_STREAM,
                "SYN_STREAM unidirectional or associated to a stream (spec #error-table rows 31 and 32)",
            );
        }
        let info = match http::check_request(f.headers()) {
            Ok(info) => info,
            Err(code) => {
                return self.stream_error(
                    id,
                    code,
                    SYN_STREAM,
                    "request head breaks the HTTP mapping (spec #http-request-checks, #error-table rows 34, 44 and 45)",
                );
            }
        };
        let fin = f.is_fin();
        if fin && info.websocket {
            return self.stream_error(
                id,
                RstCode::PROTOCOL_ERROR,
                SYN_STREAM,
                "WebSocket SYN_STREAM with FIN (spec #websocket-open)",
            );
        }
        if fin && info.content_length.is_some_and(|n| n > 0) {
            return self.stream_error(
                id,
                RstCode::PROTOCOL_ERROR,
                SYN_STREAM,
                "SYN_STREAM with FIN but a nonzero content-length (spec #http-body, #error-table row 45)",
            );
        }
        let mut stream = Stream::new(self.peer_initial_window, self.local_initial_window);
        stream.is_head = info.is_head;
        stream.websocket = info.websocket;
        stream.recv_body.expected = info.content_length;
        stream.remote_fin = fin;
        self.streams.insert(id, stream);
        self.last_accepted = id;
        self.events.push_back(Event::Request {
            id,
            headers: f.into_headers(),
            fin,
        });
    }

    fn on_syn_reply(&mut self, f: SynReply) {
        let id = f.stream_id();
        if !self.check_active(id, SYN_REPLY) {
            return;
        }
        if self.role == Role::Worker {
            return self.stream_error(
                id,
                RstCode::PROTOCOL_ERROR,
                SYN_REPLY,
                "SYN_REPLY received by a worker (spec #error-table row 39)",
            );
        }
        let stream = self.streams.get_mut(&id).expect("active");
        if stream.replied {
            return self.stream_error(
                id,
                RstCode::STREAM_IN_USE,
                SYN_REPLY,
                "second SYN_REPLY on a stream (spec #error-table row 38)",
            );
        }
        let info = match http::check_response(f.headers(), stream.websocket) {
            Ok(info) => info,
            Err(code) => {
                return self.stream_error(
                    id,
                    code,
                    SYN_REPLY,
                    "response head breaks the HTTP mapping (spec #http-response, #error-table rows 37, 44 and 45)",
                );
            }
        };
        stream.replied = true;
        stream.recv_body.expected = info.content_length;
        stream.recv_body.exempt = http::is_length_exempt(stream.is_head, info.status);
        let fin = f.is_fin();
        if fin && !stream.recv_body.is_complete() {
            return self.stream_error(
                id,
                RstCode::PROTOCOL_ERROR,
                SYN_REPLY,
                "SYN_REPLY with FIN but a nonzero content-length (spec #http-body, #error-table row 45)",
            );
        }
        self.events.push_back(Event::Response {
            id,
            headers: f.into_headers(),
            fin,
        });
        if fin {
            self.finish_remote(id);
        }
    }

    fn on_data(&mut self, f: Data) {
        let id = f.stream_id();
        let len = f.payload().len();
        if !self.session_recv.receive(len) {
            return self.session_error(
                GoAwayStatus::FLOW_CONTROL_ERROR,
                None,
                SESSION_WINDOW_OVERRUN,
            );
        }
        let verdict = match self.lookup(id) {
            Lookup::Closed => Err(None),
            Lookup::NeverOpened => Err(Some((RstCode::INVALID_STREAM, 0, NEVER_OPENED))),
            Lookup::Active => {
                let role = self.role;
                let stream = self.streams.get_mut(&id).expect("active");
                if role == Role::Router && !stream.replied {
                    Err(Some((RstCode::PROTOCOL_ERROR, 0, BEFORE_REPLY)))
                } else if stream.remote_fin {
                    Err(Some((RstCode::STREAM_ALREADY_CLOSED, 0, AFTER_FIN)))
                } else if !stream.recv.receive(len) {
                    Err(Some((
                        RstCode::FLOW_CONTROL_ERROR,
                        0,
                        "DATA beyond the stream receive window (spec #error-table row 53)",
                    )))
                } else if !stream.recv_body.add(len)
                    || (f.is_fin() && !stream.recv_body.is_complete())
                {
                    // Spec #http-body: the bytes within the declared length
                    // are still the body as declared. Passed on before the
                    // reset, a client gets them rather than nothing.
                    let within = stream.recv_body.within_declared(len);
                    stream.recv_pending += within;
                    Err(Some((
                        RstCode::PROTOCOL_ERROR,
                        within,
                        "body length differs from its content-length (spec #http-body, #error-table row 45)",
                    )))
                } else {
                    stream.recv_pending += len;
                    Ok(())
                }
            }
        };
        if let Err(error) = verdict {
            let within = error.map_or(0, |(_, within, _)| within);
            // Bytes nobody will consume still count against the session:
            // credit them now (those passed on are credited with the stream).
            self.release_session(len - within);
            if within > 0 {
                self.events.push_back(Event::Data {
                    id,
                    data: f.into_payload().slice(..within),
                    fin: false,
                });
            }
            if let Some((code, _, reason)) = error {
                self.stream_error(id, code, None, reason);
            }
            return;
        }
        let fin = f.is_fin();
        self.events.push_back(Event::Data {
            id,
            data: f.into_payload(),
            fin,
        });
        if fin {
            self.finish_remote(id);
        }
    }

    fn on_headers(&mut self, f: Headers) {
        let id = f.stream_id();
        if !self.check_active(id, HEADERS) {
            return;
        }
        let role = self.role;
        let stream = self.streams.get_mut(&id).expect("active");
        let error = if role == Role::Router && !stream.replied {
            Some((RstCode::PROTOCOL_ERROR, BEFORE_REPLY))
        } else if stream.remote_fin {
            Some((RstCode::STREAM_ALREADY_CLOSED, AFTER_FIN))
        } else if !f.is_fin() {
            Some((
                RstCode::PROTOCOL_ERROR,
                "HEADERS without FIN (spec #error-table row 42)",
            ))
        } else if http::check_trailers(f.headers()).is_err() {
            Some((
                RstCode::PROTOCOL_ERROR,
                "trailers with a pseudo-header or a hop-by-hop field (spec #http-trailers, #error-table rows 43 and 44)",
            ))
        } else if !stream.recv_body.is_complete() {
            Some((
                RstCode::PROTOCOL_ERROR,
                "body shorter than its content-length (spec #http-body, #error-table row 45)",
            ))
        } else {
            None
        };
        if let Some((code, reason)) = error {
            return self.stream_error(id, code, HEADERS, reason);
        }
        self.events.push_back(Event::Trailers {
            id,
            headers: f.into_headers(),
        });
        self.finish_remote(id);
    }

    fn on_rst_stream(&mut self, f: &RstStream) {
        // Spec: an RST_STREAM is never answered with one, whatever it names.
        let id = f.stream_id();
        if self.remove_stream(id).is_some() {
            // Spec #rst-codes: 0, 10 and unknown codes mean INTERNAL_ERROR.
            self.events.push_back(Event::Reset {
                id,
                code: f.code().effective(),
                origin: ResetOrigin::Peer,
            });
            self.check_drained();
        }
    }

    /// Spec #stream-closed, for frames that need an active stream (SYN_REPLY,
    /// HEADERS): a closed stream's are ignored, a never-opened one's get
    /// INVALID_STREAM. True when the stream is active.
    fn check_active(&mut self, id: StreamId, ty: Option<FrameType>) -> bool {
        match self.lookup(id) {
            Lookup::Active => true,
            Lookup::Closed => false,
            Lookup::NeverOpened => {
                self.stream_error(id, RstCode::INVALID_STREAM, ty, NEVER_OPENED);
                false
            }
        }
    }

    fn lookup(&self, id: StreamId) -> Lookup {
        if self.streams.contains_key(&id) {
            Lookup::Active
        } else if id.is_router_initiated() && id <= self.highest_stream {
            Lookup::Closed
        } else {
            Lookup::NeverOpened
        }
    }

    /// Answers with RST_STREAM, reports why, and ends the stream if it was
    /// one of ours. A stream never opened, or refused at once, leaves no
    /// `Reset` event: the application never heard of it.
    pub(super) fn stream_error(
        &mut self,
        id: StreamId,
        code: RstCode,
        ty: Option<FrameType>,
        reason: &'static str,
    ) {
        let error = ProtocolError::stream_error(id, code, ty, reason);
        self.report(error);
        self.queue(RstStream::new(id, code));
        if self.remove_stream(id).is_some() {
            self.events.push_back(Event::Reset {
                id,
                code,
                origin: ResetOrigin::Local(error),
            });
            self.check_drained();
        }
    }
}

const SYN_STREAM: Option<FrameType> = Some(FrameType::SYN_STREAM);
const SYN_REPLY: Option<FrameType> = Some(FrameType::SYN_REPLY);
const HEADERS: Option<FrameType> = Some(FrameType::HEADERS);

// The reasons that more than one check gives.
const SESSION_WINDOW_OVERRUN: &str =
    "DATA beyond the session receive window (spec #error-table row 52)";
const SYN_STREAM_BAD_ID: &str =
    "SYN_STREAM with an even id, or one not above the highest received (spec #error-table row 29)";
const NEVER_OPENED: &str =
    "DATA, SYN_REPLY or HEADERS on a never-opened stream (spec #error-table row 46)";
const BEFORE_REPLY: &str = "DATA or HEADERS before SYN_REPLY (spec #error-table row 40)";
const AFTER_FIN: &str = "DATA or HEADERS after the sender's FIN (spec #error-table row 41)";
