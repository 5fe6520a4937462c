//! Measures the two ways of driving libzmq sockets from tokio that
//! `docs/transport.md` compares, in one process over tcp loopback, with one
//! ROUTER (echoing every message back) and one DEALER:
//!
//! - A: a dedicated OS thread per socket blocks in `zmq::poll` and talks to
//!   tokio through channels (kept here only, for the comparison);
//! - B: `zroute_transport::Socket`, which waits on `ZMQ_FD` with tokio's
//!   `AsyncFd` on the task's own thread;
//! - N: `zroute_transport::native::Socket`, ZMTP on the tokio reactor with
//!   no libzmq at all (issue 16): each side flushes once per wake-up.
//!
//! Workloads: ping-pong (one message in flight) and pipelined echo with 64
//! messages in flight, of 1 part and of 4 parts, 100 bytes per part. Each
//! measurement runs for a fixed time; designs alternate (A B A B ...) over
//! several rounds and the medians are reported with the B/A ratio, on a
//! multi-thread runtime with 2 workers and on a current-thread runtime.
//!
//! ```sh
//! cargo run --release -p zroute-transport --example transport-bench
//! cargo run --release -p zroute-transport --example transport-bench -- --rounds 3 --secs 0.3 --runtime multi
//! ```

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zroute_transport::{Context, DealerOptions, RouterOptions, Socket, native};

const IN_FLIGHT: usize = 64;
const PART_LEN: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Design {
    /// Thread per socket + `zmq::poll` + channels.
    A,
    /// `AsyncFd` on `ZMQ_FD` (the crate's `Socket`).
    B,
    /// The native ZMTP socket (`native::Socket`).
    N,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    PingPong,
    Pipelined { parts: usize },
}

impl Workload {
    fn label(self) -> String {
        match self {
            Self::PingPong => "ping-pong, 1 x 100 B (round trips/s)".to_owned(),
            Self::Pipelined { parts } => {
                format!("pipelined {IN_FLIGHT}, {parts} x 100 B (msgs/s)")
            }
        }
    }

    fn message(self) -> Vec<Bytes> {
        let parts = match self {
            Self::PingPong => 1,
            Self::Pipelined { parts } => parts,
        };
        (0..parts)
            .map(|i| Bytes::from(vec![b'a' + i as u8; PART_LEN]))
            .collect()
    }

    fn in_flight(self) -> usize {
        match self {
            Self::PingPong => 1,
            Self::Pipelined { .. } => IN_FLIGHT,
        }
    }
}

/// A workload and its samples for designs A, B and N.
type Row = (Workload, Vec<Sample>, Vec<Sample>, Vec<Sample>);

/// One measurement: messages echoed per second, and process CPU time per
/// message (all threads: tokio's, libzmq's I/O thread, design A's pollers).
#[derive(Debug, Clone, Copy)]
struct Sample {
    rate: f64,
    cpu_us_per_msg: Option<f64>,
}

struct Args {
    rounds: usize,
    secs: f64,
    runtimes: Vec<&'static str>,
    designs: Vec<Design>,
    workloads: Vec<Workload>,
}

fn parse_args() -> Args {
    let mut args = Args {
        rounds: 7,
        secs: 0.4,
        runtimes: vec!["multi", "current"],
        designs: vec![Design::A, Design::B, Design::N],
        workloads: vec![
            Workload::PingPong,
            Workload::Pipelined { parts: 1 },
            Workload::Pipelined { parts: 4 },
        ],
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage(&a));
        match a.as_str() {
            "--rounds" => args.rounds = value().parse().unwrap_or_else(|_| usage("--rounds")),
            "--secs" => args.secs = value().parse().unwrap_or_else(|_| usage("--secs")),
            "--runtime" => {
                args.runtimes = match value().as_str() {
                    "multi" => vec!["multi"],
                    "current" => vec!["current"],
                    "both" => vec!["multi", "current"],
                    _ => usage("--runtime"),
                }
            }
            // For profiling one combination (strace -c, perf).
            "--design" => {
                args.designs = match value().as_str() {
                    "a" => vec![Design::A],
                    "b" => vec![Design::B],
                    "n" => vec![Design::N],
                    "bn" => vec![Design::B, Design::N],
                    "both" => vec![Design::A, Design::B],
                    "all" => vec![Design::A, Design::B, Design::N],
                    _ => usage("--design"),
                }
            }
            "--workload" => {
                args.workloads = match value().as_str() {
                    "ping-pong" => vec![Workload::PingPong],
                    "pipelined-1" => vec![Workload::Pipelined { parts: 1 }],
                    "pipelined-4" => vec![Workload::Pipelined { parts: 4 }],
                    _ => usage("--workload"),
                }
            }
            _ => usage(&a),
        }
    }
    args.rounds = args.rounds.clamp(1, 50);
    args.secs = args.secs.clamp(0.05, 5.0);
    args
}

