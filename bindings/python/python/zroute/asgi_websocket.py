"""The ASGI ``websocket`` scope (spec/PROTOCOL.md §8.8).

The router owns RFC 6455 towards the client; the stream carries whole
messages as records: a kind byte (0x01 text, 0x02 binary, 0x08 close), a
32-bit big-endian length, the payload. This module turns them into ASGI
events and back. The app accepts with ``websocket.accept`` (status 101 on
the stream), refuses with ``websocket.close`` before it (403) or with the
``websocket.http.response`` extension, and closes with ``websocket.close``.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from typing import TYPE_CHECKING, List, Optional, Tuple

from . import _zroute
from ._zroute import ClientDisconnected
from .asgi_stream import Stream

if TYPE_CHECKING:
    from .asgi import Runner

log = logging.getLogger("zroute")
error_log = logging.getLogger("zroute.error")

TEXT, BINARY, CLOSE = 0x01, 0x02, 0x08
HEADER = struct.Struct(">BI")
# The largest message taken from the router: the reference router's default.
MAX_MESSAGE = 16 << 20
MAX_CLOSE_REASON = 123
# RFC 6455 §7.1.5: the code for a connection that ended without a close.
ABNORMAL = 1006
NO_STATUS = 1005


def sendable_close_code(code: int) -> bool:
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def record(kind: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def close_payload(code: int, reason: str) -> bytes:
    raw = reason.encode("utf-8")[:MAX_CLOSE_REASON]
    # A cut inside a character: drop what is left of it.
    raw = raw.decode("utf-8", "ignore").encode("utf-8")
    return struct.pack(">H", code) + raw


class RecordError(Exception):
    """The router broke the record rules (§8.8.2)."""


class WebSocketSession(Stream):
    """One WebSocket stream: its scope, ``receive`` and ``send``."""

    def __init__(self, ex: _zroute.Exchange, runner: "Runner") -> None:
        super().__init__(ex, runner)
        self.connected = False  # websocket.connect was received
        self.accepted = False
        self.refused = False  # answered with an HTTP response instead
        self.response_started = False  # websocket.http.response.start was received
        self.response_sent = False  # and its head went out with the first body chunk
        self.response_headers: List[Tuple[bytes, bytes]] = []
        self.sent_close = False
        self.closed = False  # websocket.disconnect was delivered
        self.buffer = bytearray()
        self.ended = False  # the router's direction ended
        self.status = 0
        self.sent = 0

    def scope(self) -> dict:
        scope, headers = self.common_scope("websocket")
        subprotocols: List[str] = []
        for name, value in headers:
            if name == b"sec-websocket-protocol":
                subprotocols.extend(p.strip() for p in value.decode("latin-1").split(",") if p.strip())
        scope["scheme"] = "wss" if self.ex.scheme == "https" else "ws"
        scope["subprotocols"] = subprotocols
        scope["extensions"] = {
            "websocket.http.response": {},
            "zroute": {"request_id": self.ex.request_id},
        }
        return scope

    async def run(self) -> None:
        start = time.perf_counter()
        try:
            await self.runner.app(self.scope(), self.receive, self.send)
        except ClientDisconnected:
            log.debug("websocket %s: over", self.ex.request_id)
        except asyncio.CancelledError:
            self.ex.abort()
            raise
        except Exception:
            error_log.exception("websocket %s: the app failed", self.ex.request_id)
            if not (self.accepted or self.response_started):
                self.status = 500
            self.ex.abort()
        else:
            if not (self.accepted or self.refused or self.response_started):
                # ASGI: an app that returns without accepting refuses with 403.
                self.refuse(403)
            elif self.accepted and not self.sent_close:
                # Returned without a close: end the stream with close 1000.
                self.close_stream(1000, "")
        finally:
            self.runner.requests.pop(self.ex.id, None)
            if self.runner.access is not None:
                self.runner.access(self.ex, self.status, self.sent, time.perf_counter() - start)

    # What the app receives.
    async def receive(self) -> dict:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        if self.closed:
            raise ClientDisconnected("the WebSocket is closed")
        while True:
            try:
                message = self.next_record()
            except RecordError as e:
                error_log.error("websocket %s: %s; resetting the stream", self.ex.request_id, e)
                self.ex.abort()
                return self.disconnect(ABNORMAL, "")
            if message is not None:
                return message
            if self.ended:
                # §8.8.3: an end without a close record is a close without a code.
                if not self.sent_close:
                    self.close_stream(None, "")
                return self.disconnect(NO_STATUS, "")
            if self.disconnected or self.ex.disconnected:
                return self.disconnect(ABNORMAL, "")
            try:
                got = self.ex.read_nowait()
            except ClientDisconnected:
                return self.disconnect(ABNORMAL, "")
            if got is None:
                await self.wait("read")
                continue
            chunk, more = got
            self.buffer += chunk
            self.ended = not more

    def next_record(self) -> Optional[dict]:
        if len(self.buffer) < HEADER.size:
            if self.ended and self.buffer:
                raise RecordError("the stream ended inside a record")
            return None
        kind, length = HEADER.unpack_from(self.buffer)
        if kind not in (TEXT, BINARY, CLOSE):
            raise RecordError(f"record kind {kind:#x}")
        if length > MAX_MESSAGE:
            raise RecordError(f"a {length}-byte message, over {MAX_MESSAGE}")
        if len(self.buffer) < HEADER.size + length:
            if self.ended:
                raise RecordError("the stream ended inside a record")
            return None
        payload = bytes(self.buffer[HEADER.size : HEADER.size + length])
        del self.buffer[: HEADER.size + length]
        if kind == TEXT:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                raise RecordError("text that is not UTF-8") from None
            return {"type": "websocket.receive", "text": text, "bytes": None}
        if kind == BINARY:
            return {"type": "websocket.receive", "bytes": payload, "text": None}
        if len(payload) == 0:
            code, reason = NO_STATUS, ""
        elif len(payload) == 1 or len(payload) > 2 + MAX_CLOSE_REASON:
            raise RecordError("an invalid close")
        else:
            code = struct.unpack(">H", payload[:2])[0]
            if not sendable_close_code(code):
                raise RecordError(f"close code {code}")
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise RecordError("a close reason that is not UTF-8") from None
        # §8.8.3: answer the close, echoing its code, unless the app closed first.
        if not self.sent_close:
            self.close_stream(None if code == NO_STATUS else code, reason, echo=payload)
        return self.disconnect(code, reason)

    def disconnect(self, code: int, reason: str) -> dict:
        self.closed = True
        return {"type": "websocket.disconnect", "code": code, "reason": reason}

    # What the app sends.
    async def send(self, message: dict) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            if self.accepted or self.refused or self.response_started:
                raise RuntimeError("websocket.accept after the WebSocket was answered")
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
            subprotocol = message.get("subprotocol")
            if subprotocol:
                headers.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
            self.accepted = True
            self.status = 101
            self.ex.start(101, headers, None, False)
        elif kind == "websocket.send":
            if not self.accepted:
                raise RuntimeError("websocket.send before websocket.accept")
            if self.sent_close or self.disconnected or self.ex.disconnected:
                raise ClientDisconnected("the WebSocket is closed")
            text = message.get("text")
            if text is not None:
                data = record(TEXT, text.encode("utf-8"))
            else:
                data = record(BINARY, bytes(message.get("bytes") or b""))
            self.sent += len(data) - HEADER.size
            if not self.ex.write_nowait(data):
                await self.wait_written()
        elif kind == "websocket.close":
            code = int(message.get("code", 1000))
            reason = message.get("reason") or ""
            if not self.accepted:
                if not (self.refused or self.response_started):
                    self.refuse(403)
                return
            if self.sent_close:
                return
            if not sendable_close_code(code):
                raise RuntimeError(f"close code {code} may not be sent")
            self.close_stream(code, reason)
        elif kind == "websocket.http.response.start":
            if self.accepted or self.refused or self.response_started:
                raise RuntimeError("websocket.http.response.start after the WebSocket was answered")
            self.status = int(message["status"])
            self.response_headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
            self.response_started = True
        elif kind == "websocket.http.response.body":
            if not self.response_started or self.refused:
                raise RuntimeError("websocket.http.response.body without a started response")
            body = bytes(message.get("body", b""))
            more = bool(message.get("more_body", False))
            self.sent += len(body)
            if not self.response_sent:
                self.response_sent = True
                self.ex.start(self.status, self.response_headers, body, not more)
                if not more:
                    self.refused = True
                return
            if body and not self.ex.write_nowait(body):
                await self.wait_written()
            if not more:
                self.refused = True
                self.ex.finish()
        else:
            raise RuntimeError(f"unknown ASGI message type {kind!r}")

    def refuse(self, status: int) -> None:
        self.refused = True
        self.status = status
        self.ex.start(status, [(b"content-length", b"0")], None, True)

    def close_stream(self, code: Optional[int], reason: str, echo: Optional[bytes] = None) -> None:
        """Sends a close record and ends the worker's direction (§8.8.3)."""
        self.sent_close = True
        payload = echo if echo is not None else (b"" if code is None else close_payload(code, reason))
        data = record(CLOSE, payload)
        if self.ex.write_nowait(data):
            self.ex.finish()
        else:
            asyncio.ensure_future(self.finish_after_write())

    async def finish_after_write(self) -> None:
        try:
            await self.wait_written()
            self.ex.finish()
        except ClientDisconnected:
            pass

    def going_away(self) -> None:
        """The worker drains: close with 1001 (§8.8.3)."""
        if self.accepted and not self.sent_close and not self.closed:
            self.close_stream(1001, "the worker is going away")


