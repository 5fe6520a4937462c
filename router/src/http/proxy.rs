//! One client request, from arrival to response head: map it to a stream,
//! find a worker, pump the body, wait for the head, retry where the spec says
//! it is safe ([spec](../../../spec/PROTOCOL.md#stream-retry)).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, EXPECT, HeaderValue, SEC_WEBSOCKET_VERSION};
use http::{Method, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info, warn};
use zroute_proto::mapping;

use super::body::{AccessLog, ProxyBody};
use super::cancel::CancelGuard;
use super::forwarding::{
    ClientHop, X_REQUEST_ID, add_forwarded, ensure_request_id, filter_request_trailers,
    strip_connection_listed,
};
use super::validate::{Rejection, check_request};
use super::websocket::{self, Bridge};
use crate::config::Config;
use crate::dispatch::{Handle, Msg, OpenRequest, StreamEvent, StreamKey};
use crate::error::{Error, ErrorSource, RetryType};
use crate::metrics::Metrics;

/// A request is tried on at most this many workers (streams refused before
/// any work, and `--max-retries` after worker deaths, together).
const MAX_ATTEMPTS: usize = 3;

pub(crate) struct Proxy {
    pub(crate) dispatch: Handle,
    pub(crate) config: Arc<Config>,
    pub(crate) metrics: Arc<Metrics>,
    ids: RequestIds,
    /// True once the HTTP front drains: open WebSockets close with 1001.
    going_away: watch::Sender<bool>,
    /// WebSockets open: the HTTP front's shutdown waits for them too.
    websockets: Arc<watch::Sender<usize>>,
}

/// 32 lowercase hex characters: a random per-process prefix and a counter, so
/// ids are unique without a random draw per request.
struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        Self {
            prefix: getrandom::u64().unwrap_or(0x5a5a_5a5a),
            next: AtomicU64::new(1),
        }
    }

    fn fresh(&self) -> String {
        // By hand: `format!` with two `{:016x}` cost more than a thousand
        // instructions, on every request that brings no id.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let next = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(32);
        for word in [self.prefix, next] {
            for shift in (0..16).rev() {
                id.push(char::from(HEX[((word >> (shift * 4)) & 0xf) as usize]));
            }
        }
        id
    }
}

