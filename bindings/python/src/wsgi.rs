//! WSGI (PEP 3333) in Rust: the `environ` of a request, `wsgi.input`, and
//! `start_response` with the response it starts. The pool thread's loop
//! (python/zroute/wsgi.py) calls the app and iterates its result; every
//! per-request object it touches is built here.

use http::StatusCode;
use pyo3::exceptions::{PyAssertionError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use zroute_worker::ReasonPhrase;

use crate::exchange::PyExchange;

/// Decodes bytes as Latin-1, as PEP 3333 asks of every environ string.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// `unquote_to_bytes(path).decode("latin-1")`.
fn path_info(path: &str) -> String {
    latin1(&crate::exchange::unescape(path))
}

/// The CGI name of a header (`HTTP_X_FOO`), or `None` for a name with `_`:
/// `x_forwarded_for` would otherwise land on the router's
/// `HTTP_X_FORWARDED_FOR` (gunicorn drops such names too).
fn cgi_name(name: &str) -> Option<String> {
    if name.contains('_') {
        return None;
    }
    let mut key = String::with_capacity(5 + name.len());
    key.push_str("HTTP_");
    key.extend(name.chars().map(|c| {
        if c == '-' {
            '_'
        } else {
            c.to_ascii_uppercase()
        }
    }));
    Some(key)
}

/// The WSGI environ of `ex`: `base` (the server's constant keys) plus the
/// request's.
#[pyfunction]
pub(crate) fn wsgi_environ<'py>(
    ex: &Bound<'py, PyExchange>,
    base: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let py = ex.py();
    let this = ex.get();
    this.environ(py, base)
}

impl PyExchange {
    fn environ<'py>(
        &self,
        py: Python<'py>,
        base: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let env = base.copy()?;
        let path = self.path();
        env.set_item(intern!(py, "REQUEST_METHOD"), self.method())?;
        env.set_item(intern!(py, "PATH_INFO"), path_info(path))?;
        // As gunicorn gives it: the request target, query included.
        env.set_item(intern!(py, "RAW_URI"), self.target())?;
        env.set_item(intern!(py, "QUERY_STRING"), latin1(self.query_bytes()))?;
        let protocol = match self.http_version() {
            "1.0" => intern!(py, "HTTP/1.0"),
            "2" => intern!(py, "HTTP/2"),
            _ => intern!(py, "HTTP/1.1"),
        };
        env.set_item(intern!(py, "SERVER_PROTOCOL"), protocol)?;
        env.set_item(intern!(py, "wsgi.url_scheme"), self.scheme())?;
        let input = Input {
            ex: Py::new(py, self.clone_ref())?,
            buf: Vec::new(),
            pos: 0,
            eof: false,
        };
        env.set_item(intern!(py, "wsgi.input"), Py::new(py, input)?)?;
        env.set_item(intern!(py, "zroute.request_id"), self.request_id())?;
        let mut host = String::new();
        for (name, value) in self.header_pairs() {
            let value = latin1(value);
            match name {
                "content-type" => env.set_item(intern!(py, "CONTENT_TYPE"), value)?,
                "content-length" => env.set_item(intern!(py, "CONTENT_LENGTH"), value)?,
                _ => {
                    if name == "host" {
                        host.clone_from(&value);
                    }
                    let Some(key) = cgi_name(name) else {
                        continue;
                    };
                    let joined = match env.get_item(&key)? {
                        Some(before) => {
                            let sep = if name == "cookie" { "; " } else { "," };
                            format!("{}{sep}{value}", before.extract::<String>()?)
                        }
                        None => value,
                    };
                    env.set_item(key, joined)?;
                }
            }
        }
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port))
                if !host.ends_with(']')
                    && !name.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
                    && !port.is_empty() =>
            {
                (name.to_owned(), port.to_owned())
            }
            _ => {
                let port = if self.scheme() == "https" {
                    "443"
                } else {
                    "80"
                };
                (host.clone(), port.to_owned())
            }
        };
        let name = if name.is_empty() {
            "localhost".to_owned()
        } else {
            name
        };
        env.set_item(intern!(py, "SERVER_NAME"), name)?;
        env.set_item(intern!(py, "SERVER_PORT"), port)?;
        let remote = self.client_address().unwrap_or_default();
        env.set_item(intern!(py, "REMOTE_ADDR"), remote)?;
        if let Some(port) = self.client_port_number() {
            // A string, as gunicorn gives it (CGI's variables are text).
            env.set_item(intern!(py, "REMOTE_PORT"), port.to_string())?;
        }
        Ok(env)
    }
}

