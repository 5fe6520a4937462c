//! Recorded traces (spec: #trace-replay, #trace-json): the committed traces replay
//! against the Rust test app; an edited trace fails with a diff; the `trace`
//! and `replay` commands work as documented.

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use zroute_conformance::replay::{Noise, ReplayConfig, replay};
use zroute_conformance::runner::Outcome;
use zroute_conformance::trace_cmd::{load, save_binary};
use zroute_proto::Frame;
use zroute_proto::frame::Data;
use zroute_trace::{Direction, Trace};

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn testapp() -> PathBuf {
    let app = target_dir().join("debug/examples/testapp");
    assert!(
        app.exists(),
        "{} is missing: build it with `cargo build -p zroute-worker --examples` (scripts/test does)",
        app.display()
    );
    app
}

fn traces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces")
}

fn committed() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(traces_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "trace"))
        .collect();
    files.sort();
    files
}

fn config(id: &str) -> ReplayConfig {
    ReplayConfig {
        worker: vec![
            testapp().display().to_string(),
            id.into(),
            "--connect".into(),
            "{endpoint}".into(),
        ],
        timeout_scale: 2.0,
        noise: Noise::default(),
    }
}

fn run(trace: &Trace, cfg: &ReplayConfig) -> zroute_conformance::replay::ReplayResult {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(replay(trace, cfg))
}

#[test]
fn every_committed_trace_replays_against_the_rust_testapp() {
    let files = committed();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in ["cancel", "echo", "hello", "stream", "trailers", "websocket"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want}.trace is committed: {names:?}"
        );
    }
    // A worker id other than the recorded one ("w1"): bodies that name it still match.
    let cfg = config("rust-replay");
    for path in files {
        let trace = load(&path).unwrap();
        let r = run(&trace, &cfg);
        assert_eq!(
            r.outcome,
            Outcome::Pass,
            "{}: expected {}; {}\n{}\n{}",
            path.display(),
            r.expected,
            r.happened,
            r.wire_log.join("\n"),
            r.stderr_tail
        );
    }
}

/// The echo trace with one recorded response DATA changed.
fn edited_echo() -> Trace {
    let mut trace = load(&traces_dir().join("echo.trace")).unwrap();
    let mut edited = 0;
    for event in &mut trace.events {
        if event.direction != Direction::WorkerToRouter as i32 {
            continue;
        }
        if let Ok(Frame::Data(d)) = Frame::decode(event.frame.clone())
            && &d.payload()[..] == b"last chunk"
        {
            let mut changed = Data::new(d.stream_id(), Bytes::from_static(b"LAST chunk"));
            changed.set_fin(d.is_fin());
            event.frame = Frame::from(changed).to_bytes();
            edited += 1;
        }
    }
    assert_eq!(edited, 1, "the echo trace has the expected response DATA");
    trace
}

#[test]
fn a_trace_edited_to_expect_another_body_fails_with_a_diff() {
    let r = run(&edited_echo(), &config("w1"));
    assert_eq!(r.outcome, Outcome::Fail, "{} / {}", r.expected, r.happened);
    assert!(r.happened.contains("stream 1"), "{}", r.happened);
    assert!(r.happened.contains("LAST chunk"), "{}", r.happened);
    assert!(r.happened.contains("differ at byte 25"), "{}", r.happened);
    assert!(
        r.wire_log.iter().any(|l| l.contains("<-  DATA")),
        "{:?}",
        r.wire_log
    );
    assert!(r.diff.contains(&"stream 1:".to_owned()), "{:?}", r.diff);
    assert!(
        r.diff
            .iter()
            .any(|l| l.starts_with("  - body") && l.contains("LAST chunk")),
        "{:?}",
        r.diff
    );
    assert!(
        r.diff
            .iter()
            .any(|l| l.starts_with("  + body") && l.contains("last chunk")),
        "{:?}",
        r.diff
    );
}

