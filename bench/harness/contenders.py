"""Every contender of the bench: how to start it, and where to send the load.

A contender is started fresh for each of its rounds and stopped afterwards, so
no contender runs while another is measured; all of them listen on loopback.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .procs import Group, free_port, wait_http_ok

HELLO_PATH = "/"


@dataclass
class Env:
    root: Path  # the repository
    work: Path  # scratch: configs, logs
    binaries: Path  # target/release (target/debug for smoke runs)
    venv: Path | None  # the bench virtualenv, None without the Python group

    def bin(self, name: str) -> str:
        return str(self.binaries / name)

    def example(self, name: str) -> str:
        return str(self.binaries / "examples" / name)

    def py(self, tool: str) -> str:
        assert self.venv is not None
        return str(self.venv / "bin" / tool)


@dataclass
class Running:
    group: Group
    url: str
    router_pid: int | None = None


@dataclass
class Contender:
    name: str
    scenario: str  # rust, flask, starlette, scaling
    start: Callable[[Env, Group], Running]
    baseline: str | None = None  # the contender its ratio is taken against
    notes: str = ""
    tags: list[str] = field(default_factory=list)


# ---- building blocks ----


def hyper(env: Env, group: Group) -> str:
    port = free_port()
    group.start([env.bin("hyper-hello"), f"127.0.0.1:{port}"], "hyper")
    return f"127.0.0.1:{port}"


def nginx(env: Env, group: Group, http_block: str, location: str) -> str:
    """Starts nginx with one worker on a free port: `http_block` goes in its
    `http` block, `location` in `location /`. Returns its address."""
    port = free_port()
    prefix = env.work / f"nginx-{port}"
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        textwrap.dedent(
            f"""\
            worker_processes 1;
            pid {prefix}/nginx.pid;
            error_log {prefix}/logs/error.log warn;
            events {{ worker_connections 4096; }}
            http {{
              access_log off;
              client_body_temp_path {prefix}/body;
              proxy_temp_path {prefix}/proxy;
              {http_block}
              server {{
                listen 127.0.0.1:{port};
                location / {{ {location} }}
              }}
            }}
            """
        )
    )
    group.start(["nginx", "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"], "nginx")
    return f"127.0.0.1:{port}"


def nginx_in_front(env: Env, group: Group, upstream: str | list[str]) -> str:
    upstreams = [upstream] if isinstance(upstream, str) else upstream
    servers = " ".join(f"server {u};" for u in upstreams)
    # Idle connections kept per worker, for the whole upstream: 64 as in the
    # reference configuration, and more with many backends, or round robin
    # over them would open a new connection for most requests.
    keepalive = max(64, 4 * len(upstreams))
    # The configuration of shared/notes/performance.md, verbatim in substance.
    return nginx(
        env,
        group,
        f"upstream backend {{ {servers} keepalive {keepalive}; }}",
        'proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";',
    )


def nginx_websocket_in_front(env: Env, group: Group, upstream: str) -> str:
    """nginx proxying WebSockets, as its documentation configures it: HTTP/1.1
    to the upstream, the client's Upgrade passed on, Connection: upgrade."""
    return nginx(
        env,
        group,
        "",
        f"proxy_pass http://{upstream}; proxy_http_version 1.1; "
        'proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"; '
        "proxy_read_timeout 3600s;",
    )


def ws_echo(env: Env, group: Group, crate: str = "tungstenite") -> str:
    port = free_port()
    group.start([env.bin("ws-echo"), f"127.0.0.1:{port}", crate], "ws-echo")
    return f"127.0.0.1:{port}"


def haproxy_in_front(env: Env, group: Group, upstream: str) -> str:
    port = free_port()
    cfg = env.work / f"haproxy-{port}.cfg"
    cfg.write_text(
        textwrap.dedent(
            f"""\
            global
              nbthread 1
              maxconn 5000
            defaults
              mode http
              http-reuse always
              timeout connect 5s
              timeout client 30s
              timeout server 30s
            frontend fe
              bind 127.0.0.1:{port}
              default_backend be
            backend be
              server s1 {upstream}
            """
        )
    )
    group.start(["haproxy", "-db", "-f", str(cfg)], "haproxy")
    return f"127.0.0.1:{port}"