/// `wsgi.input`: the request body, read from the stream as the app asks,
/// detached from the interpreter while it waits.
#[pyclass(module = "zroute._zroute")]
pub(crate) struct Input {
    ex: Py<PyExchange>,
    buf: Vec<u8>,
    /// Bytes of `buf` already given out.
    pos: usize,
    eof: bool,
}

impl Input {
    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads one more chunk into the buffer; false at the end.
    fn fill(&mut self, py: Python<'_>) -> PyResult<bool> {
        if self.eof {
            return Ok(false);
        }
        let chunk = self.ex.get().read_chunk(py)?;
        if chunk.is_empty() {
            self.eof = true;
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(&chunk);
        Ok(true)
    }

    fn take<'py>(&mut self, py: Python<'py>, n: usize) -> Bound<'py, PyBytes> {
        let n = n.min(self.buffered().len());
        let out = PyBytes::new(py, &self.buf[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        out
    }

    fn line<'py>(&mut self, py: Python<'py>, size: Option<usize>) -> PyResult<Bound<'py, PyBytes>> {
        loop {
            let buffered = self.buffered();
            let newline = buffered.iter().position(|&b| b == b'\n');
            if newline.is_some() || size.is_some_and(|s| s <= buffered.len()) || !self.fill(py)? {
                let cut = newline.map_or(self.buffered().len(), |i| i + 1);
                let cut = size.map_or(cut, |s| cut.min(s));
                return Ok(self.take(py, cut));
            }
        }
    }
}

/// A size argument: `None` or negative means "all".
fn limit(size: Option<isize>) -> Option<usize> {
    size.and_then(|s| usize::try_from(s).ok())
}

#[pymethods]
impl Input {
    #[pyo3(signature = (size=None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        match limit(size) {
            None => {
                while self.fill(py)? {}
                Ok(self.take(py, usize::MAX))
            }
            Some(size) => {
                while self.buffered().len() < size && self.fill(py)? {}
                Ok(self.take(py, size))
            }
        }
    }

    #[pyo3(signature = (size=None))]
    fn read1<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<isize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if self.buffered().is_empty() {
            self.fill(py)?;
        }
        Ok(self.take(py, limit(size).unwrap_or(usize::MAX)))
    }

    #[pyo3(signature = (size=None))]
    fn readline<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<isize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.line(py, limit(size))
    }

    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(
        &mut self,
        py: Python<'py>,
        hint: Option<isize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let lines = PyList::empty(py);
        let hint = limit(hint).filter(|h| *h > 0);
        let mut total = 0;
        loop {
            let line = self.line(py, None)?;
            if line.as_bytes().is_empty() {
                return Ok(lines);
            }
            total += line.as_bytes().len();
            lines.append(line)?;
            if hint.is_some_and(|h| total >= h) {
                return Ok(lines);
            }
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.line(py, None)?;
        Ok((!line.as_bytes().is_empty()).then_some(line))
    }
}

/// `start_response` and the response it starts: `zroute._zroute.WsgiResponse(exchange)`.
#[pyclass(module = "zroute._zroute")]
pub(crate) struct WsgiResponse {
    ex: Py<PyExchange>,
    /// The status code, for the access log; 500 when the app failed first.
    #[pyo3(get, set)]
    status_code: u16,
    /// From `start_response` until the head goes out with the first chunk.
    headers: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    /// The app's own reason phrase, if it is not the registered one.
    reason: Option<ReasonPhrase>,
    #[pyo3(get)]
    started: bool,
    /// Body bytes sent, for the access log.
    #[pyo3(get)]
    sent: u64,
}

#[pymethods]
impl WsgiResponse {
    #[new]
    fn new(ex: Py<PyExchange>) -> Self {
        Self {
            ex,
            status_code: 0,
            headers: None,
            reason: None,
            started: false,
            sent: 0,
        }
    }