fn usage(bad: &str) -> ! {
    eprintln!(
        "bad argument {bad:?}\nusage: transport-bench [--rounds N] [--secs SECONDS] [--runtime multi|current|both]\n                       [--design a|b|n|bn|both|all] [--workload ping-pong|pipelined-1|pipelined-4]"
    );
    std::process::exit(2)
}

fn main() {
    let args = parse_args();
    let workloads = &args.workloads;
    let (maj, min, pat) = zroute_transport::libzmq_version();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "transport-bench: libzmq {maj}.{min}.{pat}, {cpus} CPUs, {} rounds x {} s per measurement, tcp://127.0.0.1, A and B alternating",
        args.rounds, args.secs
    );
    let started = Instant::now();
    let window = Duration::from_secs_f64(args.secs);

    for &flavor in &args.runtimes {
        let rt = match flavor {
            "multi" => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
            _ => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
        }
        .expect("tokio runtime");
        let results = rt.block_on(async {
            // Warm-up, not recorded: first connections, allocator, caches.
            for &w in workloads {
                for &d in &args.designs {
                    measure(d, w, window / 4).await;
                }
            }
            let mut results: Vec<Row> = workloads
                .iter()
                .map(|&w| (w, Vec::new(), Vec::new(), Vec::new()))
                .collect();
            for _ in 0..args.rounds {
                for (w, a, b, n) in &mut results {
                    for &d in &args.designs {
                        let sample = measure(d, *w, window).await;
                        match d {
                            Design::A => a.push(sample),
                            Design::B => b.push(sample),
                            Design::N => n.push(sample),
                        }
                    }
                }
            }
            results
        });
        drop(rt);

        let name = if flavor == "multi" {
            "multi_thread runtime, 2 workers"
        } else {
            "current_thread runtime"
        };
        println!("\n{name}");
        println!(
            "{:<40} {:>14} {:>14} {:>6} {:>14} {:>6}   {:>24}",
            "workload (median)",
            "A thread+poll",
            "B AsyncFd",
            "B/A",
            "N native",
            "N/B",
            "CPU us/msg A | B | N"
        );
        for (w, a, b, n) in &results {
            let ma = median(a.iter().map(|s| s.rate));
            let mb = median(b.iter().map(|s| s.rate));
            let mn = median(n.iter().map(|s| s.rate));
            let rate = |m: f64| {
                if m.is_nan() {
                    "-".to_owned()
                } else {
                    thousands(m)
                }
            };
            let ratio = |x: f64, y: f64| {
                if (x / y).is_finite() {
                    format!("{:.2}", x / y)
                } else {
                    "-".to_owned()
                }
            };
            let cpu = |v: &[Sample]| {
                let c: Vec<f64> = v.iter().filter_map(|s| s.cpu_us_per_msg).collect();
                if c.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{:.1}", median(c.into_iter()))
                }
            };
            println!(
                "{:<40} {:>14} {:>14} {:>6} {:>14} {:>6}   {:>7} | {:>7} | {:<7}",
                w.label(),
                rate(ma),
                rate(mb),
                ratio(mb, ma),
                rate(mn),
                ratio(mn, mb),
                cpu(a),
                cpu(b),
                cpu(n)
            );
            let all = |v: &[Sample]| {
                v.iter()
                    .map(|s| thousands(s.rate))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            if !a.is_empty() {
                println!("{:<40} {}", "  every A sample:", all(a));
            }
            if !b.is_empty() {
                println!("{:<40} {}", "  every B sample:", all(b));
            }
            if !n.is_empty() {
                println!("{:<40} {}", "  every N sample:", all(n));
            }
        }
    }
    println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
}

