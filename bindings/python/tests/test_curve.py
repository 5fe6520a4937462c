"""CURVE between the router and a Python worker: the router admits only the
worker keys in its allowlist (spec: #security-curve)."""

import os
import subprocess

from conftest import Proc, Router, router_binary


def keygen(directory, name):
    subprocess.run([router_binary(), "keygen", "--out", str(directory / name)], check=True, capture_output=True)
    return directory / f"{name}.key", directory / f"{name}.pub"


def curve_router(tmp_path, allowed_pub):
    router_key, router_pub = keygen(tmp_path, "router")
    allow = tmp_path / "workers.allow"
    allow.write_text(allowed_pub.read_text())
    proc = Proc(
        [
            router_binary(),
            "--log-format", "json",
            "--heartbeat-interval", "200ms",
            "--http", "127.0.0.1:0",
            "--admin", "127.0.0.1:0",
            "--workers", "tcp://127.0.0.1:0",
            "--curve-key", str(router_key),
            "--curve-allow", str(allow),
        ],
        env=dict(os.environ, ZROUTE_LOG_LEVEL="info"),
    )
    return Router(proc), router_pub


def start_curve_worker(router, router_pub, key, id):
    import sys

    from conftest import APPS

    cmd = [
        sys.executable, "-m", "zroute", "flask_app:app",
        "--connect", router.endpoint, "--id", id,
        "--curve-server-key", str(router_pub), "--curve-key", str(key),
    ]
    return Proc(cmd, env=dict(os.environ, PYTHONUNBUFFERED="1"), cwd=APPS)


def test_allowed_key_serves_and_unknown_key_is_refused(tmp_path):
    worker_key, worker_pub = keygen(tmp_path, "worker")
    stranger_key, stranger_pub = keygen(tmp_path, "stranger")
    router, router_pub = curve_router(tmp_path, worker_pub)
    procs = []
    try:
        procs.append(start_curve_worker(router, router_pub, worker_key, "allowed"))
        router.wait_workers(lambda ws: any(w["id"] == "allowed" for w in ws))
        assert router.client.get("/").text == "hello from flask"

        procs.append(start_curve_worker(router, router_pub, stranger_key, "stranger"))
        stranger = stranger_pub.read_text().strip()
        line = router.proc.wait_for_line(lambda l: "allowlist" in l and stranger in l, 20)
        assert "127.0.0.1" in line
        assert all(w["id"] != "stranger" for w in router.workers())
    finally:
        for p in procs:
            p.kill()
        router.client.close()
        router.proc.kill()
