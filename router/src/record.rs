//! Session recording (`--record DIR`): every frame of every worker session,
//! both ways, to one trace file per session (`spec/trace.proto`, spec
//! Appendix D).
//!
//! The dispatcher must never wait for a disk, so it only hands frames (a
//! reference-counted `Bytes`, not a copy) to a writer thread through a
//! channel bounded by queued bytes and frames. When the writer falls behind,
//! frames are dropped and counted (`zroute_record_dropped_frames_total`, a
//! warning at most every 10 s); the session's trace then stops at the first
//! lost frame, since a trace with a gap cannot be replayed, and its end
//! record says so.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::time::Instant;
use tracing::{info, warn};
use zroute_trace::{Direction, EndReason, TraceEnd, TraceEvent, TraceHeader, TraceWriter};

use crate::metrics::Metrics;

/// Where and how much to record.
#[derive(Clone, Debug)]
pub(crate) struct RecordConfig {
    pub(crate) dir: PathBuf,
    /// Per file, bytes; 0 for no limit.
    pub(crate) max_bytes: u64,
    /// Trace files kept in `dir`; the oldest finished ones are deleted. 0 for no limit.
    pub(crate) max_files: usize,
    /// Frame bytes waiting for the writer thread before frames are dropped.
    pub(crate) queue_bytes: usize,
}

/// Most frames waiting for the writer thread, whatever their size.
const QUEUE_FRAMES: usize = 16_384;

/// At most one warning about dropped frames per this interval.
const DROP_WARNING_INTERVAL: Duration = Duration::from_secs(10);

enum Item {
    Open {
        session: String,
        worker_id: String,
        started: SystemTime,
    },
    /// A frame; the event names its session.
    Frame(TraceEvent),
    Close {
        session: String,
        /// Frames the dispatcher dropped for this session.
        dropped: u64,
    },
}

/// The dispatcher's side: never blocks.
pub(crate) struct Recorder {
    tx: mpsc::Sender<Item>,
    queued_bytes: Arc<AtomicUsize>,
    queued_frames: Arc<AtomicUsize>,
    queue_bytes: usize,
    sessions: HashMap<String, Session>,
    metrics: Arc<Metrics>,
    dropped_since_warning: u64,
    last_warning: Option<Instant>,
}

struct Session {
    start: Instant,
    /// Frames lost since the first drop; none is queued after it.
    dropped: u64,
}

/// Starts the writer thread. Open and close notices are not counted against
/// the queue bound: there are two per session, and without them a file
/// would be left without its end record.
pub(crate) fn start(
    config: RecordConfig,
    metrics: Arc<Metrics>,
) -> Result<(Recorder, JoinHandle<()>), String> {
    std::fs::create_dir_all(&config.dir)
        .map_err(|e| format!("--record {}: {e}", config.dir.display()))?;
    let (recorder, writer, rx) = pair(config.clone(), metrics);
    info!(dir = %config.dir.display(), max_bytes = config.max_bytes, max_files = config.max_files, "recording worker sessions");
    let thread = std::thread::Builder::new()
        .name("zroute-record".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| format!("cannot start the recording thread: {e}"))?;
    Ok((recorder, thread))
}

/// The two ends, not yet running.
fn pair(config: RecordConfig, metrics: Arc<Metrics>) -> (Recorder, Writer, mpsc::Receiver<Item>) {
    let (tx, rx) = mpsc::channel();
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let queued_frames = Arc::new(AtomicUsize::new(0));
    let writer = Writer {
        files: HashMap::new(),
        finished: existing_traces(&config.dir),
        queued_bytes: queued_bytes.clone(),
        queued_frames: queued_frames.clone(),
        config: config.clone(),
    };
    let recorder = Recorder {
        tx,
        queued_bytes,
        queued_frames,
        queue_bytes: config.queue_bytes,
        sessions: HashMap::new(),
        metrics,
        dropped_since_warning: 0,
        last_warning: None,
    };
    (recorder, writer, rx)
}

impl Recorder {
    /// A session was accepted; its HELLO is the first frame to record.
    pub(crate) fn open(&mut self, session: &str, worker_id: &str, now: Instant) {
        self.sessions.insert(
            session.to_owned(),
            Session {
                start: now,
                dropped: 0,
            },
        );
        let _ = self.tx.send(Item::Open {
            session: session.to_owned(),
            worker_id: worker_id.to_owned(),
            started: SystemTime::now(),
        });
    }

