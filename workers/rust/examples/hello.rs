//! The smallest worker: answers every request `200 text/plain` with
//! `Hello from {id}`.
//!
//! ```text
//! cargo run --release -p zroute-worker --example hello -- worker-1 [--connect ENDPOINT]... [--route ROUTE]... [--capacity N]
//!     [--threads N] [--inline] [--work-us N] [--block-ms N] [--curve-server-key FILE|Z85 --curve-key FILE]
//! ```
//!
//! Without `--connect` it uses `ZROUTE_CONNECT`, else `tcp://127.0.0.1:8000`.
//! `--capacity N` announces N concurrent requests (HELLO's capacity) instead of
//! the library's default of 64. `--threads N` sets the runtime's worker threads
//! (default 1, as the bench's hyper backend has): a request is so little work
//! that a second thread mostly adds wake-ups between threads, and a host scales
//! by running more worker processes. `--inline` answers each request without a
//! body in the session thread's first poll of its handler
//! (`Builder::inline_handlers`), with no task spawned and no hand-off between
//! threads; the bench runs it so, as this handler never blocks. `--work-us N` keeps the thread busy for N
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
use zroute_worker::{Body, service_fn};

#[path = "cli/mod.rs"]
mod cli;

// As in the router: glibc's allocator was a fifth of this worker's instructions
// per request (callgrind, bench/NOTES.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    cli::init_tracing();
    let usage = "usage: hello WORKER_ID [--connect ENDPOINT]... [--route ROUTE]... [--capacity N] \
                 [--threads N] [--inline] [--work-us N] [--block-ms N] [--curve-server-key FILE|Z85 --curve-key FILE]";
    let mut threads = 1;
    let mut work = Duration::ZERO;
    let mut block = Duration::ZERO;
    let mut inline = false;
    let options = cli::Options::parse(usage, |flag, values| {
        match flag {
            "--threads" => match values.parse()? {
                0 => return Err(cli::Usage),
                n => threads = n,
            },
            "--work-us" => work = Duration::from_micros(values.parse()?),
            "--block-ms" => block = Duration::from_millis(values.parse()?),
            "--inline" => inline = true,
            _ => return Ok(false),
        }
        Ok(true)
    });
    let options = match options {
        Ok(options) => options,
        Err(exit) => return exit,
    };
    let greeting = format!("Hello from {}", options.id);
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
    let worker = match options.builder("hello") {
        Ok(worker) => worker.inline_handlers(inline),
        Err(exit) => return exit,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    cli::run("hello", runtime, worker.serve(service))
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
