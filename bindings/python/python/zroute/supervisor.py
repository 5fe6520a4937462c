"""``--workers N``: a supervisor, as gunicorn's arbiter, of N worker processes.

- A child that dies is started again, with a log line, after a backoff that
  doubles while children die young (0.1 s up to 10 s) and resets once one
  has lived 10 s.
- SIGHUP reloads gracefully: a new child per slot imports the app afresh;
  each old child is told to drain (SIGTERM) only once its successor has
  registered with a router, so the router always has a worker to send to.
- SIGTTIN adds a child, SIGTTOU removes one (drained).
- SIGTERM drains every child, SIGINT stops them at once; the supervisor
  exits once they all did, with the worst status.
- Children die with their supervisor: each asks the kernel for SIGTERM when
  its parent goes (``PR_SET_PDEATHSIG``), so a supervisor killed with
  SIGKILL leaves no orphans serving.

- ``--max-requests N`` (plus up to ``--max-requests-jitter J``): a child that
  served that many asks for a successor and drains once it registered.
- ``--reload``: a change to a ``.py`` file under ``--reload-dir`` (watched with
  watchfiles) reloads as SIGHUP does.

A child tells the supervisor it has registered ("r"), or served its
``--max-requests`` ("m"), on the pipe named by ``ZROUTE_READY_FD``.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional

log = logging.getLogger("zroute")

#: Environment of a supervised child: the supervisor's pid, and the pipe to
#: say "registered" on.
PARENT_ENV = "ZROUTE_SUPERVISOR_PID"
READY_ENV = "ZROUTE_READY_FD"

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 10.0
#: A child that lived this long resets its slot's backoff.
HEALTHY_AFTER = 10.0
#: How long a reload waits for a new child to register before it keeps the
#: old one.
READY_TIMEOUT = 60.0


@dataclass
class Child:
    proc: subprocess.Popen
    started: float
    ready_fd: Optional[int]
    ready: bool = False
    #: Told to stop (drain, removal, reload): its exit is no failure.
    retiring: bool = False


@dataclass
class Slot:
    index: int
    backoff: float = 0.0
    #: When a dead child's replacement is due.
    restart_at: Optional[float] = None
    children: List[Child] = field(default_factory=list)


class Supervisor:
    def __init__(
        self, argv: List[str], workers: int, base_id: Optional[str], reload_dirs: Optional[List[str]] = None
    ) -> None:
        # The children run the same command line as one worker each, and
        # never watch files themselves.
        self.argv = [a for a in argv if a != "--reload"]
        self.reload_dirs = reload_dirs
        self.base_id = base_id
        self.slots: List[Slot] = [Slot(i) for i in range(workers)]
        #: Slots SIGTTOU removed, until their children exited.
        self.orphaned: List[Slot] = []
        self.stopping: Optional[int] = None
        self.signals: List[int] = []
        self.worst = 0
        # Signals only set a flag; the loop acts (no work in handlers).
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)

    def spawn(self, slot: Slot) -> Child:
        ready_r, ready_w = os.pipe()
        env = dict(
            os.environ,
            ZROUTE_WORKERS="1",
            # wsgi.multiprocess: whether other processes serve the same app.
            ZROUTE_MULTIPROCESS="1" if len(self.slots) > 1 else "0",
            **{PARENT_ENV: str(os.getpid()), READY_ENV: str(ready_w)},
        )
        env.pop("WEB_CONCURRENCY", None)
        extra = ["--workers", "1"] + (["--id", f"{self.base_id}-{slot.index}"] if self.base_id else [])
        proc = subprocess.Popen([sys.executable, "-m", "zroute", *self.argv, *extra], env=env, pass_fds=(ready_w,))
        os.close(ready_w)
        child = Child(proc, time.monotonic(), ready_r)
        slot.children.append(child)
        log.info("worker process %d started (slot %d)", proc.pid, slot.index)
        return child

    def children(self) -> List[Child]:
        return [c for s in self.slots for c in s.children]

    def on_signal(self, signum: int, frame: object) -> None:
        self.signals.append(signum)
        try:
            os.write(self.wake_w, b"s")
        except BlockingIOError:
            pass

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(signum, self.on_signal)
        for slot in self.slots:
            self.spawn(slot)
        if self.reload_dirs:
            self.watch_files(self.reload_dirs)
        log.info("supervising %d worker processes (SIGHUP reloads, SIGTTIN/SIGTTOU add/remove one)", len(self.slots))
        while True:
            self.handle_signals()
            self.reap()
            if self.stopping is not None and not self.children():
                return self.worst
            self.restart_due()
            self.retire_replaced()
            self.wait_for_events()

    def handle_signals(self) -> None:
        while self.signals:
            signum = self.signals.pop(0)
            if signum in (signal.SIGTERM, signal.SIGINT):
                if self.stopping is None or signum == signal.SIGINT:
                    log.info("%s: stopping every worker process", signal.Signals(signum).name)
                self.stopping = signum
                for child in self.children():
                    child.retiring = True
                    self.send(child, signum)
            elif self.stopping is not None:
                continue
            elif signum == signal.SIGHUP:
                log.info("SIGHUP: reloading; the old worker processes drain once their successors registered")
                for slot in self.slots:
                    self.spawn(slot)
            elif signum == signal.SIGTTIN:
                slot = Slot(max((s.index for s in self.slots), default=-1) + 1)
                self.slots.append(slot)
                log.info("SIGTTIN: %d worker processes", len(self.slots))
                self.spawn(slot)
            elif signum == signal.SIGTTOU:
                if len(self.slots) <= 1:
                    log.info("SIGTTOU: one worker process left; keeping it")
                    continue
                slot = self.slots.pop()
                log.info("SIGTTOU: %d worker processes", len(self.slots))
                for child in slot.children:
                    child.retiring = True
                    self.send(child, signal.SIGTERM)
                self.orphaned.append(slot)

    def watch_files(self, dirs: List[str]) -> None:
        """--reload: a change to a .py file reloads as SIGHUP does."""
        from watchfiles import PythonFilter, watch

        def run() -> None:
            for changes in watch(*dirs, watch_filter=PythonFilter(), raise_interrupt=False):
                names = sorted({os.path.relpath(path) for _, path in changes})
                log.info("--reload: %s changed", ", ".join(names[:3]) + (" ..." if len(names) > 3 else ""))
                self.on_signal(signal.SIGHUP, None)

        log.info("--reload: watching %s", ", ".join(os.path.abspath(d) for d in dirs))
        threading.Thread(target=run, name="zroute-reload", daemon=True).start()

    def send(self, child: Child, signum: int) -> None:
        if child.proc.poll() is None:
            child.proc.send_signal(signum)

    def reap(self) -> None:
        now = time.monotonic()
        for slot in self.slots + self.orphaned:
            for child in list(slot.children):
                code = child.proc.poll()
                if code is None:
                    continue
                slot.children.remove(child)
                self.close_ready(child)
                status = code if code >= 0 else 128 - code
                if child.retiring:
                    log.info("worker process %d exited (%d)", child.proc.pid, status)
                    if self.stopping is not None:
                        self.worst = max(self.worst, status)
                    continue
                lived = now - child.started
                slot.backoff = (
                    BACKOFF_FIRST if lived >= HEALTHY_AFTER else min(BACKOFF_MAX, max(BACKOFF_FIRST, slot.backoff * 2))
                )
                if self.stopping is not None:
                    continue
                if slot.children or slot not in self.slots:
                    # A reload's new child that died: its predecessor serves on.
                    log.warning(
                        "worker process %d exited (%s) after %.1f s; %s serves on in its slot",
                        child.proc.pid,
                        describe(code),
                        lived,
                        ", ".join(str(c.proc.pid) for c in slot.children) or "none",
                    )
                    continue
                slot.restart_at = now + slot.backoff
                log.warning(
                    "worker process %d exited (%s) after %.1f s; starting another in %.1f s",
                    child.proc.pid,
                    describe(code),
                    lived,
                    slot.backoff,
                )
        self.orphaned = [s for s in self.orphaned if s.children]

    def restart_due(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.restart_at is not None and now >= slot.restart_at and self.stopping is None:
                slot.restart_at = None
                self.spawn(slot)

    def retire_replaced(self) -> None:
        """After a reload a slot has an old child and a new one: the old one
        drains once the new one registered (or the new one died, or took too
        long: then the old one stays)."""
        now = time.monotonic()
        for slot in self.slots:
            live = [c for c in slot.children if not c.retiring]
            if len(live) < 2:
                continue
            newest = live[-1]
            if newest.ready:
                for old in live[:-1]:
                    old.retiring = True
                    log.info("worker process %d drains: %d serves in its place", old.proc.pid, newest.proc.pid)
                    self.send(old, signal.SIGTERM)
            elif now - newest.started > READY_TIMEOUT:
                log.error(
                    "worker process %d did not register within %.0f s; keeping %s",
                    newest.proc.pid,
                    READY_TIMEOUT,
                    ", ".join(str(c.proc.pid) for c in live[:-1]),
                )
                newest.retiring = True
                self.send(newest, signal.SIGTERM)

    def wait_for_events(self) -> None:
        """Until a signal, a child's "registered", or the next due restart;
        at most 0.1 s, which is also how soon a child's death is seen."""
        fds = [self.wake_r] + [c.ready_fd for c in self.children() if c.ready_fd is not None]
        timeout = 0.1
        due = [s.restart_at for s in self.slots if s.restart_at is not None]
        if due:
            timeout = max(0.0, min(timeout, min(due) - time.monotonic()))
        try:
            readable, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            return
        for fd in readable:
            if fd == self.wake_r:
                os.read(self.wake_r, 64)
                continue
            for child in self.children():
                if child.ready_fd != fd:
                    continue
                said = os.read(fd, 16)
                if not said:
                    self.close_ready(child)
                if b"r" in said:
                    child.ready = True
                if b"m" in said and not child.retiring and self.stopping is None:
                    self.recycle(child)

    def recycle(self, child: Child) -> None:
        """The child served its --max-requests: a successor starts, and the
        child drains once it registered (as in a reload)."""
        for slot in self.slots:
            if child in slot.children and slot.children[-1] is child:
                log.info("worker process %d reached --max-requests: replacing it", child.proc.pid)
                self.spawn(slot)

    def close_ready(self, child: Child) -> None:
        if child.ready_fd is not None:
            os.close(child.ready_fd)
            child.ready_fd = None


