"""The ASGI `websocket` scope (spec #websocket): FastAPI and Starlette
WebSocket routes behind the real router, driven by the `websockets` client.
Each test but the SIGTERM one runs twice, once served by zroute and once by
uvicorn, so that an app behaves the same under both."""

import json
import signal
import socket
import sys
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conftest import APPS, Proc

TIMEOUT = 20


class Served:
    """Where an app is reachable: `ws` and `http` base URLs."""

    def __init__(self, host: str, proc: Proc) -> None:
        self.ws = f"ws://{host}"
        self.http = f"http://{host}"
        self.proc = proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uvicorn(app: str) -> Served:
    port = free_port()
    proc = Proc(
        [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--ws", "websockets", "--log-level", "warning"],
        cwd=APPS,
    )
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline, f"uvicorn did not start:\n{proc.output()}"
            time.sleep(0.05)
    return Served(f"127.0.0.1:{port}", proc)


@pytest.fixture(params=["zroute", "uvicorn"])
def serve(request):
    """Serves an app (`module:attr`) under zroute or uvicorn."""
    started = []

    def start(app: str) -> Served:
        if request.param == "uvicorn":
            served = uvicorn(app)
        else:
            router = request.getfixturevalue("router")
            proc = request.getfixturevalue("start_worker")(app, id=app.split("_")[0] + "-ws")
            served = Served(router.http, proc)
        started.append(served)
        return served

    yield start
    for served in started:
        served.proc.kill()


@pytest.fixture
def starlette(serve):
    return serve("starlette_app:app")


@pytest.fixture
def fastapi(serve):
    return serve("fastapi_app:app")


def test_fastapi_route_with_path_and_query_parameters(fastapi):
    with connect(f"{fastapi.ws}/ws/lobby?name=ada", open_timeout=TIMEOUT, max_size=None) as ws:
        ws.send("hi")
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"room": "lobby", "name": "ada", "said": "hi"}
        ws.send(b"\x01\x02\x03")
        assert ws.recv(timeout=TIMEOUT) == b"\x03\x02\x01"
        big = "x" * (4 << 20)
        ws.send(big)
        assert json.loads(ws.recv(timeout=TIMEOUT))["said"] == big
    assert ws.close_code == 1000


def test_starlette_accept_with_subprotocol_and_close_with_code(starlette):
    with connect(f"{starlette.ws}/chat", open_timeout=TIMEOUT, subprotocols=["v1", "v2"]) as ws:
        assert ws.subprotocol == "v2"
        assert ws.response.headers["x-chat"] == "yes"
        ws.send("shout")
        assert ws.recv(timeout=TIMEOUT) == "SHOUT"
        ws.send("bye")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4002, "see you")


def test_a_close_before_accept_is_403_and_an_unknown_route_too(starlette):
    for path in ("/refused", "/nowhere"):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{starlette.ws}{path}", open_timeout=TIMEOUT)
        assert refused.value.response.status_code == 403, path


def test_a_client_that_vanishes_reaches_the_app_and_the_server_serves_on(starlette):
    with connect(f"{starlette.ws}/chat", open_timeout=TIMEOUT) as ws:
        ws.send("one")
        assert ws.recv(timeout=TIMEOUT) == "ONE"
        # Gone without a close handshake: the router resets the stream.
        ws.socket.close()
    deadline = time.monotonic() + TIMEOUT
    while httpx.get(f"{starlette.http}/disconnects", timeout=TIMEOUT).json() != ["chat DISCONNECTED"]:
        assert time.monotonic() < deadline, "the app never heard the client leave"
        time.sleep(0.02)
    with connect(f"{starlette.ws}/chat", open_timeout=TIMEOUT) as again:
        again.send("two")
        assert again.recv(timeout=TIMEOUT) == "TWO"


def test_sigterm_closes_websockets_with_1001(router, start_worker):
    # zroute only: uvicorn closes with 1012 (service restart) instead.
    worker = start_worker("starlette_app:app", id="starlette-term")
    with connect(f"ws://{router.http}/chat", open_timeout=TIMEOUT) as ws:
        ws.send("a")
        assert ws.recv(timeout=TIMEOUT) == "A"
        worker.signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert worker.wait_exit(TIMEOUT) == 0


def test_a_killed_worker_closes_with_1011(router, start_worker):
    worker = start_worker("starlette_app:app", id="starlette-kill")
    with connect(f"ws://{router.http}/chat", open_timeout=TIMEOUT) as ws:
        ws.send("a")
        assert ws.recv(timeout=TIMEOUT) == "A"
        worker.popen.send_signal(signal.SIGKILL)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
