"""What an HTTP request and a WebSocket share on the ASGI side: the wake-ups
the runner hands them, and the parts of the scope both carry."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Dict, Tuple

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

    def on_disconnected(self) -> None:
        self.disconnected = True
        self.wake("read")
        self.wake("write")
        self.wake("disconnect")

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
        """The keys the `http` and `websocket` scopes share (built by the
        extension), and the headers."""
        scope = self.ex.asgi_scope(scope_type, self.runner.state)
        return scope, scope["headers"]