def describe(code: int) -> str:
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"


def die_with_parent() -> bool:
    """True in a supervised child, which then gets SIGTERM (a drain) when the
    supervisor goes, and exits now if it went already. The supervisor's own
    signals (a reload, a resize) sent to the whole process group are not the
    child's."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is None:
        return False
    for signum in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(signum, signal.SIG_IGN)
    if not sys.platform.startswith("linux"):
        return True
    import ctypes

    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(parent):
        os._exit(0)
    return True


def link(server: Any, max_requests: int = 0, jitter: int = 0) -> Optional[Callable[[], None]]:
    """In a supervised child: tells the supervisor, on the pipe named by
    ``ZROUTE_READY_FD``, once the worker registered with a router ("r", from a
    thread of its own), and once it served its ``max_requests`` plus a random
    jitter ("m": the supervisor starts its successor, and this child drains
    once that one registered). Returns what to call after each request, or
    None when nothing counts requests."""
    fd_text = os.environ.pop(READY_ENV, None)
    if fd_text is None:
        if max_requests:
            log.warning("max_requests works under the supervisor only (zroute-worker --max-requests N)")
        return None
    fd = int(fd_text)

    def watch() -> None:
        tick = threading.Event()
        while not server.registered:
            tick.wait(0.02)
        os.write(fd, b"r")

    threading.Thread(target=watch, name="zroute-ready", daemon=True).start()
    if not max_requests:
        return None
    limit = max_requests + random.randint(0, max(0, jitter))
    # next() on a count is atomic under the GIL: every pool thread calls this.
    served = itertools.count(1)

    def count() -> None:
        if next(served) == limit:
            log.info("served %d requests (--max-requests): asking for a successor", limit)
            os.write(fd, b"m")

    return count