    pub(crate) fn frame(
        &mut self,
        session: &str,
        direction: Direction,
        frame: &Bytes,
        now: Instant,
    ) {
        let Some(state) = self.sessions.get_mut(session) else {
            return;
        };
        let len = frame.len();
        let room = self.queued_frames.load(Ordering::Relaxed) < QUEUE_FRAMES
            && self.queued_bytes.load(Ordering::Relaxed) + len <= self.queue_bytes;
        if state.dropped > 0 || !room {
            state.dropped += 1;
            self.metrics.record_dropped.inc();
            self.dropped_since_warning += 1;
            if self
                .last_warning
                .is_none_or(|t| now.duration_since(t) >= DROP_WARNING_INTERVAL)
            {
                warn!(
                    dropped = self.dropped_since_warning,
                    "recording cannot keep up: frames dropped, the affected traces stop there"
                );
                self.last_warning = Some(now);
                self.dropped_since_warning = 0;
            }
            return;
        }
        self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        self.queued_frames.fetch_add(1, Ordering::Relaxed);
        let event = TraceEvent::new(
            direction,
            now.duration_since(state.start),
            session,
            frame.clone(),
        );
        let _ = self.tx.send(Item::Frame(event));
    }

    /// The session is gone: its file gets its end record.
    pub(crate) fn close(&mut self, session: &str) {
        if let Some(state) = self.sessions.remove(session) {
            let _ = self.tx.send(Item::Close {
                session: session.to_owned(),
                dropped: state.dropped,
            });
        }
    }
}

struct OpenFile {
    writer: TraceWriter<BufWriter<File>>,
    path: PathBuf,
    /// Set once the file stopped taking frames.
    stopped: Option<EndReason>,
    dropped: u64,
}

struct Writer {
    /// Per session; `None` for a session that is not recorded.
    files: HashMap<String, Option<OpenFile>>,
    /// Finished trace files in `dir`, oldest first (their names start with the time).
    finished: VecDeque<PathBuf>,
    queued_bytes: Arc<AtomicUsize>,
    queued_frames: Arc<AtomicUsize>,
    config: RecordConfig,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Item>) {
        // Flush after each burst, so files are current whenever the router is idle.
        while let Ok(item) = rx.recv() {
            self.handle(item);
            while let Ok(item) = rx.try_recv() {
                self.handle(item);
            }
            for file in self.files.values_mut().flatten() {
                if let Err(e) = std::io::Write::flush(file.writer.get_mut()) {
                    warn!(path = %file.path.display(), error = %e, "trace file write failed");
                }
            }
        }
        // The dispatcher stopped: sessions still open end here.
        let sessions: Vec<String> = self.files.keys().cloned().collect();
        for session in sessions {
            self.close(&session, EndReason::RecorderStopped, 0);
        }
    }

    fn handle(&mut self, item: Item) {
        match item {
            Item::Open {
                session,
                worker_id,
                started,
            } => {
                let file = self.create(&session, &worker_id, started);
                self.files.insert(session, file);
            }
            Item::Frame(event) => {
                self.queued_bytes
                    .fetch_sub(event.frame.len(), Ordering::Relaxed);
                self.queued_frames.fetch_sub(1, Ordering::Relaxed);
                let Some(Some(file)) = self.files.get_mut(&event.session_id) else {
                    return;
                };
                if file.stopped.is_some() {
                    file.dropped += 1;
                    return;
                }
                let len = TraceWriter::<BufWriter<File>>::event_len(&event);
                let limit = self.config.max_bytes;
                if limit > 0
                    && file.writer.bytes_written() + len + TraceWriter::<File>::MAX_END_LEN > limit
                {
                    warn!(path = %file.path.display(), max_bytes = limit, "trace file reached --record-max-bytes: the rest of the session is not recorded");
                    file.stopped = Some(EndReason::MaxBytes);
                    file.dropped += 1;
                    return;
                }
                if let Err(e) = file.writer.write_event(&event) {
                    warn!(path = %file.path.display(), error = %e, "trace file write failed: recording of the session stops");
                    self.files.insert(event.session_id, None);
                }
            }
            Item::Close { session, dropped } => {
                let reason = if dropped > 0 {
                    EndReason::FramesDropped
                } else {
                    EndReason::SessionClosed
                };
                self.close(&session, reason, dropped);
            }
        }
    }

    fn close(&mut self, session: &str, reason: EndReason, dropped: u64) {
        let Some(Some(file)) = self.files.remove(session) else {
            return;
        };
        let reason = file.stopped.unwrap_or(reason);
        let end = TraceEnd::new(reason, file.dropped + dropped);
        if let Err(e) = file.writer.finish(&end) {
            warn!(path = %file.path.display(), error = %e, "trace file write failed");
        }
        self.finished.push_back(file.path);
    }

    /// A new trace file, after making room under `max_files`.
    fn create(&mut self, session: &str, worker_id: &str, started: SystemTime) -> Option<OpenFile> {
        let max = self.config.max_files;
        if max > 0 {
            let open = self.files.values().flatten().count();
            while open + self.finished.len() >= max {
                let Some(oldest) = self.finished.pop_front() else {
                    warn!(%session, max_files = max, "every trace file allowed by --record-max-files is still being written: session not recorded");
                    return None;
                };
                if let Err(e) = std::fs::remove_file(&oldest)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    warn!(path = %oldest.display(), error = %e, "cannot delete an old trace file");
                }
            }
        }
        let started_at = prost_types::Timestamp::from(started);
        let path = self.config.dir.join(file_name(&started_at, session));
        let file = match File::options().write(true).create_new(true).open(&path) {
            Ok(file) => file,
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot create a trace file: session not recorded");
                return None;
            }
        };
        let header = TraceHeader {
            protocol_version: u32::from(zroute_proto::PROTOCOL_VERSION),
            recorder: Some(zroute_trace::Recorder {
                name: "zroute-router".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            }),
            worker_id: worker_id.to_owned(),
            session_id: session.to_owned(),
            started_at: Some(started_at),
        };
        match TraceWriter::new(BufWriter::new(file), &header) {
            Ok(writer) => Some(OpenFile {
                writer,
                path,
                stopped: None,
                dropped: 0,
            }),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot write a trace file: session not recorded");
                None
            }
        }
    }
}