impl Proxy {
    pub(crate) fn new(dispatch: Handle, config: Arc<Config>, metrics: Arc<Metrics>) -> Self {
        Self {
            dispatch,
            config,
            metrics,
            ids: RequestIds::new(),
            going_away: watch::Sender::new(false),
            websockets: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Once no WebSocket is open.
    pub(crate) async fn websockets_closed(&self) {
        let mut open = self.websockets.subscribe();
        let _ = open.wait_for(|n| *n == 0).await;
    }

    /// The HTTP front drains: WebSockets close with 1001 after the drain grace.
    pub(crate) fn going_away(&self) {
        self.going_away.send_replace(true);
    }

    /// Answers one request. Its body is hyper's, or none for a request the
    /// lean HTTP/1.1 path took (it takes only requests without one).
    pub(crate) async fn handle(
        self: Arc<Self>,
        req: Request<Option<Incoming>>,
        hop: &ClientHop,
    ) -> Response<ProxyBody> {
        let client = hop.addr;
        let start = Instant::now();
        let version = req.version();
        let has_body = req.body().as_ref().is_some_and(|b| !b.is_end_stream());
        self.metrics.in_flight.inc();
        let mut access = AccessLog {
            enabled: self.config.access_log,
            start,
            client,
            method: req.method().clone(),
            path: req
                .uri()
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
            status: 0,
            route: None,
            worker: None,
            request_id: String::new(),
            metrics: self.metrics.clone(),
            finished: false,
        };
        let res = self.forward(req, hop, start, &mut access).await;
        let res = match res {
            Ok(res) => res,
            Err(error) => {
                let (status, why) = (error.status(), error.why());
                if access.request_id.is_empty() {
                    access.request_id = self.ids.fresh();
                }
                // A limit the client hit (or a full queue) is worth a line
                // naming the client; a worker's failure is logged where seen.
                let request_id = access.request_id.as_str();
                if error.source() != ErrorSource::Worker {
                    info!(%client, %status, why, request_id, "request rejected");
                } else {
                    debug!(%client, %status, why, request_id, "answered locally");
                }
                if has_body {
                    // The body may be unread: close with a lingering close, so
                    // the client reads this answer rather than a reset.
                    hop.unread.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                let mut res = local(status, why, request_id);
                if matches!(error, Error::WebSocketVersion) {
                    // RFC 6455 §4.4: the versions the server speaks.
                    res.headers_mut()
                        .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
                }
                if version < http::Version::HTTP_2 && closes_connection(status) {
                    res.headers_mut()
                        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
                }
                res
            }
        };
        access.status = res.status().as_u16();
        self.metrics
            .record(access.status, access.route(), start.elapsed().as_secs_f64());
        match res.into_parts() {
            (parts, ProxyBody::Stream(mut body)) => {
                body.access = Some(access);
                Response::from_parts(parts, ProxyBody::Stream(body))
            }
            (parts, body) => {
                access.finish(0, true);
                Response::from_parts(parts, body)
            }
        }
    }

    async fn forward(
        &self,
        mut req: Request<Option<Incoming>>,
        hop: &ClientHop,
        start: Instant,
        access: &mut AccessLog,
    ) -> Result<Response<ProxyBody>, Error> {
        let config = &self.config;
        // As the client sent it, before the router adds its own fields.
        let head_size = head_size(&req);
        // hyper enforces the limit only down to its own 8 KiB buffer floor
        // (HTTP/1) or by its own measure (HTTP/2): check it here as well.
        if head_size > config.max_header_size {
            return Err(Error::HeadTooLarge);
        }
        // Before anything is removed: `Connection: transfer-encoding` must not
        // hide a coding from the check.
        let host = check_request(&req, config.max_uri_size)
            .map_err(|Rejection { status, why }| Error::Invalid(status, why))?;
        // Before `Connection` goes: a handshake must list `upgrade` there.
        let mut websocket = websocket::handshake(&mut req)?;
        // Before the router adds its own fields, so that a client cannot
        // name them away (RFC 9110 §7.6.1).
        strip_connection_listed(req.headers_mut());
        let request_id = ensure_request_id(req.headers_mut(), || self.ids.fresh());
        access.request_id = request_id.to_str().unwrap_or_default().to_owned();
        if req.method() == Method::CONNECT {
            return Err(Error::ConnectMethod);
        }
        let declared = req
            .body()
            .as_ref()
            .map_or(Some(0), |b| b.size_hint().exact());
        if config.max_body_size > 0 && declared.is_some_and(|n| n > config.max_body_size) {
            return Err(Error::BodyTooLarge);
        }
        // The router answers `Expect: 100-continue` itself, when it starts reading the body.
        req.headers_mut().remove(EXPECT);
        add_forwarded(req.headers_mut(), hop, &host);
        let scheme = hop.scheme;
        if websocket.is_some() {
            websocket::strip_handshake_fields(req.headers_mut());
        }
        let mut block =
            mapping::request_block(&req, scheme, &host).map_err(|_| Error::Unmappable)?;
        if websocket.is_some() {
            block
                .insert(zroute_proto::http::PROTOCOL, zroute_proto::http::WEBSOCKET)
                .map_err(|_| Error::Unmappable)?;
        }
        let is_head = req.method() == Method::HEAD;
        let idempotent = is_idempotent(req.method());
        let body = req.into_body();
        let mut pump = BodyPump::new(
            body,
            config.max_body_size,
            config.retry_buffer,
            config.stream_buffer,
        );
        let deadline = start + config.request_timeout;
        // The streams tried so far: a retry goes to another worker.
        let mut tried: Vec<StreamKey> = Vec::new();
        // Workers that died while serving this request.
        let mut lost = 0u32;

        for attempt in 1..=MAX_ATTEMPTS {
            if attempt > 1 {
                self.metrics.retries.inc();
            }
            let (events_tx, mut events) = mpsc::unbounded_channel();
            // A WebSocket's messages travel as its request body would.
            let streams_up = !pump.is_empty() || websocket.is_some();
            let credit = streams_up.then(|| Arc::new(Semaphore::new(config.stream_buffer)));
            let request = OpenRequest {
                websocket: websocket.is_some(),
                head: block.clone(),
                fin: !streams_up,
                events: events_tx,
                credit: credit.clone(),
                tried: tried.clone(),
            };
            if !self.dispatch.send(Msg::Open(request)) {
                return Err(Error::ShuttingDown);
            }
            // One timer per attempt: the queue's deadline, then the first
            // byte's (each timer costs a registration in tokio's wheel).
            let timer = sleep_until(deadline.min(Instant::now() + config.queue_timeout));
            tokio::pin!(timer);
            let opened = tokio::select! {
                biased;
                opened = events.recv() => match opened {
                    Some(StreamEvent::Opened(Ok(opened))) => opened,
                    Some(StreamEvent::Opened(Err(e))) => return Err(e.into()),
                    Some(_) => return Err(Error::WorkerFailed),
                    None => return Err(Error::ShuttingDown),
                },
                () = &mut timer => return Err(Error::QueueTimeout),
            };
            access.route = Some(opened.pool);
            access.worker = Some(opened.worker);
            let key = opened.key;
            let mut guard = CancelGuard::new(self.dispatch.clone(), key);
            pump.rewind();
            timer
                .as_mut()
                .reset(deadline.min(Instant::now() + config.first_byte_timeout));
            let outcome = loop {
                tokio::select! {
                    event = events.recv() => break event,
                    step = pump.step(&self.dispatch, &key, credit.as_deref()), if !pump.is_done() => match step {
                        Ok(()) => {}
                        Err(PumpError::TooLarge) => return Err(Error::BodyTooLarge),
                        Err(PumpError::Client) => return Err(Error::BodyBrokeOff),
                        Err(PumpError::StreamGone) => {}
                    },
                    () = &mut timer => {
                        return Err(Error::FirstByteTimeout);
                    }
                }
            };
            match outcome {
                Some(StreamEvent::Head { block, fin }) => {
                    let head =
                        mapping::response_from_block(&block).map_err(|_| Error::BadResponseHead)?;
                    let (mut parts, ()) = head.into_parts();
                    status_reason(&mut parts);
                    parts.headers.entry(X_REQUEST_ID).or_insert(request_id);
                    if let Some(handshake) = websocket.take() {
                        if parts.status == StatusCode::SWITCHING_PROTOCOLS {
                            return self.accept_websocket(
                                handshake, parts, events, key, guard, credit, access,
                            );
                        }
                        // Refused with an HTTP response: the router's direction ends.
                        self.dispatch.send(Msg::Data {
                            key,
                            data: Bytes::new(),
                            fin: true,
                        });
                    }
                    if !pump.is_done() {
                        let dispatch = self.dispatch.clone();
                        tokio::spawn(async move {
                            while !pump.is_done() {
                                if let Err(e) = pump.step(&dispatch, &key, credit.as_deref()).await
                                {
                                    if e != PumpError::StreamGone {
                                        dispatch.send(Msg::Cancel { key });
                                    }
                                    return;
                                }
                            }
                        });
                    }
                    let bodiless = is_head
                        || fin
                        || parts.status == StatusCode::NO_CONTENT
                        || parts.status == StatusCode::NOT_MODIFIED;
                    if bodiless {
                        if fin {
                            guard.disarm();
                        }
                        // A HEAD response keeps its content-length; hyper sends no body for it.
                        return Ok(Response::from_parts(parts, ProxyBody::empty()));
                    }
                    let length = parts
                        .headers
                        .get(CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok()?.parse().ok());
                    return Ok(Response::from_parts(
                        parts,
                        ProxyBody::stream(events, key, self.dispatch.clone(), guard, length),
                    ));
                }
                Some(StreamEvent::Reset(cause)) => {
                    guard.disarm();
                    let error = Error::Reset(cause);
                    // The error says whether another worker may have it; the
                    // body must still be replayable, and a lost worker is
                    // retried only for an idempotent request, --max-retries times.
                    match error.retry() {
                        RetryType::Safe if pump.is_replayable() => {
                            debug!(
                                attempt,
                                worker = access.worker(),
                                "stream refused by the worker: trying another"
                            );
                            tried.push(key);
                        }
                        RetryType::IfIdempotent
                            if idempotent && pump.is_replayable() && lost < config.max_retries =>
                        {
                            lost += 1;
                            info!(attempt, worker = access.worker(), request_id = %access.request_id, "worker lost before answering: trying another");
                            tried.push(key);
                        }
                        RetryType::IfIdempotent if idempotent && pump.is_replayable() => {
                            // A request that takes down each worker it reaches (a
                            // "query of death") must not take down the whole pool.
                            warn!(
                                worker = access.worker(), request_id = %access.request_id, path = %access.path,
                                lost = lost + 1, max_retries = config.max_retries,
                                "worker lost before answering, again: not retried (--max-retries)"
                            );
                            return Err(error);
                        }
                        _ => {
                            debug!(?cause, "stream reset before the response head");
                            return Err(error);
                        }
                    }
                }
                Some(_) | None => return Err(Error::WorkerFailed),
            }
        }
        Err(Error::AttemptsExhausted)
    }
}

impl Proxy {
    /// The worker accepted a WebSocket (101): the client's answer, with the
    /// bridge between the two sides running on its own task.
    #[allow(clippy::too_many_arguments)]
    fn accept_websocket(
        &self,
        handshake: websocket::Handshake,
        mut parts: http::response::Parts,
        events: mpsc::UnboundedReceiver<StreamEvent>,
        key: StreamKey,
        guard: CancelGuard,
        credit: Option<Arc<Semaphore>>,
        access: &AccessLog,
    ) -> Result<Response<ProxyBody>, Error> {
        if !handshake.allows(&parts.headers) {
            warn!(
                worker = access.worker(), request_id = %access.request_id,
                "the worker chose a WebSocket subprotocol the client did not offer"
            );
            return Err(Error::BadResponseHead);
        }
        handshake.answer(&mut parts);
        let config = &self.config;
        let bridge = Bridge {
            key,
            dispatch: self.dispatch.clone(),
            credit: credit.expect("a WebSocket stream has credit"),
            piece: config.stream_buffer,
            max_message: config.ws_max_message,
            close_timeout: config.ws_close_timeout,
            drain_grace: config.ws_drain_grace,
            idle_timeout: config.ws_idle_timeout,
            metrics: self.metrics.clone(),
            _open: websocket::OpenSocket::new(self.websockets.clone(), self.metrics.clone()),
        };
        let from_worker = ProxyBody::stream(events, key, self.dispatch.clone(), guard, None);
        let going_away = self.going_away.subscribe();
        tokio::spawn(websocket::serve(handshake, from_worker, bridge, going_away));
        Ok(Response::from_parts(parts, ProxyBody::empty()))
    }
}

/// The request head's size as HTTP/1.1 would send it: the request line and
/// one `name: value\r\n` line per field.
fn head_size<B>(req: &Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + req.uri().authority().map_or(0, |a| a.as_str().len());
    let line = req.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let fields: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    line + fields + 2
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Whether the router closes an HTTP/1 connection after answering `status`
/// itself: the request was refused as it stood, so what follows it on the
/// connection (its body, a pipelined request) cannot be trusted to be framed
/// as the client meant. nginx closes after these as well.
fn closes_connection(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::URI_TOO_LONG
            | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            | StatusCode::NOT_IMPLEMENTED
            | StatusCode::METHOD_NOT_ALLOWED
    )
}

fn local(status: StatusCode, why: &str, request_id: &str) -> Response<ProxyBody> {
    let mut res = Response::new(ProxyBody::full(Bytes::from(format!("{why}\n"))));
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        res.headers_mut().insert(X_REQUEST_ID, id);
    }
    res
}

#[derive(Debug, PartialEq, Eq)]
enum PumpError {
    /// More body than `--max-body-size`.
    TooLarge,
    /// The client's body broke off.
    Client,
    /// The stream ended on the worker's side: stop quietly.
    StreamGone,
}

/// Moves the request body to the dispatcher, one piece per step, keeping a
/// bounded copy of what it sent so a refused stream can be replayed.
///
/// `step` is cancel-safe, since it races the stream's events: its only awaits
/// read the client's body and acquire credit, and a byte leaves `current`
/// only once its credit is held.
struct BodyPump {
    /// Bytes taken from the body or the replay buffer and not yet sent.
    current: Option<Bytes>,
    body: Option<Incoming>,
    /// Chunks sent on this attempt's stream or earlier ones, while they fit the replay limit.
    replay: Vec<Bytes>,
    replay_len: usize,
    replay_limit: usize,
    replayable: bool,
    /// Next chunk of `replay` to resend on a new stream.
    cursor: usize,
    read: u64,
    max: u64,
    trailers: Option<http::HeaderMap>,
    ended: bool,
    fin_sent: bool,
    /// Largest piece sent at once: never more than the stream's credit.
    piece: usize,
}

impl BodyPump {
    fn new(body: Option<Incoming>, max: u64, replay_limit: usize, piece: usize) -> Self {
        let ended = body.as_ref().is_none_or(Incoming::is_end_stream);
        Self {
            current: None,
            body,
            replay: Vec::new(),
            replay_len: 0,
            replay_limit,
            replayable: true,
            cursor: 0,
            read: 0,
            max,
            trailers: None,
            ended,
            fin_sent: ended,
            piece,
        }
    }

    /// No body at all: the SYN_STREAM carries FIN.
    fn is_empty(&self) -> bool {
        self.ended && self.replay.is_empty() && self.trailers.is_none()
    }

    fn is_done(&self) -> bool {
        self.fin_sent
    }

    fn is_replayable(&self) -> bool {
        self.replayable
    }

    /// A new stream starts: send everything again from the first chunk.
    fn rewind(&mut self) {
        self.cursor = 0;
        self.current = None;
        self.fin_sent = self.is_empty();
    }

    async fn step(
        &mut self,
        dispatch: &Handle,
        key: &StreamKey,
        credit: Option<&Semaphore>,
    ) -> Result<(), PumpError> {
        // A request with a body always has credit (see `forward`).
        let credit = credit.ok_or(PumpError::StreamGone)?;
        if let Some(chunk) = self.current.as_mut() {
            let n = chunk.len().min(self.piece);
            let permits = u32::try_from(n).expect("pieces are small");
            credit
                .acquire_many(permits)
                .await
                .map_err(|_| PumpError::StreamGone)?
                .forget();
            let part = chunk.split_to(n);
            if chunk.is_empty() {
                self.current = None;
            }
            return if dispatch.send(Msg::Data {
                key: *key,
                data: part,
                fin: false,
            }) {
                Ok(())
            } else {
                Err(PumpError::StreamGone)
            };
        }
        if self.cursor < self.replay.len() {
            self.current = Some(self.replay[self.cursor].clone());
            self.cursor += 1;
            return Ok(());
        }
        if self.ended {
            let msg = match self.trailers.as_ref().map(mapping::trailers_block) {
                Some(Ok(block)) => Msg::Trailers { key: *key, block },
                _ => Msg::Data {
                    key: *key,
                    data: Bytes::new(),
                    fin: true,
                },
            };
            self.fin_sent = true;
            return if dispatch.send(msg) {
                Ok(())
            } else {
                Err(PumpError::StreamGone)
            };
        }
        let Some(body) = self.body.as_mut() else {
            return Err(PumpError::StreamGone);
        };
        match body.frame().await {
            None => {
                self.ended = true;
                self.body = None;
                Ok(())
            }
            Some(Err(_)) => Err(PumpError::Client),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(chunk) => {
                    self.read += chunk.len() as u64;
                    if self.max > 0 && self.read > self.max {
                        return Err(PumpError::TooLarge);
                    }
                    if self.replayable && self.replay_len + chunk.len() <= self.replay_limit {
                        self.replay_len += chunk.len();
                        self.replay.push(chunk.clone());
                        self.cursor = self.replay.len();
                    } else {
                        self.replayable = false;
                        self.replay.clear();
                        self.cursor = 0;
                    }
                    if !chunk.is_empty() {
                        self.current = Some(chunk);
                    }
                    Ok(())
                }
                Err(frame) => {
                    if let Ok(mut trailers) = frame.into_trailers() {
                        let dropped = filter_request_trailers(&mut trailers);
                        if dropped > 0 {
                            debug!(
                                dropped,
                                "request trailer fields that may not follow the body: dropped"
                            );
                        }
                        if !trailers.is_empty() {
                            self.trailers = Some(trailers);
                        }
                    }
                    Ok(())
                }
            },
        }
    }
}

/// The reason phrase of the status line an HTTP/1.x client gets (spec
/// #reason-phrase): the worker's, which the mapping kept only if a status
/// line may carry it; else the registered one. An unregistered code gets
/// none, as nginx writes it, rather than hyper's "<none>". HTTP/2 has no
/// reason phrase, and hyper's HTTP/2 server ignores the extension.
fn status_reason(parts: &mut http::response::Parts) {
    let reason = match parts.extensions.remove::<mapping::ReasonPhrase>() {
        Some(reason) => hyper::ext::ReasonPhrase::try_from(Bytes::from(reason)).ok(),
        None if parts.status.canonical_reason().is_none() => {
            Some(hyper::ext::ReasonPhrase::from_static(b""))
        }
        None => None,
    };
    if let Some(reason) = reason {
        parts.extensions.insert(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_the_prefix_then_the_counter_in_hex() {
        let ids = RequestIds {
            prefix: 0x0123_4567_89ab_cdef,
            next: AtomicU64::new(0xff),
        };
        assert_eq!(ids.fresh(), "0123456789abcdef00000000000000ff");
        assert_eq!(ids.fresh(), "0123456789abcdef0000000000000100");
    }
}
