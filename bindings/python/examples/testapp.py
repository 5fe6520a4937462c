"""The conformance test app (spec/PROTOCOL.md, Appendix A) as an ASGI app.

    python examples/testapp.py WORKER_ID [--connect ENDPOINT]... [--route ROUTE]... [--capacity N]
        [--nameserver IP:PORT] [--resolve-interval MS]

Without --connect it uses ZROUTE_CONNECT, else tcp://127.0.0.1:8000.
--capacity N announces N concurrent requests (the ASGI concurrency).
"""

import argparse
import asyncio
import json
import os
import re
import sys

MAX_FRAME = 65536
NUMBER = re.compile(r"[0-9]+")


async def ws_echo(scope, receive, send):
    """A.11: /ws/echo echoes every message; "close:CODE:REASON" closes with
    that code and reason instead. Any other path is refused with 404."""
    path = scope["raw_path"].decode("latin-1").split("?", 1)[0]
    if path != "/ws/echo":
        await send({"type": "websocket.http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "websocket.http.response.body", "body": b"not found"})
        return
    assert (await receive())["type"] == "websocket.connect"
    subprotocol = "echo" if "echo" in scope["subprotocols"] else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None and text.startswith("close:"):
            code, _, reason = text[len("close:") :].partition(":")
            await send({"type": "websocket.close", "code": int(code), "reason": reason})
            continue
        await send({"type": "websocket.send", "text": text, "bytes": message.get("bytes")})


def make_app(worker_id: str):
    async def app(scope, receive, send):
        if scope["type"] == "websocket":
            return await ws_echo(scope, receive, send)
        if scope["type"] != "http":
            return
        # A.1: routes match the path as sent, without percent-decoding.
        method = scope["method"]
        path = scope["raw_path"].decode("latin-1").split("?", 1)[0]
        query = parse_query(scope["query_string"].decode("latin-1"))
        get = method in ("GET", "HEAD")
        if path == "/echo" and method == "POST":
            return await echo(scope, receive, send)
        if path == "/drain-body" and method == "POST":
            total = 0
            async for chunk in body_chunks(receive):
                total += len(chunk)
            return await respond(send, 200, str(total).encode(), b"text/plain")
        if path == "/hello" and get:
            # A.2: answered without waiting for the request's FIN; the binding
            # discards the rest of the body once the response is out.
            return await respond(send, 200, f"Hello from {worker_id}".encode(), b"text/plain")
        # Every other route ignores the body, but reads it so that the upload moves on.
        async for _ in body_chunks(receive):
            pass
        if path == "/headers" and (get or method == "POST"):
            return await respond(send, 200, headers_json(scope).encode(), b"application/json")
        if path == "/stream" and get:
            n, size = number(query, "n", 10), number(query, "size", 1024)
            if n is None or size is None or not 1 <= size <= MAX_FRAME:
                return await respond(send, 400, b"")
            await start(send, 200, b"application/octet-stream")
            for k in range(n):
                frame = bytes([ord("a") + k % 26]) * size
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            return await send({"type": "http.response.body", "body": b"", "more_body": False})
        if path == "/slow" and get:
            ms = number(query, "ms", None)
            if ms is None:
                return await respond(send, 400, b"")
            # A reset from the router arrives as http.disconnect: give up the wait then.
            sleep = asyncio.ensure_future(asyncio.sleep(ms / 1000))
            gone = asyncio.ensure_future(receive())
            await asyncio.wait([sleep, gone], return_when=asyncio.FIRST_COMPLETED)
            if not sleep.done():
                sleep.cancel()
                return
            gone.cancel()
            return await respond(send, 200, b"slow", b"text/plain")
        if path == "/large" and get:
            total = number(query, "bytes", 1_048_576)
            if total is None:
                return await respond(send, 400, b"")
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream"), (b"content-length", str(total).encode())],
                }
            )
            pattern = bytes(range(256)) * (MAX_FRAME // 256)
            sent = 0
            while sent < total:
                n = min(MAX_FRAME, total - sent)
                await send({"type": "http.response.body", "body": pattern[:n], "more_body": sent + n < total})
                sent += n
            if total == 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if path == "/trailers" and get:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"trailer", b"x-trailer")],
                    "trailers": True,
                }
            )
            await send({"type": "http.response.body", "body": b"ok", "more_body": False})
            return await send({"type": "http.response.trailers", "headers": [(b"x-trailer", b"done")]})
        if path.startswith("/status/") and get and "/" not in path[len("/status/") :]:
            code = path[len("/status/") :]
            if len(code) == 3 and code.isdigit() and code.isascii() and 200 <= int(code) <= 599:
                return await respond(send, int(code), b"")
            return await respond(send, 400, b"")
        return await respond(send, 404, b"not found", b"text/plain")

    return app


