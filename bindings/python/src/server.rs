//! The worker, for Python: a tokio runtime on a thread of its own serves the
//! zroute sessions (which zroute-worker runs on a thread of their own) and
//! runs the request tasks; Python takes requests from it (a thread pool
//! blocks in `next_request`, or the asyncio loop drains the mailbox).
//!
//! Every wait here detaches from the interpreter, and the runtime is built
//! and dropped on its own thread, never while attached.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http::Request;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use tokio::sync::oneshot;
use zroute_worker::{Body, Worker, service_fn};

use crate::exchange::{App, Dispatch, Event, Exchange, Limits, Mailbox, PyExchange, handle};

/// How often a wait on the main thread returns to the interpreter to run
/// signal handlers (SIGTERM, SIGINT).
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running worker: `zroute._zroute.Server`.
#[pyclass(frozen, module = "zroute._zroute")]
pub(crate) struct Server {
    requests: Option<Mutex<Receiver<Arc<Exchange>>>>,
    mailbox: Option<Arc<Mailbox>>,
    graceful: Mutex<Option<oneshot::Sender<()>>>,
    fast: Mutex<Option<oneshot::Sender<()>>>,
    done: Mutex<Receiver<Result<(), String>>>,
    outcome: Mutex<Option<Result<(), String>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    registered: Arc<AtomicBool>,
}

