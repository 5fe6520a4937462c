//! The conformance test app (`spec/PROTOCOL.md`, Appendix A).
//!
//! ```text
//! cargo run --release -p zroute-worker --example testapp -- worker-1 \
//!     [--connect ENDPOINT]... [--route ROUTE]... [--capacity N] [--window BYTES] \
//!     [--curve-server-key FILE|Z85 --curve-key FILE]
//! ```
//!
//! Without `--connect` it uses `ZROUTE_CONNECT`, else `tcp://127.0.0.1:8000`.
//! `--capacity N` announces N concurrent requests (HELLO's capacity) instead of
//! the library's default of 64; `--window BYTES` announces BYTES as the
//! per-stream receive window for request bodies (HELLO's Initial-Window-Size).
//! It announces the feature `trailers`, and no route unless given some.
//! `--curve-server-key` (the router's `.pub` file or Z85 key) and `--curve-key`
//! (this worker's `.key` file) connect with CURVE; without them the library
//! reads `ZROUTE_CURVE_SERVER_KEY` and `ZROUTE_CURVE_KEY`.

use std::process::ExitCode;
use std::sync::Arc;

use http::Request;
use zroute_worker::{Body, Worker, service_fn};

mod app;

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
    let args = match Args::parse() {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let id: Arc<str> = args.id.clone().into();
    let service = service_fn(move |req: Request<Body>| app::handle(id.clone(), req));
    let mut worker = Worker::builder(args.id).feature("trailers");
    for endpoint in args.endpoints {
        worker = worker.connect(endpoint);
    }
    for route in args.routes {
        worker = worker.route(route);
    }
    if let Some(capacity) = args.capacity {
        worker = worker.capacity(capacity);
    }
    if let Some(window) = args.window {
        worker = worker.initial_window(window);
    }
    if let Some((server_key, key)) = &args.curve {
        worker = match worker.curve_files(server_key, key) {
            Ok(worker) => worker,
            Err(e) => {
                eprintln!("testapp: {e}");
                return ExitCode::from(2);
            }
        };
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(worker.serve(service)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testapp: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    id: String,
    endpoints: Vec<String>,
    routes: Vec<String>,
    capacity: Option<u32>,
    window: Option<u32>,
    /// The router's public key (Z85 or a file) and this worker's key file.
    curve: Option<(String, String)>,
}

impl Args {
    /// `ID [--connect ENDPOINT]... [--route ROUTE]... [--capacity N] [--window BYTES]`
    fn parse() -> Result<Self, String> {
        let usage = "usage: testapp WORKER_ID [--connect ENDPOINT]... [--route ROUTE]... \
                     [--capacity N] [--window BYTES] [--curve-server-key FILE|Z85 --curve-key FILE]"
            .to_owned();
        let mut args = std::env::args().skip(1);
        let (mut id, mut endpoints, mut routes) = (None, Vec::new(), Vec::new());
        let (mut capacity, mut window) = (None, None);
        let (mut server_key, mut key) = (None, None);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--connect" => endpoints.push(args.next().ok_or_else(|| usage.clone())?),
                "--route" => routes.push(args.next().ok_or_else(|| usage.clone())?),
                "--capacity" => {
                    let n = args.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0);
                    capacity = Some(n.ok_or_else(|| usage.clone())?);
                }
                "--window" => {
                    let n = args.next().and_then(|n| n.parse().ok());
                    let n = n.filter(|n| (1..=0x7fff_ffff).contains(n));
                    window = Some(n.ok_or_else(|| usage.clone())?);
                }
                "--curve-server-key" => {
                    server_key = Some(args.next().ok_or_else(|| usage.clone())?)
                }
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
        Ok(Self {
            id: id.ok_or(usage)?,
            endpoints,
            routes,
            capacity,
            window,
            curve,
        })
    }
}
