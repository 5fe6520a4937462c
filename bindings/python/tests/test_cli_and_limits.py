"""The command line (flags, ZROUTE_* variables, --workers) and the limits."""

import signal

import pytest

from zroute.serving import detect_interface


def test_env_variables_set_id_and_routes(router, start_worker):
    start_worker("flask_app:app", id="from-flag", env={"ZROUTE_ROUTE": "/api"}, wait=False)
    listing = router.wait_workers(lambda ws: any(w["id"] == "from-flag" for w in ws))
    (worker,) = [w for w in listing if w["id"] == "from-flag"]
    assert worker["routes"] == ["/api"]


def test_capacity_is_the_thread_count(router, start_worker):
    start_worker("flask_app:app", "--threads", "3", id="wsgi-3")
    start_worker("starlette_app:app", "--concurrency", "7", id="asgi-7")
    caps = {w["id"]: w["capacity"] for w in router.workers()}
    assert caps["wsgi-3"] == 3
    assert caps["asgi-7"] == 7


def test_several_worker_processes(router, start_worker):
    proc = start_worker("flask_app:app", "--workers", "2", id="multi", wait=False)
    router.wait_workers(lambda ws: {"multi-0", "multi-1"} <= {w["id"] for w in ws})
    assert router.client.get("/").text == "hello from flask"
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(15) == 0


def test_body_limit_is_413(router, start_worker):
    start_worker("flask_app:app", "--max-body", "1000", id="limited")
    assert router.client.post("/upload", content=b"x" * 5000).status_code == 413
    assert router.client.post("/upload", content=b"x" * 500).json()["size"] == 500


def test_header_limit_is_431(router, start_worker):
    start_worker("flask_app:app", "--max-header", "2000", id="limited")
    assert router.client.get("/", headers={"X-Big": "y" * 4000}).status_code == 431
    assert router.client.get("/").status_code == 200


@pytest.mark.parametrize("app", ["flask_app:app", "starlette_app:app"])
def test_request_timeout_is_504(router, start_worker, app):
    start_worker(app, "--timeout", "0.5", id="timed")
    assert router.client.get("/slow?ms=5000").status_code == 504
    assert router.client.get("/").status_code == 200


def test_bad_app_spec_fails_fast(router, start_worker):
    proc = start_worker("no_such_module:app", id="broken", wait=False)
    assert proc.wait_exit(15) != 0


def test_interface_detection():
    async def asgi(scope, receive, send):
        pass

    def wsgi(environ, start_response):
        pass

    class AsgiClass:
        async def __call__(self, scope, receive, send):
            pass

    assert detect_interface(asgi) == "asgi"
    assert detect_interface(AsgiClass()) == "asgi"
    assert detect_interface(wsgi) == "wsgi"


def served_beside_a_slow_request(router):
    """Five requests answered while a 3 s one runs, and that one answered too."""
    import threading

    slow = []
    t = threading.Thread(target=lambda: slow.append(router.client.get("/slow?ms=3000").status_code))
    t.start()
    try:
        router.wait_workers(lambda ws: sum(w["in_flight"] for w in ws) == 1)
        for _ in range(5):
            assert router.client.get("/").status_code == 200
        assert slow == [], "the fast requests were served while the slow one ran"
    finally:
        t.join(30)
    assert slow == [200]


def test_a_slow_request_does_not_hold_up_others(router, start_worker):
    """Capacity 1 each: while one worker is busy with a slow request, the
    router sends the next one to the idle worker instead of queueing it."""
    start_worker("flask_app:app", "--threads", "1", id="busy")
    start_worker("flask_app:app", "--threads", "1", id="idle")
    served_beside_a_slow_request(router)


def test_a_pool_thread_in_app_code_leaves_the_others_serving(router, start_worker):
    """One worker, two threads: while one thread sleeps in the app (the GIL
    released), the other takes every next request."""
    start_worker("flask_app:app", "--threads", "2", id="pool-2")
    served_beside_a_slow_request(router)


@pytest.mark.parametrize("spec", ["flask_app:app", "starlette_app:app"])
def test_a_burst_beyond_the_capacity_is_served_in_full(router, start_worker, spec):
    """Forty clients at once against a capacity of four: each of 200
    requests is answered (WSGI: from the pool's queue; ASGI: responses
    leave in batches, one per pass of the loop)."""
    from concurrent.futures import ThreadPoolExecutor

    flag = "--threads" if spec.startswith("flask") else "--concurrency"
    start_worker(spec, flag, "4", id="burst")
    with ThreadPoolExecutor(40) as pool:
        got = list(pool.map(lambda i: router.client.get(f"/slow?ms={i % 5}"), range(200)))
    assert [(r.status_code, r.text) for r in got] == [(200, "slow")] * 200


def test_web_concurrency_sets_the_process_count(router, start_worker):
    proc = start_worker("flask_app:app", id="webc", env={"WEB_CONCURRENCY": "2"}, wait=False)
    router.wait_workers(lambda ws: {"webc-0", "webc-1"} <= {w["id"] for w in ws})
    proc.signal(signal.SIGTERM)
    assert proc.wait_exit(15) == 0


@pytest.mark.parametrize("app", ["flask_app:app", "starlette_app:app"])
def test_access_log_has_the_request_id(router, start_worker, app):
    proc = start_worker(app, "--access-log", id="logged")
    assert router.client.get("/headers?q=1", headers={"X-Request-Id": "acc-42"}).status_code == 200
    line = proc.wait_for_line(lambda l: "zroute.access" in l and "acc-42" in l, 10)
    assert '"GET /headers?q=1 HTTP/1.1" 200' in line
    # The runtime's own lines come through Python logging too.
    proc.wait_for_line(lambda l: "zroute.runtime" in l and "registered" in l, 10)


@pytest.mark.parametrize("app", ["flask_app:app", "starlette_app:app"])
def test_invalid_configuration_fails_fast(router, start_worker, app):
    proc = start_worker(app, "--route", "not a route!", id="bad-route", wait=False)
    assert proc.wait_exit(15) == 1
    assert "invalid worker configuration" in proc.output()
