"""``zroute-worker module:app``: the command line, in the conventions of
gunicorn, uvicorn and granian. Every flag also reads ``ZROUTE_<FLAG>``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import subprocess
import sys
from typing import Any, List, Optional, Sequence

from .config import Config, split_endpoints

log = logging.getLogger("zroute")


def env(name: str, default: Any = None) -> Any:
    return os.environ.get("ZROUTE_" + name, default)


def env_flag(name: str) -> bool:
    return env(name, "").lower() in ("1", "true", "yes", "on")


def env_list(name: str) -> List[str]:
    return split_endpoints(env(name, ""))


def default_workers() -> int:
    """ZROUTE_WORKERS, else WEB_CONCURRENCY, else 1. ZROUTE_WORKERS is also the
    router's variable for its endpoint: a value that is no number is not ours."""
    for name in ("ZROUTE_WORKERS", "WEB_CONCURRENCY"):
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        if value.isdigit():
            return int(value)
        logging.getLogger("zroute").warning("ignoring %s=%r: not a number of processes", name, value)
    return 1


def parser() -> argparse.ArgumentParser:
    d = Config()
    p = argparse.ArgumentParser(
        prog="zroute-worker",
        description="Serve a WSGI or ASGI app behind zroute routers. "
        "Every flag can also be set by the environment variable ZROUTE_<FLAG> (e.g. ZROUTE_THREADS=16); "
        "flags win.",
    )
    p.add_argument("app", nargs="?", default=env("APP"), help="the app, as module:attribute (env ZROUTE_APP)")
    p.add_argument("--interface", choices=["auto", "wsgi", "asgi"], default=env("INTERFACE", d.interface))
    p.add_argument(
        "--connect",
        action="append",
        default=None,
        metavar="ENDPOINT",
        help="router endpoint, repeatable (default: ZROUTE_CONNECT, else tcp://127.0.0.1:8000)",
    )
    p.add_argument("--threads", type=int, default=int(env("THREADS", d.threads)), help="WSGI thread pool size = capacity")
    p.add_argument(
        "--concurrency", type=int, default=int(env("CONCURRENCY", d.concurrency)), help="ASGI requests at once = capacity"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="worker processes (default: ZROUTE_WORKERS, else WEB_CONCURRENCY, else 1)",
    )
    p.add_argument("--factory", action="store_true", default=env_flag("FACTORY"), help="APP is a factory to call")
    p.add_argument("--route", action="append", default=None, metavar="PREFIX", help="route announced in HELLO, repeatable")
    p.add_argument("--id", default=env("ID"), help="worker id announced in HELLO (default <host>-<pid>)")
    p.add_argument("--graceful-timeout", type=float, default=float(env("GRACEFUL_TIMEOUT", d.graceful_timeout)))
    p.add_argument("--timeout", type=float, default=float(env("TIMEOUT", d.timeout)), help="per-request seconds, 0: none")
    p.add_argument("--max-body", type=int, default=int(env("MAX_BODY", d.max_body)), help="bytes, 0: no limit (413)")
    p.add_argument("--max-header", type=int, default=int(env("MAX_HEADER", d.max_header)), help="bytes, 0: no limit (431)")
    p.add_argument(
        "--window", type=int, default=int(env("WINDOW", d.window)), help="request-body receive window, bytes (0: 65,536)"
    )
    p.add_argument(
        "--curve-server-key", default=env("CURVE_SERVER_KEY"), help="CURVE: the router's public key (.pub file or Z85)"
    )
    p.add_argument("--curve-key", default=env("CURVE_KEY"), help="CURVE: this worker's key file")
    p.add_argument("--lifespan", choices=["auto", "on", "off"], default=env("LIFESPAN", d.lifespan))
    p.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default=env("LOOP", d.loop))
    p.add_argument("--log-level", default=env("LOG_LEVEL", d.log_level), choices=["critical", "error", "warning", "info", "debug", "trace"])
    p.add_argument("--access-log", action="store_true", default=env_flag("ACCESS_LOG"))
    p.add_argument("--runtime-threads", type=int, default=int(env("RUNTIME_THREADS", d.runtime_threads)))
    p.add_argument("--app-dir", default=env("APP_DIR", "."), help="directory put first on sys.path (default .)")
    return p


def load_app(spec: str, factory: bool, app_dir: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"zroute-worker: the app must be given as module:attribute, not {spec!r}")
    path = os.path.abspath(app_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
    module = importlib.import_module(module_name)
    app = module
    for part in attr.split("."):
        app = getattr(app, part)
    if factory:
        app = app()
    return app


def config_from(args: argparse.Namespace) -> Config:
    return Config(
        connect=args.connect or env_list("CONNECT"),
        interface=args.interface,
        threads=args.threads,
        concurrency=args.concurrency,
        id=args.id,
        routes=args.route or env_list("ROUTE"),
        graceful_timeout=args.graceful_timeout,
        timeout=args.timeout,
        max_body=args.max_body,
        max_header=args.max_header,
        window=args.window,
        curve_server_key=args.curve_server_key,
        curve_key=args.curve_key,
        lifespan=args.lifespan,
        loop=args.loop,
        access_log=args.access_log,
        log_level=args.log_level,
        runtime_threads=args.runtime_threads,
        multiprocess=args.workers > 1,
    )


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parser().parse_args(argv)
    if not args.app:
        parser().error("the app (module:attribute) is required")
    if args.workers > 1:
        sys.exit(supervise(args, list(sys.argv[1:] if argv is None else argv)))
    cfg = config_from(args)
    try:
        cfg.check()
    except ValueError as e:
        parser().error(str(e))
    from .serving import serve

    app = load_app(args.app, args.factory, args.app_dir)
    try:
        serve(app, cfg)
    except RuntimeError as e:
        log.error("%s", e)
        sys.exit(1)


def supervise(args: argparse.Namespace, argv: List[str]) -> int:
    """Runs ``--workers`` processes of one worker each and passes SIGTERM and
    SIGINT on; returns the worst exit status once all have exited."""
    from .serving import setup_logging

    setup_logging(args.log_level)
    base_id = args.id
    children = []
    for i in range(args.workers):
        child_env = dict(os.environ, ZROUTE_WORKERS="1")
        child_env.pop("WEB_CONCURRENCY", None)
        extra = ["--workers", "1"] + (["--id", f"{base_id}-{i}"] if base_id else [])
        children.append(subprocess.Popen([sys.executable, "-m", "zroute", *argv, *extra], env=child_env))
    log.info("started %d worker processes: %s", len(children), ", ".join(str(c.pid) for c in children))

    def forward(signum: int, frame: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    worst = 0
    for child in children:
        code = child.wait()
        worst = max(worst, code if code >= 0 else 128 - code)
    return worst
