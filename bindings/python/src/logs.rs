//! The runtime's own log lines (registration, draining, protocol errors) as
//! Python `logging` records on the `zroute.runtime` logger.
//!
//! The runtime's threads never take the interpreter to log: a tracing layer
//! formats each event and queues it (bounded; lines beyond it are dropped),
//! and a Python thread takes them from the queue (`next_log_record`, waiting
//! detached) and hands them to `logging`.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Mutex, OnceLock, PoisonError};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Lines waiting for the Python thread.
const QUEUE: usize = 1024;

/// The most verbose level passed on: 0 none, 1 error ... 5 trace.
static LEVEL: AtomicU8 = AtomicU8::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// `None` ends the Python thread's loop (`close_logs`).
type Line = Option<(u32, String)>;

struct Queue {
    tx: SyncSender<Line>,
    rx: Mutex<Receiver<Line>>,
}

static QUEUE_CELL: OnceLock<Queue> = OnceLock::new();

fn queue() -> &'static Queue {
    QUEUE_CELL.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE);
        Queue {
            tx,
            rx: Mutex::new(rx),
        }
    })
}

fn rank(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// Python's numbers for the levels (TRACE below DEBUG).
fn python_level(level: &Level) -> u32 {
    match *level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG => 10,
        Level::TRACE => 5,
    }
}

/// Sets the level (`error`, `warn`, `info`, `debug`, `trace`) and, the first
/// time, installs the layer.
#[pyfunction]
pub(crate) fn init_logging(level: &str) -> PyResult<()> {
    let level: Level = level
        .parse()
        .map_err(|_| PyValueError::new_err(format!("unknown log level {level:?}")))?;
    LEVEL.store(rank(&level), Ordering::Relaxed);
    queue();
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(ToPython));
    Ok(())
}

/// The next line as `(levelno, message)`, waiting detached; None after `close_logs`.
#[pyfunction]
pub(crate) fn next_log_record(py: Python<'_>) -> Option<(u32, String)> {
    py.detach(|| {
        let rx = queue().rx.lock().unwrap_or_else(PoisonError::into_inner);
        rx.recv().ok().flatten()
    })
}

/// Makes `next_log_record` return None once the lines queued so far are taken.
#[pyfunction]
pub(crate) fn close_logs(py: Python<'_>) {
    py.detach(|| {
        let _ = queue().tx.send(None);
    });
}

/// How many lines were dropped because the queue was full.
#[pyfunction]
pub(crate) fn dropped_log_records() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// A span's or an event's fields, formatted.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={:?}", field.name(), value);
        }
    }
}

struct ToPython;

impl<S> Layer<S> for ToPython
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The level can change (a second `serve()`): ask every time.
        Interest::sometimes()
    }

    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        rank(meta.level()) <= LEVEL.load(Ordering::Relaxed)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = fields.message;
        line.push_str(&fields.rest);
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(span_fields) = span.extensions().get::<Fields>() {
                    line.push_str(&span_fields.rest);
                }
            }
        }
        let level = python_level(event.metadata().level());
        if let Err(TrySendError::Full(_)) = queue().tx.try_send(Some((level, line))) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}
