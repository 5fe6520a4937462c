//! The conformance test app of `spec/PROTOCOL.md` Appendix A, as a plain
//! request handler. `main.rs` serves it; the crate's tests serve it too.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use http::uri::Scheme;
use http::{Method, Request, Response, StatusCode, Version};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use zroute_worker::websocket::{Message, WebSocket, WebSocketBody, WebSocketUpgrade};
use zroute_worker::{Body, BoxError, PreserveChunks, ReasonPhrase};

/// The largest DATA payload, and so the largest `/stream` frame.
const MAX_FRAME: u64 = 65_536;

/// Handles one request as Appendix A says. `id` is the worker's HELLO id.
pub(crate) async fn handle(
    id: Arc<str>,
    req: Request<Body>,
) -> Result<Response<AppBody>, BoxError> {
    if WebSocketUpgrade::is_upgrade(&req) {
        return Ok(websocket(req));
    }
    let (parts, body) = req.into_parts();
    let method = &parts.method;
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let query = Query(parts.uri.query().unwrap_or(""));
    let path = parts.uri.path();
    match path {
        "/echo" if post => {
            // A.3: a non-empty content-type is echoed with all its segments;
            // an empty or missing one becomes application/octet-stream.
            let mut content_type: Vec<HeaderValue> = parts
                .headers
                .get_all(CONTENT_TYPE)
                .iter()
                .filter(|v| !v.is_empty())
                .cloned()
                .collect();
            if content_type.is_empty() {
                content_type.push(HeaderValue::from_static("application/octet-stream"));
            }
            let mut res = Response::new(AppBody::Echo(body));
            for value in content_type {
                res.headers_mut().append(CONTENT_TYPE, value);
            }
            return Ok(res);
        }
        "/drain-body" if post => {
            let mut body = body;
            let mut total: u64 = 0;
            while let Some(frame) = body.frame().await {
                if let Some(data) = frame?.data_ref() {
                    total += data.len() as u64;
                }
            }
            return Ok(text(StatusCode::OK, total.to_string()));
        }
        _ => {}
    }
    // Every other route ignores the body; dropping it lets the worker discard
    // (and credit) whatever still arrives, so the upload keeps moving.
    drop(body);
    let res = match path {
        "/hello" if get => text(StatusCode::OK, format!("Hello from {id}")),
        "/headers" if get || post => {
            let mut res = Response::new(AppBody::full(headers_json(&parts)));
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res
        }
        "/stream" if get => {
            let (Some(n), Some(size)) = (query.number("n", 10), query.number("size", 1024)) else {
                return Ok(empty(StatusCode::BAD_REQUEST));
            };
            if !(1..=MAX_FRAME).contains(&size) {
                return Ok(empty(StatusCode::BAD_REQUEST));
            }
            let mut res = octets(AppBody::Stream {
                frames: n,
                size: size as usize,
                next: 0,
            });
            // A.6: each frame of S bytes is its own DATA frame, never split.
            res.extensions_mut().insert(PreserveChunks);
            res
        }
        "/slow" if get => {
            let Some(ms) = query.required("ms") else {
                return Ok(empty(StatusCode::BAD_REQUEST));
            };
            // A reset from the router aborts this task, and with it the wait.
            tokio::time::sleep(Duration::from_millis(ms)).await;
            text(StatusCode::OK, "slow".into())
        }
        "/large" if get => {
            let Some(total) = query.number("bytes", 1_048_576) else {
                return Ok(empty(StatusCode::BAD_REQUEST));
            };
            let mut res = octets(AppBody::Large { total, sent: 0 });
            res.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(total));
            res
        }
        "/trailers" if get => {
            let mut trailers = HeaderMap::new();
            trailers.insert("x-trailer", HeaderValue::from_static("done"));
            let frames = VecDeque::from([
                Frame::data(Bytes::from_static(b"ok")),
                Frame::trailers(trailers),
            ]);
            let mut res = Response::new(AppBody::Frames(frames));
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            // Spec #http-trailers: HTTP/1.1 clients get only announced trailer fields.
            res.headers_mut()
                .insert(http::header::TRAILER, HeaderValue::from_static("x-trailer"));
            res
        }
        _ => match path.strip_prefix("/status/") {
            // A.5: the code is the rest of the path, so `/status/x/204` is a 400.
            Some(code) if get => match status_code(code) {
                Some(status) => {
                    let mut res = empty(status);
                    // Feature `reason-phrase`: the app's own words after the code.
                    let reason = query.get("reason").map(|r| r.replace('+', " "));
                    if let Some(reason) = reason.and_then(|r| ReasonPhrase::new(r).ok()) {
                        res.extensions_mut().insert(reason);
                    }
                    res
                }
                None => empty(StatusCode::BAD_REQUEST),
            },
            _ => text(StatusCode::NOT_FOUND, "not found".into()),
        },
    };
    Ok(res)
}

/// A.11: `/ws/echo` echoes every message; any other WebSocket gets 404.
fn websocket(req: Request<Body>) -> Response<AppBody> {
    if req.uri().path() != "/ws/echo" {
        return text(StatusCode::NOT_FOUND, "not found".into());
    }
    let upgrade = WebSocketUpgrade::from_request(req).expect("checked by the caller");
    let protocol = upgrade.protocols().any(|p| p == "echo").then_some("echo");
    let (res, ws) = upgrade.accept(protocol);
    tokio::spawn(echo(ws));
    res.map(AppBody::WebSocket)
}

async fn echo(mut ws: WebSocket) {
    while let Some(Ok(msg)) = ws.recv().await {
        let sent = match msg {
            Message::Close(_) => return,
            Message::Text(text) => match close_command(&text) {
                Some((code, reason)) => ws.close(code, reason).await,
                None => ws.send(Message::Text(text)).await,
            },
            binary => ws.send(binary).await,
        };
        if sent.is_err() {
            return;
        }
    }
}