# Where `bench/run` puts the router and the hello worker built with their
# `libzmq` feature, beside the default (native ZMTP) builds.
LIBZMQ_DIR = "libzmq"


def zroute_router(env: Env, group: Group, transport: str = "native") -> tuple[str, str, int]:
    http_port, admin_port = free_port(), free_port()
    workers = f"tcp://127.0.0.1:{free_port()}"
    router = env.bin("zroute-router") if transport == "native" else env.bin(f"{LIBZMQ_DIR}/zroute-router")
    proc = group.start(
        [
            router,
            "--http",
            f"127.0.0.1:{http_port}",
            "--workers",
            workers,
            "--admin",
            f"127.0.0.1:{admin_port}",
            # nginx runs with access_log off: the same for every proxy here.
            "--access-log",
            "false",
        ],
        "router",
        env={"RUST_LOG": "warn"},
    )
    return f"127.0.0.1:{http_port}", workers, proc.pid


def ready(group: Group, addr: str, path: str = HELLO_PATH, router_pid: int | None = None) -> Running:
    url = f"http://{addr}{path}"
    wait_http_ok(url, group)
    return Running(group, url, router_pid)


# ---- Rust ----


def hyper_direct(env: Env, group: Group) -> Running:
    return ready(group, hyper(env, group))


def nginx_hyper(env: Env, group: Group) -> Running:
    return ready(group, nginx_in_front(env, group, hyper(env, group)))


def nginx_fleet(backends: int) -> Callable[[Env, Group], Running]:
    """nginx in front of `backends` hyper processes (round robin), for the fleet scenario."""

    def start(env: Env, group: Group) -> Running:
        upstreams = [hyper(env, group) for _ in range(backends)]
        addr = nginx_in_front(env, group, upstreams)
        nginx_pid = next(p.pid for p in group.procs if p.args[0] == "nginx")
        return ready(group, addr, router_pid=nginx_pid)

    return start


def haproxy_hyper(env: Env, group: Group) -> Running:
    return ready(group, haproxy_in_front(env, group, hyper(env, group)))


def zroute_hello(workers: int, work_us: int = 0, transport: str = "native") -> Callable[[Env, Group], Running]:
    def start(env: Env, group: Group) -> Running:
        addr, endpoint, pid = zroute_router(env, group, transport)
        hello = env.example("hello") if transport == "native" else env.bin(f"{LIBZMQ_DIR}/hello")
        for i in range(workers):
            # --inline: hello's handler never blocks, so it may answer in the
            # session thread's first poll (Builder::inline_handlers).
            argv = [hello, f"worker-{i + 1}", "--connect", endpoint, "--inline", "--work-us", str(work_us)]
            group.start(argv, f"hello{i + 1}")
        running = ready(group, addr, router_pid=pid)
        if workers > 1:
            wait_workers(env, group, addr, workers)
        return running

    return start


def wait_workers(env: Env, group: Group, addr: str, n: int) -> None:
    """Every hello worker answers with its own id; wait until all have answered."""
    import time
    import urllib.request

    seen: set[bytes] = set()
    deadline = time.monotonic() + 30
    while len(seen) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(seen)} of {n} workers registered")
        group.check_alive()
        with urllib.request.urlopen(f"http://{addr}/", timeout=2) as res:
            seen.add(res.read())


# ---- Python ----

APPS = {
    "flask": "flask_hello:app",
    "starlette": "starlette_hello:app",
    "fastapi": "fastapi_json:app",
    "flask-json": "flask_json:app",
}
WSGI_APPS = {"flask", "flask-json"}
#: Where each app is measured: the hello apps at /, the JSON endpoints with a
#: path and a query parameter.
APP_PATHS = {"fastapi": "/items/42?q=widget", "flask-json": "/items/42?q=widget"}


