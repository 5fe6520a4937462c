//! End to end: the router binary, worker processes, a real HTTP client, all
//! on loopback. Each test starts its own processes on ports the OS picks.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use zroute_test_support::http::{client, get, request};
use zroute_test_support::process::{free_tcp_endpoint, worker};
use zroute_test_support::router_process::Router;

const STARTUP: Duration = Duration::from_secs(20);

/// One request of a load run: when it started, how long it took, and how it ended.
#[derive(Debug)]
struct Outcome {
    started: Instant,
    took: Duration,
    result: Result<(u16, Bytes), String>,
}

/// `tasks` concurrent clients issuing GET `url` until `stop` is set.
fn load(url: String, tasks: usize, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<Outcome>> {
    tokio::spawn(async move {
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let url = url.clone();
            let stop = stop.clone();
            handles.push(tokio::spawn(async move {
                let client = client();
                let mut out = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    // A request that hangs shows up as this timeout.
                    let result = match tokio::time::timeout(
                        Duration::from_secs(10),
                        request(&client, "GET", &url, Bytes::new()),
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(_) => Err("hung for 10 s".to_owned()),
                    };
                    out.push(Outcome {
                        started,
                        took: started.elapsed(),
                        result,
                    });
                }
                out
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.expect("load task"));
        }
        all
    })
}

fn summary(outcomes: &[Outcome]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for o in outcomes {
        let key = match &o.result {
            Ok((status, _)) => status.to_string(),
            Err(e) => format!("error: {e}"),
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// The seed's story: workers start first, the router comes up later, both answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_started_before_the_router_are_used() {
    let endpoint = free_tcp_endpoint();
    let _w1 = worker("hello", "worker-1", &endpoint, &[]);
    let _w2 = worker("hello", "worker-2", &endpoint, &[]);
    let router = Router::start(&endpoint, &[]);
    router.wait_workers(2, STARTUP).await;
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let (status, body) = get(&router.url("/")).await.expect("request");
        assert_eq!(status, 200);
        seen.insert(String::from_utf8(body.to_vec()).unwrap());
    }
    let expected: HashSet<String> = ["Hello from worker-1", "Hello from worker-2"]
        .map(String::from)
        .into();
    assert_eq!(
        seen, expected,
        "least-outstanding dispatch uses both idle workers"
    );
}

/// The router on a multi-thread runtime (`--threads 2`; one thread is the
/// default) serves as on one, and a worker that answers inline (`--inline`,
/// `Builder::inline_handlers`) serves as one that spawns a task per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_router_threads_and_an_inline_worker_serve_alike() {
    let router = Router::start("tcp://127.0.0.1:*", &["--threads", "2"]);
    let _inline = worker("hello", "inline", &router.endpoint, &["--inline"]);
    let _spawning = worker("hello", "spawning", &router.endpoint, &[]);
    router.wait_workers(2, STARTUP).await;
    // At once, so that the router's threads share them.
    let mut answers = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let url = router.url("/");
        answers.spawn(async move { get(&url).await });
    }
    let mut seen = HashSet::new();
    while let Some(answer) = answers.join_next().await {
        let (status, body) = answer.expect("joined").expect("request");
        assert_eq!(status, 200);
        seen.insert(String::from_utf8(body.to_vec()).unwrap());
    }
    let expected: HashSet<String> = ["Hello from inline", "Hello from spawning"]
        .map(String::from)
        .into();
    assert_eq!(seen, expected);
}

/// `kill -9` of a worker under load: no request hangs, and once the router
/// has dropped the dead worker every request succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing_after_detection() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let _w1 = worker("hello", "worker-1", &router.endpoint, &[]);
    let mut w2 = worker("hello", "worker-2", &router.endpoint, &[]);
    router.wait_workers(2, STARTUP).await;
    let stop = Arc::new(AtomicBool::new(false));
    let run = load(router.url("/"), 8, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    w2.child.kill().expect("kill -9");
    let killed = Instant::now();
    router.wait_workers(1, Duration::from_secs(5)).await;
    let detected = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let outcomes = run.await.unwrap();
    eprintln!(
        "kill -9: detected after {:?}; outcomes {:?}",
        detected - killed,
        summary(&outcomes)
    );
    assert!(
        outcomes.iter().all(|o| o.took < Duration::from_secs(5)),
        "a request hung: {:?}",
        summary(&outcomes)
    );
    let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.started > detected).collect();
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|o| matches!(o.result, Ok((200, _)))),
        "after detection: {:?}",
        summary(&outcomes)
    );
    assert!(
        detected - killed < Duration::from_secs(3),
        "detection took {:?}",
        detected - killed
    );
}

/// SIGTERM to a worker under load: it drains, and not one request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_to_a_worker_under_load_fails_nothing() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let _w1 = worker("hello", "worker-1", &router.endpoint, &[]);
    let mut w2 = worker("hello", "worker-2", &router.endpoint, &[]);
    router.wait_workers(2, STARTUP).await;
    let stop = Arc::new(AtomicBool::new(false));
    let run = load(router.url("/"), 8, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    w2.signal("TERM");
    let code = tokio::task::spawn_blocking(move || w2.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "the worker exits cleanly after draining");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let outcomes = run.await.unwrap();
    let counts = summary(&outcomes);
    eprintln!("SIGTERM: outcomes {counts:?}");
    assert!(outcomes.len() > 50, "load ran: {counts:?}");
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        ["200"],
        "every request succeeded: {counts:?}"
    );
}

