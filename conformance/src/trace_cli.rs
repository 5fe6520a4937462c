//! The `trace` and `replay` subcommands' arguments and drivers.

use std::io::Write as _;
use std::path::PathBuf;

use crate::replay::{Noise, ReplayConfig, ReplayResult, replay};
use crate::runner::Outcome;
use crate::shell;
use crate::trace_cmd::{load, load_partial, save_binary, show, to_json_text};

#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    #[command(subcommand)]
    pub command: TraceCmd,
}

#[derive(Debug, clap::Subcommand)]
pub enum TraceCmd {
    /// Print a trace (binary or JSON) as text: time, session, direction, decoded frame.
    Show { file: PathBuf },
    /// Convert a trace to its JSON form (proto3 canonical JSON of a `Trace`).
    ToJson {
        file: PathBuf,
        /// Write here instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Convert a JSON trace to the binary form.
    FromJson {
        file: PathBuf,
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Trace files (binary or JSON), each replayed against a fresh worker.
    #[arg(required = true, value_name = "TRACE")]
    pub traces: Vec<PathBuf>,
    /// The worker command, split like a shell; `{endpoint}` is replaced by the
    /// router endpoint (also in env ZROUTE_CONNECT).
    #[arg(long)]
    pub worker: String,
    /// A response or trailer header not to compare (repeatable); `date`,
    /// `x-request-id` and `content-length` are never compared.
    #[arg(long = "ignore-header", value_name = "NAME")]
    pub ignore_header: Vec<String>,
    /// Multiply every deadline by this factor.
    #[arg(long, default_value_t = 1.0)]
    pub timeout_scale: f64,
}

/// `trace ...`: exit code 0, or an error (exit 2).
pub fn trace_main(args: TraceArgs) -> Result<u8, String> {
    match args.command {
        TraceCmd::Show { file } => {
            // A damaged or cut file still shows what it has.
            let (trace, damage) = load_partial(&file)?;
            let mut text = show(&trace);
            if let Some(damage) = damage {
                text.push_str(&format!("# damaged after the last event shown: {damage}\n"));
            }
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
        TraceCmd::ToJson { file, output } => {
            let text = to_json_text(&load(&file)?);
            match output {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?
                }
                None => {
                    let _ = std::io::stdout().lock().write_all(text.as_bytes());
                }
            }
        }
        TraceCmd::FromJson { file, output } => save_binary(&load(&file)?, &output)?,
    }
    Ok(0)
}

/// `replay ...`: 0 all passed, 1 a failure, 2 a suite error, 3 the worker never said HELLO.
pub fn replay_main(args: ReplayArgs) -> Result<u8, String> {
    if !(args.timeout_scale.is_finite() && args.timeout_scale > 0.0) {
        return Err("--timeout-scale must be a positive number".into());
    }
    let worker = shell::split(&args.worker).map_err(|e| format!("--worker: {e}"))?;
    if worker.is_empty() {
        return Err("--worker: empty command".into());
    }
    let mut noise = Noise::default();
    noise
        .ignore_headers
        .extend(args.ignore_header.iter().map(|h| h.to_ascii_lowercase()));
    let cfg = ReplayConfig {
        worker,
        timeout_scale: args.timeout_scale,
        noise,
    };
    let traces = args
        .traces
        .iter()
        .map(|p| load(p).map(|t| (p, t)))
        .collect::<Result<Vec<_>, _>>()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let mut results = Vec::new();
    for (path, trace) in &traces {
        let result = rt.block_on(replay(trace, &cfg));
        print_result(path, &result, &args);
        results.push(result);
    }
    let failed = results.iter().filter(|r| r.outcome.is_failure()).count();
    let errors = results
        .iter()
        .filter(|r| r.outcome == Outcome::Error)
        .count();
    println!(
        "\n{} passed, {} failed{}",
        results.len() - failed - errors,
        failed,
        if errors > 0 {
            format!(", {errors} errors")
        } else {
            String::new()
        }
    );
    Ok(if errors > 0 {
        2
    } else if results.iter().all(|r| !r.started) {
        eprintln!("zroute-conformance: the worker sent no HELLO in any replay (failed to start?)");
        3
    } else if failed > 0 {
        1
    } else {
        0
    })
}

fn print_result(path: &std::path::Path, r: &ReplayResult, args: &ReplayArgs) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<8} {} ({} ms)",
        r.outcome.label(),
        path.display(),
        r.duration.as_millis()
    );
    if r.outcome == Outcome::Pass {
        return;
    }
    let _ = writeln!(out, "  expected: {}", r.expected);
    let _ = writeln!(out, "  happened: {}", r.happened);
    if !r.diff.is_empty() {
        let _ = writeln!(out, "  diff (- recorded worker, + this worker):");
        for line in &r.diff {
            let _ = writeln!(out, "    {line}");
        }
    }
    let _ = writeln!(out, "  wire log (-> to the worker, <- from it):");
    for line in &r.wire_log {
        let _ = writeln!(out, "    {line}");
    }
    if !r.stderr_tail.is_empty() {
        let _ = writeln!(out, "  worker stderr (last lines):");
        for line in r.stderr_tail.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    let mut rerun = format!(
        "zroute-conformance replay {} --worker {}",
        shell::quote(&path.display().to_string()),
        shell::quote(&args.worker)
    );
    for h in &args.ignore_header {
        rerun.push_str(&format!(" --ignore-header {}", shell::quote(h)));
    }
    let _ = writeln!(out, "  rerun: {rerun}");
}
