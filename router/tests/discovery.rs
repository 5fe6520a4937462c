//! Workers find every router by name (spec #transport-discovery): real
//! routers on 127.0.0.1, .2 and .3, real workers of every language given
//! only a name, and the suite's own nameserver on loopback, whose answers
//! the test changes as a deployment scaling its router tier would. Under
//! steady load through every router, the tier goes from 1 router to 3, then
//! to 2, and nothing is lost.
//!
//! The workers are the Rust test app and those of `ZROUTE_DISCOVERY_WORKERS`
//! (`NAME=COMMAND` pairs separated by `;`, `{endpoint}` in COMMAND replaced;
//! scripts/test passes the Go, Node and Python test apps).

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zroute_conformance::dns::DnsServer;
use zroute_test_support::http::{client, request};
use zroute_test_support::process::{Proc, example, spawn_worker};
use zroute_test_support::router_process::{Router, metric};

/// The workers' resolve interval, and the TTL of every answer.
const INTERVAL: Duration = Duration::from_millis(1000);
const TTL_SECONDS: u32 = 1;
/// A worker process starting and registering (Python's is the slowest).
const STARTUP: Duration = Duration::from_secs(30);
/// A change in DNS reaches every worker within one interval, plus the
/// cached answer's TTL, plus a handshake (the routers' heartbeat is 200 ms);
/// the rest is slack for a loaded two-core machine.
const FOLLOW: Duration = Duration::from_secs(6);

const NAME: &str = "routers.zroute.test";
const SRV_NAME: &str = "_zroute._tcp.routers.zroute.test";

/// How the tier is published: A records of one name, all routers on one
/// port; or SRV records, each router on a port of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Publish {
    A,
    Srv,
}

struct Tier {
    dns: DnsServer,
    publish: Publish,
    port: u16,
    /// Router n (1 to 3) listens on 127.0.0.n.
    routers: Vec<(u8, Router)>,
}

impl Tier {
    fn new(publish: Publish) -> Self {
        let dns = DnsServer::start().expect("the test's nameserver starts");
        dns.set_ttl(TTL_SECONDS);
        let port = free_port();
        Self {
            dns,
            publish,
            port,
            routers: Vec::new(),
        }
    }

    /// The endpoint every worker is given: the name, nothing else.
    fn endpoint(&self) -> String {
        match self.publish {
            Publish::A => format!("tcp://{NAME}:{}", self.port),
            Publish::Srv => format!("dns+srv://{SRV_NAME}"),
        }
    }

    fn start_router(&mut self, n: u8) {
        let port = match self.publish {
            Publish::A => self.port,
            Publish::Srv => free_port(),
        };
        let router = Router::start(&format!("tcp://127.0.0.{n}:{port}"), &[]);
        self.routers.push((n, router));
    }

    fn router(&self, n: u8) -> &Router {
        &self
            .routers
            .iter()
            .find(|(m, _)| *m == n)
            .expect("started")
            .1
    }

    /// DNS answers with exactly routers `ns`.
    fn publish(&self, ns: &[u8]) {
        let ip = |n: u8| Ipv4Addr::new(127, 0, 0, n);
        match self.publish {
            Publish::A => {
                let ips: Vec<Ipv4Addr> = ns.iter().map(|&n| ip(n)).collect();
                self.dns.set_addresses(NAME, &ips);
            }
            Publish::Srv => {
                let targets: Vec<(u16, String)> = ns
                    .iter()
                    .map(|&n| (port_of(self.router(n)), format!("r{n}.zroute.test")))
                    .collect();
                for &n in ns {
                    self.dns
                        .set_addresses(&format!("r{n}.zroute.test"), &[ip(n)]);
                }
                let services: Vec<(u16, &str)> =
                    targets.iter().map(|(p, t)| (*p, t.as_str())).collect();
                self.dns.set_services(SRV_NAME, &services);
            }
        }
    }
}

fn free_port() -> u16 {
    // A port free on 127.0.0.1 is, in practice, free on .2 and .3 too.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn port_of(router: &Router) -> u16 {
    router
        .endpoint
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("a tcp endpoint")
}