def app_path(app: str) -> str:
    return APP_PATHS.get(app, HELLO_PATH)


def apps_dir(env: Env) -> Path:
    return env.root / "bench" / "apps"


def gunicorn_nginx(env: Env, group: Group) -> Running:
    port = free_port()
    group.start(
        [env.py("gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}", APPS["flask"]],
        "gunicorn",
        cwd=apps_dir(env),
    )
    wait_http_ok(f"http://127.0.0.1:{port}/", group)
    return ready(group, nginx_in_front(env, group, f"127.0.0.1:{port}"))


def uvicorn_nginx(app: str) -> Callable[[Env, Group], Running]:
    def start(env: Env, group: Group) -> Running:
        port = free_port()
        group.start(
            [env.py("uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--no-access-log", APPS[app]],
            "uvicorn",
            cwd=apps_dir(env),
        )
        wait_http_ok(f"http://127.0.0.1:{port}{app_path(app)}", group)
        return ready(group, nginx_in_front(env, group, f"127.0.0.1:{port}"), app_path(app))

    return start


def granian_nginx(app: str) -> Callable[[Env, Group], Running]:
    interface = "wsgi" if app in WSGI_APPS else "asgi"

    def start(env: Env, group: Group) -> Running:
        port = free_port()
        group.start(
            [
                env.py("granian"),
                "--interface",
                interface,
                "--workers",
                "1",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-ws",
                APPS[app],
            ],
            "granian",
            cwd=apps_dir(env),
        )
        wait_http_ok(f"http://127.0.0.1:{port}{app_path(app)}", group)
        return ready(group, nginx_in_front(env, group, f"127.0.0.1:{port}"), app_path(app))

    return start


def zroute_python(app: str) -> Callable[[Env, Group], Running]:
    interface = "wsgi" if app in WSGI_APPS else "asgi"

    def start(env: Env, group: Group) -> Running:
        addr, endpoint, pid = zroute_router(env, group)
        group.start(
            [
                env.py("zroute-worker"),
                APPS[app],
                "--interface",
                interface,
                "--workers",
                "1",
                "--connect",
                endpoint,
                # uvicorn runs with --no-access-log, nginx with access_log off.
                "--no-access-log",
            ],
            "zroute-worker",
            cwd=apps_dir(env),
        )
        return ready(group, addr, app_path(app), router_pid=pid)

    return start


RUST = [
    Contender("hyper direct", "rust", hyper_direct, notes="the ceiling: no proxy"),
    Contender("nginx → hyper", "rust", nginx_hyper),
    Contender("HAProxy → hyper", "rust", haproxy_hyper, baseline="nginx → hyper"),
    Contender("zroute → Rust hello", "rust", zroute_hello(1), baseline="nginx → hyper"),
    Contender(
        "zroute (libzmq) → Rust hello",
        "rust",
        zroute_hello(1, transport="libzmq"),
        baseline="zroute → Rust hello",
        notes="router and worker built with their libzmq feature: the transport before issue 16",
    ),
]

PYTHON = [
    Contender("Flask: gunicorn ×1 behind nginx", "flask", gunicorn_nginx),
    Contender("Flask: granian WSGI behind nginx", "flask", granian_nginx("flask")),
    Contender("Flask: zroute + binding", "flask", zroute_python("flask"), baseline="Flask: granian WSGI behind nginx"),
    Contender("Starlette: uvicorn behind nginx", "starlette", uvicorn_nginx("starlette")),
    Contender("Starlette: granian ASGI behind nginx", "starlette", granian_nginx("starlette")),
    Contender(
        "Starlette: zroute + binding",
        "starlette",
        zroute_python("starlette"),
        baseline="Starlette: granian ASGI behind nginx",
    ),
    Contender("FastAPI JSON: uvicorn behind nginx", "fastapi", uvicorn_nginx("fastapi")),
    Contender("FastAPI JSON: granian ASGI behind nginx", "fastapi", granian_nginx("fastapi")),
    Contender(
        "FastAPI JSON: zroute + binding",
        "fastapi",
        zroute_python("fastapi"),
        baseline="FastAPI JSON: granian ASGI behind nginx",
    ),
    Contender("Flask JSON: granian WSGI behind nginx", "flask-json", granian_nginx("flask-json")),
    Contender(
        "Flask JSON: zroute + binding",
        "flask-json",
        zroute_python("flask-json"),
        baseline="Flask JSON: granian WSGI behind nginx",
    ),
]

# The fleet scenario: what the proxy costs as its backends multiply (issue 16). The
# proxy's own CPU per request is recorded apart (`proxy_cpu_us_per_request`).
FLEET_SIZES = (1, 50, 200)
FLEET = [
    c
    for n in FLEET_SIZES
    for c in (
        Contender(f"nginx → {n} hyper", "fleet", nginx_fleet(n)),
        Contender(f"zroute → {n} hello", "fleet", zroute_hello(n), baseline=f"nginx → {n} hyper"),
    )
]

# CPU each request costs the workers of the second scaling scenario.
WORK_US = 250

SCALING = [
    Contender("zroute, 1 hello worker", "scaling", zroute_hello(1)),
    Contender("zroute, 2 hello workers", "scaling", zroute_hello(2), baseline="zroute, 1 hello worker"),
    Contender("zroute, 4 hello workers", "scaling", zroute_hello(4), baseline="zroute, 1 hello worker"),
    # A hello answer costs the worker less than the router's share of a request, so on two
    # cores the router saturates first; these workers cost CPU as an application does.
    Contender(f"zroute, 1 worker, {WORK_US} µs CPU/req", "scaling-work", zroute_hello(1, WORK_US)),
    Contender(
        f"zroute, 2 workers, {WORK_US} µs CPU/req",
        "scaling-work",
        zroute_hello(2, WORK_US),
        baseline=f"zroute, 1 worker, {WORK_US} µs CPU/req",
    ),
    Contender(
        f"zroute, 4 workers, {WORK_US} µs CPU/req",
        "scaling-work",
        zroute_hello(4, WORK_US),
        baseline=f"zroute, 1 worker, {WORK_US} µs CPU/req",
    ),
]


# ---- WebSockets: echo, messages/s (bench/run's `websocket` scenario) ----


@dataclass
class WsRunning:
    url: str  # ws://host:port/path
    proxy_pid: int | None


def ws_zroute(env: Env, group: Group) -> WsRunning:
    addr, endpoint, pid = zroute_router(env, group)
    group.start([env.example("testapp"), "ws-bench", "--connect", endpoint, "--capacity", "256"], "testapp")
    wait_http_ok(f"http://{addr}/hello", group)
    return WsRunning(f"ws://{addr}/ws/echo", pid)


def ws_nginx(env: Env, group: Group) -> WsRunning:
    backend = ws_echo(env, group)
    addr = nginx_websocket_in_front(env, group, backend)
    wait_http_ok(f"http://{addr}/", group)
    # nginx's master, the last process started; its worker is its child.
    return WsRunning(f"ws://{addr}/", group.procs[-1].pid)


def ws_direct(crate: str) -> Callable[[Env, Group], WsRunning]:
    """The echo alone, no proxy: the ceiling, and the two WebSocket crates side by side."""

    def start(env: Env, group: Group) -> WsRunning:
        addr = ws_echo(env, group, crate)
        wait_http_ok(f"http://{addr}/", group)
        return WsRunning(f"ws://{addr}/", None)

    return start


WEBSOCKET = [
    ("zroute → Rust /ws/echo", ws_zroute),
    ("nginx → ws-echo (hyper + tungstenite)", ws_nginx),
    ("ws-echo direct (tungstenite)", ws_direct("tungstenite")),
    ("ws-echo direct (fastwebsockets)", ws_direct("fastwebsockets")),
]
WEBSOCKET_BASELINE = "nginx → ws-echo (hyper + tungstenite)"
