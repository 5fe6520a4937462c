//! Worker authentication, end to end with real processes: keys made by
//! `zroute-router keygen`, a router with CURVE and an allowlist, `hello`
//! workers with and without a listed key, SIGHUP reloads, and the refusal to
//! expose an unauthenticated endpoint. Every wait is for an event (a log
//! line, the worker list, a metric) under a deadline.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use zroute_test_support::http::get;
use zroute_test_support::process::{Proc, worker};
use zroute_test_support::router_process::{Router, metric};
use zroute_transport::{CurveKey, CurveKeyPair};

const DEADLINE: Duration = Duration::from_secs(20);

/// `zroute-router keygen --out DIR/NAME`; returns the key file and the public key.
fn keygen(dir: &Path, name: &str) -> (PathBuf, CurveKey) {
    let prefix = dir.join(name);
    let out = Command::new(env!("CARGO_BIN_EXE_zroute-router"))
        .args(["keygen", "--out"])
        .arg(&prefix)
        .output()
        .expect("keygen runs");
    assert!(out.status.success(), "keygen: {out:?}");
    let key_file = prefix.with_extension("key");
    let pair = CurveKeyPair::from_file(&key_file).expect("keygen writes a key file");
    let public = CurveKey::from_z85_or_file(prefix.with_extension("pub").to_str().unwrap())
        .expect("keygen writes a public key file");
    assert_eq!(public, pair.public());
    // What keygen prints is the public key too.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), public.to_z85());
    (key_file, public)
}

fn curve_worker(router: &Router, id: &str, server_pub: &Path, key: &Path) -> Proc {
    worker(
        "hello",
        id,
        &router.endpoint,
        &[
            "--curve-server-key",
            server_pub.to_str().unwrap(),
            "--curve-key",
            key.to_str().unwrap(),
        ],
    )
}

async fn worker_ids(router: &Router) -> Vec<String> {
    let mut ids: Vec<String> = router
        .workers()
        .await
        .as_array()
        .expect("a list")
        .iter()
        .map(|w| w["id"].as_str().expect("an id").to_owned())
        .collect();
    ids.sort();
    ids
}

// spec: #security-curve
#[tokio::test]
async fn only_listed_worker_keys_register_and_sighup_reloads_the_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    let (router_key, router_public) = keygen(dir.path(), "router");
    let router_pub = dir.path().join("router.pub");
    let (good_key, good_public) = keygen(dir.path(), "good");
    let (late_key, late_public) = keygen(dir.path(), "late");
    let mode = std::fs::metadata(&router_key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the secret key file is private");
    // keygen never overwrites a key.
    let again = Command::new(env!("CARGO_BIN_EXE_zroute-router"))
        .args(["keygen", "--out"])
        .arg(dir.path().join("router"))
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_eq!(
        CurveKeyPair::from_file(&router_key).unwrap().public(),
        router_public
    );

    let allow = dir.path().join("workers.allow");
    std::fs::write(&allow, format!("# test workers\n{good_public} good\n")).unwrap();
    let router = Router::start(
        "tcp://127.0.0.1:*",
        &[
            "--curve-key",
            router_key.to_str().unwrap(),
            "--curve-allow",
            allow.to_str().unwrap(),
        ],
    );

    // A worker with a listed key but the wrong server key: its handshake
    // cannot complete, so it must never register during the whole test.
    let wrong_server = dir.path().join("late.pub");
    let _imposter = curve_worker(&router, "imposter", &wrong_server, &good_key);

    let _good = curve_worker(&router, "good", &router_pub, &good_key);
    router.wait_workers(1, DEADLINE).await;
    let (status, body) = get(&router.url("/")).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"Hello from good");

    // An unlisted key is refused, logged with the key and the address, counted.
    let _late = curve_worker(&router, "late", &router_pub, &late_key);
    let refusal = router
        .proc
        .logs
        .wait_for(&["worker refused", &late_public.to_z85()], DEADLINE);
    assert!(refusal.contains("127.0.0.1"), "{refusal}");
    let refused = metric(
        &router.metrics().await,
        "zroute_worker_auth_rejections_total",
    );
    assert!(refused.is_some_and(|n| n >= 1.0), "{refused:?}");
    assert_eq!(worker_ids(&router).await, ["good"]);
    // libzmq drops a refused connection for good; the worker says so and
    // tries again on a new socket.
    _late.logs.wait_for(
        &["allowlist", &late_public.to_z85(), "new socket"],
        DEADLINE,
    );

    // A reload that fails keeps the list in force.
    std::fs::write(&allow, "not a key\n").unwrap();
    router.proc.signal("HUP");
    router
        .proc
        .logs
        .wait_for(&["allowlist not reloaded", "line 1"], DEADLINE);

    // Listing the key and sending SIGHUP admits the worker, which keeps retrying.
    std::fs::write(&allow, format!("{good_public}\n{late_public}\n")).unwrap();
    router.proc.signal("HUP");
    router.proc.logs.wait_for(&["allowlist reloaded"], DEADLINE);
    router.wait_workers(2, DEADLINE).await;
    router
        .wait_metric("zroute_worker_allowlist_keys", 2.0, DEADLINE)
        .await;
    assert_eq!(worker_ids(&router).await, ["good", "late"]);
}