#[test]
fn an_ignored_header_is_not_compared() {
    // Edit the recorded SYN_REPLY's content-type: a FAIL, unless ignored.
    let mut trace = load(&traces_dir().join("hello.trace")).unwrap();
    for event in &mut trace.events {
        if let Ok(Frame::SynReply(r)) = Frame::decode(event.frame.clone()) {
            let mut block = zroute_proto::HeaderBlock::new();
            for (n, v) in r.headers().iter() {
                let v = if &n[..] == b"content-type" {
                    Bytes::from_static(b"text/html")
                } else {
                    v.clone()
                };
                block.insert(n.clone(), v).unwrap();
            }
            let mut reply = zroute_proto::frame::SynReply::new(r.stream_id(), block);
            reply.set_fin(r.is_fin());
            event.frame = Frame::from(reply).to_bytes();
        }
    }
    let r = run(&trace, &config("w1"));
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(r.happened.contains("text/html"), "{}", r.happened);
    let mut cfg = config("w1");
    cfg.noise.ignore_headers.push("content-type".into());
    let r = run(&trace, &cfg);
    assert_eq!(r.outcome, Outcome::Pass, "{} / {}", r.expected, r.happened);
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zroute-conformance"))
        .args(args)
        .output()
        .expect("zroute-conformance runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn trace_json_round_trip_is_byte_exact_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    for path in committed() {
        let json = dir.path().join("t.json");
        let back = dir.path().join("t.trace");
        let out = cli(&["trace", "to-json", s(&path), "-o", s(&json)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = cli(&["trace", "from-json", s(&json), "-o", s(&back)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(&back).unwrap(),
            std::fs::read(&path).unwrap(),
            "from-json(to-json({})) is the same file",
            path.display()
        );
        // The committed JSON form is what to-json writes today.
        let committed_json = path.with_extension("json");
        assert_eq!(
            std::fs::read_to_string(&json).unwrap(),
            std::fs::read_to_string(&committed_json).unwrap(),
            "{} is stale: rerun conformance/traces/record.sh or trace to-json",
            committed_json.display()
        );
    }
}

#[test]
fn trace_show_prints_decoded_frames() {
    let out = cli(&["trace", "show", s(&traces_dir().join("trailers.trace"))]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("worker \"w1\", session \"zroute-1\""),
        "{text}"
    );
    assert!(text.contains("<-  HELLO version=1"), "{text}");
    assert!(text.contains("->  SYN_STREAM stream=1"), "{text}");
    assert!(
        text.contains("<-  HEADERS stream=1 fin=true {x-trailer: \"done\"}"),
        "{text}"
    );
    assert!(text.contains("# end: SESSION_CLOSED"), "{text}");
    // The JSON form reads too, and a file that is neither fails with exit 2.
    let json = cli(&["trace", "show", s(&traces_dir().join("trailers.json"))]);
    assert_eq!(String::from_utf8(json.stdout).unwrap(), text);
    // A file cut inside its last record shows what it has, and says so.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.trace");
    let bytes = std::fs::read(traces_dir().join("trailers.trace")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
    let out = cli(&["trace", "show", s(&cut)]);
    assert!(out.status.success());
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains("<-  HEADERS stream=1 fin=true"), "{shown}");
    assert!(
        shown.contains(
            "# damaged after the last event shown: the trace ends in the middle of a record"
        ),
        "{shown}"
    );
    assert_eq!(cli(&["trace", "to-json", s(&cut)]).status.code(), Some(2));
    let bad = cli(&["trace", "show", s(&traces_dir().join("record.sh"))]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("neither a binary trace nor JSON"));
}

#[test]
fn replay_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let app = testapp();
    let worker = format!("{} w1 --connect {{endpoint}}", app.display());
    let hello = traces_dir().join("hello.trace");
    let out = cli(&["replay", s(&hello), "--worker", &worker]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed, 0 failed"));

    let edited = dir.path().join("edited.trace");
    save_binary(&edited_echo(), &edited).unwrap();
    let out = cli(&["replay", s(&hello), s(&edited), "--worker", &worker]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout.contains("rerun: zroute-conformance replay"),
        "{stdout}"
    );
    assert!(stdout.contains("1 passed, 1 failed"), "{stdout}");

    // A worker that never says HELLO.
    let out = cli(&["replay", s(&hello), "--worker", "true"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Usage errors.
    assert_eq!(cli(&["replay", s(&hello)]).status.code(), Some(2));
    let missing = dir.path().join("missing.trace");
    assert_eq!(
        cli(&["replay", s(&missing), "--worker", &worker])
            .status
            .code(),
        Some(2)
    );
}

/// `trace` with one more worker frame expected at the end: a reply on a
/// stream the router never opened, which no worker will send.
fn expecting_the_impossible(trace: &Trace) -> Trace {
    let mut trace = trace.clone();
    let mut block = zroute_proto::HeaderBlock::new();
    block.insert(":status", "200").unwrap();
    block.insert(":version", "HTTP/1.1").unwrap();
    let reply = zroute_proto::frame::SynReply::new(zroute_proto::StreamId::new(99), block);
    let last = trace.events.last().unwrap().elapsed();
    trace.events.push(zroute_trace::TraceEvent::new(
        Direction::WorkerToRouter,
        last,
        "zroute-1",
        Frame::from(reply).to_bytes(),
    ));
    trace
}

#[test]
fn missing_worker_output_is_a_timeout_and_an_exit_is_a_crash() {
    let trace = expecting_the_impossible(&load(&traces_dir().join("hello.trace")).unwrap());
    let mut cfg = config("w1");
    cfg.timeout_scale = 0.2;
    let r = run(&trace, &cfg);
    assert_eq!(
        r.outcome,
        Outcome::Timeout,
        "{} / {}",
        r.expected,
        r.happened
    );
    assert!(r.happened.contains("stream 99"), "{}", r.happened);

    // The same, with a worker killed after a second (long before the final deadline).
    let mut cfg = config("w1");
    cfg.timeout_scale = 4.0;
    cfg.worker = vec![
        "timeout".into(),
        "-s".into(),
        "KILL".into(),
        "1".into(),
        testapp().display().to_string(),
        "w1".into(),
        "--connect".into(),
        "{endpoint}".into(),
    ];
    let r = run(&trace, &cfg);
    assert_eq!(r.outcome, Outcome::Crash, "{} / {}", r.expected, r.happened);
    assert!(r.happened.contains("worker exited"), "{}", r.happened);
    assert!(r.started);
}

/// An upload twice the worker's window, recorded as if the router had sent
/// it in one go: the replayer must hold request DATA back until the live
/// worker's WINDOW_UPDATEs allow it (spec #flow-control-sending), or the
/// worker would reset the stream for overrunning its window.
#[test]
fn request_data_beyond_the_worker_window_waits_for_its_window_updates() {
    use zroute_proto::StreamId;
    use zroute_proto::frame::WindowUpdate;
    let echo = load(&traces_dir().join("echo.trace")).unwrap();
    let decoded: Vec<Frame> = echo
        .events
        .iter()
        .map(|e| Frame::decode(e.frame.clone()).unwrap())
        .collect();
    let pick =
        |f: &dyn Fn(&Frame) -> bool| echo.events[decoded.iter().position(f).unwrap()].clone();
    let hello = pick(&|f| matches!(f, Frame::Hello(_)));
    let welcome = pick(&|f| matches!(f, Frame::Welcome(_)));
    let syn = pick(&|f| matches!(f, Frame::SynStream(_)));
    let reply = pick(&|f| matches!(f, Frame::SynReply(_)));
    let at = syn.elapsed();
    let event = |dir: Direction, frame: Frame| {
        zroute_trace::TraceEvent::new(dir, at, "zroute-1", frame.to_bytes())
    };
    let stream = StreamId::new(1);
    const CHUNK: usize = 16_384;
    const CHUNKS: usize = 8;
    let body: Vec<u8> = (0..CHUNK * CHUNKS).map(|i| (i % 251) as u8).collect();
    let mut events = vec![hello, welcome];
    events.push(event(
        Direction::RouterToWorker,
        WindowUpdate::new(StreamId::ZERO, 1 << 20).into(),
    ));
    events.push(syn);
    for (k, chunk) in body.chunks(CHUNK).enumerate() {
        let mut data = Data::new(stream, Bytes::copy_from_slice(chunk));
        data.set_fin(k + 1 == CHUNKS);
        events.push(event(Direction::RouterToWorker, data.into()));
    }
    // Room for the whole echo, granted up front.
    events.push(event(
        Direction::RouterToWorker,
        WindowUpdate::new(stream, body.len() as u32).into(),
    ));
    events.push(reply);
    for (k, chunk) in body.chunks(CHUNK).enumerate() {
        let mut echoed = Data::new(stream, Bytes::copy_from_slice(chunk));
        echoed.set_fin(k + 1 == CHUNKS);
        events.push(event(Direction::WorkerToRouter, echoed.into()));
    }
    let trace = Trace {
        header: echo.header.clone(),
        events,
        end: echo.end.clone(),
    };
    let r = run(&trace, &config("w1"));
    assert_eq!(
        r.outcome,
        Outcome::Pass,
        "{} / {}\n{}",
        r.expected,
        r.happened,
        r.wire_log.join("\n")
    );
    let sent: usize = r
        .wire_log
        .iter()
        .filter(|l| l.contains("->  DATA stream=1"))
        .map(|l| {
            let n = l.split("length=").nth(1).unwrap();
            n.split(' ').next().unwrap().parse::<usize>().unwrap()
        })
        .sum();
    assert_eq!(sent, body.len(), "every request byte went out");
}
