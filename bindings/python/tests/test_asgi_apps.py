"""Starlette and FastAPI (ASGI) behind a real router, through a real HTTP client."""

import signal

import pytest

from helpers import digest_of, upload_chunks

BIG = 8 * 1024 * 1024


@pytest.fixture
def starlette(router, start_worker, tmp_path):
    marker = tmp_path / "lifespan"
    proc = start_worker("starlette_app:app", id="starlette-1", env={"LIFESPAN_MARKER": str(marker)})
    return proc, marker


@pytest.fixture
def fastapi(router, start_worker):
    return start_worker("fastapi_app:app", id="fastapi-1")


def test_starlette_get_headers_and_state(router, starlette):
    assert router.client.get("/").text == "hello from starlette"
    res = router.client.get("/headers", headers={"X-Custom": "abc"})
    assert res.headers["x-answer"] == "42"
    assert res.json() == {"x-custom": "abc"}
    state = router.client.get("/state", headers={"X-Request-Id": "rid-42"}).json()
    # Set by the lifespan startup, and the router's request id in the scope.
    assert state == {"started": "yes", "request_id": "rid-42"}


def test_starlette_large_streamed_upload(router, starlette):
    res = router.client.post("/upload", content=upload_chunks(BIG))
    assert res.json() == {"size": BIG, "sha256": digest_of(BIG)}


def test_starlette_streaming_response(router, starlette):
    with router.client.stream("GET", "/stream?n=40") as res:
        text = "".join(res.iter_text())
    assert text == "".join(f"line {i}\n" for i in range(40))


def test_sse_first_event_arrives_at_once_and_disconnect_reaches_app(router, starlette):
    # The stream never ends by itself: reading the first event proves it was
    # flushed on its own, and closing the client must reach the app.
    with router.client.stream("GET", "/events?tag=sse-1") as res:
        assert res.headers["content-type"].startswith("text/event-stream")
        first = next(res.iter_raw())
        assert first == b"data: first\n\n"
    listing = []

    def heard():
        listing[:] = router.client.get("/disconnects").json()
        return "sse-1" in listing

    router.wait_workers(lambda _: heard())
    assert "sse-1" in listing


def test_starlette_error_is_500_and_worker_lives_on(router, starlette):
    assert router.client.get("/fail").status_code == 500
    assert router.client.get("/").status_code == 200


def test_lifespan_shutdown_runs_on_sigterm(router, starlette):
    proc, marker = starlette
    assert router.client.get("/").status_code == 200
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(15) == 0
    assert marker.read_text() == "shutdown"


def test_fastapi_get_post_and_headers(router, fastapi):
    assert router.client.get("/").json() == {"hello": "fastapi"}
    res = router.client.post("/items", json={"name": "x", "size": 21}, headers={"X-Custom": "abc"})
    assert res.status_code == 200
    assert res.headers["x-answer"] == "42"
    assert res.json() == {"name": "x", "double": 42, "x-custom": "abc"}
    assert router.client.get("/items/-1").status_code == 404
    assert router.client.post("/items", json={"name": "x"}).status_code == 422


def test_fastapi_streaming_and_errors(router, fastapi):
    with router.client.stream("GET", "/stream?n=30") as res:
        text = "".join(res.iter_text())
    assert text == "".join(f"line {i}\n" for i in range(30))
    assert router.client.get("/fail").status_code == 500
    assert router.client.get("/items/3").json() == {"n": 3}


def test_head_has_no_body(router, starlette):
    res = router.client.head("/")
    assert res.status_code == 200
    assert res.content == b""
    with router.client.stream("HEAD", "/stream?n=3") as res:
        assert res.status_code == 200
        assert res.read() == b""
    assert router.client.get("/").text == "hello from starlette"
