//! ASGI's `http` scope in Rust: the scope, `receive` and `send` of one
//! request. `receive` and `send` are plain callables that return an
//! awaitable: [`Ready`] when the answer is there now (the common case: a
//! body chunk already arrived, a response head and body queued at once),
//! or an asyncio future the loop completes when the runtime posts the
//! event it waits for. No coroutine is made per call, and no Python code
//! runs between the app and the exchange.
//!
//! The rules are those the Python adapter kept (ASGI 3, `spec_version`
//! 2.4): one `http.response.start`, then `http.response.body` messages
//! (`more_body`), then, if announced, `http.response.trailers`.

use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::ClientDisconnected;
use crate::exchange::PyExchange;
use crate::heads::HeadBatch;

/// An awaitable whose result is already known: awaiting it suspends nothing.
#[pyclass(module = "zroute._zroute")]
pub(crate) struct Ready {
    value: Option<Py<PyAny>>,
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<()> {
        let value = self.value.take().unwrap_or_else(|| py.None());
        Err(PyStopIteration::new_err((value,)))
    }
}

fn ready(py: Python<'_>, value: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, Ready { value })?.into_any())
}

#[derive(Default)]
struct State {
    /// 0 until `http.response.start`.
    status: u16,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    trailers: bool,
    /// The head went to the exchange.
    started: bool,
    complete: bool,
    /// The request body was read to its end.
    body_done: bool,
    /// Response body bytes the app sent, for the access log.
    sent: u64,
    /// The stream is over (the runner heard `Disconnected`).
    disconnected: bool,
    /// What a pending `send` does once its chunk is queued: complete the response.
    finish_after_write: bool,
    read_waiter: Option<Py<PyAny>>,
    write_waiter: Option<Py<PyAny>>,
    disconnect_waiter: Option<Py<PyAny>>,
}

/// One request's ASGI side: `zroute._zroute.AsgiHttp(exchange, loop)`.
#[pyclass(frozen, module = "zroute._zroute")]
pub(crate) struct AsgiHttp {
    ex: Py<PyExchange>,
    create_future: Py<PyAny>,
    /// Where heads wait for the end of the loop's pass.
    batch: Py<HeadBatch>,
    /// The loop's `call_soon`, which schedules the batch's flush.
    call_soon: Py<PyAny>,
    head_only: bool,
    state: Mutex<State>,
}

impl AsgiHttp {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn future(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.create_future.call0(py)
    }

    fn gone(&self, state: &State) -> bool {
        state.disconnected || self.ex.get().is_disconnected()
    }

    /// The next `receive` message if there is one now.
    fn try_receive(&self, py: Python<'_>, state: &mut State) -> PyResult<Option<Py<PyAny>>> {
        if !state.body_done {
            let got = match self.ex.get().read_nowait(py) {
                Ok(got) => got,
                Err(e) if e.is_instance_of::<ClientDisconnected>(py) => {
                    state.body_done = true;
                    None
                }
                Err(e) => return Err(e),
            };
            if let Some((body, more)) = got {
                if !more {
                    state.body_done = true;
                }
                let message = PyDict::new(py);
                message.set_item(intern!(py, "type"), intern!(py, "http.request"))?;
                message.set_item(intern!(py, "body"), body)?;
                message.set_item(intern!(py, "more_body"), more)?;
                return Ok(Some(message.into_any().unbind()));
            }
            if !state.body_done {
                return Ok(None);
            }
        }
        if self.gone(state) {
            let message = PyDict::new(py);
            message.set_item(intern!(py, "type"), intern!(py, "http.disconnect"))?;
            return Ok(Some(message.into_any().unbind()));
        }
        Ok(None)
    }

