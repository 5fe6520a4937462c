//! The `zroute-router` command: arguments to exit status. Its own function,
//! rather than `main`'s body, so that the Python wheel's `zroute-router` runs
//! this same code from the extension (bindings/python/README.md says why).

use std::ffi::OsString;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::config::Command;
use crate::{LogFormat, Options};

/// Runs the router as the command line asks (`args` starts with the program
/// name) until SIGTERM or SIGINT, and returns the exit status: 0 after a
/// clean stop, 1 on a failure, 2 on a bad configuration. Bad flags and
/// `--help` print and exit the process, as every clap command does. It
/// installs the global log subscriber, so it belongs at a process's top.
pub fn main(args: impl IntoIterator<Item = OsString>) -> u8 {
    let mut options = Options::parse_from(args);
    if let Some(Command::Keygen { out }) = options.command.take() {
        return match crate::keygen::run(out.as_deref()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("zroute-router keygen: {e}");
                1
            }
        };
    }
    let config = match options.resolve() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("zroute-router: {e}");
            return 2;
        }
    };
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A host process may have set one already; its subscriber then wins.
    let _ = match config.log_format {
        LogFormat::Human => logs.try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
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
            return 1;
        }
    };
    match runtime.block_on(crate::run(config, shutdown_signal())) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            1
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
