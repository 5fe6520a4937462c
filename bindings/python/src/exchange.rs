//! One request as Python sees it: the request head, its body streaming in,
//! and the response going out. The runtime side is [`handle`], the service
//! the worker calls; the Python side is [`PyExchange`].

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use http::uri::Scheme;
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body::Body as _;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tracing::info;
use zroute_worker::websocket::WebSocketUpgrade;
use zroute_worker::{Body, BoxError, PreserveChunks, ReasonPhrase};

use crate::ClientDisconnected;
use crate::mailbox;
use crate::outbody::{Answering, Guard, Out};

/// What the loop is told: new requests travel as their exchange.
pub(crate) type Event = mailbox::Event<Arc<Exchange>>;
/// The loop's mailbox of [`Event`]s.
pub(crate) type Mailbox = mailbox::Mailbox<Arc<Exchange>>;
/// The response body of an exchange.
pub(crate) type OutBody = crate::outbody::OutBody<Exchange>;

/// Response chunks queued between the app and the stream, beyond the one the
/// stream is sending: small, so that a slow client slows the app down (the
/// stream waits for WINDOW_UPDATE before it takes the next chunk).
const OUT_QUEUE: usize = 2;

/// Limits applied to every request, before the app sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Bytes of request head (target plus header names and values); 0: none.
    pub(crate) max_header: usize,
    /// From dispatch to the end of the response; `None`: none.
    pub(crate) timeout: Option<Duration>,
}

/// Where new requests go: a pool of threads (WSGI) or the asyncio loop (ASGI).
#[derive(Clone, Debug)]
pub(crate) enum Dispatch {
    /// The queue holds at most one entry per accepted stream, and the
    /// sessions accept no more than their capacity.
    Threads(std::sync::mpsc::Sender<Arc<Exchange>>),
    Loop(Arc<Mailbox>),
}

/// What the service needs, cloned into every session.
#[derive(Clone, Debug)]
pub(crate) struct App {
    pub(crate) dispatch: Dispatch,
    pub(crate) limits: Limits,
    pub(crate) runtime: Handle,
}

/// A response head on its way to the session.
#[derive(Debug)]
pub(crate) struct PendingHead {
    tx: oneshot::Sender<Head>,
    head: Head,
}

impl PendingHead {
    /// Hands the head to the request's task, waking it.
    pub(crate) fn send(self) -> PyResult<()> {
        self.tx
            .send(self.head)
            .map_err(|_| Stop::Gone("the stream is over".into()).into())
    }
}

/// The response head, as the app started it.
#[derive(Debug)]
pub(crate) struct Head {
    parts: http::response::Parts,
    /// The first chunk, or the whole body with `end`.
    body: Option<Bytes>,
    end: bool,
}

#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) id: u64,
    parts: http::request::Parts,
    request_id: Option<String>,
    /// `None` once discarded: reading then fails as the stream is over.
    body: Mutex<Option<Body>>,
    head: Mutex<Option<oneshot::Sender<Head>>>,
    out: Mutex<Option<mpsc::Sender<Out>>>,
    finished: AtomicBool,
    disconnected: AtomicBool,
    deadline: Option<Instant>,
    runtime: Handle,
    mailbox: Option<Arc<Mailbox>>,
    read_waker: Option<Waker>,
    /// A WebSocket stream (spec #websocket): its body carries records.
    websocket: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wakes the loop when a request body chunk may have arrived.
struct ReadWaker {
    id: u64,
    mailbox: Arc<Mailbox>,
}

impl Wake for ReadWaker {
    fn wake(self: Arc<Self>) {
        self.mailbox.post(Event::Readable(self.id));
    }
}

