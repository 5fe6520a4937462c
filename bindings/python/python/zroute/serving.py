"""``serve()``: run one worker in this process until it is stopped."""

from __future__ import annotations

import inspect
import logging
import sys
import threading
from typing import Any, Callable, Optional

from . import _zroute
from .config import Config

log = logging.getLogger("zroute")

#: Levels the CLI accepts, as Python names them; the runtime uses the same words.
LEVELS = {"critical": "error", "error": "error", "warning": "warn", "info": "info", "debug": "debug", "trace": "trace"}


def serve(app: Callable[..., Any], config: Optional[Config] = None, **settings: Any) -> None:
    """Serves ``app`` (WSGI or ASGI) until SIGTERM (graceful) or SIGINT (fast).

    Settings are those of :class:`zroute.Config`, given as a ``config`` or as
    keywords: ``serve(app, connect=["tcp://127.0.0.1:8000"], threads=16)``.
    Signal handlers are installed only when called from the main thread.
    Raises ``RuntimeError`` if the worker could not start (for example an
    invalid id or route).
    """
    cfg = config or Config()
    for name, value in settings.items():
        if not hasattr(cfg, name):
            raise TypeError(f"serve() got an unknown setting {name!r}")
        setattr(cfg, name, value)
    cfg.check()
    setup_logging(cfg.log_level)
    interface = cfg.interface if cfg.interface != "auto" else detect_interface(app)
    log.info("serving %s app as %r on %s", interface.upper(), cfg.worker_id(), ", ".join(cfg.endpoints()))
    pump = LogPump() if cfg.log_level is not None else None
    try:
        if interface == "wsgi":
            from .wsgi import run_wsgi

            run_wsgi(app, cfg)
        else:
            from .asgi import run_asgi

            run_asgi(app, cfg)
    finally:
        if pump is not None:
            pump.close()


def setup_logging(level: Optional[str]) -> None:
    """Python ``logging`` for the ``zroute`` loggers (a handler only if the app
    configured none), the runtime's own lines included."""
    if level is None:
        return
    level = level.lower()
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}")
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("zroute").setLevel(TRACE if level == "trace" else level.upper())
    _zroute.init_logging(LEVELS[level])


#: Python has no TRACE; the runtime's trace lines come at this level.
TRACE = 5


class LogPump:
    """Hands the runtime's log lines to the ``zroute.runtime`` logger, from a
    thread of its own (the runtime never takes the interpreter to log)."""

    def __init__(self) -> None:
        self.thread = threading.Thread(target=self.run, name="zroute-log", daemon=True)
        self.thread.start()

    def run(self) -> None:
        runtime = logging.getLogger("zroute.runtime")
        while True:
            record = _zroute.next_log_record()
            if record is None:
                return
            level, message = record
            runtime.log(level, "%s", message)

    def close(self) -> None:
        """Passes on every line logged so far, then ends the thread."""
        _zroute.close_logs()
        self.thread.join(5.0)
        dropped = _zroute.dropped_log_records()
        if dropped:
            log.warning("%d runtime log lines were dropped (the queue was full)", dropped)


def detect_interface(app: Any) -> str:
    """ASGI for a coroutine function or an object whose ``__call__`` is one,
    or any callable of three parameters; WSGI otherwise."""
    call = app if inspect.isroutine(app) else getattr(app, "__call__", app)
    if inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(app):
        return "asgi"
    try:
        params = [
            p
            for p in inspect.signature(call).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return "wsgi"
    return "asgi" if len(params) == 3 else "wsgi"
