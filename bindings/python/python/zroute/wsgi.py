"""WSGI (PEP 3333) on a bounded pool of threads.

Each pool thread takes the next request from the runtime (waiting detached
from the interpreter), runs the app, and streams its response; the pool size
is the capacity announced to the router, so the router never sends a request
that would wait for a thread.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, Callable, Iterable, List, Optional, Tuple
from urllib.parse import unquote_to_bytes

from . import _zroute
from ._zroute import ClientDisconnected
from .access import access_logger
from .config import Config
from .lifecycle import install_signals, server_for

log = logging.getLogger("zroute")
error_log = logging.getLogger("zroute.error")

#: How long pool threads still running app code get once the worker stopped
#: (after a graceful stop; a fast one leaves them at once).
THREAD_EXIT_GRACE = 5.0


def run_wsgi(app: Callable[..., Any], cfg: Config) -> None:
    server = server_for(cfg, "threads", cfg.threads)
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
    }
    threads = [
        threading.Thread(target=pool_thread, args=(server, app, base, access), name=f"zroute-wsgi-{i}", daemon=True)
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
        busy = sum(t.is_alive() for t in threads)
        if busy:
            log.warning("%d WSGI thread(s) still running app code at exit", busy)
        log.info("stopped")


def pool_thread(server: _zroute.Server, app: Callable[..., Any], base: dict, access: Any) -> None:
    while True:
        ex = server.next_request()
        if ex is None:
            return
        start = time.perf_counter()
        response = Response(ex)
        try:
            response.run(app, environ(ex, base))
        except BaseException:  # the thread must survive whatever the app does
            error_log.exception("unexpected error serving request %s", ex.request_id)
            ex.abort()
        if access is not None:
            access(ex, response.status_code, response.sent, time.perf_counter() - start)
        # Nothing of this request may outlive it while the thread waits.
        del ex, response


def environ(ex: _zroute.Exchange, base: dict) -> dict:
    env = dict(base)
    path = ex.path
    env["REQUEST_METHOD"] = ex.method
    env["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1") if "%" in path else path
    env["RAW_URI"] = path
    env["QUERY_STRING"] = ex.query.decode("latin-1")
    env["SERVER_PROTOCOL"] = "HTTP/" + ex.http_version
    env["wsgi.url_scheme"] = ex.scheme
    env["wsgi.input"] = Input(ex)
    env["zroute.request_id"] = ex.request_id
    host = ""
    for name, value in ex.headers:
        key = name.decode("latin-1")
        val = value.decode("latin-1")
        if key == "host":
            host = val
        if key == "content-type":
            env["CONTENT_TYPE"] = val
            continue
        if key == "content-length":
            env["CONTENT_LENGTH"] = val
            continue
        if "_" in key:
            # CGI names turn "-" into "_": "x_forwarded_for" would land on the
            # router's HTTP_X_FORWARDED_FOR (and REMOTE_ADDR). gunicorn drops
            # such names too (--header-map drop).
            continue
        key = "HTTP_" + key.upper().replace("-", "_")
        if key in env:
            env[key] += ("; " if key == "HTTP_COOKIE" else ",") + val
        else:
            env[key] = val
    name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not name or not port.isdigit():
        name, port = host, ("443" if ex.scheme == "https" else "80")
    env["SERVER_NAME"] = name or "localhost"
    env["SERVER_PORT"] = port
    forwarded = env.get("HTTP_X_FORWARDED_FOR")
    # The router appends the client's address: the last element is its word.
    env["REMOTE_ADDR"] = forwarded.rsplit(",", 1)[-1].strip() if forwarded else ""
    return env


class Response:
    """start_response, write() and the iteration of the app's result."""

    def __init__(self, ex: _zroute.Exchange) -> None:
        self.ex = ex
        self.status_code = 0
        self.headers: Optional[List[Tuple[bytes, bytes]]] = None
        self.started = False
        self.sent = 0

    def start_response(self, status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.headers is not None:
            raise AssertionError("start_response called twice without exc_info")
        code = status.split(" ", 1)[0]
        if len(code) != 3 or not code.isdigit():
            raise ValueError(f"invalid WSGI status {status!r}")
        self.status_code = int(code)
        self.headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        return self.write

    def write(self, data: bytes) -> None:
        if self.headers is None:
            raise AssertionError("write() before start_response()")
        if not self.started:
            self.started = True
            self.ex.start(self.status_code, self.headers, data, False)
        else:
            self.ex.write(data)
        self.sent += len(data)

    def finish(self, last: Optional[bytes] = None) -> None:
        if self.headers is None:
            raise AssertionError("the app returned without calling start_response()")
        if not self.started:
            self.started = True
            self.ex.start(self.status_code, self.headers, last, True)
            self.sent += len(last or b"")
        else:
            if last:
                self.write(last)
            self.ex.finish()

    def run(self, app: Callable[..., Any], env: dict) -> None:
        try:
            result = app(env, self.start_response)
        except Exception:
            self.fail("the app failed")
            return
        try:
            if isinstance(result, (list, tuple)) and len(result) <= 1 and not self.started:
                # The common case: the whole body at once, one DATA frame.
                self.finish(bytes(result[0]) if result else None)
                return
            for chunk in result:
                if chunk:
                    self.write(chunk)
            self.finish()
        except ClientDisconnected as e:
            log.debug("request %s: stream over before the response was: %s", self.ex.request_id, e)
        except Exception:
            self.fail("the app failed during the response")
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    error_log.exception("request %s: the response's close() failed", self.ex.request_id)

    def fail(self, what: str) -> None:
        error_log.exception("request %s: %s", self.ex.request_id, what)
        if self.status_code == 0 or not self.started:
            self.status_code = 500
        self.ex.abort()


class Input:
    """``wsgi.input``: the request body, read from the stream as the app asks."""

    def __init__(self, ex: _zroute.Exchange) -> None:
        self.ex = ex
        self.buf = b""
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.ex.read()
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read(self, size: Optional[int] = -1) -> bytes:
        if size is None or size < 0:
            parts = [self.buf]
            self.buf = b""
            while not self.eof:
                chunk = self.ex.read()
                if not chunk:
                    self.eof = True
                else:
                    parts.append(chunk)
            return b"".join(parts)
        while len(self.buf) < size and self._fill():
            pass
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def read1(self, size: int = -1) -> bytes:
        if not self.buf:
            self._fill()
        if size is None or size < 0:
            size = len(self.buf)
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def readline(self, size: Optional[int] = -1) -> bytes:
        while True:
            end = self.buf.find(b"\n")
            if end >= 0 or (size is not None and 0 <= size <= len(self.buf)) or not self._fill():
                break
        cut = len(self.buf) if end < 0 else end + 1
        if size is not None and size >= 0:
            cut = min(cut, size)
        data, self.buf = self.buf[:cut], self.buf[cut:]
        return data

    def readlines(self, hint: int = -1) -> List[bytes]:
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterable[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


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
