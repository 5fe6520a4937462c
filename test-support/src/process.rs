//! Real processes: worker examples started from the workspace's target
//! directory, with their output collected so tests can wait for a log line.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where cargo put this test's binaries: `target/<profile>/`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>")
        .to_owned()
}

/// A binary of the workspace, built before the tests that start it (cargo
/// builds a package's binaries for its integration tests; scripts/test
/// builds them all).
pub fn binary(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// A worker example of the zroute-worker crate, built by `cargo test --workspace --all-targets`.
pub fn example(name: &str) -> PathBuf {
    let path = target_dir().join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build -p zroute-worker --examples` (scripts/test does)",
        path.display()
    );
    path
}

/// Lines a child process wrote to stderr, collected by a thread.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<String>>>);

impl Logs {
    /// Collects both output streams: logs may go to either.
    pub fn collect(child: &mut Child) -> Self {
        let logs = Self::default();
        let stderr = child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
        let stdout = child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
        for stream in [stderr, stdout].into_iter().flatten() {
            let sink = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if std::env::var_os("ZROUTE_TEST_ECHO").is_some() {
                        eprintln!("{line}");
                    }
                    sink.0.lock().unwrap().push(line);
                }
            });
        }
        logs
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.0.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    /// Waits until a line containing every needle appears; returns it.
    pub fn wait_for(&self, needles: &[&str], within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self
                .0
                .lock()
                .unwrap()
                .iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needles:?} within {within:?}; logs:\n{}",
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A running process, killed when dropped.
pub struct Proc {
    pub child: Child,
    pub logs: Logs,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{sig} {} failed", self.pid());
    }

    /// Waits for the process to exit; returns its exit code (None if killed by a signal).
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "process {} did not exit within {within:?}",
                self.pid()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a worker example (`hello`, `testapp`) with `args`, connected to `endpoint`.
pub fn worker(example_name: &str, id: &str, endpoint: &str, args: &[&str]) -> Proc {
    let mut command = worker_command(example_name, id, endpoint);
    command.args(args);
    spawn_worker(command)
}

/// The command line of a worker example, for callers that add to it.
pub fn worker_command(example_name: &str, id: &str, endpoint: &str) -> Command {
    let mut command = Command::new(example(example_name));
    command
        .arg(id)
        .args(["--connect", endpoint])
        .env("RUST_LOG", "debug");
    command
}

/// Starts `command` with its output collected.
pub fn spawn_worker(mut command: Command) -> Proc {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("worker example starts");
    let logs = Logs::collect(&mut child);
    Proc { child, logs }
}

/// A free tcp endpoint on loopback (bind to port 0, read the port, release it).
pub fn free_tcp_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("tcp://{}", listener.local_addr().expect("addr"))
}
