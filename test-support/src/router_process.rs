//! The router binary as a process, on ports the OS picks; its addresses are
//! read back from its JSON log.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::get;
use crate::process::{Logs, Proc, binary};

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
        let mut child = Command::new(binary("zroute-router"))
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

/// The value of the first sample in Prometheus text `text` whose line starts
/// with `prefix` (a name, or a name and its labels).
pub fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}
