"""Real processes for the binding's tests: the zroute-router binary built by
cargo, and workers started with the installed `zroute-worker` command, each
on ports the OS picks (read back from the router's JSON log)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import httpx
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
APPS = HERE / "apps"


def router_binary() -> str:
    path = os.environ.get("ZROUTE_ROUTER_BIN") or str(REPO / "target" / "debug" / "zroute-router")
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: build it with `cargo build -p zroute-router --bins`")
    return path


class Proc:
    """A child process whose output lines are collected; killed at teardown."""

    def __init__(self, args: List[str], env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None) -> None:
        self.args = args
        self.popen = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: List[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if os.environ.get("ZROUTE_TEST_ECHO"):
                print(line, file=sys.stderr)
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def output(self) -> str:
        with self.changed:
            return "\n".join(self.lines)

    def wait_for_line(self, match: Callable[[str], bool], within: float) -> str:
        deadline = time.monotonic() + within
        with self.changed:
            while True:
                for line in self.lines:
                    if match(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching line within {within}s from {self.args}:\n" + "\n".join(self.lines))
                self.changed.wait(left)

    def signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def wait_exit(self, within: float) -> int:
        try:
            return self.popen.wait(within)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.args} did not exit within {within}s:\n{self.output()}") from None

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self.reader.join(5)


class Router:
    def __init__(self, proc: Proc) -> None:
        self.proc = proc
        self.http = self._field("http listening", "addr")
        self.admin = self._field("admin listening", "addr")
        self.endpoint = self._field("workers endpoint bound", "endpoint")
        self.client = httpx.Client(base_url=f"http://{self.http}", timeout=30.0)

    def _field(self, message: str, name: str) -> str:
        line = self.proc.wait_for_line(lambda l: message in l, 20)
        return json.loads(line)["fields"][name]

    def url(self, path: str) -> str:
        return f"http://{self.http}{path}"

    def workers(self) -> list:
        return httpx.get(f"http://{self.admin}/workers", timeout=5).json()

    def wait_workers(self, predicate: Callable[[list], bool], within: float = 20.0) -> list:
        """Polls the admin listing (the router has no push interface) until
        `predicate` holds, with a deadline."""
        deadline = time.monotonic() + within
        while True:
            listing = self.workers()
            if predicate(listing):
                return listing
            if time.monotonic() > deadline:
                raise AssertionError(f"workers never matched within {within}s: {listing}")
            threading.Event().wait(0.02)


@pytest.fixture
def router():
    proc = Proc(
        [
            router_binary(),
            "--log-format",
            "json",
            "--heartbeat-interval",
            "200ms",
            "--http",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--workers",
            "tcp://127.0.0.1:0",
        ],
        env=dict(os.environ, ZROUTE_LOG_LEVEL="info"),
    )
    try:
        r = Router(proc)
        yield r
        r.client.close()
    finally:
        proc.kill()


@pytest.fixture
def start_worker(router):
    """Starts `zroute-worker APP ARGS...` against the router and waits until
    the router lists it; returns the process."""
    procs: List[Proc] = []

    def start(app: str, *args: str, id: str = "py-test", env: Optional[Dict[str, str]] = None, wait: bool = True) -> Proc:
        cmd = [sys.executable, "-m", "zroute", app, "--connect", router.endpoint, "--id", id, *args]
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        proc = Proc(cmd, env=full_env, cwd=APPS)
        procs.append(proc)
        if wait:
            try:
                router.wait_workers(lambda ws: any(w["id"] == id for w in ws))
            except AssertionError:
                raise AssertionError(f"worker {id} did not register:\n{proc.output()}") from None
        return proc

    yield start
    for proc in procs:
        proc.kill()
