//! The command line the examples share: logging, the options every worker
//! takes, and the builder they make. Each example includes it with `#[path]`
//! and parses its own options through [`Options::parse`]'s `extra`; the
//! conformance suite (spec Appendix A) and the router tests start the examples
//! with these flags, so they stay as they are.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use zroute_worker::{Builder, Error, Worker};

/// Logs to stderr; `RUST_LOG=debug` (or trace, warn, ...) sets the level, the
/// default is info.
pub(crate) fn init_tracing() {
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
}

/// `ID [--connect ENDPOINT]... [--route ROUTE]... [--capacity N]
/// [--nameserver IP:PORT] [--resolve-interval MS] [--curve-server-key K --curve-key F]`
pub(crate) struct Options {
    pub(crate) id: String,
    endpoints: Vec<String>,
    routes: Vec<String>,
    capacity: Option<u32>,
    /// For named endpoints (spec #transport-discovery, Appendix A.1).
    nameserver: Option<SocketAddr>,
    resolve_interval: Option<Duration>,
    /// The router's public key (Z85 or a file) and this worker's key file.
    curve: Option<(String, String)>,
}

/// The command line is wrong: the caller prints the usage.
pub(crate) struct Usage;

/// The value after a flag.
pub(crate) struct Values(std::iter::Skip<std::env::Args>);

impl Values {
    pub(crate) fn string(&mut self) -> Result<String, Usage> {
        self.0.next().ok_or(Usage)
    }

    pub(crate) fn parse<T: FromStr>(&mut self) -> Result<T, Usage> {
        self.0.next().and_then(|v| v.parse().ok()).ok_or(Usage)
    }
}

impl Options {
    /// Parses the command line. `extra` sees each flag the common set does not
    /// know, with the values after it, and says whether it took the flag. On
    /// any error, prints `usage` and gives the exit code.
    pub(crate) fn parse(
        usage: &str,
        mut extra: impl FnMut(&str, &mut Values) -> Result<bool, Usage>,
    ) -> Result<Self, ExitCode> {
        Self::parse_with(&mut extra).map_err(|Usage| {
            eprintln!("{usage}");
            ExitCode::from(2)
        })
    }

    fn parse_with(
        extra: &mut impl FnMut(&str, &mut Values) -> Result<bool, Usage>,
    ) -> Result<Self, Usage> {
        let mut args = Values(std::env::args().skip(1));
        let (mut id, mut endpoints, mut routes) = (None, Vec::new(), Vec::new());
        let (mut capacity, mut nameserver, mut resolve_interval) = (None, None, None);
        let (mut server_key, mut key) = (None, None);
        while let Some(arg) = args.0.next() {
            match arg.as_str() {
                "--connect" => endpoints.push(args.string()?),
                "--route" => routes.push(args.string()?),
                "--capacity" => match args.parse()? {
                    0 => return Err(Usage),
                    n => capacity = Some(n),
                },
                "--nameserver" => nameserver = Some(args.parse()?),
                "--resolve-interval" => match args.parse()? {
                    0 => return Err(Usage),
                    ms => resolve_interval = Some(Duration::from_millis(ms)),
                },
                "--curve-server-key" => server_key = Some(args.string()?),
                "--curve-key" => key = Some(args.string()?),
                "-h" | "--help" => return Err(Usage),
                flag if extra(flag, &mut args)? => {}
                _ if id.is_none() && !arg.starts_with('-') => id = Some(arg),
                _ => return Err(Usage),
            }
        }
        let curve = match (server_key, key) {
            (Some(server_key), Some(key)) => Some((server_key, key)),
            (None, None) => None,
            _ => return Err(Usage),
        };
        Ok(Self {
            id: id.ok_or(Usage)?,
            endpoints,
            routes,
            capacity,
            nameserver,
            resolve_interval,
            curve,
        })
    }

    /// A builder with these options. If the CURVE keys cannot be read, prints
    /// why (after `name`) and gives the exit code.
    pub(crate) fn builder(self, name: &str) -> Result<Builder, ExitCode> {
        let mut worker = Worker::builder(self.id);
        for endpoint in self.endpoints {
            worker = worker.connect(endpoint);
        }
        for route in self.routes {
            worker = worker.route(route);
        }
        if let Some(capacity) = self.capacity {
            worker = worker.capacity(capacity);
        }
        if let Some(server) = self.nameserver {
            worker = worker.nameserver(server);
        }
        if let Some(interval) = self.resolve_interval {
            worker = worker.resolve_interval(interval);
        }
        let Some((server_key, key)) = &self.curve else {
            return Ok(worker);
        };
        worker.curve_files(server_key, key).map_err(|e| {
            eprintln!("{name}: {e}");
            ExitCode::from(2)
        })
    }
}

/// Runs `serve` to its end on `runtime`; `name` prefixes the error, if any.
pub(crate) fn run(
    name: &str,
    runtime: tokio::runtime::Runtime,
    serve: impl Future<Output = Result<(), Error>>,
) -> ExitCode {
    match runtime.block_on(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
