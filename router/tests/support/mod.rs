//! Real processes for end-to-end tests: the router binary, worker example
//! binaries, and an HTTP client. Everything listens on loopback with ports
//! the OS picks; addresses are read back from the router's JSON log.

#![allow(dead_code, reason = "each test file uses part of the support code")]
#![allow(unreachable_pub, reason = "test-only module")]

pub mod bad_worker;
pub mod cert;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Where cargo put this test's binaries: `target/<profile>/`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>")
        .to_owned()
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

pub struct Router {
    pub proc: Proc,
    pub http: SocketAddr,
    pub admin: SocketAddr,
    /// The worker endpoint, as bound.
    pub endpoint: String,
}

impl Router {
    /// Starts the router on free ports with `extra` flags. `workers` is the
    /// endpoint to bind (pass a fixed one to restart a router on the same place).
    pub fn start(workers: &str, extra: &[&str]) -> Self {
        let mut args = vec![
            "--http",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--workers",
            workers,
        ];
        args.extend_from_slice(extra);
        Self::launch(&args, &[])
    }

    /// Starts the router with exactly `args` (plus the JSON log format and a
    /// 200 ms heartbeat) and `env`; the addresses must still be free ports
    /// (port 0), given by flag, environment or `--config` file.
    pub fn launch(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zroute-router"))
            .args(["--log-format", "json"])
            .args(["--heartbeat-interval", "200ms"])
            .args(args)
            .env("ZROUTE_LOG_LEVEL", "info,zroute_router=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("router binary starts");
        let logs = Logs::collect(&mut child);
        let proc = Proc { child, logs };
        let http = field(
            &proc
                .logs
                .wait_for(&["http listening"], Duration::from_secs(20)),
            "addr",
        );
        let admin = field(
            &proc
                .logs
                .wait_for(&["admin listening"], Duration::from_secs(5)),
            "addr",
        );
        let endpoint = field(
            &proc
                .logs
                .wait_for(&["workers endpoint bound"], Duration::from_secs(5)),
            "endpoint",
        );
        Self {
            proc,
            http: http.parse().expect("addr"),
            admin: admin.parse().expect("addr"),
            endpoint,
        }
    }

    /// A URL on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    /// The `/workers` listing.
    pub async fn workers(&self) -> serde_json::Value {
        let (status, body) = get(&self.admin_url("/workers")).await.expect("/workers");
        assert_eq!(status, 200, "/workers");
        serde_json::from_slice(&body).expect("workers JSON")
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let (status, body) = get(&self.admin_url("/metrics")).await.expect("/metrics");
        assert_eq!(status, 200, "/metrics");
        String::from_utf8(body.to_vec()).expect("metrics are text")
    }

    /// Waits until `/metrics` has a sample line starting with `prefix`
    /// (a metric name and labels) whose value is `value`.
    pub async fn wait_metric(&self, prefix: &str, value: f64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let text = self.metrics().await;
            if metric(&text, prefix) == Some(value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {prefix} = {value} within {within:?}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    /// Waits until the router lists `n` workers.
    pub async fn wait_workers(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if let Ok((200, body)) = get(&format!("http://{}/workers", self.admin)).await {
                let list: serde_json::Value = serde_json::from_slice(&body).expect("workers JSON");
                if list.as_array().map_or(0, Vec::len) == n {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "router did not reach {n} workers within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Router {
    /// Waits until the workers together have `n` streams in flight.
    pub async fn wait_in_flight(&self, n: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if let Ok((200, body)) = get(&format!("http://{}/workers", self.admin)).await {
                let list: serde_json::Value = serde_json::from_slice(&body).expect("workers JSON");
                let total: u64 = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|w| w["in_flight"].as_u64())
                    .sum();
                if total == n {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "router did not reach {n} streams in flight within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A field of a JSON log line (`fields.<name>`).
fn field(line: &str, name: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    v["fields"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no field {name} in {line}"))
        .to_owned()
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

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// GET with a fresh client; the status and the whole body.
pub async fn get(url: &str) -> Result<(u16, Bytes), String> {
    request(&client(), "GET", url, Bytes::new()).await
}

pub async fn request(
    client: &HttpClient,
    method: &str,
    url: &str,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    let req = http::Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let res = client.request(req).await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

/// A free tcp endpoint on loopback (bind to port 0, read the port, release it).
pub fn free_tcp_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("tcp://{}", listener.local_addr().expect("addr"))
}

/// The value of the first sample in Prometheus text `text` whose line starts
/// with `prefix` (a name, or a name and its labels).
pub fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// A client that speaks only HTTP/2, with prior knowledge (h2c).
pub fn h2_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// Polls `check` until it returns true; fails the test after `within`.
pub async fn wait_until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An HTTP/1 response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// The status line and header lines, as sent.
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A TCP connection that speaks HTTP/1 by hand, for what a client library
/// would not send (no Host, hop-by-hop fields, `Expect`) or would hide (the
/// exact bytes of a response). Every read has a 5 s deadline.
pub struct RawConn {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

const RAW_DEADLINE: Duration = Duration::from_secs(5);

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to the router");
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads more bytes into the buffer; false at end of stream.
    async fn fill(&mut self) -> bool {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(RAW_DEADLINE, self.stream.read(&mut chunk))
            .await
            .expect("the router answered in time")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Takes the buffer up to and including `needle`, reading as needed.
    pub async fn read_until(&mut self, needle: &[u8]) -> Vec<u8> {
        loop {
            if let Some(at) = self.buf.windows(needle.len()).position(|w| w == needle) {
                return self.buf.drain(..at + needle.len()).collect();
            }
            assert!(
                self.fill().await,
                "connection closed before {:?}; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await, "connection closed inside a body");
        }
        self.buf.drain(..n).collect()
    }

    /// Reads one response head: the status and the header lines.
    pub async fn read_head(&mut self) -> RawResponse {
        let head = String::from_utf8(self.read_until(b"\r\n\r\n").await).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {status_line:?}"));
        let headers = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        RawResponse {
            status,
            head,
            headers,
            body: Vec::new(),
        }
    }

    /// Reads one whole response; `bodiless` for the answer to HEAD (and 1xx,
    /// 204, 304, which have no body whatever their fields say).
    pub async fn read_response(&mut self, bodiless: bool) -> RawResponse {
        let mut res = self.read_head().await;
        if bodiless || matches!(res.status, 100..=199 | 204 | 304) {
            return res;
        }
        if let Some(n) = res.header("content-length") {
            let n: usize = n.parse().expect("content-length");
            res.body = self.read_exact(n).await;
        } else if res
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let line = self.read_until(b"\r\n").await;
                let size = String::from_utf8_lossy(&line);
                let size = size.trim().split(';').next().unwrap_or_default();
                let n = usize::from_str_radix(size, 16).expect("chunk size");
                if n == 0 {
                    self.read_until(b"\r\n").await;
                    break;
                }
                res.body.extend(self.read_exact(n).await);
                self.read_exact(2).await;
            }
        } else {
            while self.fill().await {}
            res.body = std::mem::take(&mut self.buf);
        }
        res
    }

    /// Whether the router closed the connection (reading nothing more).
    pub async fn is_closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill().await
    }

    /// Whether the router closes the connection within `within` (sending
    /// nothing more); false if it stays open that long.
    pub async fn closes_within(&mut self, within: Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 1024];
        self.buf.is_empty()
            && matches!(
                tokio::time::timeout(within, self.stream.read(&mut chunk)).await,
                Ok(Ok(0) | Err(_))
            )
    }

    /// Everything the router sends until it closes the connection.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }
}
