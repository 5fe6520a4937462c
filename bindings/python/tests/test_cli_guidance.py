"""The command line guides: gunicorn's and uvicorn's flags get an answer,
bad input gets one line and exit status 2 (never a traceback), factories
are detected, and the worker says when it reaches no router."""

import importlib.util
import os
import re
import signal
import subprocess
import sys

import pytest

from conftest import APPS, Proc


def run_cli(*args, env=None, timeout=30):
    """Runs `zroute-worker ARGS...` to its end (every case here exits before
    it would connect anywhere)."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "zroute", *args],
        cwd=APPS,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line(result, *needles):
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    "args, flag, answer",
    [
        (["--bind", "0.0.0.0:8000"], "--bind", "zroute-router --http ADDR"),
        (["--bind=0.0.0.0:8000"], "--bind", "--connect ENDPOINT"),
        (["-b", "0.0.0.0:8000"], "-b", "the router does"),
        (["--host", "0.0.0.0"], "--host", "zroute-router --http ADDR"),
        (["--port", "8000"], "--port", "zroute-router --http ADDR"),
        (["-w", "4"], "-w", "--workers N"),
        (["-w4"], "-w", "--workers N"),
        (["-k", "uvicorn.workers.UvicornWorker"], "-k", "--interface wsgi|asgi"),
        (["--chdir", "/srv/app"], "--chdir", "--app-dir DIR"),
        (["--preload"], "--preload", "imports the app itself"),
        (["--access-logfile", "-"], "--access-logfile", "--no-access-log"),
        (["--proxy-headers"], "--proxy-headers", "X-Forwarded-For"),
    ],
)
def test_foreign_flags_get_a_one_line_answer(args, flag, answer):
    result = run_cli("flask_app:app", *args)
    assert_one_line(result, f"zroute-worker: {flag}:", answer)


@pytest.mark.parametrize(
    "args, env, needle",
    [
        ([], {"ZROUTE_THREADS": "abc"}, "ZROUTE_THREADS='abc': not a whole number"),
        ([], {"ZROUTE_TIMEOUT": "soon"}, "ZROUTE_TIMEOUT='soon': not a number"),
        ([], {"ZROUTE_ACCESS_LOG": "maybe"}, "ZROUTE_ACCESS_LOG='maybe': not a boolean"),
        (["--connect", "tcp://127.0.0.1:1"], {}, "no module 'no_such_module'"),
        (["--factory"], {}, "--factory: flask_app:app is not an app factory"),
    ],
    ids=["threads", "timeout", "access-log", "module", "factory"],
)
def test_bad_values_get_one_line_and_status_2(args, env, needle):
    spec = "no_such_module:app" if needle.startswith("no module") else "flask_app:app"
    result = run_cli(spec, *args, env=env)
    assert_one_line(result, needle)


def test_a_missing_attribute_or_a_bad_spec_is_one_line():
    assert_one_line(run_cli("flask_app:nowhere"), "module 'flask_app' has no attribute 'nowhere'")
    assert_one_line(run_cli("flask_app"), "module:attribute")


@pytest.mark.skipif(importlib.util.find_spec("uvloop") is not None, reason="uvloop is installed here")
def test_uvloop_asked_for_but_not_installed():
    assert_one_line(run_cli("starlette_app:app", "--loop", "uvloop"), "pip install uvloop", "--loop asyncio")


def test_an_error_in_the_app_module_keeps_its_traceback():
    """Not a bad value: the app's own module failed, and its traceback is
    what its author needs."""
    result = run_cli("broken_app:app")
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "the app module fails on import" in result.stderr


def test_argparse_errors_are_status_2_without_a_traceback():
    result = run_cli("flask_app:app", "--threads", "many")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--threads" in result.stderr


def test_log_levels_in_any_case(router, start_worker):
    start_worker("flask_app:app", "--log-level", "DEBUG", id="loud-flag")
    start_worker("flask_app:app", id="loud-env", env={"ZROUTE_LOG_LEVEL": "Warning"})
    assert router.client.get("/").status_code == 200
    assert_one_line(run_cli("flask_app:app", env={"ZROUTE_LOG_LEVEL": "chatty"}), "ZROUTE_LOG_LEVEL='chatty'")


def test_a_factory_without_the_flag_is_detected_and_served(router, start_worker):
    proc = start_worker("raw_wsgi:create", id="factory-detected")
    assert router.client.get("/write").text == "written, then returned"
    proc.wait_for_line(lambda l: "raw_wsgi:create looks like an app factory" in l and "--factory" in l, 10)


def test_a_worker_with_no_router_says_where_it_tries():
    """No router on the endpoint: after 5 s one line names it and how to
    start a router there."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        endpoint = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    proc = Proc([sys.executable, "-m", "zroute", "flask_app:app", "--connect", endpoint], cwd=APPS)
    try:
        line = proc.wait_for_line(lambda l: "no router reached" in l, 20)
    finally:
        proc.kill()
    assert endpoint in line and f"zroute-router --workers {endpoint}" in line


def test_the_access_log_is_on_by_default_in_uvicorns_format(router, start_worker):
    proc = start_worker("flask_app:app", id="access-default")
    res = router.client.get("/?x=1", headers={"user-agent": "guide-test/1.0"})
    assert res.status_code == 200
    # The router appends its TCP peer (this client, on loopback) to
    # X-Forwarded-For: that last element is the client address logged.
    line = proc.wait_for_line(lambda l: "zroute.access" in l and "guide-test/1.0" in l, 10)
    assert re.search(r'127\.0\.0\.1:\d+ - "GET /\?x=1 HTTP/1\.1" 200 OK', line), line


def test_no_access_log_turns_it_off(router, start_worker):
    proc = start_worker("flask_app:app", "--no-access-log", id="access-off")
    assert router.client.get("/", headers={"user-agent": "quiet-test/1.0"}).status_code == 200
    proc.signal(signal.SIGTERM)
    proc.wait_for_line(lambda l: "stopped" in l, 20)
    assert "zroute.access" not in proc.output()


def test_an_idle_wsgi_worker_stops_on_sigint_without_a_busy_warning(router, start_worker):
    proc = start_worker("flask_app:app", "--threads", "4", id="idle-int")
    assert router.client.get("/").status_code == 200
    proc.signal(signal.SIGINT)
    proc.wait_for_line(lambda l: "stopped" in l, 20)
    assert "still running" not in proc.output(), proc.output()
