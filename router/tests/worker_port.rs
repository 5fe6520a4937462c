//! The workers endpoint under hostile peers (issue 14, items 9 and 10), with
//! the real router binary, real ZeroMQ peers and real workers: what one
//! peer can make the router hold, how many sessions one source may open and
//! how fast, who can reach an ipc:// endpoint, and what the router says
//! about all of it. Every wait is for an event (a log line, a metric, a
//! frame, a process exit) under a deadline; RSS is sampled while an attack
//! runs, which is a measurement, not a synchronisation.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use zroute_proto::frame::{Frame, Hello};
use zroute_proto::{GoAwayStatus, HeaderBlock};
use zroute_test_support::http::{client, get, request};
use zroute_test_support::process::{Proc, spawn_worker, worker, worker_command};
use zroute_test_support::router_process::{Router, metric};
use zroute_transport::{Context, DealerOptions, Socket};

const STARTUP: Duration = Duration::from_secs(20);
const WAIT: Duration = Duration::from_secs(10);

/// The host and port of a `tcp://` endpoint.
fn tcp_addr(endpoint: &str) -> SocketAddr {
    endpoint
        .strip_prefix("tcp://")
        .expect("a tcp endpoint")
        .parse()
        .expect("host:port")
}

/// The router's peak RSS while it runs, sampled every 5 ms on a thread.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak_kib: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kib = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peak) = (stop.clone(), peak_kib.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        Self {
            stop,
            peak_kib,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.peak_kib.load(Ordering::Relaxed)
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// GETs `/` one after another until stopped; returns every status.
fn keep_getting(router: &Router, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<u16>> {
    let url = router.url("/");
    tokio::spawn(async move {
        let client = client();
        let mut statuses = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let status =
                match tokio::time::timeout(WAIT, request(&client, "GET", &url, Bytes::new())).await
                {
                    Ok(Ok((status, _))) => status,
                    _ => 0,
                };
            statuses.push(status);
        }
        statuses
    })
}

