"""ASGI 3 on an asyncio loop (uvloop when installed).

The runtime never takes the interpreter to reach the loop: it queues events
(a new request, a body chunk arrived, a response chunk found room, a stream
ended) in a mailbox whose descriptor the loop watches. Requests run as tasks,
at most ``concurrency`` at once, which is the capacity announced to the router.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any, Awaitable, Callable, Dict, Optional

from . import _zroute
from ._zroute import ClientDisconnected
from .access import access_logger
from .asgi_stream import ASGI_VERSION
from .asgi_websocket import WebSocketSession
from .config import Config
from .lifecycle import Stopping, server_for

log = logging.getLogger("zroute")
error_log = logging.getLogger("zroute.error")

REQUEST, READABLE, WRITABLE, DISCONNECTED, STOPPED = range(5)


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_asgi(app: Callable[..., Awaitable[None]], cfg: Config) -> None:
    loop = new_loop(cfg.loop)
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(Runner(app, cfg).run())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()
    log.info("stopped")


class Runner:
    def __init__(self, app: Callable[..., Awaitable[None]], cfg: Config) -> None:
        self.app = app
        self.cfg = cfg
        self.requests: Dict[int, Any] = {}
        self.tasks: set = set()
        self.state: Dict[str, Any] = {}
        self.access = access_logger(cfg.access_log)
        self.served: Optional[Callable[[], None]] = None
        # The heads the tasks of one pass of the loop start leave together.
        self.heads = _zroute.HeadBatch()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        lifespan = Lifespan(self.app, self.cfg.lifespan, self.state)
        await lifespan.startup()
        server, self.served = server_for(self.cfg, "loop", self.cfg.concurrency)
        self.stopped = loop.create_future()
        loop.add_reader(server.mailbox_fd(), self.on_mail, server)
        self.install_signals(loop, server)
        try:
            await self.stopped
        finally:
            loop.remove_reader(server.mailbox_fd())
            server.stop(fast=True)
            failure: Optional[BaseException] = None
            try:
                server.wait()
            except RuntimeError as e:
                failure = e
            # Whatever still runs has been told its stream is over.
            for task in list(self.tasks):
                task.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
            await lifespan.shutdown()
            if failure is not None:
                raise failure

    def install_signals(self, loop: asyncio.AbstractEventLoop, server: _zroute.Server) -> None:
        stopping = Stopping(server)

        def on_term() -> None:
            stopping.on_term()
            # §8.8.3: WebSockets would outlast any graceful timeout.
            for req in list(self.requests.values()):
                if isinstance(req, WebSocketSession):
                    req.going_away()

        try:
            loop.add_signal_handler(signal.SIGTERM, on_term)
            loop.add_signal_handler(signal.SIGINT, stopping.on_int)
        except (RuntimeError, ValueError):
            pass  # not the main thread: the caller stops the worker

    def on_mail(self, server: _zroute.Server) -> None:
        for kind, ident, ex in server.drain():
            if kind == REQUEST:
                req = WebSocketSession(ex, self) if ex.websocket else Request(ex, self)
                self.requests[ident] = req
                task = asyncio.ensure_future(req.run())
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                continue
            if kind == STOPPED:
                if not self.stopped.done():
                    self.stopped.set_result(None)
                continue
            req = self.requests.get(ident)
            if req is None:
                continue
            if kind == READABLE:
                req.wake("read")
            elif kind == WRITABLE:
                req.wake("write")
            elif kind == DISCONNECTED:
                req.on_disconnected()


class Request:
    """One request: its scope, ``receive`` and ``send`` are the extension's
    (``_zroute.AsgiHttp``); the runner's wake-ups go to it."""

    def __init__(self, ex: _zroute.Exchange, runner: Runner) -> None:
        self.ex = ex
        self.runner = runner
        self.asgi = _zroute.AsgiHttp(ex, asyncio.get_running_loop(), runner.heads)

    def wake(self, what: str) -> None:
        if what == "read":
            self.asgi.wake_read()
        elif what == "write":
            self.asgi.wake_write()

    def on_disconnected(self) -> None:
        self.asgi.disconnect()

    async def run(self) -> None:
        start = time.perf_counter()
        asgi = self.asgi
        try:
            await self.runner.app(asgi.scope(self.runner.state), asgi.receive, asgi.send)
        except ClientDisconnected:
            log.debug("request %s: stream over before the response was", self.ex.request_id)
            self.ex.abort()
        except asyncio.CancelledError:
            self.ex.abort()
            raise
        except Exception:
            error_log.exception("request %s: the app failed", self.ex.request_id)
            if not asgi.started:
                asgi.status = 500
            self.ex.abort()
        else:
            if not asgi.complete:
                if asgi.started:
                    error_log.error("request %s: the app returned before the response was complete", self.ex.request_id)
                else:
                    error_log.error("request %s: the app returned without a response", self.ex.request_id)
                    asgi.status = 500
                self.ex.abort()
        finally:
            self.runner.requests.pop(self.ex.id, None)
            if self.runner.access is not None:
                self.runner.access(self.ex, asgi.status, asgi.sent, time.perf_counter() - start)
            if self.runner.served is not None:
                self.runner.served()


class Lifespan:
    """The ASGI lifespan protocol: startup before the worker registers,
    shutdown after it stopped."""

    def __init__(self, app: Callable[..., Awaitable[None]], mode: str, state: Dict[str, Any]) -> None:
        self.app = app
        self.mode = mode
        self.state = state
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.events: asyncio.Queue = asyncio.Queue()
        self.task: Optional[asyncio.Task] = None
        self.supported = False

    async def startup(self) -> None:
        if self.mode == "off":
            return
        scope = {"type": "lifespan", "asgi": ASGI_VERSION, "state": self.state}
        self.task = asyncio.ensure_future(self.main(scope))
        await self.inbox.put({"type": "lifespan.startup"})
        outcome = await self.next_event()
        if outcome is None:
            return
        if outcome["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"lifespan startup failed: {outcome.get('message', '')}")
        self.supported = True

    async def main(self, scope: dict) -> None:
        try:
            await self.app(scope, self.inbox.get, self.events.put)
        except BaseException as e:
            await self.events.put({"type": "error", "error": e})
            if not isinstance(e, Exception):
                raise
        else:
            await self.events.put({"type": "returned"})

    async def next_event(self) -> Optional[dict]:
        event = await self.events.get()
        if event["type"] == "error":
            if self.mode == "on" or self.supported:
                raise RuntimeError("the app's lifespan handler failed") from event["error"]
            log.debug("the app does not support lifespan (%r); going on without it", event["error"])
            return None
        if event["type"] == "returned":
            if self.mode == "on" and not self.supported:
                raise RuntimeError("the app returned from lifespan without starting up")
            return None
        return event

    async def shutdown(self) -> None:
        if not self.supported:
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        outcome = await self.next_event()
        if outcome is not None and outcome["type"] == "lifespan.shutdown.failed":
            error_log.error("lifespan shutdown failed: %s", outcome.get("message", ""))
