//! `--record DIR` (spec: #trace-format, #trace-schema, #trace-file): the real router binary records real
//! worker sessions, driven by real HTTP requests, to trace files that the
//! zroute-trace reader reads back; and its file limits hold.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use zroute_proto::Frame;
use zroute_test_support::http::{client, request};
use zroute_test_support::process::{Proc, example, worker};
use zroute_test_support::router_process::{Router, metric};
use zroute_test_support::wait::wait_until;
use zroute_trace::{Direction, EndReason, Trace, read_trace};

const STARTUP: Duration = Duration::from_secs(20);

fn traces(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "trace"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> Trace {
    read_trace(std::io::BufReader::new(std::fs::File::open(path).unwrap()))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (direction, frame) of every event but PING and WINDOW_UPDATE, which come and go with timing.
fn frames(trace: &Trace) -> Vec<(Direction, Frame)> {
    trace
        .events
        .iter()
        .map(|e| {
            let frame = Frame::decode(e.frame.clone()).expect("recorded frames decode");
            (Direction::try_from(e.direction).unwrap(), frame)
        })
        .filter(|(_, f)| !matches!(f, Frame::Ping(_) | Frame::WindowUpdate(_)))
        .collect()
}

/// Stops the router with SIGTERM and waits for it: the recording is complete once it exits.
async fn stop(mut router: Router) {
    router.proc.signal("TERM");
    let code = tokio::task::spawn_blocking(move || router.proc.wait_exit(Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "the router exits cleanly");
}

async fn stop_worker(mut w: Proc) {
    w.signal("TERM");
    tokio::task::spawn_blocking(move || w.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_writes_each_frame_of_a_session_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let router = Router::start(
        "tcp://127.0.0.1:*",
        &["--record", dir.path().to_str().unwrap()],
    );
    let _w = worker("testapp", "w1", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    let http = client();
    let (status, body) = request(&http, "GET", &router.url("/hello"), Bytes::new())
        .await
        .unwrap();
    assert_eq!((status, &body[..]), (200, &b"Hello from w1"[..]));
    let (status, body) = request(&http, "POST", &router.url("/echo"), Bytes::from("abc"))
        .await
        .unwrap();
    assert_eq!((status, &body[..]), (200, &b"abc"[..]));
    stop(router).await;

    let files = traces(dir.path());
    assert_eq!(files.len(), 1, "one session, one file: {files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.ends_with("-zroute-1.trace"), "{name}");
    let trace = read(&files[0]);
    let header = trace.header.as_ref().unwrap();
    assert_eq!(header.worker_id, "w1");
    assert_eq!(header.session_id, "zroute-1");
    assert_eq!(header.protocol_version, 1);
    assert_eq!(header.recorder.as_ref().unwrap().name, "zroute-router");
    assert!(header.started_at.is_some());
    let end = trace.end.as_ref().expect("an end record");
    assert!(
        [
            EndReason::SessionClosed as i32,
            EndReason::RecorderStopped as i32
        ]
        .contains(&end.reason),
        "{end:?}"
    );
    assert_eq!(end.dropped_frames, 0);
    let times: Vec<Duration> = trace.events.iter().map(|e| e.elapsed()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "monotonic times");
    assert!(trace.events.iter().all(|e| e.session_id == "zroute-1"));

    // The frames, in order, without the timing-dependent PING and WINDOW_UPDATE.
    let shown: Vec<String> = frames(&trace)
        .iter()
        .map(|(d, f)| {
            format!(
                "{} {}",
                if *d == Direction::RouterToWorker {
                    "->"
                } else {
                    "<-"
                },
                f.type_name()
            )
        })
        .collect();
    let mut it = frames(&trace).into_iter();
    let mut next = |what: &str| {
        it.next()
            .unwrap_or_else(|| panic!("{what} is missing: {shown:?}"))
    };
    let (d, f) = next("HELLO");
    assert!(
        d == Direction::WorkerToRouter && matches!(f, Frame::Hello(_)),
        "{shown:?}"
    );
    let (d, f) = next("WELCOME");
    assert!(
        d == Direction::RouterToWorker && matches!(f, Frame::Welcome(_)),
        "{shown:?}"
    );
    let (d, f) = next("SYN_STREAM /hello");
    let Frame::SynStream(syn) = f else {
        panic!("{shown:?}")
    };
    assert_eq!(d, Direction::RouterToWorker);
    assert_eq!(syn.stream_id().get(), 1);
    assert_eq!(
        syn.headers().get(":path").map(|v| &v[..]),
        Some(&b"/hello"[..])
    );
    let (d, f) = next("SYN_REPLY 1");
    assert!(
        d == Direction::WorkerToRouter
            && matches!(&f, Frame::SynReply(r) if r.stream_id().get() == 1),
        "{shown:?}"
    );
    // The body of stream 1, then the echo on stream 3.
    let mut hello_body = Vec::new();
    let mut echo_request = Vec::new();
    let mut echo_body = Vec::new();
    let mut echo_reply = false;
    let mut goaway = false;
    for (d, f) in it {
        match (d, f) {
            (Direction::WorkerToRouter, Frame::Data(data)) if data.stream_id().get() == 1 => {
                hello_body.extend_from_slice(data.payload());
            }
            (Direction::RouterToWorker, Frame::SynStream(syn)) => {
                assert_eq!(syn.stream_id().get(), 3);
                assert_eq!(
                    hello_body, b"Hello from w1",
                    "stream 1 completed before stream 3 opened"
                );
            }
            (Direction::RouterToWorker, Frame::Data(data)) if data.stream_id().get() == 3 => {
                echo_request.extend_from_slice(data.payload());
            }
            (Direction::WorkerToRouter, Frame::SynReply(r)) if r.stream_id().get() == 3 => {
                echo_reply = true
            }
            (Direction::WorkerToRouter, Frame::Data(data)) if data.stream_id().get() == 3 => {
                assert!(echo_reply, "SYN_REPLY before DATA on stream 3");
                echo_body.extend_from_slice(data.payload());
            }
            (Direction::RouterToWorker, Frame::GoAway(_)) => goaway = true,
            (_, Frame::GoAway(_)) => {}
            (d, f) => panic!("unexpected {d:?} {}: {shown:?}", f.type_name()),
        }
    }
    assert_eq!(echo_request, b"abc");
    assert_eq!(echo_body, b"abc");
    assert!(goaway, "the router's drain GOAWAY is recorded: {shown:?}");

    // What the router recorded replays against a fresh worker (spec #trace-replay).
    let cfg = zroute_conformance::replay::ReplayConfig {
        worker: vec![
            example("testapp").display().to_string(),
            "w2".into(),
            "--connect".into(),
            "{endpoint}".into(),
        ],
        timeout_scale: 2.0,
        noise: zroute_conformance::replay::Noise::default(),
    };
    let r = zroute_conformance::replay::replay(&trace, &cfg).await;
    assert_eq!(
        r.outcome,
        zroute_conformance::runner::Outcome::Pass,
        "{} / {}\n{}\n{}",
        r.expected,
        r.happened,
        r.diff.join("\n"),
        r.wire_log.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_max_files_keeps_the_newest_sessions() {
    let dir = tempfile::tempdir().unwrap();
    // A file from an earlier run counts too, and is the oldest.
    std::fs::write(dir.path().join("19700101T000000.000000Z-old-1.trace"), b"").unwrap();
    let router = Router::start(
        "tcp://127.0.0.1:*",
        &[
            "--record",
            dir.path().to_str().unwrap(),
            "--record-max-files",
            "2",
        ],
    );
    for i in 1..=3 {
        let w = worker("testapp", &format!("w{i}"), &router.endpoint, &[]);
        router.wait_workers(1, STARTUP).await;
        let (status, _) = request(&client(), "GET", &router.url("/hello"), Bytes::new())
            .await
            .unwrap();
        assert_eq!(status, 200);
        stop_worker(w).await;
        router.wait_workers(0, STARTUP).await;
    }
    stop(router).await;
    let files = traces(dir.path());
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].ends_with("-zroute-2.trace"), "{names:?}");
    assert!(names[1].ends_with("-zroute-3.trace"), "{names:?}");
    for path in &files {
        let trace = read(path);
        assert_eq!(
            trace.end.unwrap().reason,
            EndReason::SessionClosed as i32,
            "{path:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_max_bytes_stops_the_file_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // The directory from the environment this time.
    let router = Router::launch(
        &[
            "--http",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--workers",
            "tcp://127.0.0.1:*",
            "--record-max-bytes",
            "4000",
        ],
        &[("ZROUTE_RECORD", dir.path().to_str().unwrap())],
    );
    let _w = worker("testapp", "w1", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    let (status, body) = request(
        &client(),
        "GET",
        &router.url("/large?bytes=20000"),
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        (status, body.len()),
        (200, 20_000),
        "recording limits never touch the traffic"
    );
    router
        .proc
        .logs
        .wait_for(&["--record-max-bytes"], Duration::from_secs(10));
    // The writer kept up: the limit, not the queue, stopped the file.
    let metrics = router.metrics().await;
    assert_eq!(
        metric(&metrics, "zroute_record_dropped_frames_total"),
        Some(0.0),
        "{metrics}"
    );
    stop(router).await;
    let files = traces(dir.path());
    assert_eq!(files.len(), 1);
    let size = std::fs::metadata(&files[0]).unwrap().len();
    assert!(size <= 4000, "the file holds {size} bytes, above the limit");
    let trace = read(&files[0]);
    let end = trace.end.clone().expect("an end record");
    assert_eq!(end.reason, EndReason::MaxBytes as i32);
    assert!(end.dropped_frames > 0, "{end:?}");
    // What is there is the start of the session.
    assert!(matches!(frames(&trace)[0].1, Frame::Hello(_)));
}

/// A router killed outright leaves files without an end record; what was
/// written before is still readable (spec #trace-file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_router_leaves_readable_traces_without_an_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut router = Router::start(
        "tcp://127.0.0.1:*",
        &["--record", dir.path().to_str().unwrap()],
    );
    let _w = worker("testapp", "w1", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    let (status, _) = request(&client(), "GET", &router.url("/hello"), Bytes::new())
        .await
        .unwrap();
    assert_eq!(status, 200);
    // The writer flushes after each burst: wait until the response's frames are on disk.
    wait_until("the response is recorded", Duration::from_secs(10), || {
        let dir = dir.path().to_owned();
        async move {
            traces(&dir).first().is_some_and(|path| {
                let mut reader = zroute_trace::TraceReader::new(std::fs::File::open(path).unwrap());
                let mut data = 0;
                while let Ok(Some(e)) = reader.as_mut().map_or(Ok(None), |r| r.next_event()) {
                    if matches!(Frame::decode(e.frame), Ok(Frame::Data(d)) if d.is_fin()) {
                        data += 1;
                    }
                }
                data > 0
            })
        }
    })
    .await;
    router.proc.signal("KILL");
    router.proc.wait_exit(Duration::from_secs(10));
    let files = traces(dir.path());
    assert_eq!(files.len(), 1);
    let mut reader =
        zroute_trace::TraceReader::new(std::fs::File::open(&files[0]).unwrap()).unwrap();
    assert_eq!(reader.header().worker_id, "w1");
    let mut events = 0;
    while let Ok(Some(_)) = reader.next_event() {
        events += 1;
    }
    assert!(
        events >= 4,
        "HELLO, WELCOME, SYN_STREAM, SYN_REPLY, DATA: {events}"
    );
    assert!(reader.end().is_none(), "no end record after kill -9");
}