async fn metric_at_least(router: &Router, name: &str, n: f64, within: Duration) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        let text = router.metrics().await;
        let value = metric(&text, name).unwrap_or(0.0);
        if value >= n {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not reach {n} within {within:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Item 9: a DEALER that never says HELLO sends messages of 300 parts of
/// 1 MB. Each part is over the router's part limit (65,544 bytes, the
/// largest frame), so libzmq drops the connection at the first part's
/// header and buffers none of it: the router stays small, says so, and a
/// real worker keeps serving.
///
/// spec: #transport-options, #security-dos
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabyte_parts_cost_the_router_nothing() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let _good = worker("hello", "good", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    let before_kib = router.proc.rss_kib();
    let sampler = RssSampler::start(router.proc.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let clients = keep_getting(&router, stop.clone());

    const ROUNDS: usize = 3;
    const PARTS: usize = 300;
    let ctx = Context::new();
    let megabyte = Bytes::from(vec![0x42u8; 1_000_000]);
    let parts = vec![megabyte; PARTS];
    let closed_before = metric(
        &router.metrics().await,
        "zroute_worker_connections_closed_total",
    )
    .unwrap_or(0.0);
    for round in 1..=ROUNDS {
        // A new socket each round: a reconnected socket may queue its next
        // message on the connection libzmq has not yet noticed is gone, and
        // lose it there.
        let mut rogue = Socket::dealer(&ctx, &DealerOptions::default()).unwrap();
        rogue.connect(&router.endpoint).unwrap();
        tokio::time::timeout(WAIT, rogue.writable())
            .await
            .expect("the rogue connects")
            .unwrap();
        rogue.send(&parts).await.expect("queued whole");
        metric_at_least(
            &router,
            "zroute_worker_connections_closed_total",
            closed_before + round as f64,
            WAIT,
        )
        .await;
    }
    let line = router.proc.logs.wait_for(
        &[
            "worker connection closed",
            "\"session\":\"none\"",
            "127.0.0.1",
        ],
        WAIT,
    );
    stop.store(true, Ordering::Relaxed);
    let statuses = clients.await.unwrap();
    let peak_kib = sampler.finish();
    eprintln!(
        "router RSS: {before_kib} KiB before, peak {peak_kib} KiB during {ROUNDS} x {PARTS} x 1 MB; \
         {} GETs, all 200: {}; drop logged: {line}",
        statuses.len(),
        statuses.iter().all(|s| *s == 200)
    );
    assert!(
        peak_kib < 64 * 1024,
        "peak RSS {peak_kib} KiB is not under 64 MiB"
    );
    assert!(
        statuses.len() >= 3 && statuses.iter().all(|s| *s == 200),
        "normal traffic kept flowing: {statuses:?}"
    );
    assert_eq!(
        get(&router.url("/")).await,
        Ok((200, Bytes::from("Hello from good")))
    );
}

/// A peer that speaks ZMTP itself, over a plain TCP socket: what libzmq
/// cannot stop. Connects with the NULL mechanism as a DEALER.
struct RawZmtp {
    stream: TcpStream,
}

impl RawZmtp {
    fn connect(addr: SocketAddr) -> Self {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        // 37/ZMTP greeting: signature, version 3.0, mechanism NULL, as-server 0.
        let mut greeting = [0u8; 64];
        greeting[0] = 0xFF;
        greeting[9] = 0x7F;
        greeting[10] = 3;
        greeting[12..16].copy_from_slice(b"NULL");
        stream.write_all(&greeting).unwrap();
        let mut theirs = [0u8; 64];
        stream
            .read_exact(&mut theirs)
            .expect("the router's greeting");
        assert_eq!((theirs[0], &theirs[12..16]), (0xFF, &b"NULL"[..]));
        // READY with Socket-Type DEALER.
        let mut ready = vec![5u8];
        ready.extend_from_slice(b"READY");
        ready.push(11);
        ready.extend_from_slice(b"Socket-Type");
        ready.extend_from_slice(&6u32.to_be_bytes());
        ready.extend_from_slice(b"DEALER");
        stream
            .write_all(&[0x04, u8::try_from(ready.len()).unwrap()])
            .unwrap();
        stream.write_all(&ready).unwrap();
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).expect("the router's READY");
        assert_eq!(head[0], 0x04, "a short command");
        let mut body = vec![0u8; usize::from(head[1])];
        stream.read_exact(&mut body).unwrap();
        assert!(body.starts_with(b"\x05READY"));
        Self { stream }
    }

    /// One message part (a long frame), with MORE set: the message goes on.
    #[cfg(feature = "libzmq")]
    fn send_more(&mut self, part: &[u8]) {
        self.try_send_more(part).unwrap();
    }

    /// As `send_more`, failing once the router has closed the connection.
    fn try_send_more(&mut self, part: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(&[0x03])?;
        self.stream.write_all(&(part.len() as u64).to_be_bytes())?;
        self.stream.write_all(part)
    }
}

/// Item 9 of the edge issue, closed by the native transport: a message is
/// bounded as its parts arrive (`max_msg_bytes`, 16 MiB), so a peer that
/// sends parts that each fit the part limit, in a message that never ends,
/// is dropped once the message passes the bound, with a log line and a
/// metric, and the router never holds more. (libzmq holds every part until
/// the message ends: the `libzmq` feature's residual, below.)
///
/// spec: #security-dos
#[cfg(not(feature = "libzmq"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_never_ends_is_dropped_at_its_bound() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let _good = worker("hello", "good", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    let before_kib = router.proc.rss_kib();

    const PARTS: u64 = 1024;
    let part = vec![0x42u8; 65_536];
    let mut rogue = RawZmtp::connect(tcp_addr(&router.endpoint));
    // The router closes the connection part-way: a write then fails.
    let mut sent = 0u64;
    while sent < PARTS && rogue.try_send_more(&part).is_ok() {
        sent += 1;
    }
    metric_at_least(
        &router,
        "zroute_worker_connections_over_limit_total",
        1.0,
        WAIT,
    )
    .await;
    router
        .proc
        .logs
        .wait_for(&["worker connection dropped", "message_bytes"], WAIT);
    let after_kib = router.proc.rss_kib();
    eprintln!(
        "bounded: {sent} of {PARTS} parts of 64 KiB with MORE written before the drop: router RSS \
         {before_kib} KiB before, {after_kib} KiB after"
    );
    assert!(
        after_kib < before_kib + 32 * 1024,
        "the router grew by {} KiB for a message bounded at 16 MiB",
        after_kib.saturating_sub(before_kib)
    );
    assert_eq!(
        get(&router.url("/")).await,
        Ok((200, Bytes::from("Hello from good")))
    );
}

/// The residual of item 9, documented in docs/security.md: libzmq hands
/// over a message only once its last part is in, and counts neither parts
/// nor bytes before that, so parts that fit the limit, in a message that
/// never ends, are all held. This pins the limitation of the `libzmq`
/// feature (the native transport bounds it: the test above) and measures it; the router keeps serving meanwhile, and frees the message
/// when the peer's connection goes.
///
/// spec: #security-dos
#[cfg(feature = "libzmq")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_never_ends_is_held_whole_residual() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let _good = worker("hello", "good", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    let before_kib = router.proc.rss_kib();

    const PARTS: u64 = 1024;
    let part = vec![0x42u8; 65_536];
    let mut rogue = RawZmtp::connect(tcp_addr(&router.endpoint));
    let began = Instant::now();
    for _ in 0..PARTS {
        rogue.send_more(&part);
    }
    let sent_kib = PARTS * 64;
    // Pinned: the router holds what was sent.
    let deadline = Instant::now() + WAIT;
    let held_kib = loop {
        let rss = router.proc.rss_kib();
        if rss >= before_kib + sent_kib * 9 / 10 {
            break rss;
        }
        assert!(
            Instant::now() < deadline,
            "RSS {rss} KiB: the router no longer holds an unfinished message \
             ({sent_kib} KiB sent, {before_kib} KiB before): update docs/security.md"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let sent_in = began.elapsed();
    assert_eq!(
        get(&router.url("/")).await,
        Ok((200, Bytes::from("Hello from good"))),
        "the router serves while it holds the message"
    );
    let closed_before = metric(
        &router.metrics().await,
        "zroute_worker_connections_closed_total",
    )
    .unwrap_or(0.0);
    drop(rogue);
    metric_at_least(
        &router,
        "zroute_worker_connections_closed_total",
        closed_before + 1.0,
        WAIT,
    )
    .await;
    let after_kib = router.proc.rss_kib();
    eprintln!(
        "residual: {PARTS} parts of 64 KiB ({} MiB) with MORE, sent in {sent_in:?}: router RSS \
         {before_kib} KiB before, {held_kib} KiB holding them, {after_kib} KiB after the peer left",
        sent_kib / 1024
    );
    assert!(
        held_kib > 64 * 1024,
        "64 MiB held is more than the 64 MiB budget"
    );
    assert_eq!(
        get(&router.url("/")).await,
        Ok((200, Bytes::from("Hello from good")))
    );
}

fn hello_frame(id: &str) -> Bytes {
    let mut attributes = HeaderBlock::new();
    attributes.insert("id", id.to_owned()).unwrap();
    Frame::from(Hello::new(1, 8, 65_536, attributes)).to_bytes()
}

/// Connects a DEALER to `endpoint` (optionally from `source`, libzmq's
/// `tcp://source:0;host:port` form) and sends HELLO; returns the socket.
async fn hello_from(ctx: &Context, source: Option<&str>, endpoint: &str, id: &str) -> Socket {
    let mut socket = Socket::dealer(ctx, &DealerOptions::default()).unwrap();
    let target = match source {
        Some(ip) => format!("tcp://{ip}:0;{}", endpoint.trim_start_matches("tcp://")),
        None => endpoint.to_owned(),
    };
    socket.connect(&target).unwrap();
    tokio::time::timeout(WAIT, socket.writable())
        .await
        .expect("connected")
        .unwrap();
    socket.try_send(&[hello_frame(id)]).unwrap();
    socket
}

/// The router's answer to a HELLO: `None` for WELCOME, the GOAWAY's status otherwise.
async fn answer(socket: &mut Socket) -> Option<GoAwayStatus> {
    let msg = tokio::time::timeout(WAIT, socket.recv())
        .await
        .expect("an answer to HELLO")
        .unwrap();
    match Frame::decode(msg[0].clone()).expect("a frame") {
        Frame::Welcome(_) => None,
        Frame::GoAway(g) => Some(g.status()),
        other => panic!("not an answer to HELLO: {}", other.type_name()),
    }
}

/// Item 10: HELLOs beyond --hello-rate-per-source from one host are refused
/// (GOAWAY REFUSED), logged with the source and counted by reason, and
/// spend nothing of the total, so another host still registers. The
/// startup line says who can register on a loopback endpoint.
///
/// spec: #security-dos, #security-insecure
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hellos_beyond_the_rate_of_one_source_are_refused() {
    let router = Router::start("tcp://127.0.0.1:*", &["--hello-rate-per-source", "1"]);
    router.proc.logs.wait_for(
        &[
            "WARN",
            "any local process can register as a worker on tcp://127.0.0.1:",
            "--ipc-mode 0600",
        ],
        WAIT,
    );
    let ctx = Context::new();
    let began = Instant::now();
    let mut flood = Vec::new();
    for i in 0..4 {
        flood.push(hello_from(&ctx, None, &router.endpoint, &format!("flood-{i}")).await);
    }
    let mut answers = Vec::new();
    for socket in &mut flood {
        answers.push(answer(socket).await);
    }
    let welcomed = answers.iter().filter(|a| a.is_none()).count();
    let refused = answers
        .iter()
        .filter(|a| **a == Some(GoAwayStatus::REFUSED))
        .count();
    // A burst of one, then one a second: on a machine slow enough to spread
    // the four over seconds, a later one may get in too.
    let budget = 1 + usize::try_from(began.elapsed().as_secs()).unwrap();
    assert!(
        welcomed >= 1 && welcomed <= budget && welcomed + refused == 4 && refused >= 1,
        "{answers:?} within {:?}",
        began.elapsed()
    );
    let line = router.proc.logs.wait_for(
        &[
            "worker registration refused",
            "\"reason\":\"hello-rate-per-source\"",
        ],
        WAIT,
    );
    assert!(line.contains("\"source\":\"127.0.0.1\""), "{line}");
    let counted = metric(
        &router.metrics().await,
        "zroute_worker_registrations_refused_total{reason=\"hello-rate-per-source\"}",
    );
    assert_eq!(counted, Some(refused as f64));

    // Another source (127.0.0.2 is loopback too) has its own budget.
    let mut other = hello_from(&ctx, Some("127.0.0.2"), &router.endpoint, "other").await;
    assert_eq!(answer(&mut other).await, None, "WELCOME");
    let line = router
        .proc
        .logs
        .wait_for(&["worker registered", "\"worker\":\"other\""], WAIT);
    assert!(line.contains("\"source\":\"127.0.0.2\""), "{line}");
    assert!(line.contains("\"address\":\"127.0.0.2:"), "{line}");
}

/// Item 10: --max-workers-per-source caps the sessions of one host; other
/// hosts are not affected, and a slot that frees up is taken again.
///
/// spec: #security-dos
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_beyond_the_cap_of_one_source_are_refused() {
    let router = Router::start("tcp://127.0.0.1:*", &["--max-workers-per-source", "2"]);
    let a = worker("hello", "a", &router.endpoint, &[]);
    let _b = worker("hello", "b", &router.endpoint, &[]);
    router.wait_workers(2, STARTUP).await;
    let ctx = Context::new();
    let mut third = hello_from(&ctx, None, &router.endpoint, "c").await;
    assert_eq!(answer(&mut third).await, Some(GoAwayStatus::REFUSED));
    router.proc.logs.wait_for(
        &[
            "worker registration refused",
            "\"reason\":\"max-workers-per-source\"",
            "\"worker\":\"c\"",
        ],
        WAIT,
    );
    // libzmq's `source:0;host:port` connects from 127.0.0.3, another source.
    let elsewhere = format!(
        "tcp://127.0.0.3:0;{}",
        router.endpoint.trim_start_matches("tcp://")
    );
    let _d = worker("hello", "d", &elsewhere, &[]);
    router.wait_workers(3, STARTUP).await;
    // `a` goes; once its session is dead, its slot is free again.
    drop(a);
    router.wait_workers(2, WAIT).await;
    let mut again = hello_from(&ctx, None, &router.endpoint, "e").await;
    assert_eq!(answer(&mut again).await, None, "WELCOME");
}

/// `hello` run as another user (the test runs as root: `Command::uid`).
fn worker_as(uid: u32, gid: u32, id: &str, endpoint: &str) -> Proc {
    let mut command = worker_command("hello", id, endpoint);
    command.uid(uid).gid(gid);
    spawn_worker(command)
}

/// Connects to a Unix socket as `uid`/`gid`, in a process of its own (the
/// system's python3); returns its exit code and what it printed.
fn probe_connect_as(uid: u32, gid: u32, path: &str) -> Option<(i32, String)> {
    let python = ["/usr/bin/python3", "/bin/python3"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let out = Command::new(python)
        .args([
            "-c",
            "import socket, sys\n\
             s = socket.socket(socket.AF_UNIX)\n\
             try:\n    s.connect(sys.argv[1])\nexcept OSError as e:\n    print(e.errno, e.strerror); sys.exit(3)\n\
             print('connected')",
            path,
        ])
        .uid(uid)
        .gid(gid)
        .output()
        .ok()?;
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    ))
}

const NOBODY: u32 = 65_534;
const NOGROUP: u32 = 65_534;

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Item 10: an ipc:// endpoint gets --ipc-mode (0600 by default) before any
/// process can reach it; a worker of the same user registers, another user
/// is refused by the kernel (EACCES); with 0660 and --ipc-group, the
/// group's worker registers. The router removes the file when it stops.
///
/// spec: #security-insecure
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipc_endpoint_is_reachable_by_its_mode_and_group_only() {
    // /tmp itself is world-writable and sticky; the directory is the test's.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("workers.sock");
    let endpoint = format!("ipc://{}", path.display());

    let mut router = Router::start(&endpoint, &[]);
    assert_eq!(router.endpoint, endpoint, "the endpoint workers connect to");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), std::fs::metadata("/proc/self").unwrap().uid());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().count() == 1,
        "no staging directory left behind"
    );
    router.proc.logs.wait_for(
        &[
            "only processes of uid",
            "can register as workers on",
            &endpoint,
        ],
        WAIT,
    );
    let _mine = worker("hello", "mine", &endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    assert_eq!(
        get(&router.url("/")).await,
        Ok((200, Bytes::from("Hello from mine")))
    );
    if !running_as_root() {
        eprintln!("skipped the other-user half: it needs root to run processes as nobody");
        return;
    }
    let Some((code, said)) = probe_connect_as(NOBODY, NOGROUP, path.to_str().unwrap()) else {
        eprintln!("skipped the other-user half: no /usr/bin/python3 to probe with");
        return;
    };
    assert_eq!(
        (code, said.split(' ').next()),
        (3, Some("13")),
        "nobody's connect is refused with EACCES: {said}"
    );
    router.proc.signal("TERM");
    assert_eq!(router.proc.wait_exit(WAIT), Some(0));
    assert!(!path.exists(), "the router removed its socket file");

    // The group's members may connect, and register.
    let router = Router::start(&endpoint, &["--ipc-mode", "0660", "--ipc-group", "nogroup"]);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (meta.permissions().mode() & 0o777, meta.gid()),
        (0o660, NOGROUP)
    );
    router.proc.logs.wait_for(
        &[
            "WARN",
            "processes of group 65534 (nogroup)",
            "--ipc-mode 0600",
        ],
        WAIT,
    );
    let _theirs = worker_as(NOBODY, NOGROUP, "nobody", &endpoint);
    router.wait_workers(1, STARTUP).await;
    assert_eq!(
        get(&router.url("/")).await,
        Ok((200, Bytes::from("Hello from nobody")))
    );
}