    /// PEP 3333's `start_response`; returns `write`.
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn start_response<'py>(
        slf: Bound<'py, Self>,
        status: &str,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        {
            let mut this = slf.borrow_mut();
            match exc_info.filter(|e| !e.is_none()) {
                Some(exc_info) if this.started => {
                    // Too late for another head: the app's error goes on up.
                    let exc_info = exc_info.cast::<PyTuple>()?;
                    let error = exc_info.get_item(1)?;
                    let error = error
                        .call_method1(intern!(py, "with_traceback"), (exc_info.get_item(2)?,))?;
                    return Err(PyErr::from_value(error));
                }
                Some(_) => {}
                None if this.headers.is_some() || this.started => {
                    return Err(PyAssertionError::new_err(
                        "start_response called twice without exc_info",
                    ));
                }
                None => {}
            }
            let code = status.split(' ').next().unwrap_or("");
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PyValueError::new_err(format!(
                    "invalid WSGI status {status:?}"
                )));
            }
            this.status_code = code.parse().expect("three digits");
            this.reason = wire_reason(this.status_code, status)?;
            let mut pairs = Vec::new();
            for pair in headers.try_iter()? {
                let pair = pair?;
                let name: String = pair.get_item(0)?.extract()?;
                let value: String = pair.get_item(1)?.extract()?;
                pairs.push((encode_latin1(&name)?, encode_latin1(&value)?));
            }
            this.headers = Some(pairs);
        }
        slf.getattr(intern!(py, "write"))
    }

    /// PEP 3333's `write`: the head goes out with the first chunk.
    fn write(&mut self, py: Python<'_>, data: PyBackedBytes) -> PyResult<()> {
        if self.started {
            self.ex.get().write(py, &data)?;
        } else {
            self.send_head("write() before start_response()", Some(&data), false)?;
        }
        self.sent += data.len() as u64;
        Ok(())
    }

    /// The app's result is exhausted; `last` is the whole body when it was
    /// one chunk and nothing went out yet.
    #[pyo3(signature = (last=None))]
    fn finish(&mut self, py: Python<'_>, last: Option<PyBackedBytes>) -> PyResult<()> {
        if !self.started {
            let body = last.as_deref();
            self.send_head(
                "the app returned without calling start_response()",
                body,
                true,
            )?;
            self.sent += body.map_or(0, |b| b.len() as u64);
            return Ok(());
        }
        if let Some(last) = last.filter(|l| !l.is_empty()) {
            self.write(py, last)?;
        }
        self.ex.get().finish()
    }

    /// The app failed: a 500 if nothing went out, else the stream is reset.
    fn fail(&mut self) {
        if self.status_code == 0 || !self.started {
            self.status_code = 500;
        }
        self.ex.get().abort();
    }
}

impl WsgiResponse {
    /// Sends the head `start_response` gave, with `body`: nothing needs its
    /// headers after this. `missing` is the error if it was never called.
    fn send_head(&mut self, missing: &'static str, body: Option<&[u8]>, end: bool) -> PyResult<()> {
        let headers = self
            .headers
            .take()
            .ok_or_else(|| PyAssertionError::new_err(missing))?;
        self.started = true;
        self.ex
            .get()
            .head(self.status_code, self.reason.take(), headers, body, end)?
            .send()
    }
}

/// The app's reason phrase, when the client would not see it otherwise:
/// the registered one ("200 OK") is what the router writes anyway, so it
/// does not travel (spec #reason-phrase). One a status line cannot carry
/// is the app's error, as it would be under gunicorn.
fn wire_reason(code: u16, status: &str) -> PyResult<Option<ReasonPhrase>> {
    let Some(reason) = status.get(4..).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let registered = StatusCode::from_u16(code)
        .ok()
        .and_then(|c| c.canonical_reason());
    if registered == Some(reason) {
        return Ok(None);
    }
    ReasonPhrase::new(encode_latin1(reason)?)
        .map(Some)
        .map_err(|_| PyValueError::new_err(format!("invalid WSGI status {status:?}")))
}

fn encode_latin1(s: &str) -> PyResult<Vec<u8>> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| PyValueError::new_err(format!("header text {s:?} is not Latin-1")))
}