/// The router restarts: workers register again on their own and serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_restart_workers_come_back() {
    let endpoint = free_tcp_endpoint();
    let mut router = Router::start(&endpoint, &[]);
    let w1 = worker("hello", "worker-1", &endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    assert_eq!(get(&router.url("/")).await.unwrap().0, 200);
    router.proc.child.kill().expect("kill the router");
    let _ = router.proc.child.wait();
    let router = Router::start(&endpoint, &[]);
    let began = Instant::now();
    router.wait_workers(1, Duration::from_secs(10)).await;
    eprintln!("router restart: worker back after {:?}", began.elapsed());
    let (status, body) = get(&router.url("/")).await.unwrap();
    assert_eq!((status, &body[..]), (200, &b"Hello from worker-1"[..]));
    assert!(
        w1.logs.contains("registering again") || w1.logs.contains("no longer knows"),
        "the worker re-registered: {}",
        w1.logs.lines().join("\n")
    );
}

/// Routes: each worker gets only the traffic it announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_split_traffic() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let _api = worker("hello", "api", &router.endpoint, &["--route", "/api"]);
    let _static = worker("hello", "static", &router.endpoint, &["--route", "/static"]);
    router.wait_workers(2, STARTUP).await;
    for _ in 0..5 {
        assert_eq!(
            get(&router.url("/api/users")).await.unwrap(),
            (200, Bytes::from_static(b"Hello from api"))
        );
        assert_eq!(
            get(&router.url("/static/app.css")).await.unwrap(),
            (200, Bytes::from_static(b"Hello from static"))
        );
    }
    assert_eq!(
        get(&router.url("/other")).await.unwrap().0,
        503,
        "no default pool: nobody serves /other"
    );
}

/// A client that goes away mid-response is a CANCEL on the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_cancels_on_the_worker() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let w = worker("testapp", "app", &router.endpoint, &[]);
    router.wait_workers(1, STARTUP).await;
    let url = router.url("/slow?ms=30000");
    let task = tokio::spawn(async move { get(&url).await });
    router.wait_in_flight(1, Duration::from_secs(5)).await;
    task.abort();
    w.logs.wait_for(
        &["router reset the stream", "CANCEL"],
        Duration::from_secs(5),
    );
}

/// A hung worker (alive, not reading) is detected and bypassed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_worker_is_bypassed() {
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let _w1 = worker("hello", "worker-1", &router.endpoint, &[]);
    let w2 = worker("hello", "worker-2", &router.endpoint, &[]);
    router.wait_workers(2, STARTUP).await;
    w2.signal("STOP");
    let stopped = Instant::now();
    router.wait_workers(1, Duration::from_secs(5)).await;
    let detected = stopped.elapsed();
    eprintln!("hung worker detected after {detected:?}");
    // 3 intervals of 200 ms, plus scheduling slack.
    assert!(detected < Duration::from_millis(1500), "took {detected:?}");
    for _ in 0..10 {
        assert_eq!(
            get(&router.url("/")).await.unwrap(),
            (200, Bytes::from_static(b"Hello from worker-1"))
        );
    }
    w2.signal("CONT");
}

/// Issue 14, item 11 ("a query of death takes down a pool"): a handler that
/// blocks its runtime thread for five times the router's dead-peer time gets
/// its answer through, the router never declares the worker dead (the
/// session's heartbeats do not run on the handler's thread), and the worker
/// names the blocking request in a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_blocking_its_runtime_keeps_its_worker_alive() {
    const BLOCK: Duration = Duration::from_secs(3);
    // With the 200 ms heartbeat the support code sets, a worker silent for
    // 600 ms is dead.
    let router = Router::start("tcp://127.0.0.1:*", &["--heartbeat-liveness", "3"]);
    let block_ms = BLOCK.as_millis().to_string();
    let w = worker(
        "hello",
        "worker-1",
        &router.endpoint,
        &["--block-ms", &block_ms],
    );
    router.wait_workers(1, STARTUP).await;

    let started = Instant::now();
    let (status, body) = get(&router.url("/a/blocking/request"))
        .await
        .expect("a response");
    let took = started.elapsed();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, "Hello from worker-1");
    assert!(
        took >= BLOCK,
        "the handler did not block: answered in {took:?}"
    );

    let warning = w.logs.wait_for(
        &["WARN", "/a/blocking/request", "spawn_blocking"],
        Duration::from_secs(5),
    );
    assert!(warning.contains("stream="), "{warning}");
    // And a second line, with how long it lasted, once the handler lets go.
    w.logs.wait_for(
        &["gave its runtime thread back", "/a/blocking/request"],
        Duration::from_secs(5),
    );
    let lost: Vec<String> = router
        .proc
        .logs
        .lines()
        .into_iter()
        .filter(|l| l.contains("worker session lost"))
        .collect();
    assert!(
        lost.is_empty(),
        "the router declared the worker dead:\n{}",
        lost.join("\n")
    );
    assert!(
        !w.logs.contains("registering again"),
        "the worker had to register again:\n{}",
        w.logs.lines().join("\n")
    );
}
