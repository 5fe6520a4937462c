"""``zroute-worker module:app``: the command line, in the conventions of
gunicorn, uvicorn and granian. Every flag also reads ``ZROUTE_<FLAG>``."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import logging
import os
import sys
from typing import Any, Callable, List, NoReturn, Optional, Sequence, Tuple

from .config import Config, split_endpoints

log = logging.getLogger("zroute")


PROG = "zroute-worker"

_LISTEN = (
    f"{PROG} does not listen; the router does: zroute-router --http ADDR; "
    "this worker connects to the router's worker port with --connect ENDPOINT"
)
_CLASSES = (
    f"{PROG} has no worker classes: it serves WSGI and ASGI apps itself "
    "(--interface wsgi|asgi, detected by default), with --threads N (WSGI) or --concurrency N (ASGI)"
)
_PROXY = (
    "always on: only the router reaches a worker, and it sets X-Forwarded-For, X-Forwarded-Proto, "
    "X-Forwarded-Host and Forwarded; REMOTE_ADDR and the ASGI scope's client come from them"
)
#: gunicorn's and uvicorn's flags that zroute-worker does not take, each
#: answered with what to use instead.
FOREIGN = {
    "--bind": _LISTEN,
    "-b": _LISTEN,
    "--host": _LISTEN,
    "--port": _LISTEN,
    "--uds": _LISTEN,
    "--fd": _LISTEN,
    "-w": "use --workers N for N worker processes",
    "-k": _CLASSES,
    "--worker-class": _CLASSES,
    "--chdir": "use --app-dir DIR: the directory put first on sys.path to import the app",
    "--preload": "each worker process imports the app itself (--workers N runs N processes); there is no preloading",
    "--access-logfile": (
        "the access log is on by default, on the zroute.access logger (stderr unless Python logging "
        "sends it elsewhere); --no-access-log turns it off"
    ),
    "--proxy-headers": _PROXY,
    "--forwarded-allow-ips": _PROXY,
}


def fail(message: str) -> NoReturn:
    """One line on stderr and exit status 2, as argparse does for bad input."""
    print(f"{PROG}: {message}", file=sys.stderr)
    sys.exit(2)


def foreign_flag(argv: Sequence[str]) -> Optional[Tuple[str, str]]:
    """The first gunicorn/uvicorn flag in ``argv`` that is not ours, with its answer."""
    for arg in argv:
        if arg == "--":
            return None
        if arg.startswith("--"):
            name = arg.split("=", 1)[0]
        elif arg.startswith("-") and len(arg) >= 2:
            name = arg[:2]
        else:
            continue
        if name in FOREIGN:
            return name, FOREIGN[name]
    return None


LOG_LEVELS = ["critical", "error", "warning", "info", "debug", "trace"]


def env(name: str, default: Any = None) -> Any:
    return os.environ.get("ZROUTE_" + name, default)


def env_flag(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None or not value.strip():
        return default
    value = value.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    fail(f"ZROUTE_{name}={value!r}: not a boolean (use 1/0, true/false, yes/no or on/off)")


def env_number(name: str, default: Any, kind: Callable[[str], Any] = int) -> Any:
    value = env(name)
    if value is None or not value.strip():
        return default
    try:
        return kind(value.strip())
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        fail(f"ZROUTE_{name}={value!r}: not {what}")


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
        prog=PROG,
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
    p.add_argument("--threads", type=int, default=env_number("THREADS", d.threads), help="WSGI thread pool size = capacity")
    p.add_argument(
        "--concurrency", type=int, default=env_number("CONCURRENCY", d.concurrency), help="ASGI requests at once = capacity"
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
    p.add_argument("--graceful-timeout", type=float, default=env_number("GRACEFUL_TIMEOUT", d.graceful_timeout, float))
    p.add_argument("--timeout", type=float, default=env_number("TIMEOUT", d.timeout, float), help="per-request seconds, 0: none")
    p.add_argument("--max-body", type=int, default=env_number("MAX_BODY", d.max_body), help="bytes, 0: no limit (413)")
    p.add_argument("--max-header", type=int, default=env_number("MAX_HEADER", d.max_header), help="bytes, 0: no limit (431)")
    p.add_argument(
        "--window", type=int, default=env_number("WINDOW", d.window), help="request-body receive window, bytes (0: 65,536)"
    )
    p.add_argument(
        "--curve-server-key", default=env("CURVE_SERVER_KEY"), help="CURVE: the router's public key (.pub file or Z85)"
    )
    p.add_argument("--curve-key", default=env("CURVE_KEY"), help="CURVE: this worker's key file")
    p.add_argument("--lifespan", choices=["auto", "on", "off"], default=env("LIFESPAN", d.lifespan))
    p.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default=env("LOOP", d.loop))
    p.add_argument(
        "--log-level",
        type=str.lower,
        default=(env("LOG_LEVEL") or d.log_level).lower(),
        choices=LOG_LEVELS,
        help="any case (default info)",
    )
    p.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=env_flag("ACCESS_LOG", d.access_log),
        help="one line per request, as uvicorn's, on the zroute.access logger (default on)",
    )
    p.add_argument("--runtime-threads", type=int, default=env_number("RUNTIME_THREADS", d.runtime_threads))
    p.add_argument("--app-dir", default=env("APP_DIR", "."), help="directory put first on sys.path (default .)")
    p.add_argument(
        "--max-requests",
        type=int,
        default=env_number("MAX_REQUESTS", d.max_requests),
        help="replace a worker process after this many requests (a successor starts first); 0: never",
    )
    p.add_argument(
        "--max-requests-jitter",
        type=int,
        default=env_number("MAX_REQUESTS_JITTER", d.max_requests_jitter),
        help="up to this many more, chosen at random per process",
    )
    p.add_argument(
        "--reload",
        action="store_true",
        default=env_flag("RELOAD"),
        help="development: reload when a .py file under --reload-dir changes (needs watchfiles)",
    )
    p.add_argument(
        "--reload-dir",
        action="append",
        default=None,
        metavar="DIR",
        help="directory --reload watches, repeatable (default: --app-dir)",
    )
    return p


def load_app(spec: str, factory: bool, app_dir: str) -> Any:
    """Imports ``module:attribute``. A bad spec, a module that is not there
    or a missing attribute is one line and exit status 2; an error raised
    while the app's own module runs keeps its traceback, as it is the app's."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        fail(f"the app must be given as module:attribute (for example app:app), not {spec!r}")
    path = os.path.abspath(app_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is None or not (module_name == e.name or module_name.startswith(e.name + ".")):
            raise
        fail(f"cannot import {module_name!r}: no module {e.name!r} in {path} or on sys.path (--app-dir DIR)")
    app = module
    for part in attr.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            fail(f"module {module_name!r} has no attribute {attr!r}")
    if factory:
        try:
            return app()
        except TypeError as e:
            fail(f"--factory: {spec} is not an app factory (a callable taking no arguments): {e}")
    if is_factory(app):
        log.warning("%s looks like an app factory (it takes no arguments): calling it; pass --factory to say so", spec)
        return app()
    return app


def is_factory(app: Any) -> bool:
    """A plain function that takes no arguments cannot be a WSGI (two) or
    ASGI (three) app: it makes one, as uvicorn detects."""
    if not inspect.isfunction(app) or inspect.iscoroutinefunction(app):
        return False
    try:
        params = inspect.signature(app).parameters.values()
    except (TypeError, ValueError):
        return False
    return not any(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params
    )


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
        max_requests=args.max_requests,
        max_requests_jitter=args.max_requests_jitter,
        multiprocess=args.workers > 1 or env_flag("MULTIPROCESS"),
    )


