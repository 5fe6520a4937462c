"""WebSockets end to end against a client zroute did not write: the
`websockets` library, through the real router, to the Rust, Go and Node
test apps' `/ws/echo` (spec #websocket, Appendix A.11), and over TLS."""

import os
import signal
import ssl
import subprocess
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conftest import REPO, Proc, Router, router_binary

TIMEOUT = 20


def app_command(kind: str, endpoint: str) -> list:
    """The Rust, Go and Node test apps (spec Appendix A.11), as scripts/test
    builds them before this suite runs."""
    if kind == "rust":
        path = Path(router_binary()).parent / "examples" / "testapp"
        build = "cargo build -p zroute-worker --examples"
        command = [str(path), "ws-rust"]
    elif kind == "go":
        path = REPO / "target" / "go-testapp"
        build = "cd workers/go && go build -o ../../target/go-testapp ./cmd/testapp"
        command = [str(path), "ws-go"]
    else:
        path = REPO / "workers" / "node" / "bin" / "testapp.js"
        build = "cd workers/node && npm ci"
        command = ["node", str(path), "ws-node"]
    if not path.exists():
        pytest.fail(f"{path} is missing: {build}")
    return command + ["--connect", endpoint]


@pytest.fixture(params=["rust", "go", "node"])
def app(request, router):
    command = app_command(request.param, router.endpoint)
    proc = Proc(command)
    try:
        router.wait_workers(lambda ws: any(w["id"] == command[-3] for w in ws))
        yield proc
    finally:
        proc.kill()


@pytest.fixture
def echo(router, app):
    return f"ws://{router.http}/ws/echo"


def test_text_binary_fragments_ping_and_a_large_message(echo):
    with connect(echo, max_size=None, open_timeout=TIMEOUT, subprotocols=["chat", "echo"]) as ws:
        assert ws.subprotocol == "echo"
        ws.send("héllo")
        assert ws.recv(timeout=TIMEOUT) == "héllo"
        ws.send(b"\x00\xff")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\xff"
        # A message sent as three fragments arrives as one.
        ws.send(["frag", "men", "ted"])
        assert ws.recv(timeout=TIMEOUT) == "fragmented"
        # The router answers pings itself.
        assert ws.ping(b"p").wait(TIMEOUT)
        big = os.urandom(16 << 20)
        ws.send(big)
        assert ws.recv(timeout=TIMEOUT) == big
    assert ws.close_code == 1000


def test_the_workers_close_code_and_reason_reach_the_client(echo):
    with connect(echo, open_timeout=TIMEOUT) as ws:
        ws.send("close:4001:from the worker")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "from the worker")


def test_an_oversized_message_is_closed_with_1009(router, echo):
    with connect(echo, max_size=None, open_timeout=TIMEOUT) as ws:
        ws.send(b"x" * ((16 << 20) + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_a_draining_worker_closes_with_1001(echo, app):
    with connect(echo, open_timeout=TIMEOUT) as ws:
        ws.send("x")
        assert ws.recv(timeout=TIMEOUT) == "x"
        app.signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert app.wait_exit(TIMEOUT) == 0


def test_a_refusal_is_an_http_response(echo):
    with pytest.raises(InvalidStatus) as refused:
        connect(echo.replace("/ws/echo", "/ws/nothing"), open_timeout=TIMEOUT)
    assert refused.value.response.status_code == 404


def test_a_killed_worker_closes_with_1011(echo, app):
    with connect(echo, open_timeout=TIMEOUT) as ws:
        ws.send("x")
        assert ws.recv(timeout=TIMEOUT) == "x"
        app.popen.send_signal(signal.SIGKILL)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


def test_wss_through_a_tls_router(tmp_path):
    """The same echo over TLS (ALPN http/1.1), to the Rust test app."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        check=True,
        capture_output=True,
    )
    router_proc = Proc(
        [router_binary(), "--log-format", "json", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0",
         "--workers", "tcp://127.0.0.1:0", "--tls-cert", str(cert), "--tls-key", str(key)],
        env=dict(os.environ, ZROUTE_LOG_LEVEL="info"),
    )
    try:
        router = Router(router_proc)
        app = Proc(app_command("rust", router.endpoint))
        try:
            router.wait_workers(lambda ws: any(w["id"] == "ws-rust" for w in ws))
            context = ssl.create_default_context(cafile=str(cert))
            port = router.http.rsplit(":", 1)[1]
            with connect(f"wss://localhost:{port}/ws/echo", ssl=context, open_timeout=TIMEOUT) as ws:
                ws.send("secret")
                assert ws.recv(timeout=TIMEOUT) == "secret"
                ws.send("close:4004:tls")
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4004
        finally:
            app.kill()
    finally:
        router_proc.kill()