/// The service: hands the request to Python and waits for its response head.
pub(crate) async fn handle(app: App, req: Request<Body>) -> Result<Response<OutBody>, BoxError> {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let websocket = WebSocketUpgrade::is_upgrade(&req);
    let (parts, body) = req.into_parts();
    if app.limits.max_header > 0 && head_size(&parts) > app.limits.max_header {
        info!(
            limit = app.limits.max_header,
            "request head over the limit: 431"
        );
        return Ok(plain(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (head_tx, head_rx) = oneshot::channel();
    let (out_tx, out_rx) = mpsc::channel(OUT_QUEUE);
    let deadline = app.limits.timeout.map(|t| Instant::now() + t);
    let mailbox = match &app.dispatch {
        Dispatch::Loop(mailbox) => Some(mailbox.clone()),
        Dispatch::Threads(_) => None,
    };
    let read_waker = mailbox.as_ref().map(|mailbox| {
        Waker::from(Arc::new(ReadWaker {
            id,
            mailbox: mailbox.clone(),
        }))
    });
    let request_id = parts
        .headers
        .get("x-request-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let ex = Arc::new(Exchange {
        id,
        parts,
        request_id,
        body: Mutex::new(Some(body)),
        head: Mutex::new(Some(head_tx)),
        out: Mutex::new(Some(out_tx)),
        finished: AtomicBool::new(false),
        disconnected: AtomicBool::new(false),
        deadline,
        runtime: app.runtime.clone(),
        mailbox,
        read_waker,
        websocket,
    });
    // From here on, however this future ends, the app hears of it.
    let guard = Guard::new(ex.clone());
    let dispatched = match &app.dispatch {
        Dispatch::Threads(tx) => tx.send(ex).is_ok(),
        Dispatch::Loop(mailbox) => {
            mailbox.post(Event::Request(ex));
            true
        }
    };
    if !dispatched {
        return Ok(plain(StatusCode::SERVICE_UNAVAILABLE));
    }
    let head = match deadline {
        Some(deadline) => match tokio::time::timeout_at(deadline.into(), head_rx).await {
            Ok(head) => head,
            Err(_) => {
                info!("no response within the request timeout: 504");
                return Ok(plain(StatusCode::GATEWAY_TIMEOUT));
            }
        },
        None => head_rx.await,
    };
    let head = head.map_err(|_| "the app failed before starting a response")?;
    // An accepted WebSocket lasts as long as its client: no request timeout.
    let body_deadline = deadline.filter(|_| head.parts.status != StatusCode::SWITCHING_PROTOCOLS);
    let body = if head.end {
        OutBody::full(head.body, guard)
    } else {
        OutBody::stream(head.body, out_rx, guard, body_deadline)
    };
    Ok(Response::from_parts(head.parts, body))
}

/// What a request whose app failed before its response started gets.
fn internal_error(head_only: bool) -> Head {
    const TEXT: &[u8] = b"Internal Server Error";
    let mut res = Response::new(());
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    let headers = res.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(TEXT.len()));
    let (parts, ()) = res.into_parts();
    Head {
        parts,
        body: (!head_only).then(|| Bytes::from_static(TEXT)),
        end: true,
    }
}

fn head_size(parts: &http::request::Parts) -> usize {
    let target = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    parts.headers.iter().fold(target, |n, (name, value)| {
        n + name.as_str().len() + value.len()
    })
}

fn plain(status: StatusCode) -> Response<OutBody> {
    let mut res = Response::new(OutBody::empty());
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    res
}

/// Why a wait for the stream ended early.
enum Stop {
    Gone(String),
    TimedOut,
}

impl From<Stop> for PyErr {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::Gone(why) => ClientDisconnected::new_err(why),
            Stop::TimedOut => ClientDisconnected::new_err("request timeout"),
        }
    }
}

impl Answering for Exchange {
    /// The guard went: the stream was reset, the session ended, the request
    /// timed out, or the response went out in full.
    fn on_disconnect(&self) {
        self.disconnected.store(true, Ordering::Release);
        // Whatever body the app left unread is discarded (and credited to the
        // router) now, however long Python keeps the exchange. A reader in
        // the middle of a wait holds the lock; it is about to hear the end.
        if let Ok(mut body) = self.body.try_lock() {
            *body = None;
        }
        if let Some(mailbox) = &self.mailbox {
            mailbox.post(Event::Disconnected(self.id));
        }
    }

    fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

impl Exchange {
    /// Runs `fut` on this thread, up to the request's deadline.
    fn block_on<T>(&self, fut: impl Future<Output = T>) -> Result<T, Stop> {
        self.runtime.block_on(async {
            match self.deadline {
                Some(d) => tokio::time::timeout_at(d.into(), fut)
                    .await
                    .map_err(|_| Stop::TimedOut),
                None => Ok(fut.await),
            }
        })
    }

