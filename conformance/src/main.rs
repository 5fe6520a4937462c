//! `zroute-conformance`: runs the conformance cases against a worker.

use std::io::Write as _;

/// `println!` that ignores a closed stdout (`| head`) instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zroute_conformance::case::{self, Case};
use zroute_conformance::runner::{Outcome, RunConfig};
use zroute_conformance::{report, run_suite, shell, trace_cli};

#[derive(Debug, Parser)]
#[command(
    name = "zroute-conformance",
    about = "Conformance suite for zroute workers"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run cases against a worker (or list them with --list).
    Run(RunArgs),
    /// Show a recorded trace, or convert it between binary and JSON.
    Trace(trace_cli::TraceArgs),
    /// Replay recorded traces against a worker and compare what it sends.
    Replay(trace_cli::ReplayArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The worker command, split like a shell; `{endpoint}` is replaced by the
    /// router endpoint (also in env ZROUTE_CONNECT).
    #[arg(long, required_unless_present = "list")]
    worker: Option<String>,
    /// List the selected cases instead of running them.
    #[arg(long)]
    list: bool,
    /// Run only cases whose id matches this glob (repeatable).
    #[arg(long = "run", value_name = "GLOB")]
    run: Vec<String>,
    /// Skip cases whose id matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    skip: Vec<String>,
    /// Cases run in parallel.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Multiply every case deadline and window by this factor.
    #[arg(long, default_value_t = 1.0)]
    timeout_scale: f64,
    /// Write a JSON report to FILE; with --list and no FILE, print the listing as JSON.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    json: Option<PathBuf>,
    /// The cases directory.
    #[arg(long, value_name = "DIR")]
    cases: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Cmd::Run(args) => run(args),
        Cmd::Trace(args) => trace_cli::trace_main(args),
        Cmd::Replay(args) => trace_cli::replay_main(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("zroute-conformance: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: RunArgs) -> Result<u8, String> {
    let dir = args.cases.clone().unwrap_or_else(case::default_cases_dir);
    let all = case::load_dir(&dir)?;
    let selected: Vec<&Case> = all
        .iter()
        .filter(|c| args.run.is_empty() || args.run.iter().any(|g| case::glob_match(g, &c.id)))
        .filter(|c| !args.skip.iter().any(|g| case::glob_match(g, &c.id)))
        .collect();
    if args.list {
        if args.json.is_some() {
            out!("{:#}", report::json_list(&selected));
        } else {
            for c in &selected {
                out!("{:<48} {:<6} #{}", c.id, c.level.to_string(), c.section);
            }
        }
        return Ok(0);
    }
    if selected.is_empty() {
        return Err("no case matches the selection".into());
    }
    if !(args.timeout_scale.is_finite() && args.timeout_scale > 0.0) {
        return Err("--timeout-scale must be a positive number".into());
    }
    let worker_cmd = args.worker.clone().unwrap_or_default();
    let worker = shell::split(&worker_cmd).map_err(|e| format!("--worker: {e}"))?;
    if worker.is_empty() {
        return Err("--worker: empty command".into());
    }
    let cfg = RunConfig {
        worker,
        timeout_scale: args.timeout_scale,
    };
    let mut extra = String::new();
    if let Some(dir) = &args.cases {
        extra.push_str(&format!(
            " --cases {}",
            shell::quote(&dir.display().to_string())
        ));
    }
    if args.timeout_scale != 1.0 {
        extra.push_str(&format!(" --timeout-scale {}", args.timeout_scale));
    }
    let on_done = |c: &Case, r: &zroute_conformance::runner::CaseResult| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{:<11} {} ({} ms)",
            r.outcome.label(),
            c.id,
            r.duration.as_millis()
        );
        if r.outcome != Outcome::Pass && r.outcome != Outcome::Unsupported {
            let _ = write!(
                out,
                "{}",
                report::failure_details(c, r, &worker_cmd, &extra)
            );
        } else if r.outcome == Outcome::Unsupported {
            let _ = writeln!(out, "  {}: {}", r.expected, r.happened);
        }
    };
    let results = run_suite(&selected, &cfg, args.jobs, &on_done);
    out!();
    out!("{}", report::table(&selected, &results).trim_end());
    if let Some(path) = &args.json {
        let json = format!(
            "{:#}\n",
            report::json_report(&selected, &results, &worker_cmd, &extra)
        );
        if path.as_os_str() == "-" {
            out!("{}", json.trim_end());
        } else {
            std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let code = report::exit_code(&results);
    if code == 3 {
        eprintln!("zroute-conformance: the worker sent no HELLO in any case (failed to start?)");
    }
    Ok(code as u8)
}
