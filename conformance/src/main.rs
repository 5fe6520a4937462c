//! `zroute-conformance`: runs the conformance cases against a worker.

use std::io::Write as _;

/// `println!` that ignores a closed stdout (`| head`) instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zroute_conformance::attach::Attached;
use zroute_conformance::case::{self, Case};
use zroute_conformance::fuzz::{self, FuzzConfig};
use zroute_conformance::known_failing::KnownFailing;
use zroute_conformance::report::{RunMeta, Verdict};
use zroute_conformance::runner::{CaseResult, Outcome, RunConfig};
use zroute_conformance::{html, junit, report, run_suite, shell, trace_cli};

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
    Run(Box<RunArgs>),
    /// Build an HTML matrix of implementations × cases from JSON reports.
    Report(ReportArgs),
    /// Mutate the cases' frames from a seed and play them against a worker:
    /// it must not crash, hang or answer garbage. Failures are shrunk and saved
    /// as case files.
    Fuzz(FuzzArgs),
    /// Show a recorded trace, or convert it between binary and JSON.
    Trace(trace_cli::TraceArgs),
    /// Replay recorded traces against a worker and compare what it sends.
    Replay(trace_cli::ReplayArgs),
}

#[derive(Debug, clap::Args)]
struct FuzzArgs {
    /// The worker command, as for `run`.
    #[arg(long)]
    worker: String,
    /// The seed: the same seed, cases and iterations give the same frames.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Iterations, each against a fresh worker.
    #[arg(long, default_value_t = 200)]
    iterations: u64,
    /// Where to save the shrunk failures (as OUT/fuzz-found/*.toml, so that
    /// `run --cases OUT` replays them); default: a directory under the system's temp dir.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Take the frames of only these cases (glob, repeatable).
    #[arg(long = "run", value_name = "GLOB")]
    run: Vec<String>,
    /// Multiply the liveness deadline (5 s) by this factor.
    #[arg(long, default_value_t = 1.0)]
    timeout_scale: f64,
    /// At most this many plays to shrink one failure.
    #[arg(long, default_value_t = 300)]
    shrink_budget: usize,
    /// The cases directory.
    #[arg(long, value_name = "DIR")]
    cases: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The worker command, split like a shell; `{endpoint}` is replaced by the
    /// router endpoint (also in env ZROUTE_CONNECT).
    #[arg(long, required_unless_present_any = ["list", "attach"], conflicts_with = "attach")]
    worker: Option<String>,
    /// Run against an already running worker that connects to ENDPOINT (the
    /// suite binds it for every case); cases run one at a time and a crash
    /// cannot be seen or restarted.
    #[arg(long, value_name = "ENDPOINT")]
    attach: Option<String>,
    /// List the selected cases instead of running them.
    #[arg(long)]
    list: bool,
    /// Run only cases whose id matches this glob (repeatable).
    #[arg(long = "run", value_name = "GLOB")]
    run: Vec<String>,
    /// Skip cases whose id matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    skip: Vec<String>,
    /// Case ids or globs the worker is known to fail, one per line (`#` comments):
    /// their failures do not fail the run, and their passes do.
    #[arg(long, value_name = "FILE")]
    known_failing: Option<PathBuf>,
    /// Run every case N times; a case passes only if every run passes.
    #[arg(long, default_value_t = 1, value_name = "N")]
    repeat: usize,
    /// Cases run in parallel (default 2; 1 with --attach).
    #[arg(long)]
    jobs: Option<usize>,
    /// Also run SHOULD and MAY cases, and count NON-STRICT outcomes as failures.
    #[arg(long)]
    strict: bool,
    /// Multiply every case deadline and window by this factor.
    #[arg(long, default_value_t = 1.0)]
    timeout_scale: f64,
    /// The implementation's name in reports (default: the worker's HELLO id).
    #[arg(long)]
    name: Option<String>,
    /// Write a JSON report to FILE; with --list and no FILE, print the listing as JSON.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    json: Option<PathBuf>,
    /// Write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// The cases directory.
    #[arg(long, value_name = "DIR")]
    cases: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// The HTML matrix to write.
    #[arg(long, value_name = "OUT")]
    html: PathBuf,
    /// JSON reports of `run --json`, one per implementation (column).
    #[arg(required = true, value_name = "REPORT.json")]
    reports: Vec<PathBuf>,
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
        Cmd::Run(args) => run(*args),
        Cmd::Report(args) => matrix(&args),
        Cmd::Fuzz(args) => fuzz(&args),
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

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn fuzz(args: &FuzzArgs) -> Result<u8, String> {
    let dir = args.cases.clone().unwrap_or_else(case::default_cases_dir);
    let all = case::load_dir(&dir)?;
    let selected: Vec<&Case> = all
        .iter()
        .filter(|c| args.run.is_empty() || args.run.iter().any(|g| case::glob_match(g, &c.id)))
        .collect();
    if !(args.timeout_scale.is_finite() && args.timeout_scale > 0.0) {
        return Err("--timeout-scale must be a positive number".into());
    }
    let worker = shell::split(&args.worker).map_err(|e| format!("--worker: {e}"))?;
    if worker.is_empty() {
        return Err("--worker: empty command".into());
    }
    let corpus = fuzz::corpus(&selected);
    let cfg = FuzzConfig {
        worker,
        seed: args.seed,
        iterations: args.iterations,
        timeout_scale: args.timeout_scale,
        shrink_budget: args.shrink_budget,
    };
    let out = args.out.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "zroute-fuzz-{}-seed-{}",
            std::process::id(),
            args.seed
        ))
    });
    out!(
        "fuzzing with seed {} for {} iterations over the frames of {} cases",
        args.seed,
        args.iterations,
        corpus.len()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut saved = Vec::new();
    let mut save_error = None;
    let mut progress = |f: &fuzz::Found| {
        out!(
            "{} at iteration {} (frames of {}): {}",
            f.failure.kind(),
            f.iteration,
            f.source_case,
            f.failure.detail()
        );
        out!(
            "  shrunk from {} to {} frame(s)",
            f.original.len(),
            f.shrunk.len()
        );
        if !f.stderr_tail.is_empty() {
            out!("  worker stderr (tail):");
            for line in f.stderr_tail.lines() {
                out!("  | {line}");
            }
        }
        match fuzz::save(&out, args.seed, f) {
            Ok(path) => {
                out!("  saved {}", path.display());
                saved.push(path);
            }
            Err(e) => save_error = Some(e),
        }
    };
    let found = match rt.block_on(fuzz::fuzz(&cfg, &corpus, &mut progress)) {
        Ok(found) => found,
        Err(fuzz::Fault::NotStarted(e)) => {
            eprintln!("zroute-conformance: the worker failed to start: {e}");
            return Ok(3);
        }
        Err(fuzz::Fault::Suite(e)) => return Err(e),
    };
    if let Some(e) = save_error {
        return Err(e);
    }
    if found.is_empty() {
        out!("no failure in {} iterations", args.iterations);
        return Ok(0);
    }
    out!(
        "{} failure(s); replay them with: zroute-conformance run --worker {} --cases {}",
        found.len(),
        shell::quote(&args.worker),
        shell::quote(&out.display().to_string())
    );
    Ok(1)
}