#[pymethods]
impl Server {
    /// Starts serving. `mode` is "threads" (requests from `next_request`) or
    /// "loop" (requests from `drain`). Times are in seconds; 0 means none.
    #[new]
    #[pyo3(signature = (
        *, id, connect, mode, capacity, routes=Vec::new(), graceful_timeout=30.0,
        max_body=0, max_header=0, timeout=0.0, runtime_threads=1, labels=Vec::new(), window=0,
        curve_server_key=None, curve_key=None,
    ))]
    #[allow(
        clippy::too_many_arguments,
        reason = "keyword-only arguments, one per worker setting"
    )]
    fn new(
        py: Python<'_>,
        id: String,
        connect: Vec<String>,
        mode: &str,
        capacity: u32,
        routes: Vec<String>,
        graceful_timeout: f64,
        max_body: u64,
        max_header: usize,
        timeout: f64,
        runtime_threads: usize,
        labels: Vec<(String, String)>,
        window: u32,
        curve_server_key: Option<String>,
        curve_key: Option<String>,
    ) -> PyResult<Self> {
        let seconds = |name: &str, s: f64| {
            Duration::try_from_secs_f64(s)
                .map_err(|_| PyValueError::new_err(format!("{name} must be a number of seconds")))
        };
        let graceful_timeout = seconds("graceful_timeout", graceful_timeout)?;
        let timeout = seconds("timeout", timeout)?;
        let (mut requests, mut mailbox) = (None, None);
        let dispatch = match mode {
            "threads" => {
                let (tx, rx) = std::sync::mpsc::channel();
                requests = Some(Mutex::new(rx));
                Dispatch::Threads(tx)
            }
            "loop" => {
                let mb =
                    Arc::new(Mailbox::new().map_err(|e| PyRuntimeError::new_err(e.to_string()))?);
                mailbox = Some(mb.clone());
                Dispatch::Loop(mb)
            }
            other => return Err(PyValueError::new_err(format!("unknown mode {other:?}"))),
        };
        // Built after the last early return: a runtime is dropped only on its
        // own thread (below), never here, attached.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(runtime_threads.max(1))
            .thread_name("zroute-runtime")
            .enable_all()
            .build()
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start the runtime: {e}")))?;
        let app = App {
            dispatch,
            limits: Limits {
                max_header,
                timeout: (!timeout.is_zero()).then_some(timeout),
            },
            runtime: runtime.handle().clone(),
        };
        let registered = Arc::new(AtomicBool::new(false));
        let mut worker = Worker::builder(id)
            .registered_flag(registered.clone())
            .capacity(capacity)
            .graceful_timeout(graceful_timeout)
            .max_request_body(max_body)
            // A handler only hands the request to Python (a queue push, never
            // a wait) and waits for its answer. Measured (bench/NOTES.md),
            // each mode where it pays: the pool's first poll on the session
            // thread saves a hop to a runtime thread (+17% req/s for Flask;
            // running it there to the end lost 10-30%); the loop's handlers
            // run on the session thread start to end, so the loop's answer
            // wakes that thread directly (+20% req/s for Starlette and
            // FastAPI, with less CPU per request).
            .inline_handlers(mode == "threads")
            .local_handlers(mode == "loop")
            .feature("trailers")
            // The library follows named endpoints (spec #transport-discovery),
            // and its environment variables configure the lookups.
            .feature("discovery");
        if mode == "loop" {
            // ASGI has a `websocket` scope; WSGI has none.
            worker = worker.feature("websocket");
        }
        for endpoint in connect {
            worker = worker.connect(endpoint);
        }
        for route in routes {
            worker = worker.route(route);
        }
        for (name, value) in labels {
            worker = worker.label(name, value);
        }
        if window > 0 {
            worker = worker.initial_window(window);
        }
        match (curve_server_key, curve_key) {
            (Some(server_key), Some(key_file)) => {
                worker = worker
                    .curve_files(&server_key, key_file)
                    .map_err(|e| PyValueError::new_err(e.to_string()))?;
            }
            (None, None) => {}
            _ => {
                return Err(PyValueError::new_err(
                    "curve_server_key and curve_key go together",
                ));
            }
        }
        let (graceful_tx, graceful_rx) = oneshot::channel::<()>();
        let (fast_tx, fast_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let stopped = mailbox.clone();
        let thread = py.detach(|| {
            std::thread::Builder::new()
                .name("zroute-worker".into())
                .spawn(move || run(runtime, worker, app, graceful_rx, fast_rx, stopped, done_tx))
        });
        let thread = thread.map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(Self {
            requests,
            mailbox,
            graceful: Mutex::new(Some(graceful_tx)),
            fast: Mutex::new(Some(fast_tx)),
            done: Mutex::new(done_rx),
            outcome: Mutex::new(None),
            thread: Mutex::new(Some(thread)),
            registered,
        })
    }

    /// The next request for a pool thread, or None once the worker stopped.
    fn next_request(&self, py: Python<'_>) -> PyResult<Option<PyExchange>> {
        let requests = self
            .requests
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("not a threads-mode server"))?;
        // A request already queued is taken without letting go of the
        // interpreter: the thread that just finished one goes on with the
        // next, and no other thread has to wake up and take the GIL (each
        // such hand-over is a pair of context switches). Only an empty
        // queue (or one a waiting thread holds) is waited on, detached.
        if let Ok(queue) = requests.try_lock() {
            match queue.try_recv() {
                Ok(ex) => return Ok(Some(PyExchange(ex))),
                Err(TryRecvError::Disconnected) => return Ok(None),
                Err(TryRecvError::Empty) => {}
            }
        }
        Ok(py.detach(|| lock(requests).recv().ok()).map(PyExchange))
    }

    /// True once a session has registered with a router.
    #[getter]
    fn registered(&self) -> bool {
        self.registered.load(Ordering::Relaxed)
    }

    /// The descriptor that becomes readable when `drain` has events.
    fn mailbox_fd(&self) -> PyResult<i32> {
        Ok(self.loop_mailbox()?.fd())
    }

    /// The events since the last call, as `(kind, id, exchange or None)`;
    /// kinds: 0 request, 1 readable, 2 writable, 3 disconnected, 4 stopped.
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for event in self.loop_mailbox()?.drain() {
            let (kind, id, ex) = match event {
                Event::Request(ex) => (0u8, ex.id, Some(PyExchange(ex))),
                Event::Readable(id) => (1, id, None),
                Event::Writable(id) => (2, id, None),
                Event::Disconnected(id) => (3, id, None),
                Event::Stopped => (4, 0, None),
            };
            let ex = match ex {
                Some(ex) => Bound::new(py, ex)?.into_any(),
                None => py.None().into_bound(py),
            };
            list.append(PyTuple::new(
                py,
                [
                    kind.into_pyobject(py)?.into_any(),
                    id.into_pyobject(py)?.into_any(),
                    ex,
                ],
            )?)?;
        }
        Ok(list)
    }

    /// Stops serving: GOAWAY, then the requests in flight finish (up to the
    /// graceful timeout). With `fast`, they are given up at once.
    #[pyo3(signature = (fast=false))]
    fn stop(&self, fast: bool) {
        if let Some(tx) = lock(&self.graceful).take() {
            let _ = tx.send(());
        }
        if fast && let Some(tx) = lock(&self.fast).take() {
            let _ = tx.send(());
        }
    }

    /// Waits until the worker stopped (True), or `timeout` seconds passed
    /// (False). Raises what made it fail to start. Signal handlers run while
    /// it waits.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0)));
        loop {
            if let Some(outcome) = lock(&self.outcome).clone() {
                return outcome.map(|()| true).map_err(PyRuntimeError::new_err);
            }
            let step = deadline.map_or(SIGNAL_CHECK, |d| {
                d.saturating_duration_since(Instant::now())
                    .min(SIGNAL_CHECK)
            });
            let got = py.detach(|| lock(&self.done).recv_timeout(step));
            match got {
                Ok(outcome) => {
                    let thread = lock(&self.thread).take();
                    if let Some(thread) = thread {
                        let _ = py.detach(|| thread.join());
                    }
                    *lock(&self.outcome) = Some(outcome);
                }
                Err(RecvTimeoutError::Timeout) => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(false);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    *lock(&self.outcome) = Some(Err("the worker thread died".into()));
                }
            }
        }
    }
}

impl Server {
    fn loop_mailbox(&self) -> PyResult<&Mailbox> {
        self.mailbox
            .as_deref()
            .ok_or_else(|| PyRuntimeError::new_err("not a loop-mode server"))
    }
}

/// The worker thread: serve until stopped, then drop the runtime here.
fn run(
    runtime: tokio::runtime::Runtime,
    worker: zroute_worker::Builder,
    app: App,
    graceful: oneshot::Receiver<()>,
    fast: oneshot::Receiver<()>,
    mailbox: Option<Arc<Mailbox>>,
    done: Sender<Result<(), String>>,
) {
    let outcome = runtime.block_on(async move {
        let service = service_fn(move |req: Request<Body>| handle(app.clone(), req));
        let serve = worker.serve_with_shutdown(service, async {
            let _ = graceful.await;
        });
        tokio::select! {
            outcome = serve => outcome.map_err(|e| e.to_string()),
            Ok(()) = fast => Ok(()),
        }
    });
    // Request tasks still running are dropped with the runtime, which tells
    // their apps (the guards) and closes the request queue.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Some(mailbox) = mailbox {
        mailbox.post(Event::Stopped);
    }
    let _ = done.send(outcome);
}