async fn measure(design: Design, workload: Workload, window: Duration) -> Sample {
    match design {
        Design::N => measure_native(workload, window).await,
        Design::A => {
            let (router, dealer) = threaded::pair();
            let server = tokio::spawn(threaded::echo(router));
            let sample = timed(window, threaded::client(dealer, workload, window)).await;
            server.abort();
            let _ = server.await;
            sample
        }
        Design::B => {
            let ctx = Context::new();
            let mut router = Socket::router(&ctx, &router_options()).expect("router");
            let endpoint = router.bind("tcp://127.0.0.1:*").expect("bind");
            let mut dealer = Socket::dealer(&ctx, &dealer_options()).expect("dealer");
            dealer.connect(&endpoint).expect("connect");
            dealer.writable().await.expect("connection");
            // One exchange so that the router knows the peer before timing.
            dealer.send(&workload.message()).await.expect("send");
            let m = router.recv().await.expect("recv");
            router.send(&m).await.expect("send");
            dealer.recv().await.expect("recv");

            let server = tokio::spawn(async move {
                loop {
                    let m = router.recv().await.expect("recv");
                    router.send(&m).await.expect("echo");
                    while let Some(m) = router.try_recv().expect("recv") {
                        router.send(&m).await.expect("echo");
                    }
                }
            });
            let sample = timed(window, async {
                let msg = workload.message();
                for _ in 0..workload.in_flight() {
                    dealer.send(&msg).await.expect("send");
                }
                let deadline = Instant::now() + window;
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let m = dealer.recv().await.expect("recv");
                    debug_assert_eq!(m.len(), msg.len());
                    done += 1;
                    dealer.send(&msg).await.expect("send");
                    while let Some(_m) = dealer.try_recv().expect("recv") {
                        done += 1;
                        dealer.send(&msg).await.expect("send");
                    }
                }
                done
            })
            .await;
            server.abort();
            let _ = server.await;
            sample
        }
    }
}

/// Design N: the same echo, both ends native. Each side queues what one
/// wake-up brought and flushes once before it waits again.
async fn measure_native(workload: Workload, window: Duration) -> Sample {
    let mut router = native::Socket::router(&router_options()).expect("router");
    let endpoint = router.bind("tcp://127.0.0.1:*").expect("bind");
    let mut dealer = native::Socket::dealer(&dealer_options()).expect("dealer");
    dealer.connect(&endpoint).expect("connect");
    let server = tokio::spawn(async move {
        loop {
            let m = router.recv().await.expect("recv");
            router.try_send(&m).expect("echo");
            while let Some(m) = router.try_recv().expect("recv") {
                router.try_send(&m).expect("echo");
            }
            router.flush();
        }
    });
    dealer.writable().await.expect("connection");
    let sample = timed(window, async {
        let msg = workload.message();
        for _ in 0..workload.in_flight() {
            dealer.try_send(&msg).expect("send");
        }
        dealer.flush();
        let deadline = Instant::now() + window;
        let mut done = 0u64;
        while Instant::now() < deadline {
            let m = dealer.recv().await.expect("recv");
            debug_assert_eq!(m.len(), msg.len());
            done += 1;
            dealer.try_send(&msg).expect("send");
            while let Some(_m) = dealer.try_recv().expect("recv") {
                done += 1;
                dealer.try_send(&msg).expect("send");
            }
            dealer.flush();
        }
        done
    })
    .await;
    server.abort();
    let _ = server.await;
    sample
}

/// Runs a client that returns how many replies it got within `window`.
async fn timed(window: Duration, client: impl Future<Output = u64>) -> Sample {
    let cpu0 = process_cpu_ticks();
    let t0 = Instant::now();
    let done = client.await;
    let elapsed = t0.elapsed().max(window);
    let cpu1 = process_cpu_ticks();
    let cpu_us_per_msg = match (cpu0, cpu1) {
        (Some(a), Some(b)) if done > 0 => Some((b - a) as f64 * 10_000.0 / done as f64),
        _ => None,
    };
    Sample {
        rate: done as f64 / elapsed.as_secs_f64(),
        cpu_us_per_msg,
    }
}