/// Every worker to run: the Rust test app and `ZROUTE_DISCOVERY_WORKERS`.
fn worker_commands() -> Vec<(String, String)> {
    let mut workers = vec![(
        "rust".to_owned(),
        format!(
            "{} disc-rust --connect {{endpoint}}",
            example("testapp").display()
        ),
    )];
    if let Ok(list) = std::env::var("ZROUTE_DISCOVERY_WORKERS") {
        for item in list.split(';').filter(|i| !i.trim().is_empty()) {
            let (name, command) = item.split_once('=').expect("NAME=COMMAND");
            workers.push((name.trim().to_owned(), command.trim().to_owned()));
        }
    }
    workers
}

/// Starts every worker with only the name; the nameserver and the interval
/// come from the environment variables every worker library reads.
fn start_workers(tier: &Tier) -> Vec<(String, Proc)> {
    worker_commands()
        .into_iter()
        .map(|(name, command)| {
            let line = command.replace("{endpoint}", &tier.endpoint());
            let mut parts = line.split_whitespace();
            let mut cmd = Command::new(parts.next().expect("a command"));
            cmd.args(parts)
                .env("ZROUTE_NAMESERVER", tier.dns.addr().to_string())
                .env(
                    "ZROUTE_RESOLVE_INTERVAL_MS",
                    INTERVAL.as_millis().to_string(),
                )
                .env("RUST_LOG", "info")
                .env("ZROUTE_LOG_LEVEL", "info");
            (name, spawn_worker(cmd))
        })
        .collect()
}

