"""WSGI (PEP 3333) on a bounded pool of threads.

Each pool thread takes the next request from the runtime (waiting detached
from the interpreter), runs the app, and streams its response; the pool size
is the capacity announced to the router, so the router never sends a request
that would wait for a thread.
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import threading
import time
from typing import Any, Callable, Iterable

from . import _zroute
from ._zroute import ClientDisconnected
from .access import access_logger
from .config import Config
from .lifecycle import install_signals, server_for

log = logging.getLogger("zroute")
error_log = logging.getLogger("zroute.error")

try:
    SERVER_SOFTWARE = "zroute/" + importlib.metadata.version("zroute")
except importlib.metadata.PackageNotFoundError:  # run from a source tree
    SERVER_SOFTWARE = "zroute"

#: How long pool threads still running app code get once the worker stopped
#: (after a graceful stop; a fast one leaves them at once).
THREAD_EXIT_GRACE = 5.0


def run_wsgi(app: Callable[..., Any], cfg: Config) -> None:
    server, served = server_for(cfg, "threads", cfg.threads)
    stopping = install_signals(server)
    access = access_logger(cfg.access_log)
    base = {
        "wsgi.version": (1, 0),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": cfg.threads > 1,
        "wsgi.multiprocess": cfg.multiprocess,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.input_terminated": True,
        "SCRIPT_NAME": "",
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
    }
    # The pool threads in app code right now (a set's add and discard are
    # atomic under the GIL); the others are waiting for a request.
    in_app: set = set()
    threads = [
        threading.Thread(
            target=pool_thread, args=(server, app, base, access, in_app, served), name=f"zroute-wsgi-{i}", daemon=True
        )
        for i in range(cfg.threads)
    ]
    for t in threads:
        t.start()
    try:
        server.wait()
    finally:
        server.stop(fast=True)
        server.wait()
        stopping.restore()
        # Threads still in app code cannot be stopped; a fast stop leaves them.
        deadline = time.monotonic() + (0.0 if stopping.fast else THREAD_EXIT_GRACE)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        busy = len(in_app)
        if busy:
            log.warning("%d WSGI thread(s) still running app code at exit", busy)
        log.info("stopped")


def pool_thread(
    server: _zroute.Server, app: Callable[..., Any], base: dict, access: Any, in_app: set, served: Any
) -> None:
    me = threading.get_ident()
    while True:
        ex = server.next_request()
        if ex is None:
            return
        in_app.add(me)
        start = time.perf_counter()
        response = _zroute.WsgiResponse(ex)
        try:
            run(app, ex, response, _zroute.wsgi_environ(ex, base))
        except BaseException:  # the thread must survive whatever the app does
            error_log.exception("unexpected error serving request %s", ex.request_id)
            ex.abort()
        in_app.discard(me)
        if access is not None:
            access(ex, response.status_code, response.sent, time.perf_counter() - start)
        if served is not None:
            served()
        # Nothing of this request may outlive it while the thread waits.
        del ex, response


def run(app: Callable[..., Any], ex: _zroute.Exchange, response: _zroute.WsgiResponse, env: dict) -> None:
    """Calls the app and sends what it returns (the environ, ``wsgi.input``,
    ``start_response`` and ``write`` are the extension's)."""
    try:
        result = app(env, response.start_response)
    except Exception:
        fail(ex, response, "the app failed")
        return
    try:
        if isinstance(result, (list, tuple)) and len(result) <= 1 and not response.started:
            # The common case: the whole body at once, one DATA frame.
            response.finish(result[0] if result else None)
            return
        for chunk in result:
            if chunk:
                response.write(chunk)
        response.finish()
    except ClientDisconnected as e:
        log.debug("request %s: stream over before the response was: %s", ex.request_id, e)
    except Exception:
        fail(ex, response, "the app failed during the response")
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                error_log.exception("request %s: the response's close() failed", ex.request_id)


def fail(ex: _zroute.Exchange, response: _zroute.WsgiResponse, what: str) -> None:
    error_log.exception("request %s: %s", ex.request_id, what)
    response.fail()


class FileWrapper:
    """``wsgi.file_wrapper``: a file-like object read in blocks."""

    def __init__(self, filelike: Any, blksize: int = 65536) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> Iterable[bytes]:
        while True:
            block = self.filelike.read(self.blksize)
            if not block:
                return
            yield block
