"""Starting and stopping the contenders' processes, and waiting for them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


class Group:
    """Processes started together and stopped together (in reverse order)."""

    def __init__(self, log_dir: Path, name: str):
        self.log_dir = log_dir
        self.name = name
        self.procs: list[subprocess.Popen] = []

    def start(self, argv: list[str], tag: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{self.name}.{tag}.log", "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def stop(self, grace: float = 5.0) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for proc in reversed(self.procs):
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        self.procs.clear()

    def usage(self) -> dict[str, float]:
        """CPU time and context switches so far of every process of the group and its children."""
        return usage([p.pid for p in self.procs if p.poll() is None])

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{self.name}: {proc.args[0]} exited with {proc.returncode}; see {self.log_dir}")


def wait_http_ok(url: str, group: Group, deadline_s: float = 30.0) -> None:
    """Polls `url` until it answers 200: for zroute that also means a worker registered."""
    deadline = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < deadline:
        group.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=2) as res:
                if res.status == 200:
                    return
                last = f"status {res.status}"
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            last = str(e)
        time.sleep(0.05)  # polling an external process; not a test
    raise RuntimeError(f"{group.name}: {url} not ready within {deadline_s}s ({last})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _descendants(roots: list[int]) -> list[int]:
    """The roots and every process below them (nginx and gunicorn fork their workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name is in parentheses and may hold spaces: split after it.
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def usage(roots: list[int]) -> dict[str, float]:
    """CPU seconds (user + system) and context switches of the process trees under `roots`, all threads."""
    cpu = switches = 0.0
    for pid in _descendants(roots):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / CLK_TCK
            for task in Path(f"/proc/{pid}/task").iterdir():
                for line in (task / "status").read_text().splitlines():
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a process or thread that ended meanwhile
    return {"cpu_s": cpu, "switches": switches}
