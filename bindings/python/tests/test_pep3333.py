"""WSGI corners (write(), exc_info, close(), wsgi.file_wrapper, wsgi.input)
and ASGI lifespan modes, through the real router."""

import pytest


@pytest.fixture
def raw(router, start_worker):
    start_worker("raw_wsgi:app", "--threads", "2", id="raw")


def test_write_callable_then_iterable(router, raw):
    assert router.client.get("/write").text == "written, then returned"


def test_exc_info_replaces_the_status_before_the_head_went_out(router, raw):
    res = router.client.get("/exc-info")
    assert res.status_code == 503
    assert res.text == "replaced"


def test_close_is_called(router, raw):
    assert router.client.get("/close?tag-1").text == "one two"
    assert "tag-1" in router.client.get("/closed").json()


def test_file_wrapper(router, raw):
    assert router.client.get("/file").content == b"0123456789" * 10000


def test_input_readline_and_readlines(router, raw):
    body = b"".join(b"line %d\n" % i for i in range(1000))
    assert router.client.post("/lines", content=body).json() == {"first": "line 0\n", "rest": 999}


def test_input_sizes_read1_hints_and_iteration(router, raw):
    body = b"abcdefgh\n" + b"".join(b"line %d\n" % i for i in range(100))
    assert router.client.post("/input-corners", content=body).json() == {
        "read3": "abc",
        "read1": 5,  # "defgh": what one read gives, at most the size asked
        "readline2": "\n",
        "readline": "line 0\n",
        "hinted": 1,  # one line reaches a hint of 1 byte
        "iterated": 98,
        "after": "",
    }


def test_environ(router, raw):
    env = router.client.get("/environ/caf%C3%A9?a=1&b=%20").json()
    assert env["PATH_INFO"] == "/environ/café".encode().decode("latin-1")
    assert env["QUERY_STRING"] == "a=1&b=%20"
    assert env["SCRIPT_NAME"] == ""
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.url_scheme"] == "http"
    assert env["RAW_URI"] == "/environ/caf%C3%A9?a=1&b=%20"
    assert env["SERVER_SOFTWARE"].startswith("zroute/")


@pytest.fixture
def gunicorn():
    """The same app under a real gunicorn on loopback: its address."""
    import signal
    import socket
    import sys

    from conftest import APPS, Proc

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = Proc(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "raw_wsgi:app"], cwd=APPS
    )
    try:
        proc.wait_for_line(lambda l: "Booting worker" in l, 20)
        yield f"127.0.0.1:{port}"
    finally:
        # SIGTERM: gunicorn stops its worker too. SIGKILL would leave the
        # worker running, orphaned, with the listening socket and our pipe.
        proc.signal(signal.SIGTERM)
        proc.wait_exit(10)
        proc.kill()


def test_environ_and_errors_as_gunicorn_gives_them(router, raw, gunicorn):
    """The same app under gunicorn and under the binding: the request's keys
    agree, and a failing app gets a 500 with a short body from both."""
    import httpx

    target = "/environ/caf%C3%A9?a=1&b=%20"
    theirs = httpx.get(f"http://{gunicorn}{target}", timeout=10).json()
    ours = router.client.get(target).json()
    for key in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "RAW_URI", "SCRIPT_NAME", "SERVER_PROTOCOL",
                "REMOTE_ADDR", "wsgi.url_scheme"):
        assert ours[key] == theirs[key], key
    assert {"SERVER_SOFTWARE", "SERVER_NAME", "SERVER_PORT", "REMOTE_PORT"} <= ours.keys() & theirs.keys()
    their_error = httpx.get(f"http://{gunicorn}/fail", timeout=10)
    our_error = router.client.get("/fail")
    assert their_error.status_code == our_error.status_code == 500
    assert "Internal Server Error" in their_error.text and our_error.text == "Internal Server Error"
    assert our_error.headers["content-type"] == "text/plain; charset=utf-8"
    assert router.client.head("/fail").status_code == 500


def http_get(address: str, target: str):
    """One request with the standard library's client (another HTTP/1.1
    implementation than httpx): (local port, status, reason, body)."""
    import http.client

    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.connect()
        local_port = conn.sock.getsockname()[1]
        conn.request("GET", target)
        res = conn.getresponse()
        return local_port, res.status, res.reason, res.read()
    finally:
        conn.close()


