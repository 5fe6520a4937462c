"""The runtime server for a configuration, and the signals that stop it:
what the WSGI and ASGI adapters share. ``serving`` picks the adapter; the
adapters import from here, never from ``serving``, so imports run one way."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any, Callable, Optional, Tuple

from . import _zroute
from .config import Config
from .supervisor import link

log = logging.getLogger("zroute")


def server_for(cfg: Config, mode: str, capacity: int) -> Tuple[_zroute.Server, Optional[Callable[[], None]]]:
    """The server, and what to call after each request (None: nothing)."""
    server = _zroute.Server(
        id=cfg.worker_id(),
        connect=cfg.endpoints(),
        mode=mode,
        capacity=capacity,
        routes=list(cfg.routes),
        graceful_timeout=float(cfg.graceful_timeout),
        max_body=int(cfg.max_body),
        max_header=int(cfg.max_header),
        timeout=float(cfg.timeout),
        runtime_threads=int(cfg.runtime_threads),
        labels=[("runtime", "python")],
        window=int(cfg.window),
        curve_server_key=cfg.curve_server_key,
        curve_key=cfg.curve_key,
    )
    return server, link(server, cfg.max_requests, cfg.max_requests_jitter)


class Stopping:
    """What the signals asked for: SIGTERM drains (a second one gives up at
    once); SIGINT gives up at once."""

    def __init__(self, server: _zroute.Server) -> None:
        self.server = server
        self.terms = 0
        self.fast = False
        self.previous: dict = {}

    def restore(self) -> None:
        """Puts back the handlers that were there before ``install_signals``."""
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def on_term(self, *_: Any) -> None:
        self.terms += 1
        self.stop(fast=self.terms > 1, why="SIGTERM")

    def on_int(self, *_: Any) -> None:
        self.stop(fast=True, why="SIGINT")

    def stop(self, fast: bool, why: str) -> None:
        self.fast = self.fast or fast
        log.info("%s: %s", why, "stopping now" if fast else "draining")
        self.server.stop(fast=fast)


def install_signals(server: _zroute.Server) -> Stopping:
    """Signal handlers, installed only on the main thread."""
    stopping = Stopping(server)
    if threading.current_thread() is threading.main_thread():
        stopping.previous = {
            signal.SIGTERM: signal.signal(signal.SIGTERM, stopping.on_term),
            signal.SIGINT: signal.signal(signal.SIGINT, stopping.on_int),
        }
    return stopping