/// `20261127T002653.123456Z-zroute-1.trace`: sorts by time (always six
/// fractional digits); the session id keeps only characters safe in a file name.
fn file_name(started: &prost_types::Timestamp, session: &str) -> String {
    let whole = prost_types::Timestamp {
        seconds: started.seconds,
        nanos: 0,
    };
    let time: String = whole
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':' | 'Z'))
        .collect();
    let micros = started.nanos / 1000;
    let session: String = session
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{time}.{micros:06}Z-{session}.trace")
}

/// Trace files already in `dir` (from earlier runs), oldest first.
fn existing_traces(dir: &Path) -> VecDeque<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "trace"))
        .collect();
    paths.sort();
    paths.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(dir: &Path) -> Vec<zroute_trace::Trace> {
        existing_traces(dir)
            .iter()
            .map(|p| zroute_trace::read_trace(File::open(p).unwrap()).unwrap())
            .collect()
    }

    /// The dispatcher side runs ahead of a writer that does not read: frames
    /// beyond the queue bound are dropped and counted, every later frame of
    /// that session too, and the end record says how many.
    #[test]
    fn a_full_queue_drops_frames_and_the_trace_stops_at_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::new());
        let config = RecordConfig {
            dir: dir.path().to_owned(),
            max_bytes: 0,
            max_files: 0,
            queue_bytes: 100,
        };
        let (mut recorder, mut writer, rx) = pair(config, metrics.clone());
        let now = Instant::now();
        let frame = |n: usize| Bytes::from(vec![7u8; n]);
        recorder.open("zroute-1", "w1", now);
        recorder.frame("zroute-1", Direction::WorkerToRouter, &frame(60), now);
        recorder.frame("zroute-1", Direction::RouterToWorker, &frame(60), now);
        // Would fit now, but the trace already has a gap.
        recorder.frame("zroute-1", Direction::WorkerToRouter, &frame(1), now);
        recorder.close("zroute-1");
        assert_eq!(metrics.record_dropped.get(), 2);
        while let Ok(item) = rx.try_recv() {
            writer.handle(item);
        }
        assert_eq!(recorder.queued_bytes.load(Ordering::Relaxed), 0);
        let traces = read(dir.path());
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0].events.len(), 1);
        assert_eq!(traces[0].events[0].frame.len(), 60);
        let end = traces[0].end.as_ref().unwrap();
        assert_eq!(end.reason, EndReason::FramesDropped as i32);
        assert_eq!(end.dropped_frames, 2);
    }

    /// The dispatcher stops with a session open: its file still gets an end record.
    #[test]
    fn open_sessions_end_when_the_recorder_stops() {
        let dir = tempfile::tempdir().unwrap();
        let config = RecordConfig {
            dir: dir.path().to_owned(),
            max_bytes: 0,
            max_files: 0,
            queue_bytes: 1 << 20,
        };
        let (mut recorder, writer, rx) = pair(config, Arc::new(Metrics::new()));
        let now = Instant::now();
        recorder.open("zroute-9", "w9", now);
        recorder.frame(
            "zroute-9",
            Direction::WorkerToRouter,
            &Bytes::from_static(b"x"),
            now,
        );
        drop(recorder);
        writer.run(rx);
        let traces = read(dir.path());
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0].header.as_ref().unwrap().worker_id, "w9");
        assert_eq!(traces[0].events.len(), 1);
        assert_eq!(
            traces[0].end.as_ref().unwrap().reason,
            EndReason::RecorderStopped as i32
        );
    }

    #[test]
    fn file_names_sort_by_time_and_are_safe() {
        let a = file_name(&"2026-11-27T00:26:53.123Z".parse().unwrap(), "zroute-1");
        let b = file_name(&"2026-11-27T00:26:54Z".parse().unwrap(), "r/../x y");
        assert_eq!(a, "20261127T002653.123000Z-zroute-1.trace");
        assert_eq!(b, "20261127T002654.000000Z-r_.._x_y.trace");
        assert!(a < b);
    }
}
