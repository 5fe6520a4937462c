"""The router's native ZMTP transport against a ZeroMQ stack it did not
write: a worker on pyzmq (libzmq inside), written from the spec alone
(tests/interop/pyzmq_worker.py), registers, keeps its session alive through
heartbeats, and answers requests, including two messages' worth of parts
in one multipart message."""

import sys
from pathlib import Path

from conftest import Proc

WORKER = Path(__file__).parent / "interop" / "pyzmq_worker.py"


def test_a_pyzmq_worker_serves_through_the_native_router(router):
    worker = Proc([sys.executable, str(WORKER), router.endpoint, "pyzmq-1"])
    try:
        worker.wait_for_line(lambda line: "welcomed" in line, within=20)
        router.wait_workers(lambda ws: any(w["id"] == "pyzmq-1" for w in ws))
        for path in ("/", "/a/b?c=d"):
            res = router.client.get(router.url(path))
            assert res.status_code == 200, res.text
            assert res.text == f"pyzmq pyzmq-1 {path}"
        # Heartbeats keep the session: the worker PINGs every half interval
        # (100 ms; the router's is 200 ms) and the router echoes each; twenty
        # echoes are two seconds, past the router's 600 ms liveness.
        worker.wait_for_line(lambda line: line.strip() == "answered 20", within=20)
        res = router.client.get(router.url("/later"))
        assert (res.status_code, res.text) == (200, "pyzmq pyzmq-1 /later")
        ids = [w["id"] for w in router.workers()]
        assert ids == ["pyzmq-1"], "the same one session throughout"
    finally:
        worker.kill()
