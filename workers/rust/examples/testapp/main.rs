//! The conformance test app (`spec/PROTOCOL.md`, Appendix A).
//!
//! ```text
//! cargo run --release -p zroute-worker --example testapp -- worker-1 \
//!     [--connect ENDPOINT]... [--route ROUTE]... [--capacity N] [--window BYTES] \
//!     [--nameserver IP:PORT] [--resolve-interval MS] \
//!     [--curve-server-key FILE|Z85 --curve-key FILE]
//! ```
//!
//! Without `--connect` it uses `ZROUTE_CONNECT`, else `tcp://127.0.0.1:8000`.
//! `--capacity N` announces N concurrent requests (HELLO's capacity) instead of
//! the library's default of 64; `--window BYTES` announces BYTES as the
//! per-stream receive window for request bodies (HELLO's Initial-Window-Size).
//! `--nameserver` and `--resolve-interval` are for a named `--connect`
//! (`tcp://name:port`, `dns+srv://...`): where its lookups go and how often.
//! It announces the features `trailers`, `websocket`, `discovery` and
//! `reason-phrase`, and no
//! route unless given some.
//! `--curve-server-key` (the router's `.pub` file or Z85 key) and `--curve-key`
//! (this worker's `.key` file) connect with CURVE; without them the library
//! reads `ZROUTE_CURVE_SERVER_KEY` and `ZROUTE_CURVE_KEY`.

use std::process::ExitCode;
use std::sync::Arc;

use http::Request;
use zroute_worker::{Body, service_fn};

mod app;
#[path = "../cli/mod.rs"]
mod cli;

fn main() -> ExitCode {
    cli::init_tracing();
    let usage = "usage: testapp WORKER_ID [--connect ENDPOINT]... [--route ROUTE]... \
                 [--capacity N] [--window BYTES] [--nameserver IP:PORT] [--resolve-interval MS] \
                 [--curve-server-key FILE|Z85 --curve-key FILE]";
    let mut window = None;
    let options = cli::Options::parse(usage, |flag, values| {
        match flag {
            "--window" => match values.parse()? {
                n @ 1..=0x7fff_ffff => window = Some(n),
                _ => return Err(cli::Usage),
            },
            _ => return Ok(false),
        }
        Ok(true)
    });
    let options = match options {
        Ok(options) => options,
        Err(exit) => return exit,
    };
    let id: Arc<str> = options.id.clone().into();
    let service = service_fn(move |req: Request<Body>| app::handle(id.clone(), req));
    let mut worker = match options.builder("testapp") {
        Ok(worker) => worker
            .feature("trailers")
            .feature("websocket")
            .feature("discovery")
            .feature("reason-phrase"),
        Err(exit) => return exit,
    };
    if let Some(window) = window {
        worker = worker.initial_window(window);
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    cli::run("testapp", runtime, worker.serve(service))
}
