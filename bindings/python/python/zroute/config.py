"""Worker settings, shared by the CLI and ``serve()``."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from typing import List, Optional

DEFAULT_CONNECT = "tcp://127.0.0.1:8000"


def default_id() -> str:
    """``<host>-<pid>``, cut to the 128 visible ASCII characters HELLO allows."""
    host = re.sub(r"[^\x21-\x7e]", "", socket.gethostname()) or "python"
    return f"{host}-{os.getpid()}"[:128]


def split_endpoints(value: str) -> List[str]:
    return [e for e in re.split(r"[,\s]+", value) if e]


@dataclass
class Config:
    """Every setting of a worker; the defaults are those of the CLI."""

    #: Router endpoints, one session each. Default: ``ZROUTE_CONNECT`` or tcp://127.0.0.1:8000.
    connect: List[str] = field(default_factory=list)
    #: "wsgi", "asgi" or "auto" (decided from the app's signature).
    interface: str = "auto"
    #: WSGI: the size of the thread pool, which is also the capacity announced to the router.
    threads: int = 8
    #: ASGI: requests run at once, which is also the capacity announced to the router.
    concurrency: int = 64
    #: HELLO id; default ``<host>-<pid>``.
    id: Optional[str] = None
    #: Routes announced in HELLO (``/prefix``, ``host``, ``host/prefix``); none: default pool.
    routes: List[str] = field(default_factory=list)
    #: Seconds a shutdown waits for requests in flight.
    graceful_timeout: float = 30.0
    #: Seconds from a request's arrival to the end of its response; 0: no limit.
    timeout: float = 0.0
    #: Largest request body in bytes (larger: 413); 0: no limit.
    max_body: int = 0
    #: Largest request head in bytes, target and headers (larger: 431); 0: no limit.
    max_header: int = 65536
    #: ASGI lifespan: "auto", "on" or "off".
    lifespan: str = "auto"
    #: ASGI event loop: "auto" (uvloop when installed), "asyncio" or "uvloop".
    loop: str = "auto"
    #: Log one line per request on the ``zroute.access`` logger (uvicorn's format).
    access_log: bool = True
    #: Level of the ``zroute`` loggers and of the runtime's own lines; None: leave logging alone.
    log_level: Optional[str] = "info"
    #: Receive window per request body in bytes (announced in HELLO); 0: the default, 65,536.
    window: int = 0
    #: CURVE: the router's public key (its ``.pub`` file, or 40 Z85 characters).
    curve_server_key: Optional[str] = None
    #: CURVE: this worker's key file (``zroute-router keygen --out NAME`` writes ``NAME.key``).
    curve_key: Optional[str] = None
    #: Threads of the tokio runtime that runs the sessions.
    runtime_threads: int = 1
    #: Under the supervisor: after this many requests (plus up to ``max_requests_jitter``),
    #: a successor process starts and this one drains once it registered; 0: never.
    max_requests: int = 0
    max_requests_jitter: int = 0
    #: Whether several worker processes run (sets ``wsgi.multiprocess``).
    multiprocess: bool = False

    def endpoints(self) -> List[str]:
        if self.connect:
            return list(self.connect)
        env = split_endpoints(os.environ.get("ZROUTE_CONNECT", ""))
        return env or [DEFAULT_CONNECT]

    def worker_id(self) -> str:
        return self.id or default_id()

    def check(self) -> None:
        if self.interface not in ("wsgi", "asgi", "auto"):
            raise ValueError(f"interface must be wsgi, asgi or auto, not {self.interface!r}")
        if self.lifespan not in ("auto", "on", "off"):
            raise ValueError(f"lifespan must be auto, on or off, not {self.lifespan!r}")
        if self.loop not in ("auto", "asyncio", "uvloop"):
            raise ValueError(f"loop must be auto, asyncio or uvloop, not {self.loop!r}")
        for name in ("threads", "concurrency", "runtime_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("graceful_timeout", "timeout", "max_body", "max_header", "window", "max_requests", "max_requests_jitter"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
