"""What an HTTP request and a WebSocket share on the ASGI side: the wake-ups
the runner hands them, and the parts of the scope both carry."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple
from urllib.parse import unquote

from . import _zroute
from ._zroute import ClientDisconnected

if TYPE_CHECKING:
    from .asgi import Runner

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}


class Stream:
    """One exchange as the loop sees it: woken by the runner for `read`,
    `write` and `disconnect`."""

    def __init__(self, ex: _zroute.Exchange, runner: "Runner") -> None:
        self.ex = ex
        self.runner = runner
        self.waiters: Dict[str, asyncio.Future] = {}
        self.disconnected = False

    def wake(self, what: str) -> None:
        fut = self.waiters.pop(what, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def wait(self, what: str) -> None:
        fut = asyncio.get_running_loop().create_future()
        self.waiters[what] = fut
        try:
            await fut
        finally:
            if self.waiters.get(what) is fut:
                del self.waiters[what]

    async def wait_written(self) -> None:
        await self.wait("write")
        if self.disconnected or self.ex.disconnected:
            raise ClientDisconnected("the client went away")

    def common_scope(self, scope_type: str) -> Tuple[Dict[str, Any], list]:
        """The keys the `http` and `websocket` scopes share, and the headers."""
        ex = self.ex
        headers = ex.headers
        host = ""
        client: Optional[tuple] = None
        for name, value in headers:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                # The router appends the client's address: the last element is its word.
                client = (value.decode("latin-1").rsplit(",", 1)[-1].strip(), 0)
        raw_path = ex.path
        name, _, port = host.rpartition(":")
        scope = {
            "type": scope_type,
            "asgi": ASGI_VERSION,
            "http_version": ex.http_version,
            "path": unquote(raw_path) if "%" in raw_path else raw_path,
            "raw_path": raw_path.encode("ascii", "replace"),
            "query_string": ex.query,
            "root_path": "",
            "headers": headers,
            "client": client,
            "server": (name, int(port)) if name and port.isdigit() else None,
            "state": dict(self.runner.state),
        }
        return scope, headers