// spec: #security-insecure
#[tokio::test]
async fn an_exposed_endpoint_needs_curve_or_insecure() {
    let out = Command::new(env!("CARGO_BIN_EXE_zroute-router"))
        .args(["--http", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(["--workers", "tcp://0.0.0.0:0"])
        .env_remove("ZROUTE_INSECURE")
        .output()
        .expect("router runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "tcp://0.0.0.0:0",
        "keygen",
        "--curve-key",
        "--curve-allow",
        "--insecure",
    ] {
        assert!(stderr.contains(needle), "{needle} missing from: {stderr}");
    }

    let router = Router::start("tcp://0.0.0.0:*", &["--insecure"]);
    let warning = router
        .proc
        .logs
        .wait_for(&["WARN", "--insecure", "not authenticated"], DEADLINE);
    assert!(warning.contains("0.0.0.0"), "{warning}");
    // And it serves: an unauthenticated worker registers over loopback.
    let port = router.endpoint.rsplit(':').next().unwrap();
    let _w = worker("hello", "plain", &format!("tcp://127.0.0.1:{port}"), &[]);
    router.wait_workers(1, DEADLINE).await;
}

/// The handshake failure both sides log for CURVE on one side only, and
/// the router's count of them.
async fn mismatch_is_told_on_both_sides(
    router: &Router,
    worker: &Proc,
    router_says: &str,
    worker_says: &str,
) {
    let line = router.proc.logs.wait_for(
        &["WARN", router_says, "\"reason\":\"mechanism-mismatch\""],
        DEADLINE,
    );
    assert!(line.contains("\"peer\":"), "{line}");
    worker
        .logs
        .wait_for(&["ERROR", worker_says, "new socket"], DEADLINE);
    let failures = metric(
        &router.metrics().await,
        "zroute_worker_handshake_failures_total{reason=\"mechanism-mismatch\"}",
    );
    assert!(failures.is_some_and(|n| n >= 1.0), "{failures:?}");
    assert_eq!(worker_ids(router).await, Vec::<String>::new());
}

// spec: #security-curve — a worker without CURVE at a CURVE endpoint used
// to wait forever on both sides, saying nothing.
#[tokio::test]
async fn a_plaintext_worker_at_a_curve_router_is_told_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let (router_key, _) = keygen(dir.path(), "router");
    let (_, worker_public) = keygen(dir.path(), "worker");
    let allow = dir.path().join("workers.allow");
    std::fs::write(&allow, format!("{worker_public}\n")).unwrap();
    let router = Router::start(
        "tcp://127.0.0.1:*",
        &[
            "--curve-key",
            router_key.to_str().unwrap(),
            "--curve-allow",
            allow.to_str().unwrap(),
        ],
    );
    let plain = worker("hello", "plain", &router.endpoint, &[]);
    mismatch_is_told_on_both_sides(
        &router,
        &plain,
        "a worker without CURVE tried to connect, but this endpoint requires CURVE",
        "the router requires CURVE and this worker does not use it",
    )
    .await;
}

// spec: #security-curve — and the reverse.
#[tokio::test]
async fn a_curve_worker_at_a_plaintext_router_is_told_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path(), "router");
    let (worker_key, _) = keygen(dir.path(), "worker");
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let curved = curve_worker(
        &router,
        "curved",
        &dir.path().join("router.pub"),
        &worker_key,
    );
    mismatch_is_told_on_both_sides(
        &router,
        &curved,
        "a worker using CURVE tried to connect, but this endpoint does not use CURVE",
        "this worker uses CURVE but the router does not",
    )
    .await;
}