/// utime + stime of the whole process, in clock ticks (10 ms on Linux).
fn process_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the line.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn router_options() -> RouterOptions {
    RouterOptions::default()
}

fn dealer_options() -> DealerOptions {
    // Nothing may linger at teardown: each measurement drops its context.
    DealerOptions {
        linger: Duration::ZERO,
        ..DealerOptions::default()
    }
}

fn median(xs: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = xs.collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn thousands(x: f64) -> String {
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Design A: each socket lives on its own OS thread, blocked in `zmq::poll`
/// on the socket and on a wake-up pipe. Received messages go to tokio in one
/// channel message per wakeup (batched); sends go through a queue plus one
/// wake-up byte per batch of sends. Same socket options as design B.
mod threaded {
    use std::collections::VecDeque;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use tokio::sync::mpsc as tmpsc;

    use super::Workload;

    type Msg = Vec<Bytes>;

    pub(super) struct ThreadedSocket {
        out: mpsc::Sender<Msg>,
        wake_pending: Arc<AtomicBool>,
        stop: Arc<AtomicBool>,
        wake_tx: UnixStream,
        inbox: tmpsc::UnboundedReceiver<Vec<Msg>>,
        buffered: VecDeque<Msg>,
        thread: Option<JoinHandle<()>>,
    }

    impl ThreadedSocket {
        fn spawn(sock: zmq::Socket) -> Self {
            let (wake_tx, wake_rx) = UnixStream::pair().expect("socketpair");
            wake_tx.set_nonblocking(true).expect("nonblocking");
            wake_rx.set_nonblocking(true).expect("nonblocking");
            let (out, out_rx) = mpsc::channel();
            let (inbox_tx, inbox) = tmpsc::unbounded_channel();
            let wake_pending = Arc::new(AtomicBool::new(false));
            let stop = Arc::new(AtomicBool::new(false));
            let thread = {
                let wake_pending = wake_pending.clone();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    poll_loop(&sock, &out_rx, wake_rx, &wake_pending, &stop, &inbox_tx);
                })
            };
            Self {
                out,
                wake_pending,
                stop,
                wake_tx,
                inbox,
                buffered: VecDeque::new(),
                thread: Some(thread),
            }
        }

        pub(super) async fn recv(&mut self) -> Msg {
            if let Some(m) = self.buffered.pop_front() {
                return m;
            }
            let batch = self.inbox.recv().await.expect("poller thread gone");
            self.buffered.extend(batch);
            self.buffered.pop_front().expect("batches are never empty")
        }

        pub(super) fn try_recv(&mut self) -> Option<Msg> {
            if self.buffered.is_empty()
                && let Ok(batch) = self.inbox.try_recv()
            {
                self.buffered.extend(batch);
            }
            self.buffered.pop_front()
        }

        pub(super) fn send(&self, m: Msg) {
            self.out.send(m).expect("poller thread gone");
            // Only the first send since the thread last looked writes a byte.
            if !self.wake_pending.swap(true, Ordering::SeqCst) {
                let _ = (&self.wake_tx).write(&[1]);
            }
        }
    }

    impl Drop for ThreadedSocket {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let _ = (&self.wake_tx).write(&[1]);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn poll_loop(
        sock: &zmq::Socket,
        out_rx: &mpsc::Receiver<Msg>,
        mut wake_rx: UnixStream,
        wake_pending: &AtomicBool,
        stop: &AtomicBool,
        inbox: &tmpsc::UnboundedSender<Vec<Msg>>,
    ) {
        let mut pending: VecDeque<Msg> = VecDeque::new();
        let mut scratch = [0u8; 256];
        loop {
            while let Some(m) = pending.front() {
                match send_dontwait(sock, m) {
                    Ok(()) => {
                        pending.pop_front();
                    }
                    Err(zmq::Error::EAGAIN) => break,
                    // The client went away at the end of a measurement.
                    Err(zmq::Error::EHOSTUNREACH) => {
                        pending.pop_front();
                    }
                    Err(e) => panic!("send: {e}"),
                }
            }
            let want = if pending.is_empty() {
                zmq::POLLIN
            } else {
                zmq::POLLIN | zmq::POLLOUT
            };
            let mut items = [
                sock.as_poll_item(want),
                zmq::PollItem::from_fd(wake_rx.as_raw_fd(), zmq::POLLIN),
            ];
            zmq::poll(&mut items, -1).expect("zmq_poll");
            if items[1].is_readable() {
                while matches!(wake_rx.read(&mut scratch), Ok(n) if n > 0) {}
                // Cleared before draining, so a send racing with the drain
                // writes a new byte instead of being missed.
                wake_pending.store(false, Ordering::SeqCst);
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                pending.extend(out_rx.try_iter());
            }
            let mut batch = Vec::new();
            while let Some(m) = recv_dontwait(sock) {
                batch.push(m);
            }
            if !batch.is_empty() && inbox.send(batch).is_err() {
                return;
            }
        }
    }

    fn send_dontwait(sock: &zmq::Socket, m: &Msg) -> zmq::Result<()> {
        for (i, p) in m.iter().enumerate() {
            let more = if i + 1 < m.len() { zmq::SNDMORE } else { 0 };
            sock.send(&p[..], zmq::DONTWAIT | more)?;
        }
        Ok(())
    }

    fn recv_dontwait(sock: &zmq::Socket) -> Option<Msg> {
        let mut parts = Vec::new();
        loop {
            let mut msg = zmq::Message::new();
            match sock.recv(&mut msg, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) if parts.is_empty() => return None,
                Err(e) => panic!("recv: {e}"),
            }
            // Copied, as design B copies parts this small.
            parts.push(Bytes::copy_from_slice(&msg));
            if !msg.get_more() {
                return Some(parts);
            }
        }
    }

    /// The same options as `RouterOptions::default()` / `DealerOptions`
    /// (with linger 0), applied by hand.
    fn raw_socket(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
        let s = ctx.socket(kind).expect("socket");
        if kind == zmq::ROUTER {
            s.set_router_mandatory(true).unwrap();
        } else {
            s.set_immediate(true).unwrap();
        }
        s.set_maxmsgsize(1 << 20).unwrap();
        s.set_sndhwm(10_000).unwrap();
        s.set_rcvhwm(10_000).unwrap();
        s.set_heartbeat_ivl(1000).unwrap();
        s.set_heartbeat_timeout(3000).unwrap();
        s.set_heartbeat_ttl(3000).unwrap();
        s.set_linger(0).unwrap();
        s
    }

    pub(super) fn pair() -> (ThreadedSocket, ThreadedSocket) {
        // A context of its own, like design B's, with one I/O thread.
        let ctx = zmq::Context::new();
        let router = raw_socket(&ctx, zmq::ROUTER);
        router.bind("tcp://127.0.0.1:*").expect("bind");
        let endpoint = router
            .get_last_endpoint()
            .expect("endpoint")
            .expect("utf-8");
        let dealer = raw_socket(&ctx, zmq::DEALER);
        dealer.connect(&endpoint).expect("connect");
        // Wait for the connection as B does (IMMEDIATE=1), on this thread:
        // the sockets move to their poller threads only afterwards.
        assert!(dealer.poll(zmq::POLLOUT, 5000).expect("poll") > 0);
        dealer.send("hi", 0).unwrap();
        let mut m = router.recv_multipart(0).unwrap();
        m.truncate(1);
        m.push(b"hi".to_vec());
        router.send_multipart(m, 0).unwrap();
        dealer.recv_bytes(0).unwrap();
        (ThreadedSocket::spawn(router), ThreadedSocket::spawn(dealer))
    }

    pub(super) async fn echo(mut router: ThreadedSocket) {
        loop {
            let m = router.recv().await;
            router.send(m);
            while let Some(m) = router.try_recv() {
                router.send(m);
            }
        }
    }

    pub(super) async fn client(
        mut dealer: ThreadedSocket,
        workload: Workload,
        window: Duration,
    ) -> u64 {
        let msg = workload.message();
        for _ in 0..workload.in_flight() {
            dealer.send(msg.clone());
        }
        let deadline = Instant::now() + window;
        let mut done = 0u64;
        while Instant::now() < deadline {
            let m = dealer.recv().await;
            debug_assert_eq!(m.len(), msg.len());
            done += 1;
            dealer.send(msg.clone());
            while let Some(_m) = dealer.try_recv() {
                done += 1;
                dealer.send(msg.clone());
            }
        }
        done
    }
}
