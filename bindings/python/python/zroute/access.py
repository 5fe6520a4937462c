"""The access log: one line per request on the ``zroute.access`` logger, in
uvicorn's format (``client - "request line" status phrase``), followed by the
bytes sent, the time taken, the user agent and the request id."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, Callable, Optional

access_log = logging.getLogger("zroute.access")

PHRASES = {s.value: s.phrase for s in HTTPStatus}


def access_logger(enabled: bool) -> Optional[Callable[[Any, int, int, float], None]]:
    if not enabled:
        return None
    if access_log.level == logging.NOTSET:
        access_log.setLevel(logging.INFO)

    def record(ex: Any, status: int, sent: int, seconds: float) -> None:
        if access_log.isEnabledFor(logging.INFO):
            query = ex.query
            target = ex.path + ("?" + query.decode("latin-1") if query else "")
            # "address:port", as uvicorn logs its client.
            client, port = ex.client, ex.client_port
            access_log.info(
                '%s - "%s %s HTTP/%s" %d %s %d %.1fms "%s" %s',
                (f"{client}:{port}" if port is not None else client) if client else "-",
                ex.method,
                target,
                ex.http_version,
                status,
                PHRASES.get(status, ""),
                sent,
                seconds * 1000.0,
                (ex.user_agent or "-").replace("\\", "\\\\").replace('"', '\\"'),
                ex.request_id or "-",
                extra={"request_id": ex.request_id},
            )

    return record
