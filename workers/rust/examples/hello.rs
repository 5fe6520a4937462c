//! The smallest worker: answers every request `200 text/plain` with
//! `Hello from {id}`.
//!
//! ```text
//! cargo run --release -p zroute-worker --example hello -- worker-1 [--connect ENDPOINT]... [--route ROUTE]... [--capacity N]
//!     [--threads N] [--work-us N] [--block-ms N] [--curve-server-key FILE|Z85 --curve-key FILE]
//! ```
//!
//! Without `--connect` it uses `ZROUTE_CONNECT`, else `tcp://127.0.0.1:8000`.
//! `--capacity N` announces N concurrent requests (HELLO's capacity) instead of
//! the library's default of 64. `--threads N` sets the runtime's worker threads
//! (default 1, as the bench's hyper backend has): a request is so little work
//! that a second thread mostly adds wake-ups between threads, and a host scales
//! by running more worker processes. `--work-us N` keeps the thread busy for N
//! µs per request before answering, standing in for an application that costs
//! CPU (the bench's scaling scenario). `--block-ms N` blocks the thread in
//! `std::thread::sleep` for N ms per request, as a handler calling blocking
//! code without `spawn_blocking` does: the session stays registered and the
//! library logs a warning naming the request. `--curve-server-key` (the router's `.pub` file
//! or Z85 key) and `--curve-key` (this worker's `.key` file) connect with
//! CURVE; without them the library reads `ZROUTE_CURVE_SERVER_KEY` and
//! `ZROUTE_CURVE_KEY`.

use std::convert::Infallible;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use http::header::CONTENT_TYPE;
use http::{Request, Response};
use zroute_worker::{Body, Worker, service_fn};

// As in the router: glibc's allocator was a fifth of this worker's instructions
// per request (callgrind, bench/NOTES.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `RUST_LOG=debug` (or trace, warn, ...) sets the level; the default is info.
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_target(false)
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let Args {
        id,
        endpoints,
        routes,
        capacity,
        threads,
        work,
        block,
        curve,
    } = match parse_args() {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let greeting = format!("Hello from {id}");
    let service = service_fn(move |_req: Request<Body>| {
        let greeting = greeting.clone();
        async move {
            busy_for(work);
            if !block.is_zero() {
                // Deliberately on the runtime thread, not in spawn_blocking.
                std::thread::sleep(block);
            }
            let res = Response::builder()
                .header(CONTENT_TYPE, "text/plain")
                .body(greeting)
                .expect("a valid response");
            Ok::<_, Infallible>(res)
        }
    });
    let mut worker = Worker::builder(id);
    for endpoint in endpoints {
        worker = worker.connect(endpoint);
    }
    for route in routes {
        worker = worker.route(route);
    }
    if let Some(capacity) = capacity {
        worker = worker.capacity(capacity);
    }
    if let Some((server_key, key)) = &curve {
        worker = match worker.curve_files(server_key, key) {
            Ok(worker) => worker,
            Err(e) => {
                eprintln!("hello: {e}");
                return ExitCode::from(2);
            }
        };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(worker.serve(service)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hello: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    id: String,
    endpoints: Vec<String>,
    routes: Vec<String>,
    capacity: Option<u32>,
    threads: usize,
    /// CPU time to burn per request.
    work: Duration,
    /// Time to hold the runtime thread asleep per request.
    block: Duration,
    /// The router's public key (Z85 or a file) and this worker's key file.
    curve: Option<(String, String)>,
}

/// `ID [--connect ENDPOINT]... [--route ROUTE]... [--capacity N] [--threads N] [--work-us N] [--block-ms N] [--curve-server-key K --curve-key F]`
fn parse_args() -> Result<Args, String> {
    let usage = "usage: hello WORKER_ID [--connect ENDPOINT]... [--route ROUTE]... [--capacity N] \
                 [--threads N] [--work-us N] [--block-ms N] [--curve-server-key FILE|Z85 --curve-key FILE]"
        .to_owned();
    let mut args = std::env::args().skip(1);
    let mut id = None;
    let mut endpoints = Vec::new();
    let mut routes = Vec::new();
    let mut capacity = None;
    let mut threads = 1;
    let mut work = Duration::ZERO;
    let mut block = Duration::ZERO;
    let (mut server_key, mut key) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--connect" => endpoints.push(args.next().ok_or_else(|| usage.clone())?),
            "--route" => routes.push(args.next().ok_or_else(|| usage.clone())?),
            "--capacity" => {
                let n = args.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0);
                capacity = Some(n.ok_or_else(|| usage.clone())?);
            }
            "--threads" => {
                let n = args.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0);
                threads = n.ok_or_else(|| usage.clone())?;
            }
            "--work-us" => {
                let n = args.next().and_then(|n| n.parse().ok());
                work = Duration::from_micros(n.ok_or_else(|| usage.clone())?);
            }
            "--block-ms" => {
                let n = args.next().and_then(|n| n.parse().ok());
                block = Duration::from_millis(n.ok_or_else(|| usage.clone())?);
            }
            "--curve-server-key" => server_key = Some(args.next().ok_or_else(|| usage.clone())?),
            "--curve-key" => key = Some(args.next().ok_or_else(|| usage.clone())?),
            "-h" | "--help" => return Err(usage),
            _ if id.is_none() && !arg.starts_with('-') => id = Some(arg),
            _ => return Err(usage),
        }
    }
    let curve = match (server_key, key) {
        (Some(server_key), Some(key)) => Some((server_key, key)),
        (None, None) => None,
        _ => return Err(usage),
    };
    Ok(Args {
        id: id.ok_or(usage)?,
        endpoints,
        routes,
        capacity,
        threads,
        work,
        block,
        curve,
    })
}

/// Spins (holding the thread, as CPU-bound application code does) for `work`.
fn busy_for(work: Duration) {
    if work.is_zero() {
        return;
    }
    let until = Instant::now() + work;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}