fn matrix(args: &ReportArgs) -> Result<u8, String> {
    let mut reports = Vec::new();
    for path in &args.reports {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        html::check_report(&value).map_err(|e| format!("{}: {e}", path.display()))?;
        reports.push(value);
    }
    write_file(&args.html, &html::matrix(&reports))?;
    out!("wrote {}", args.html.display());
    Ok(0)
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
    if args.repeat == 0 {
        return Err("--repeat must be at least 1".into());
    }
    let known = match &args.known_failing {
        Some(path) => KnownFailing::load(path)?,
        None => KnownFailing::default(),
    };
    let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
    for (pattern, line) in known.unmatched(&ids) {
        eprintln!(
            "zroute-conformance: warning: known-failing line {line}: {pattern:?} matches no case"
        );
    }
    let (worker, worker_cmd, jobs) = match &args.attach {
        Some(endpoint) => {
            if args.jobs.is_some_and(|j| j > 1) {
                return Err("--attach runs one case at a time: --jobs must be 1".into());
            }
            (Vec::new(), format!("(attached at {endpoint})"), 1)
        }
        None => {
            let worker_cmd = args.worker.clone().unwrap_or_default();
            let worker = shell::split(&worker_cmd).map_err(|e| format!("--worker: {e}"))?;
            if worker.is_empty() {
                return Err("--worker: empty command".into());
            }
            (worker, worker_cmd, args.jobs.unwrap_or(2))
        }
    };
    let cfg = RunConfig {
        worker,
        timeout_scale: args.timeout_scale,
        attach: args.attach.clone().map(Attached::new),
        strict: args.strict,
    };
    let mut extra = String::new();
    if let Some(dir) = &args.cases {
        extra.push_str(&format!(
            " --cases {}",
            shell::quote(&dir.display().to_string())
        ));
    }
    if args.strict {
        extra.push_str(" --strict");
    }
    if args.timeout_scale != 1.0 {
        extra.push_str(&format!(" --timeout-scale {}", args.timeout_scale));
    }
    let repeat = args.repeat;
    let on_done = |c: &Case, r: &CaseResult| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{:<11} {} ({} ms)",
            r.outcome.label(),
            c.id,
            r.duration.as_millis()
        );
        if !matches!(
            r.outcome,
            Outcome::Pass | Outcome::Unsupported | Outcome::Skipped
        ) {
            let _ = write!(
                out,
                "{}",
                report::failure_details(c, r, &worker_cmd, &extra)
            );
        } else if matches!(r.outcome, Outcome::Unsupported | Outcome::Skipped) {
            let _ = writeln!(out, "  {}: {}", r.expected, r.happened);
        }
    };
    let jobs_list = report::repeated(&selected, repeat);
    let results = run_suite(&jobs_list, &cfg, jobs, &on_done);
    let reports = report::group(&selected, repeat, results, &known);
    out!();
    out!("{}", report::table(&reports).trim_end());
    for r in &reports {
        if r.verdict() == Verdict::UnexpectedPass {
            out!(
                "XPASS {}: it passed but is listed in {}: remove it from that file",
                r.case.id,
                args.known_failing
                    .as_deref()
                    .map_or(String::new(), |p| p.display().to_string())
            );
        }
    }
    let meta = RunMeta {
        implementation: args
            .name
            .clone()
            .or_else(|| report::hello_name(&reports))
            .unwrap_or_default(),
        worker: worker_cmd.clone(),
        extra: extra.clone(),
        repeat,
        attach: args.attach.clone(),
    };
    let json = report::json_report(&reports, &meta);
    if let Some(path) = &args.json {
        let text = format!("{json:#}\n");
        if path.as_os_str() == "-" {
            out!("{}", text.trim_end());
        } else {
            write_file(path, &text)?;
        }
    }
    if let Some(path) = &args.junit {
        write_file(path, &junit::junit_report(&reports, &meta))?;
    }
    if let Some(path) = &args.html {
        write_file(path, &html::single(&json))?;
    }
    let code = report::exit_code(&reports);
    if code == 3 {
        eprintln!("zroute-conformance: the worker sent no HELLO in any case (failed to start?)");
    }
    Ok(code as u8)
}