def test_remote_port_and_reason_phrase_as_gunicorn_gives_them(router, raw, gunicorn):
    """REMOTE_PORT is the client's own port, and the app's reason phrase
    reaches the client's status line, under gunicorn and through the router."""
    import json

    for name, address in (("gunicorn", gunicorn), ("zroute", router.http)):
        local_port, status, _, body = http_get(address, "/environ/x")
        assert status == 200, name
        assert json.loads(body)["REMOTE_PORT"] == str(local_port), name
        for wsgi_status, reason in (
            ("200 Totally Fine", "Totally Fine"),
            ("404 Gone Fishing", "Gone Fishing"),
            ("201 Created", "Created"),  # the registered one: not carried, written by the router
            ("299 Custom", "Custom"),  # no registered phrase to fall back on
            ("503 caf%C3%A9 ok", "café ok"),  # obs-text: Latin-1 on the wire
        ):
            _, status, got, _ = http_get(address, "/status-line?" + wsgi_status.replace(" ", "%20"))
            assert (status, got) == (int(wsgi_status[:3]), reason), (name, wsgi_status)
    # A status line cannot carry a control byte: the app's error, so a 500.
    assert router.client.get("/status-line?200%20a%01b").status_code == 500


def test_asgi_client_has_the_port(router, start_worker):
    import json

    start_worker("raw_asgi:app", id="asgi-port")
    local_port, status, _, body = http_get(router.http, "/scope")
    assert status == 200
    assert json.loads(body)["client"] == ["127.0.0.1", local_port]


def test_underscored_header_names_cannot_pose_as_router_headers(router, raw):
    # "X_Forwarded_For" and "X-Forwarded-For" share one CGI name: the
    # underscored one is dropped, as gunicorn does, so the router's word stands.
    env = router.client.get(
        "/environ/x", headers={"X_Forwarded_For": "6.6.6.6", "X_Request_Id": "forged", "X-Custom": "kept"}
    ).json()
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert "6.6.6.6" not in env["HTTP_X_FORWARDED_FOR"]
    assert env["HTTP_X_REQUEST_ID"] != "forged"
    assert env["HTTP_X_CUSTOM"] == "kept"


def test_lifespan_auto_goes_on_without_it(router, start_worker):
    start_worker("raw_asgi:app", "--lifespan", "auto", id="raw-asgi")
    assert router.client.get("/").text == "raw asgi"


def test_lifespan_on_fails_for_an_app_without_it(router, start_worker):
    proc = start_worker("raw_asgi:app", "--lifespan", "on", id="raw-asgi", wait=False)
    assert proc.wait_exit(15) != 0
    assert "lifespan" in proc.output()


def test_close_is_called_when_the_client_goes_away(router, raw):
    with router.client.stream("GET", "/endless?gone-1") as res:
        assert next(res.iter_raw()).startswith(b"tick\n")
    router.wait_workers(lambda _: "gone-1" in router.client.get("/closed").json())


def test_factory(router, start_worker):
    start_worker("raw_wsgi:create", "--factory", id="factory")
    assert router.client.get("/write").text == "written, then returned"


def test_asgi_send_waits_for_a_slow_client(router, start_worker):
    """Backpressure: send() waits for the stream (two chunks queued at most)
    instead of queueing what the app produces, so an app that wants to send
    256 MiB to a client that stopped reading soon waits."""
    start_worker("raw_asgi:app", id="producer")
    with router.client.stream("GET", "/produce?slow-reader") as res:
        assert next(res.iter_raw())
        blocked = router.wait_workers(lambda _: "slow-reader" in router.client.get("/blocked").json()) and (
            router.client.get("/blocked").json()["slow-reader"]
        )
    assert blocked < 4096 // 2, f"the app produced {blocked} chunks of 64 KiB before a send waited"


def test_asgi_receive_after_the_response_hears_the_end(router, start_worker):
    """An app that answers in full and then waits on receive() gets
    http.disconnect once the stream is over, every time, whichever comes
    first: its wait, or the stream's end."""
    start_worker("raw_asgi:app", id="after")
    tags = [f"after-{i}" for i in range(30)]
    for tag in tags:
        res = router.client.get(f"/after?{tag}")
        assert (res.status_code, res.text) == (200, "done")
    heard = router.wait_workers(lambda _: set(tags) <= set(router.client.get("/after-log").json())) and (
        router.client.get("/after-log").json()
    )
    assert {heard[t] for t in tags} == {"http.disconnect"}


def test_asgi_response_leaves_before_the_app_returns(router, start_worker):
    """The heads of one pass of the loop leave together when the pass ends,
    not when their tasks end: an app that answers and then goes on awaiting
    (a background task) has its response delivered while it lingers."""
    start_worker("raw_asgi:app", id="linger")
    for i in range(5):
        res = router.client.get(f"/linger?linger-{i}")
        assert (res.status_code, res.text) == (200, "answered")
    assert router.client.get("/lingered").json() == []
