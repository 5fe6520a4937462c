import asyncio
import hashlib
import os
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

DISCONNECTS = []


@asynccontextmanager
async def lifespan(app):
    marker = os.environ.get("LIFESPAN_MARKER")
    yield {"started": "yes"}
    if marker:
        with open(marker, "w") as f:
            f.write("shutdown")


async def index(request):
    return PlainTextResponse("hello from starlette")


async def state(request):
    return JSONResponse({"started": request.state.started, "request_id": request.scope["extensions"]["zroute"]["request_id"]})


async def headers(request):
    return JSONResponse({"x-custom": request.headers.get("x-custom")}, headers={"X-Answer": "42"})


async def upload(request):
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        digest.update(chunk)
    return JSONResponse({"size": size, "sha256": digest.hexdigest()})


async def stream(request):
    n = int(request.query_params.get("n", "5"))

    async def lines():
        for i in range(n):
            yield f"line {i}\n"

    return StreamingResponse(lines(), media_type="text/plain")


async def events(request: Request):
    """An endless event stream: one event at once, then nothing until the
    client goes away, which the app must hear (http.disconnect)."""

    async def gen():
        yield "data: first\n\n"
        while not await request.is_disconnected():
            await asyncio.sleep(0.05)
        DISCONNECTS.append(request.query_params.get("tag"))

    return StreamingResponse(gen(), media_type="text/event-stream")


async def disconnects(request):
    return JSONResponse(DISCONNECTS)


async def slow(request):
    await asyncio.sleep(int(request.query_params.get("ms", "100")) / 1000)
    return PlainTextResponse("slow")


async def fail(request):
    raise RuntimeError("this route always fails")


async def chat(websocket: WebSocket):
    # Accepts with the second subprotocol offered, and a header of its own.
    protocols = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol=protocols[1] if len(protocols) > 1 else None, headers=[(b"x-chat", b"yes")])
    async for text in websocket.iter_text():
        if text == "bye":
            await websocket.close(code=4002, reason="see you")
            return
        await websocket.send_text(text.upper())
    # The client left without the app closing: record how.
    DISCONNECTS.append(f"chat {websocket.client_state.name}")


async def refused(websocket: WebSocket):
    await websocket.close(code=1008)


app = Starlette(
    routes=[
        Route("/", index),
        Route("/state", state),
        Route("/headers", headers),
        Route("/upload", upload, methods=["POST"]),
        Route("/stream", stream),
        Route("/events", events),
        Route("/disconnects", disconnects),
        Route("/slow", slow),
        Route("/fail", fail),
        WebSocketRoute("/chat", chat),
        WebSocketRoute("/refused", refused),
    ],
    lifespan=lifespan,
)