async def body_chunks(receive):
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        if message["body"]:
            yield message["body"]
        if not message.get("more_body", False):
            return


async def echo(scope, receive, send):
    content_type = b"application/octet-stream"
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
    await start(send, 200, content_type)
    async for chunk in body_chunks(receive):
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def start(send, status, content_type=None):
    headers = [(b"content-type", content_type)] if content_type else []
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def respond(send, status, body, content_type=None):
    await start(send, status, content_type)
    await send({"type": "http.response.body", "body": body, "more_body": False})


def parse_query(qs):
    params = {}
    for pair in qs.split("&") if qs else []:
        name, _, value = pair.partition("=")
        params.setdefault(name, value)
    return params


def number(params, name, default):
    if name not in params:
        return default
    value = params[name]
    return int(value) if NUMBER.fullmatch(value) else None


def headers_json(scope):
    version = {"1.0": "HTTP/1.0", "2": "HTTP/2"}.get(scope["http_version"], "HTTP/1.1")
    path = scope["raw_path"].decode("latin-1")
    if scope["query_string"]:
        path += "?" + scope["query_string"].decode("latin-1")
    host = ""
    headers = {}
    for name, value in scope["headers"]:
        name, value = name.decode("latin-1"), value.decode("latin-1")
        if name == "host":
            host = value
            continue
        headers.setdefault(name, []).append(value)
    return json.dumps(
        {
            "method": scope["method"],
            "path": path,
            "version": version,
            "host": host,
            "scheme": scope["scheme"],
            "headers": headers,
        }
    )


def main(argv=None):
    p = argparse.ArgumentParser(prog="testapp")
    p.add_argument("id")
    p.add_argument("--connect", action="append", default=[])
    p.add_argument("--route", action="append", default=[])
    p.add_argument("--capacity", type=int, default=64)
    p.add_argument("--window", type=int, default=0, help="receive window per request body (HELLO)")
    p.add_argument("--nameserver", help="IP:PORT for the lookups of a named --connect (ZROUTE_NAMESERVER)")
    p.add_argument("--resolve-interval", type=int, help="ms between lookups of a named --connect (ZROUTE_RESOLVE_INTERVAL_MS)")
    args = p.parse_args(argv)
    if args.capacity < 1:
        p.error("--capacity must be at least 1")
    # The worker library reads both from its environment (spec Appendix A.1).
    if args.nameserver:
        os.environ["ZROUTE_NAMESERVER"] = args.nameserver
    if args.resolve_interval is not None:
        if args.resolve_interval < 1:
            p.error("--resolve-interval must be at least 1 ms")
        os.environ["ZROUTE_RESOLVE_INTERVAL_MS"] = str(args.resolve_interval)
    import zroute

    zroute.serve(
        make_app(args.id),
        id=args.id,
        connect=args.connect,
        routes=args.route,
        concurrency=args.capacity,
        window=args.window,
        interface="asgi",
        lifespan="off",
        log_level=os.environ.get("ZROUTE_LOG_LEVEL", "info"),
    )


if __name__ == "__main__":
    sys.exit(main())
