"""SIGTERM under load: the worker drains (zero failed requests, the router
sends new ones to the other worker) and exits within its graceful timeout.
This is where a wait or a runtime drop holding the interpreter would hang."""

import signal
import threading

import httpx
import pytest

GRACEFUL = 5.0
# Python start-up and interpreter exit on a loaded machine come on top.
EXIT_MARGIN = 5.0


def run_load(router, stop: threading.Event, results: list, path: str, clients: int = 6, max_requests: int = 400):
    def client():
        with httpx.Client(base_url=f"http://{router.http}", timeout=30.0) as c:
            for _ in range(max_requests):
                if stop.is_set():
                    return
                try:
                    results.append(c.get(path).status_code)
                except httpx.HTTPError as e:
                    results.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    return threads


@pytest.mark.parametrize("app", ["flask_app:app", "starlette_app:app"])
def test_sigterm_under_load_drains_without_failures(router, start_worker, app):
    common = ("--graceful-timeout", str(GRACEFUL), "--threads", "4", "--concurrency", "4")
    leaving = start_worker(app, *common, id="leaving")
    start_worker(app, *common, id="staying")
    stop, results = threading.Event(), []
    threads = run_load(router, stop, results, "/slow?ms=50")
    try:
        router.wait_workers(lambda ws: any(w["id"] == "leaving" and w["in_flight"] > 0 for w in ws))
        served_before = len(results)
        leaving.signal(signal.SIGTERM)
        assert leaving.wait_exit(GRACEFUL + EXIT_MARGIN) == 0
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    failures = [r for r in results if r != 200]
    assert not failures, f"{len(failures)} failed requests: {failures[:5]}"
    assert len(results) > served_before
    assert "draining" in leaving.output()


def test_sigterm_gives_up_long_requests_at_the_graceful_timeout(router, start_worker):
    """A stream that never ends is told (http.disconnect) at the graceful
    timeout, and the worker exits."""
    proc = start_worker("starlette_app:app", "--graceful-timeout", "1", id="sse")
    with router.client.stream("GET", "/events?tag=long") as res:
        assert next(res.iter_raw()) == b"data: first\n\n"
        proc.signal(signal.SIGTERM)
        assert proc.wait_exit(1 + EXIT_MARGIN) == 0


@pytest.mark.parametrize("app", ["flask_app:app", "starlette_app:app"])
def test_sigint_is_fast(router, start_worker, app):
    proc = start_worker(app, "--graceful-timeout", "60", id="fast")
    stop, results = threading.Event(), []
    threads = run_load(router, stop, results, "/slow?ms=20000", clients=2, max_requests=1)
    try:
        router.wait_workers(lambda ws: any(w["id"] == "fast" and w["in_flight"] > 0 for w in ws))
        proc.signal(signal.SIGINT)
        # Far less than the 60 s graceful timeout, and far less than the requests' 20 s.
        assert proc.wait_exit(EXIT_MARGIN) == 0
    finally:
        stop.set()
        for t in threads:
            t.join(60)