    /// The next request body chunk, waiting for it; `None` at the end.
    fn read_blocking(&self) -> Result<Option<Bytes>, Stop> {
        let mut body = lock(&self.body);
        let body = body.as_mut().ok_or_else(|| self.gone())?;
        if body.is_end_stream() {
            return Ok(None);
        }
        self.block_on(poll_fn(|cx| poll_data(body, cx)))?
    }

    /// The next chunk if there is one now: `Ok(None)` means "not yet", and
    /// the loop hears `Readable` when there may be.
    fn read_nowait(&self) -> Result<Option<Option<Bytes>>, Stop> {
        let mut body = lock(&self.body);
        let body = body.as_mut().ok_or_else(|| self.gone())?;
        if body.is_end_stream() {
            return Ok(Some(None));
        }
        let waker = self.read_waker.as_ref().unwrap_or(Waker::noop());
        match poll_data(body, &mut Context::from_waker(waker)) {
            Poll::Pending => Ok(None),
            Poll::Ready(result) => result.map(Some),
        }
    }

    fn sender(&self) -> PyResult<mpsc::Sender<Out>> {
        if lock(&self.head).is_some() {
            return Err(PyRuntimeError::new_err("the response has not started"));
        }
        lock(&self.out)
            .clone()
            .ok_or_else(|| PyRuntimeError::new_err("the response is already complete"))
    }

    fn gone(&self) -> Stop {
        Stop::Gone("the client went away".into())
    }
}

fn poll_data(body: &mut Body, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Stop>> {
    loop {
        match Pin::new(&mut *body).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(Ok(None)),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(Stop::Gone(e.to_string()))),
            Poll::Ready(Some(Ok(frame))) => {
                // Request trailers have no WSGI or ASGI equivalent.
                if let Ok(data) = frame.into_data() {
                    return Poll::Ready(Ok(Some(data)));
                }
            }
        }
    }
}

/// A request, for Python: `zroute._zroute.Exchange`.
#[pyclass(frozen, name = "Exchange", module = "zroute._zroute")]
pub(crate) struct PyExchange(pub(crate) Arc<Exchange>);

#[pymethods]
impl PyExchange {
    #[getter]
    fn id(&self) -> u64 {
        self.0.id
    }

    #[getter]
    pub(crate) fn method(&self) -> &str {
        self.0.parts.method.as_str()
    }

    /// The path, percent-encoded as received.
    #[getter]
    pub(crate) fn path(&self) -> &str {
        self.0.parts.uri.path()
    }