/// Waits until `router` lists `n` workers, each at its own address.
async fn wait_sessions(router: &Router, n: usize, within: Duration) -> Duration {
    let start = Instant::now();
    let deadline = start + within;
    loop {
        let list = router.workers().await;
        let list = list.as_array().expect("a list");
        if list.len() == n {
            for worker in list {
                assert_eq!(
                    worker["router_address"].as_str(),
                    Some(router.endpoint.as_str()),
                    "the session names the router address it reached: {worker}"
                );
            }
            return start.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{} did not list {n} worker sessions within {within:?}: {list:?}",
            router.endpoint
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Steady GET /hello through every router in `targets`, round robin.
struct Load {
    targets: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(clients: usize) -> Self {
        let targets = Arc::new(Mutex::new(Vec::<String>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..clients)
            .map(|i| {
                let (targets, stop, ok, failures) =
                    (targets.clone(), stop.clone(), ok.clone(), failures.clone());
                tokio::spawn(async move {
                    let client = client();
                    let mut turn = i;
                    while !stop.load(Ordering::SeqCst) {
                        let url = {
                            let targets = targets.lock().unwrap();
                            if targets.is_empty() {
                                None
                            } else {
                                turn += 1;
                                Some(targets[turn % targets.len()].clone())
                            }
                        };
                        let Some(url) = url else {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        };
                        let outcome = tokio::time::timeout(
                            Duration::from_secs(10),
                            request(&client, "GET", &url, Default::default()),
                        )
                        .await;
                        match outcome {
                            Ok(Ok((200, body))) if body.starts_with(b"Hello from disc-") => {
                                ok.fetch_add(1, Ordering::SeqCst);
                            }
                            other => failures.lock().unwrap().push(format!("{url}: {other:?}")),
                        }
                    }
                })
            })
            .collect();
        Self {
            targets,
            stop,
            ok,
            failures,
            tasks,
        }
    }

    fn set_targets(&self, routers: &[&Router]) {
        *self.targets.lock().unwrap() = routers.iter().map(|r| r.url("/hello")).collect();
    }

    /// Waits for `more` successful requests from now on.
    async fn wait_progress(&self, more: u64) {
        let target = self.ok.load(Ordering::SeqCst) + more;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.ok.load(Ordering::SeqCst) < target {
            assert!(Instant::now() < deadline, "the load made no progress");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.expect("a load task");
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.ok.load(Ordering::SeqCst), failures)
    }
}

/// Lines of a worker's log that report a failed lookup.
fn failure_lines(proc: &Proc) -> usize {
    proc.logs
        .lines()
        .iter()
        .filter(|l| l.to_ascii_lowercase().contains("lookup failed"))
        .count()
}

/// The tier goes 1 → 3 → 2 routers under load, with a failed lookup in the
/// middle; every worker follows it by name alone.
async fn follow_the_tier(publish: Publish) {
    let mut tier = Tier::new(publish);
    tier.start_router(1);
    tier.publish(&[1]);
    let workers = start_workers(&tier);
    let n = workers.len();
    wait_sessions(tier.router(1), n, STARTUP).await;
    let load = Load::start(4);
    load.set_targets(&[tier.router(1)]);
    load.wait_progress(50).await;

    // Two routers join: every worker finds both, none restarted.
    tier.start_router(2);
    tier.start_router(3);
    tier.publish(&[1, 2, 3]);
    for r in [2, 3] {
        let took = wait_sessions(tier.router(r), n, FOLLOW).await;
        eprintln!("router {r} had all {n} workers {took:?} after joining DNS");
        let samples = tier.router(r).metrics().await;
        let prefix = format!(
            "zroute_worker_sessions{{router_address=\"{}\"}}",
            tier.router(r).endpoint
        );
        assert_eq!(metric(&samples, &prefix), Some(n as f64), "{samples}");
    }
    load.set_targets(&[tier.router(1), tier.router(2), tier.router(3)]);
    load.wait_progress(150).await;

    // The nameserver breaks: every session stays, each worker says so once.
    tier.dns.set_failing(true);
    let deadline = Instant::now() + Duration::from_secs(20);
    // Each worker has seen a lookup fail (its cached answer may outlive the
    // first failures, and the Python worker's log lines arrive through a
    // queue)...
    for (name, proc) in &workers {
        while failure_lines(proc) == 0 {
            assert!(
                Instant::now() < deadline,
                "{name} never logged a failed lookup"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // ...and the failures go on for several more lookups.
    let asked = tier.dns.queries();
    while tier.dns.queries() < asked + 4 * n as u64 {
        assert!(Instant::now() < deadline, "the workers stopped looking up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for r in [1, 2, 3] {
        wait_sessions(tier.router(r), n, Duration::ZERO).await;
    }
    for (name, proc) in &workers {
        assert_eq!(
            failure_lines(proc),
            1,
            "{name} logs a run of failed lookups once:\n{}",
            proc.logs.lines().join("\n")
        );
    }
    tier.dns.set_failing(false);
    load.wait_progress(100).await;

    // Router 3 leaves: out of the load balancer first (as a Kubernetes
    // router failing readiness), then out of DNS, with requests still in
    // flight there; the workers drain their sessions, the requests finish,
    // and it stops with none left.
    load.set_targets(&[tier.router(1), tier.router(2)]);
    let slow_url = tier.router(3).url("/slow?ms=1500");
    let in_flight: Vec<_> = (0..n)
        .map(|_| {
            let url = slow_url.clone();
            tokio::spawn(async move { request(&client(), "GET", &url, Default::default()).await })
        })
        .collect();
    tier.router(3).wait_in_flight(n as u64, FOLLOW).await;
    tier.publish(&[1, 2]);
    wait_sessions(tier.router(3), 0, FOLLOW).await;
    for slow in in_flight {
        let answer = slow.await.expect("a request task");
        assert!(
            matches!(&answer, Ok((200, body)) if &body[..] == b"slow"),
            "a request in flight on a drained session: {answer:?}"
        );
    }
    for r in [1, 2] {
        wait_sessions(tier.router(r), n, Duration::ZERO).await;
    }
    let (_, mut router3) = tier.routers.remove(2);
    router3.proc.signal("TERM");
    assert_eq!(router3.proc.wait_exit(Duration::from_secs(10)), Some(0));
    load.wait_progress(100).await;

    let (ok, failures) = load.finish().await;
    assert!(failures.is_empty(), "lost requests: {failures:#?}");
    eprintln!("{ok} requests through the tier, none lost, {n} workers");
    for (name, proc) in &workers {
        assert!(
            proc.logs.lines().iter().all(|l| !l.contains("panicked")),
            "{name} panicked"
        );
    }
}

/// spec: #transport-discovery
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_follow_the_router_tier_by_name() {
    follow_the_tier(Publish::A).await;
}

/// spec: #transport-discovery
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_follow_the_router_tier_by_srv_records() {
    follow_the_tier(Publish::Srv).await;
}