def main(argv: Optional[Sequence[str]] = None) -> None:
    from .supervisor import die_with_parent

    supervised = die_with_parent()
    argv = list(sys.argv[1:] if argv is None else argv)
    foreign = foreign_flag(argv)
    if foreign is not None:
        fail(f"{foreign[0]}: {foreign[1]}")
    args = parser().parse_args(argv)
    if not args.app:
        parser().error("the app (module:attribute) is required")
    if args.log_level not in LOG_LEVELS:
        fail(f"ZROUTE_LOG_LEVEL={env('LOG_LEVEL')!r}: not one of {', '.join(LOG_LEVELS)} (any case)")
    if args.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        fail("--loop uvloop: uvloop is not installed (pip install uvloop), or use --loop asyncio")
    if args.reload and importlib.util.find_spec("watchfiles") is None:
        fail("--reload needs watchfiles: pip install watchfiles (or pip install 'zroute[reload]')")
    if not supervised and (args.workers > 1 or args.max_requests > 0 or args.reload):
        sys.exit(supervise(args, argv))
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
    """Runs ``--workers`` processes of one worker each (``supervisor.py``);
    returns the worst exit status once all have exited."""
    from .serving import setup_logging
    from .supervisor import Supervisor

    setup_logging(args.log_level)
    reload_dirs = (args.reload_dir or [args.app_dir]) if args.reload else None
    return Supervisor(argv, args.workers, args.id, reload_dirs).run()