    /// The query string without `?`, as received.
    #[getter]
    fn query<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.parts.uri.query().unwrap_or("").as_bytes())
    }

    /// "1.0", "1.1" or "2".
    #[getter]
    pub(crate) fn http_version(&self) -> &'static str {
        match self.0.parts.version {
            Version::HTTP_10 => "1.0",
            Version::HTTP_2 => "2",
            _ => "1.1",
        }
    }

    #[getter]
    pub(crate) fn scheme(&self) -> &str {
        self.0
            .parts
            .extensions
            .get::<Scheme>()
            .map_or("http", Scheme::as_str)
    }

    /// The headers as `(name, value)` byte pairs, names lowercase, `host` first.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (name, value) in &self.0.parts.headers {
            let pair = PyTuple::new(
                py,
                [
                    PyBytes::new(py, name.as_str().as_bytes()),
                    PyBytes::new(py, value.as_bytes()),
                ],
            )?;
            list.append(pair)?;
        }
        Ok(list)
    }

    /// Whether the request opens a WebSocket (the ASGI `websocket` scope).
    #[getter]
    fn websocket(&self) -> bool {
        self.0.websocket
    }

    /// The router's `x-request-id`.
    #[getter]
    pub(crate) fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// The client's address, as the router vouches for it ("" if there is
    /// none).
    #[getter]
    fn client(&self) -> String {
        self.client_address().unwrap_or_default()
    }

    /// The client's TCP port, as the router vouches for it (None from a
    /// router that does not send it).
    #[getter]
    fn client_port(&self) -> Option<u16> {
        self.client_port_number()
    }

    /// The client's `user-agent`, if it sent one.
    #[getter]
    fn user_agent(&self) -> Option<String> {
        self.0
            .parts
            .headers
            .get(http::header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// True once the stream is over (see `Exchange.on_disconnect`).
    #[getter]
    fn disconnected(&self) -> bool {
        self.is_disconnected()
    }

    /// The keys every ASGI scope has (`type` is `scope_type`); `state` is
    /// copied into it.
    pub(crate) fn asgi_scope<'py>(
        &self,
        py: Python<'py>,
        scope_type: &Bound<'py, PyString>,
        state: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let parts = &self.0.parts;
        let head = crate::asgi::Head {
            http_version: self.http_version(),
            path: self.path(),
            query: parts.uri.query().unwrap_or("").as_bytes(),
            headers: self.headers(py)?,
            host: parts
                .headers
                .get(http::header::HOST)
                .map(HeaderValue::as_bytes),
            client: self
                .client_address()
                .map(|address| (address, self.client_port_number().unwrap_or(0))),
        };
        crate::asgi::common_scope(py, scope_type, head, state)
    }

    /// The next request body chunk, b"" at the end; waits, detached.
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let chunk = py.detach(|| self.0.read_blocking())?;
        Ok(PyBytes::new(py, chunk.as_deref().unwrap_or_default()))
    }

    /// `(chunk, more)` if a chunk (or the end: `(b"", False)`) is there now,
    /// else None; the loop then hears `Readable` for this id.
    pub(crate) fn read_nowait<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Option<(Bound<'py, PyBytes>, bool)>> {
        Ok(self.0.read_nowait()?.map(|chunk| match chunk {
            Some(data) => (PyBytes::new(py, &data), true),
            None => (PyBytes::new(py, b""), false),
        }))
    }

    /// Starts the response. With `end`, `body` is all of it.
    #[pyo3(signature = (status, headers, body=None, end=false))]
    pub(crate) fn start(
        &self,
        status: u16,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: Option<&[u8]>,
        end: bool,
    ) -> PyResult<()> {
        self.head(status, None, headers, body, end)?.send()
    }

    /// Sends a body chunk, waiting (detached) for room.
    pub(crate) fn write(&self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        if data.is_empty() {
            return Ok(());
        }
        let tx = self.0.sender()?;
        match tx.try_send(Out::Data(Bytes::copy_from_slice(data))) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.0.gone().into()),
            Err(mpsc::error::TrySendError::Full(item)) => py
                .detach(|| self.0.block_on(tx.send(item)))?
                .map_err(|_| self.0.gone().into()),
        }
    }

    /// Sends a body chunk without waiting: True if queued; False if it is
    /// on its way and the loop hears `Writable` for this id once it is queued.
    pub(crate) fn write_nowait(&self, data: &[u8]) -> PyResult<bool> {
        self.send_nowait(Out::Data(Bytes::copy_from_slice(data)))
    }

    /// Queues the response trailers (announce them with a `trailer` header),
    /// as `write_nowait` does; `finish` must follow.
    pub(crate) fn trailers_nowait(&self, headers: Vec<(Vec<u8>, Vec<u8>)>) -> PyResult<bool> {
        self.send_nowait(Out::Trailers(header_map(headers)?))
    }

    /// The response is complete.
    pub(crate) fn finish(&self) -> PyResult<()> {
        if lock(&self.0.head).is_some() {
            return Err(PyRuntimeError::new_err("the response has not started"));
        }
        self.0.finished.store(true, Ordering::Release);
        lock(&self.0.out).take();
        Ok(())
    }

    /// The app failed: a 500 if the response has not started, else the
    /// stream is reset.
    pub(crate) fn abort(&self) {
        if let Some(tx) = lock(&self.0.head).take() {
            // Nothing went out: a short 500 with a text body, as gunicorn
            // and uvicorn send, rather than an empty one.
            self.0.finished.store(true, Ordering::Release);
            lock(&self.0.out).take();
            let _ = tx.send(internal_error(self.method() == "HEAD"));
            return;
        }
        if !self.0.is_finished() {
            lock(&self.0.out).take();
        }
    }
}

