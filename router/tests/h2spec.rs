//! h2spec, the HTTP/2 conformance tool, against the real router with a real
//! worker behind it (issue 14): once over cleartext (h2c with prior
//! knowledge), once over TLS with a self-signed certificate. Every case must
//! pass.
//!
//! h2spec is a Go program: scripts/test builds the version pinned in
//! scripts/h2spec/go.mod and passes it in `H2SPEC`; otherwise the test looks
//! on PATH and in `$(go env GOPATH)/bin`, and fails saying how to install it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zroute_test_support::cert::self_signed;
use zroute_test_support::process::worker;
use zroute_test_support::router_process::Router;

const STARTUP: Duration = Duration::from_secs(20);
/// h2spec's own bound is 2 s per case; 145 cases pass in about a second.
const RUN_BOUND: Duration = Duration::from_secs(180);
/// The cases h2spec 2.x runs by default (generic, http2 and hpack).
const CASES: u32 = 145;

#[test]
fn h2spec_cleartext() {
    run(&[]);
}

#[test]
fn h2spec_tls() {
    run(&["--tls"]);
}

fn run(mode: &[&str]) {
    let h2spec = find_h2spec();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = self_signed();
    let mut extra = Vec::new();
    let tls = mode.contains(&"--tls");
    if tls {
        extra = vec![
            "--tls-cert".to_owned(),
            cert.cert.display().to_string(),
            "--tls-key".to_owned(),
            cert.key.display().to_string(),
        ];
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let router = Router::start("tcp://127.0.0.1:*", &extra);
    let _hello = worker("hello", "w1", &router.endpoint, &[]);
    runtime.block_on(router.wait_workers(1, STARTUP));

    let report = dir.path().join("h2spec.xml");
    let mut command = Command::new(&h2spec);
    command
        .args(["--host", "127.0.0.1", "--port"])
        .arg(router.http.port().to_string())
        .args(["--timeout", "2", "--junit-report"])
        .arg(&report)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if tls {
        // The certificate is self-signed.
        command.args(["--tls", "--insecure"]);
    }
    let output = wait_bounded(command.spawn().expect("h2spec starts"), RUN_BOUND);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" tests, "))
        .unwrap_or_else(|| {
            panic!(
                "no summary line from h2spec; stdout:\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let count = |what: &str| -> u32 {
        summary
            .split(", ")
            .find_map(|part| part.trim().strip_suffix(what)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {what:?} in {summary:?}"))
    };
    let (total, passed, failed) = (count(" tests"), count(" passed"), count(" failed"));
    println!(
        "h2spec-summary mode={} {summary}",
        if tls { "tls" } else { "h2c" }
    );
    let failures: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Failures:"))
        .collect();
    assert!(
        failed == 0 && passed == total && total >= CASES,
        "h2spec: {summary}\n{}",
        failures.join("\n")
    );
}

/// Waits for `child`, killing it past `bound`.
fn wait_bounded(mut child: std::process::Child, bound: Duration) -> std::process::Output {
    let deadline = Instant::now() + bound;
    // Read the pipes on threads so that a full pipe cannot stall h2spec.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).ok();
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut buf).ok();
        buf
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("h2spec did not finish within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// `H2SPEC`, else `h2spec` on PATH, else `$(go env GOPATH)/bin/h2spec`.
fn find_h2spec() -> PathBuf {
    if let Some(path) = std::env::var_os("H2SPEC") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "H2SPEC={} is not a file", path.display());
        return path;
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("h2spec"))
        .find(|p| p.is_file());
    if let Some(path) = on_path {
        return path;
    }
    let gopath = Command::new("go")
        .args(["env", "GOPATH"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|p| !p.is_empty());
    if let Some(path) = gopath.map(|p| Path::new(&p).join("bin/h2spec"))
        && path.is_file()
    {
        return path;
    }
    panic!(
        "h2spec not found (H2SPEC, PATH, $(go env GOPATH)/bin). Install the pinned version:\n  \
         (cd scripts/h2spec && go build -o ../../target/h2spec github.com/summerwind/h2spec/cmd/h2spec)\n  \
         H2SPEC=$PWD/target/h2spec cargo test -p zroute-router --test h2spec\n\
         (scripts/test does this)"
    );
}