    /// What `send` returns once it handed a chunk (or trailers) over:
    /// done, or, if the chunk waits for room, a future `wake_write`
    /// completes (finishing the response then if `last`).
    fn after_queueing(
        &self,
        py: Python<'_>,
        state: &mut State,
        queued: bool,
        last: bool,
    ) -> PyResult<Py<PyAny>> {
        if !queued {
            state.finish_after_write = last;
            let future = self.future(py)?;
            state.write_waiter = Some(future.clone_ref(py));
            return Ok(future);
        }
        if last {
            state.complete = true;
            self.ex.get().finish()?;
        }
        ready(py, None)
    }

    /// Holds the head in the loop's batch (scheduling its flush if it is the
    /// first); its headers are not needed after it.
    fn start(
        &self,
        py: Python<'_>,
        state: &mut State,
        body: Option<&[u8]>,
        end: bool,
    ) -> PyResult<()> {
        let headers = std::mem::take(&mut state.headers);
        let head = self.ex.get().head(state.status, None, headers, body, end)?;
        if self.batch.get().hold(head) {
            self.call_soon.call1(py, (self.batch.clone_ref(py),))?;
        }
        Ok(())
    }
}

/// `(name, value)` pairs of bytes (or bytearray), as ASGI sends them.
fn header_pairs(headers: Option<Bound<'_, PyAny>>) -> PyResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let Some(headers) = headers else {
        return Ok(Vec::new());
    };
    let mut pairs = Vec::new();
    for pair in headers.try_iter()? {
        let pair = pair?;
        let name: PyBackedBytes = pair.get_item(0)?.extract()?;
        let value: PyBackedBytes = pair.get_item(1)?.extract()?;
        pairs.push((name.to_vec(), value.to_vec()));
    }
    Ok(pairs)
}

#[pymethods]
impl AsgiHttp {
    #[new]
    fn new(
        ex: Py<PyExchange>,
        event_loop: &Bound<'_, PyAny>,
        batch: Py<HeadBatch>,
    ) -> PyResult<Self> {
        let py = event_loop.py();
        let head_only = ex.get().method() == "HEAD";
        Ok(Self {
            ex,
            create_future: event_loop.getattr(intern!(py, "create_future"))?.unbind(),
            batch,
            call_soon: event_loop.getattr(intern!(py, "call_soon"))?.unbind(),
            head_only,
            state: Mutex::new(State::default()),
        })
    }