impl PyExchange {
    /// The response head, taken from the exchange but not yet handed to
    /// the session: `start`, or a [`crate::heads::HeadBatch`], sends it.
    pub(crate) fn head(
        &self,
        status: u16,
        reason: Option<ReasonPhrase>,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: Option<&[u8]>,
        end: bool,
    ) -> PyResult<PendingHead> {
        let mut res = Response::new(());
        *res.status_mut() = StatusCode::from_u16(status)
            .map_err(|_| PyValueError::new_err(format!("invalid status {status}")))?;
        *res.headers_mut() = header_map(headers)?;
        res.extensions_mut().insert(PreserveChunks);
        if let Some(reason) = reason {
            res.extensions_mut().insert(reason);
        }
        let (parts, ()) = res.into_parts();
        let tx = lock(&self.0.head)
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("the response has already started"))?;
        if tx.is_closed() {
            return Err(Stop::Gone("the stream is over".into()).into());
        }
        if end {
            self.0.finished.store(true, Ordering::Release);
            lock(&self.0.out).take();
        }
        let body = body.filter(|b| !b.is_empty()).map(Bytes::copy_from_slice);
        Ok(PendingHead {
            tx,
            head: Head { parts, body, end },
        })
    }

    /// The client's address: the last element of `x-forwarded-for`, which
    /// the router appends (its own word); `None` without the header.
    pub(crate) fn client_address(&self) -> Option<String> {
        let value = self
            .0
            .parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()?;
        let value = String::from_utf8_lossy(value.as_bytes());
        Some(value.rsplit(',').next().unwrap_or("").trim().to_owned())
    }

    /// The client's port: the router's `forwarded` element, the last one,
    /// names it as `for="IP:port"` or `for="[IPv6]:port"` (spec
    /// #router-headers). No `for="` can follow the router's own: the host
    /// after it holds no `"` but a closing one.
    pub(crate) fn client_port_number(&self) -> Option<u16> {
        let value = self
            .0
            .parts
            .headers
            .get_all("forwarded")
            .iter()
            .next_back()?;
        let value = value.as_bytes();
        let at = value.windows(5).rposition(|w| w == b"for=\"")? + 5;
        let node = &value[at..];
        let node = &node[..node.iter().position(|&b| b == b'"')?];
        let colon = node.iter().rposition(|&b| b == b':')?;
        std::str::from_utf8(&node[colon + 1..]).ok()?.parse().ok()
    }

    /// Another handle on the same exchange.
    pub(crate) fn clone_ref(&self) -> Self {
        Self(self.0.clone())
    }

    /// The request target as received: the path and its query.
    pub(crate) fn target(&self) -> &str {
        self.0
            .parts
            .uri
            .path_and_query()
            .map_or_else(|| self.path(), http::uri::PathAndQuery::as_str)
    }

    pub(crate) fn query_bytes(&self) -> &[u8] {
        self.0.parts.uri.query().unwrap_or("").as_bytes()
    }

    /// The headers as (lowercase name, value) pairs, `host` first.
    pub(crate) fn header_pairs(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0
            .parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
    }

    /// The next request body chunk, empty at the end; waits detached.
    pub(crate) fn read_chunk(&self, py: Python<'_>) -> PyResult<Bytes> {
        Ok(py.detach(|| self.0.read_blocking())?.unwrap_or_default())
    }

    pub(crate) fn is_disconnected(&self) -> bool {
        self.0.disconnected.load(Ordering::Acquire)
    }

    fn send_nowait(&self, item: Out) -> PyResult<bool> {
        let tx = self.0.sender()?;
        match tx.try_send(item) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.0.gone().into()),
            Err(mpsc::error::TrySendError::Full(item)) => {
                let ex = self.0.clone();
                self.0.runtime.spawn(async move {
                    // A closed channel is a disconnect, which the loop hears too.
                    let _ = tx.send(item).await;
                    if let Some(mailbox) = &ex.mailbox {
                        mailbox.post(Event::Writable(ex.id));
                    }
                });
                Ok(false)
            }
        }
    }
}

fn header_map(headers: Vec<(Vec<u8>, Vec<u8>)>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name = HeaderName::from_bytes(&name).map_err(|_| {
            PyValueError::new_err(format!(
                "invalid header name {:?}",
                String::from_utf8_lossy(&name)
            ))
        })?;
        let value = HeaderValue::from_bytes(&value)
            .map_err(|_| PyValueError::new_err(format!("invalid value for header {name}")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// A path with its `%XX` escapes decoded to bytes (`urllib.parse.unquote_to_bytes`);
/// a `%` not followed by two hex digits stays as it is.
pub(crate) fn unescape(path: &str) -> std::borrow::Cow<'_, [u8]> {
    let bytes = path.as_bytes();
    if !bytes.contains(&b'%') {
        return bytes.into();
    }
    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2)))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out.into()
}
