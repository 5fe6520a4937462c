"""Plain-text "Hello, World!" as a bare ASGI app, for benchmarks:
`zroute-worker examples.hello_asgi:app`."""

BODY = b"Hello, World!"
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())],
}
END = {"type": "http.response.body", "body": BODY, "more_body": False}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send(START)
    await send(END)
