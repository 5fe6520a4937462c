"""A bare ASGI app that does not support lifespan (it fails on that scope),
and that watches its own sends for backpressure."""

import asyncio
import json

CHUNK = b"z" * 65536
TOTAL_CHUNKS = 4096  # 256 MiB: far more than every buffer on the way holds
BLOCKED = {}
# What `receive` gave each /after request once its response was complete.
AFTER = {}
# The /linger requests whose app is done lingering after its response.
LINGERED = set()


async def app(scope, receive, send):
    if scope["type"] != "http":
        raise ValueError(f"unsupported scope {scope['type']}")
    if scope["path"] == "/produce":
        return await produce(scope["query_string"].decode(), send)
    if scope["path"] == "/after":
        return await after(scope["query_string"].decode(), receive, send)
    if scope["path"] == "/linger":
        return await linger(scope["query_string"].decode(), send)
    if scope["path"] == "/blocked":
        body = json.dumps(BLOCKED).encode()
    elif scope["path"] == "/lingered":
        body = json.dumps(sorted(LINGERED)).encode()
    elif scope["path"] == "/after-log":
        body = json.dumps(AFTER).encode()
    elif scope["path"] == "/scope":
        body = json.dumps({"client": scope["client"], "server": scope["server"]}).encode()
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


async def after(tag, receive, send):
    """Answers in full, then waits on `receive`: the stream's end must reach
    it, whether it waits before the stream is over or after."""
    assert (await receive())["type"] == "http.request"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})
    AFTER[tag] = (await receive())["type"]


async def linger(tag, send):
    """Answers in full, then goes on awaiting (as a background task does):
    the response must not wait for the app to return."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"answered"})
    await asyncio.sleep(60)
    LINGERED.add(tag)
