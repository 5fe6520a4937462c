use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use zroute_router::config::Command;
use zroute_router::{LogFormat, Options};

// glibc's allocator spent a sixth of the router's CPU under load (profile in
// docs/BENCHMARKS.md): per-request buffers of mixed sizes keep it consolidating.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut options = Options::parse();
    if let Some(Command::Keygen { out }) = options.command.take() {
        return match zroute_router::keygen::run(out.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("zroute-router keygen: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match options.resolve() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("zroute-router: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    // One thread by default: a request's path then never crosses threads
    // (bench/NOTES.md measured 0.86 context switches per request on the
    // multi-thread runtime, and a third less CPU per request on one thread).
    let mut builder = match config.threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if n > 1 {
                b.worker_threads(n);
            }
            b
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("zroute-router: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(zroute_router::run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM or SIGINT (ctrl-c).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
