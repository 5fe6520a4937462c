"""A bare ASGI app that does not support lifespan (it fails on that scope),
and that watches its own sends for backpressure."""

import asyncio
import json

CHUNK = b"z" * 65536
TOTAL_CHUNKS = 4096  # 256 MiB: far more than every buffer on the way holds
BLOCKED = {}


async def app(scope, receive, send):
    if scope["type"] != "http":
        raise ValueError(f"unsupported scope {scope['type']}")
    if scope["path"] == "/produce":
        return await produce(scope["query_string"].decode(), send)
    if scope["path"] == "/blocked":
        body = json.dumps(BLOCKED).encode()
    else:
        body = b"raw asgi"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def produce(tag, send):
    """Sends until the client stops reading; records the chunk at which a
    send first had to wait (it does not complete at its first step)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for k in range(TOTAL_CHUNKS):
        pending = asyncio.ensure_future(send({"type": "http.response.body", "body": CHUNK, "more_body": True}))
        await asyncio.sleep(0)
        if not pending.done() and tag not in BLOCKED:
            BLOCKED[tag] = k
        await pending
    await send({"type": "http.response.body", "body": b""})
