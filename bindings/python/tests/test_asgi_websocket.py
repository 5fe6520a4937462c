"""The ASGI `websocket` scope (spec #websocket): FastAPI and Starlette
WebSocket routes behind the real router, driven by the `websockets` client."""

import json
import signal
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

TIMEOUT = 20


@pytest.fixture
def starlette(router, start_worker):
    return start_worker("starlette_app:app", id="starlette-ws")


@pytest.fixture
def fastapi(router, start_worker):
    return start_worker("fastapi_app:app", id="fastapi-ws")


def test_fastapi_route_with_path_and_query_parameters(router, fastapi):
    with connect(f"ws://{router.http}/ws/lobby?name=ada", open_timeout=TIMEOUT, max_size=None) as ws:
        ws.send("hi")
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"room": "lobby", "name": "ada", "said": "hi"}
        ws.send(b"\x01\x02\x03")
        assert ws.recv(timeout=TIMEOUT) == b"\x03\x02\x01"
        big = "x" * (4 << 20)
        ws.send(big)
        assert json.loads(ws.recv(timeout=TIMEOUT))["said"] == big
    assert ws.close_code == 1000


def test_starlette_accept_with_subprotocol_and_close_with_code(router, starlette):
    with connect(f"ws://{router.http}/chat", open_timeout=TIMEOUT, subprotocols=["v1", "v2"]) as ws:
        assert ws.subprotocol == "v2"
        assert ws.response.headers["x-chat"] == "yes"
        ws.send("shout")
        assert ws.recv(timeout=TIMEOUT) == "SHOUT"
        ws.send("bye")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4002, "see you")


def test_a_close_before_accept_is_403_and_an_unknown_route_too(router, starlette):
    for path in ("/refused", "/nowhere"):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://{router.http}{path}", open_timeout=TIMEOUT)
        assert refused.value.response.status_code == 403, path


def test_a_client_that_vanishes_reaches_the_app_and_the_worker_serves_on(router, starlette):
    with connect(f"ws://{router.http}/chat", open_timeout=TIMEOUT) as ws:
        ws.send("one")
        assert ws.recv(timeout=TIMEOUT) == "ONE"
        # Gone without a close handshake: the router resets the stream.
        ws.socket.close()
    deadline = time.monotonic() + TIMEOUT
    while router.client.get(router.url("/disconnects")).json() != ["chat DISCONNECTED"]:
        assert time.monotonic() < deadline, "the app never heard the client leave"
        time.sleep(0.02)
    with connect(f"ws://{router.http}/chat", open_timeout=TIMEOUT) as again:
        again.send("two")
        assert again.recv(timeout=TIMEOUT) == "TWO"


def test_sigterm_closes_websockets_with_1001(router, starlette):
    with connect(f"ws://{router.http}/chat", open_timeout=TIMEOUT) as ws:
        ws.send("a")
        assert ws.recv(timeout=TIMEOUT) == "A"
        starlette.signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert starlette.wait_exit(TIMEOUT) == 0