    /// The `http` scope; `state` is copied into it (the lifespan state).
    fn scope<'py>(
        &self,
        py: Python<'py>,
        state: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let ex = self.ex.get();
        let scope = ex.asgi_scope(py, intern!(py, "http"), state)?;
        scope.set_item(intern!(py, "method"), PyString::new(py, ex.method()))?;
        scope.set_item(intern!(py, "scheme"), PyString::new(py, ex.scheme()))?;
        let extensions = PyDict::new(py);
        extensions.set_item(intern!(py, "http.response.trailers"), PyDict::new(py))?;
        let zroute = PyDict::new(py);
        zroute.set_item(intern!(py, "request_id"), ex.request_id())?;
        extensions.set_item(intern!(py, "zroute"), zroute)?;
        scope.set_item(intern!(py, "extensions"), extensions)?;
        Ok(scope)
    }

    /// ASGI `receive`: `http.request` chunks, then `http.disconnect` once
    /// the stream is over.
    fn receive(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut state = self.state();
        if let Some(message) = self.try_receive(py, &mut state)? {
            return ready(py, Some(message));
        }
        let future = self.future(py)?;
        let slot = if state.body_done {
            &mut state.disconnect_waiter
        } else {
            &mut state.read_waiter
        };
        *slot = Some(future.clone_ref(py));
        Ok(future)
    }

    /// ASGI `send`.
    fn send(&self, py: Python<'_>, message: &Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
        let mut state = self.state();
        let kind = message
            .get_item(intern!(py, "type"))?
            .ok_or_else(|| PyRuntimeError::new_err("an ASGI message without a type"))?;
        let kind: &str = &kind.extract::<std::borrow::Cow<'_, str>>()?;
        if self.gone(&state) && !state.complete && !self.head_only {
            return Err(ClientDisconnected::new_err("the client went away"));
        }
        match kind {
            "http.response.start" => {
                if state.started || state.status != 0 {
                    return Err(PyRuntimeError::new_err("http.response.start sent twice"));
                }
                let status: u16 = message
                    .get_item(intern!(py, "status"))?
                    .ok_or_else(|| PyRuntimeError::new_err("http.response.start without a status"))?
                    .extract()?;
                state.status = status;
                state.headers = header_pairs(message.get_item(intern!(py, "headers"))?)?;
                state.trailers = match message.get_item(intern!(py, "trailers"))? {
                    Some(t) => t.is_truthy()?,
                    None => false,
                };
                if self.head_only || matches!(status, 204 | 304) {
                    // No body goes with these: the head is the whole response.
                    state.started = true;
                    state.complete = true;
                    self.start(py, &mut state, None, true)?;
                }
                ready(py, None)
            }
            "http.response.body" => {
                if state.status == 0 {
                    return Err(PyRuntimeError::new_err(
                        "http.response.body before http.response.start",
                    ));
                }
                if state.complete {
                    if self.head_only || matches!(state.status, 204 | 304) {
                        return ready(py, None);
                    }
                    return Err(PyRuntimeError::new_err(
                        "http.response.body after the response was complete",
                    ));
                }
                let body: Option<PyBackedBytes> = match message.get_item(intern!(py, "body"))? {
                    Some(b) => Some(b.extract()?),
                    None => None,
                };
                let body: &[u8] = body.as_deref().unwrap_or_default();
                let more = match message.get_item(intern!(py, "more_body"))? {
                    Some(m) => m.is_truthy()?,
                    None => false,
                };
                state.sent += body.len() as u64;
                let last = !more && !state.trailers;
                if !state.started {
                    state.started = true;
                    self.start(py, &mut state, Some(body), last)?;
                    if last {
                        state.complete = true;
                    }
                    return ready(py, None);
                }
                let queued = body.is_empty() || self.ex.get().write_nowait(body)?;
                self.after_queueing(py, &mut state, queued, last)
            }
            "http.response.trailers" => {
                if !state.trailers || !state.started {
                    return Err(PyRuntimeError::new_err(
                        "http.response.trailers without trailers=True and a started body",
                    ));
                }
                let headers = header_pairs(message.get_item(intern!(py, "headers"))?)?;
                let last = match message.get_item(intern!(py, "more_trailers"))? {
                    Some(m) => !m.is_truthy()?,
                    None => true,
                };
                let queued = headers.is_empty() || self.ex.get().trailers_nowait(headers)?;
                self.after_queueing(py, &mut state, queued, last)
            }
            other => Err(PyRuntimeError::new_err(format!(
                "unknown ASGI message type {other:?}"
            ))),
        }
    }

    /// The runtime posted `Readable`: a waiting `receive` may complete.
    fn wake_read(&self, py: Python<'_>) -> PyResult<()> {
        let mut state = self.state();
        let Some(waiter) = state.read_waiter.take() else {
            return Ok(());
        };
        match self.try_receive(py, &mut state)? {
            Some(message) => resolve(py, &waiter, Ok(message)),
            None if state.body_done => {
                state.disconnect_waiter = Some(waiter);
                Ok(())
            }
            // A spurious wake: the chunk is not there yet.
            None => {
                state.read_waiter = Some(waiter);
                Ok(())
            }
        }
    }

    /// The runtime posted `Writable`: the chunk a `send` waited with is queued.
    fn wake_write(&self, py: Python<'_>) -> PyResult<()> {
        let mut state = self.state();
        let Some(waiter) = state.write_waiter.take() else {
            return Ok(());
        };
        if self.gone(&state) {
            let error = ClientDisconnected::new_err("the client went away");
            return resolve(py, &waiter, Err(error));
        }
        if std::mem::take(&mut state.finish_after_write) {
            state.complete = true;
            if let Err(e) = self.ex.get().finish() {
                return resolve(py, &waiter, Err(e));
            }
        }
        resolve(py, &waiter, Ok(py.None()))
    }

    /// The runtime posted `Disconnected`: every wait ends.
    fn disconnect(&self, py: Python<'_>) -> PyResult<()> {
        self.state().disconnected = true;
        self.wake_read(py)?;
        self.wake_write(py)?;
        let mut state = self.state();
        if let Some(waiter) = state.disconnect_waiter.take()
            && let Some(message) = self.try_receive(py, &mut state)?
        {
            resolve(py, &waiter, Ok(message))?;
        }
        Ok(())
    }

    #[getter]
    fn status(&self) -> u16 {
        self.state().status
    }

    /// The app's 500, when it failed before `http.response.start`.
    #[setter]
    fn set_status(&self, status: u16) {
        self.state().status = status;
    }

    #[getter]
    fn started(&self) -> bool {
        self.state().started
    }

    #[getter]
    fn complete(&self) -> bool {
        self.state().complete
    }

    #[getter]
    fn sent(&self) -> u64 {
        self.state().sent
    }
}

