//! The settings: precedence, parsing and validation.

use std::time::Duration;

use clap::Parser;

use super::*;

#[test]
fn durations() {
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
    assert!(parse_duration("1h").is_err());
    assert!(parse_duration("ms").is_err());
}

#[test]
fn flags_beat_file_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zroute.toml");
    std::fs::write(
        &path,
        "http = \"127.0.0.1:7000\"\nqueue-size = 5\nrequest-timeout = \"9s\"\n",
    )
    .unwrap();
    let opts = Options::parse_from([
        "zroute-router",
        "--config",
        path.to_str().unwrap(),
        "--queue-size",
        "7",
        "--threads",
        "0",
    ]);
    let config = opts.resolve().unwrap();
    assert_eq!(config.http, "127.0.0.1:7000".parse().unwrap());
    assert_eq!(config.queue_size, 7);
    assert_eq!(config.threads, 0);
    assert_eq!(Config::default().threads, 1);
    assert_eq!(config.request_timeout, Duration::from_secs(9));
    assert_eq!(config.admin, Config::default().admin);
}

#[test]
fn unknown_file_keys_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zroute.toml");
    std::fs::write(&path, "htp = \"127.0.0.1:7000\"\n").unwrap();
    let opts = Options::parse_from(["zroute-router", "--config", path.to_str().unwrap()]);
    assert!(opts.resolve().unwrap_err().contains("htp"));
}

// spec: #security-insecure
#[test]
fn exposed_endpoints_need_curve_or_insecure() {
    for local in [
        "tcp://127.0.0.1:8000",
        "tcp://127.1.2.3:*",
        "tcp://[::1]:8000",
        "tcp://localhost:8000",
        "ipc:///tmp/zroute.sock",
    ] {
        assert!(is_local_endpoint(local), "{local}");
        let opts = Options::parse_from(["zroute-router", "--workers", local]);
        assert!(opts.resolve().is_ok(), "{local}");
    }
    for exposed in [
        "tcp://*:8000",
        "tcp://0.0.0.0:8000",
        "tcp://[::]:8000",
        "tcp://10.0.0.5:8000",
        "tcp://eth0:8000",
        "tcp://example.com:8000",
        "ws://127.0.0.1:8000",
    ] {
        assert!(!is_local_endpoint(exposed), "{exposed}");
        let opts = Options::parse_from(["zroute-router", "--workers", exposed]);
        let err = opts.resolve().unwrap_err();
        assert!(
            err.contains("keygen") && err.contains("--insecure"),
            "{err}"
        );
        let opts = Options::parse_from(["zroute-router", "--insecure", "--workers", exposed]);
        assert!(opts.resolve().is_ok(), "{exposed}");
    }
}

#[test]
fn curve_key_and_allowlist_go_together() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("router.key");
    std::fs::write(&key, CurveKeyPair::generate().unwrap().to_key_file_text()).unwrap();
    let path = dir.path().join("zroute.toml");
    std::fs::write(&path, format!("curve-key = {:?}\n", key.to_str().unwrap())).unwrap();
    let opts = Options::parse_from(["zroute-router", "--config", path.to_str().unwrap()]);
    assert!(opts.resolve().unwrap_err().contains("go together"));
    let allow = dir.path().join("workers.allow");
    let opts = Options::parse_from([
        "zroute-router",
        "--config",
        path.to_str().unwrap(),
        "--curve-allow",
        allow.to_str().unwrap(),
        "--workers",
        "tcp://0.0.0.0:8000",
    ]);
    let config = opts.resolve().unwrap();
    assert_eq!(config.curve.unwrap().allow, allow);
}

#[test]
fn record_settings_from_flag_env_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zroute.toml");
    std::fs::write(&path, "record = \"/tmp/traces\"\nrecord-max-files = 3\n").unwrap();
    let opts = Options::parse_from(["zroute-router", "--config", path.to_str().unwrap()]);
    let config = opts.resolve().unwrap();
    assert_eq!(config.record, Some(PathBuf::from("/tmp/traces")));
    assert_eq!(config.record_max_files, 3);
    assert_eq!(config.record_max_bytes, 64 << 20);
    let off = Options::parse_from(["zroute-router"]).resolve().unwrap();
    assert_eq!(off.record, None);
    let opts = Options::parse_from(["zroute-router", "--record", "d", "--record-queue", "10"]);
    assert!(opts.resolve().unwrap_err().contains("record-queue"));
}

#[test]
fn upgrade_settings() {
    let opts = Options::parse_from(["zroute-router"]);
    let config = opts.resolve().unwrap();
    assert_eq!(config.upgrade_socket, None);
    assert_eq!(config.handover_grace, Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zroute.toml");
    std::fs::write(
        &path,
        "upgrade-socket = \"/run/zroute/upgrade.sock\"\nhandover-grace = \"500ms\"\n",
    )
    .unwrap();
    let opts = Options::parse_from(["zroute-router", "--config", path.to_str().unwrap()]);
    let config = opts.resolve().unwrap();
    assert_eq!(
        config.upgrade_socket,
        Some(PathBuf::from("/run/zroute/upgrade.sock"))
    );
    assert_eq!(config.handover_grace, Duration::from_millis(500));
    for (bad, why) in [
        (["--workers", "tcp://127.0.0.1:*"], "fixed port"),
        (["--workers", "tcp://localhost:8000"], "IP address"),
        (["--handover-grace", "2s"], "below startup-grace"),
    ] {
        let mut args = vec!["zroute-router", "--upgrade-socket", "/tmp/u.sock"];
        args.extend(bad);
        let err = Options::parse_from(args).resolve().unwrap_err();
        assert!(err.contains(why), "{err}");
    }
}

#[test]
fn worker_port_limits_from_flag_env_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zroute.toml");
    std::fs::write(
        &path,
        "ipc-mode = \"0660\"\nipc-group = \"root\"\nhello-rate-per-source = 7\n",
    )
    .unwrap();
    let opts = Options::parse_from(["zroute-router", "--config", path.to_str().unwrap()]);
    let config = opts.resolve().unwrap();
    assert_eq!(config.ipc_mode, 0o660);
    assert_eq!(config.ipc_group, Some(0));
    assert_eq!(config.hello_rate_per_source, 7);
    assert_eq!(config.max_workers_per_source, 1024);
    assert_eq!(config.max_part_size, 65_544);
    assert_eq!(config.max_message_size, 16 << 20);
    let defaults = Options::parse_from(["zroute-router"]).resolve().unwrap();
    assert_eq!(defaults.ipc_mode, 0o600);
    assert_eq!(defaults.ipc_group, None);
    for bad in [
        &["--max-part-size", "65543"][..],
        &["--max-part-size", "100000", "--max-message-size", "99999"],
        &["--hello-rate-per-source", "0"],
        &["--max-workers-per-source", "0"],
        &["--ipc-mode", "4755"],
        &["--ipc-group", "no-such-group-here"],
    ] {
        let opts = Options::parse_from(std::iter::once("zroute-router").chain(bad.iter().copied()));
        assert!(opts.resolve().is_err(), "{bad:?}");
    }
    assert_eq!(parse_mode("0o640"), Ok(0o640));
    assert!(parse_mode("0999").is_err());
}

#[test]
fn invalid_values_are_refused() {
    let opts = Options::parse_from(["zroute-router", "--session-window", "100"]);
    assert!(opts.resolve().is_err());
}