/// `close:CODE:REASON`: close with that code and reason instead of echoing.
fn close_command(text: &str) -> Option<(u16, &str)> {
    let rest = text.strip_prefix("close:")?;
    let (code, reason) = rest.split_once(':').unwrap_or((rest, ""));
    Some((code.parse().ok()?, reason))
}

/// A.5: exactly three ASCII digits, 200 to 599.
fn status_code(code: &str) -> Option<StatusCode> {
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u16 = code.parse().ok()?;
    (200..=599)
        .contains(&n)
        .then(|| StatusCode::from_u16(n).ok())
        .flatten()
}

fn text(status: StatusCode, body: String) -> Response<AppBody> {
    let mut res = Response::new(AppBody::full(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    res
}

fn empty(status: StatusCode) -> Response<AppBody> {
    let mut res = Response::new(AppBody::full(String::new()));
    *res.status_mut() = status;
    res
}

fn octets(body: AppBody) -> Response<AppBody> {
    let mut res = Response::new(body);
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    res
}

/// A.1: `name=value` pairs separated by `&`; numbers are `1*DIGIT`.
struct Query<'a>(&'a str);

impl Query<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.split('&').find_map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            (n == name).then_some(v)
        })
    }

    /// `None` when present but not a number.
    fn number(&self, name: &str, default: u64) -> Option<u64> {
        match self.get(name) {
            None => Some(default),
            Some(v) => parse_number(v),
        }
    }

    fn required(&self, name: &str) -> Option<u64> {
        self.get(name).and_then(parse_number)
    }
}

fn parse_number(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// A.4: the request head as JSON.
fn headers_json(parts: &http::request::Parts) -> String {
    let version = match parts.version {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    let host = parts.headers.get("host").map_or(&b""[..], |h| h.as_bytes());
    let scheme = parts.extensions.get::<Scheme>().map_or("", Scheme::as_str);
    let mut out = String::from("{");
    for (name, value) in [
        ("method", parts.method.as_str().as_bytes()),
        ("path", path.as_bytes()),
        ("version", version.as_bytes()),
        ("host", host),
        ("scheme", scheme.as_bytes()),
    ] {
        let _ = write!(
            out,
            "{}:{},",
            json_string(name.as_bytes()),
            json_string(value)
        );
    }
    out.push_str("\"headers\":{");
    // `host` is `:host`, reported above; the block itself never carries one.
    let names = parts.headers.keys().filter(|n| n.as_str() != "host");
    for (i, name) in names.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| json_string(v.as_bytes()))
            .collect();
        let _ = write!(
            out,
            "{}:[{}]",
            json_string(name.as_str().as_bytes()),
            values.join(",")
        );
    }
    out.push_str("}}");
    out
}

/// A JSON string of raw bytes, each byte 0x80 to 0xFF as U+0080 to U+00FF.
fn json_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x00..=0x1f | 0x7f => {
                let _ = write!(out, "\\u{:04x}", b);
            }
            _ => out.push(char::from(b)),
        }
    }
    out.push('"');
    out
}

/// Every response body the app makes.
#[derive(Debug)]
pub(crate) enum AppBody {
    Full(Option<Bytes>),
    /// A.3: the request body, chunk by chunk, as it is read.
    Echo(Body),
    /// A.6: `frames` frames of `size` bytes, frame k all `'a' + k % 26`.
    Stream {
        frames: u64,
        size: usize,
        next: u64,
    },
    /// A.8: `total` bytes, byte i being i mod 256.
    Large {
        total: u64,
        sent: u64,
    },
    Frames(VecDeque<Frame<Bytes>>),
    /// A.11: the echo socket's records.
    WebSocket(WebSocketBody),
}

impl AppBody {
    fn full(s: String) -> Self {
        Self::Full((!s.is_empty()).then(|| Bytes::from(s)))
    }
}

impl HttpBody for AppBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let frame = match this {
            Self::Full(bytes) => bytes.take().map(Frame::data),
            Self::Echo(body) => loop {
                match Pin::new(&mut *body).poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => break None,
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                    Poll::Ready(Some(Ok(frame))) => {
                        // Request trailers are not part of the echoed body.
                        if let Ok(data) = frame.into_data() {
                            break Some(Frame::data(data));
                        }
                    }
                }
            },
            Self::Stream { frames, size, next } => (*next < *frames).then(|| {
                let byte = b'a' + (*next % 26) as u8;
                *next += 1;
                Frame::data(Bytes::from(vec![byte; *size]))
            }),
            Self::Large { total, sent } => (*sent < *total).then(|| {
                let len = (*total - *sent).min(MAX_FRAME);
                let chunk: Vec<u8> = (*sent..*sent + len).map(|i| i as u8).collect();
                *sent += len;
                Frame::data(Bytes::from(chunk))
            }),
            Self::Frames(frames) => frames.pop_front(),
            Self::WebSocket(body) => {
                return Pin::new(body)
                    .poll_frame(cx)
                    .map_err(|e| Box::new(e) as BoxError);
            }
        };
        Poll::Ready(frame.map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Echo(body) => body.is_end_stream(),
            Self::Stream { frames, next, .. } => next >= frames,
            Self::Large { total, sent } => sent >= total,
            Self::Frames(frames) => frames.is_empty(),
            Self::WebSocket(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Large { total, sent } => SizeHint::with_exact(total - sent),
            // The echo's length is the request's, which the handler does not
            // vouch for; the rest are left to the worker's framing.
            Self::Echo(_) | Self::Stream { .. } | Self::Frames(_) | Self::WebSocket(_) => {
                SizeHint::default()
            }
        }
    }
}