/// Completes an asyncio future unless it was cancelled meanwhile.
fn resolve(py: Python<'_>, future: &Py<PyAny>, outcome: PyResult<Py<PyAny>>) -> PyResult<()> {
    let future = future.bind(py);
    if future.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(());
    }
    match outcome {
        Ok(value) => future.call_method1(intern!(py, "set_result"), (value,))?,
        Err(e) => future.call_method1(intern!(py, "set_exception"), (e.value(py),))?,
    };
    Ok(())
}

/// What a scope says of the request head.
pub(crate) struct Head<'a, 'py> {
    pub(crate) http_version: &'a str,
    /// Percent-encoded, as received.
    pub(crate) path: &'a str,
    pub(crate) query: &'a [u8],
    pub(crate) headers: Bound<'py, PyList>,
    pub(crate) host: Option<&'a [u8]>,
    /// The client's address and port (`PyExchange::client_address`,
    /// `PyExchange::client_port_number`; 0 if the router gave no port).
    pub(crate) client: Option<(String, u16)>,
}

/// The parts of a scope every ASGI type shares, from the request head.
pub(crate) fn common_scope<'py>(
    py: Python<'py>,
    scope_type: &Bound<'py, PyString>,
    head: Head<'_, 'py>,
    state: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let Head {
        http_version,
        path,
        query,
        headers,
        host,
        client,
    } = head;
    let scope = PyDict::new(py);
    scope.set_item(intern!(py, "type"), scope_type)?;
    let asgi = PyDict::new(py);
    asgi.set_item(intern!(py, "version"), intern!(py, "3.0"))?;
    asgi.set_item(intern!(py, "spec_version"), intern!(py, "2.4"))?;
    scope.set_item(intern!(py, "asgi"), asgi)?;
    scope.set_item(intern!(py, "http_version"), PyString::new(py, http_version))?;
    // As `urllib.parse.unquote`: the escapes' bytes, read as UTF-8 with
    // replacement characters.
    let decoded = crate::exchange::unescape(path);
    let decoded = String::from_utf8_lossy(&decoded);
    scope.set_item(intern!(py, "path"), PyString::new(py, &decoded))?;
    scope.set_item(intern!(py, "raw_path"), PyBytes::new(py, path.as_bytes()))?;
    scope.set_item(intern!(py, "query_string"), PyBytes::new(py, query))?;
    scope.set_item(intern!(py, "root_path"), intern!(py, ""))?;
    scope.set_item(intern!(py, "headers"), headers)?;
    scope.set_item(intern!(py, "client"), client)?;
    let server = host.and_then(|host| {
        let host = String::from_utf8_lossy(host);
        let (name, port) = host.rsplit_once(':')?;
        let port: u16 = port.parse().ok().filter(|_| !name.is_empty())?;
        Some((name.to_owned(), port))
    });
    scope.set_item(intern!(py, "server"), server)?;
    scope.set_item(intern!(py, "state"), state.copy()?)?;
    Ok(scope)
}
