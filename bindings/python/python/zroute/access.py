"""The access log: one line per request on the ``zroute.access`` logger."""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

access_log = logging.getLogger("zroute.access")


def access_logger(enabled: bool) -> Optional[Callable[[Any, int, int, float], None]]:
    if not enabled:
        return None
    if access_log.level == logging.NOTSET:
        access_log.setLevel(logging.INFO)

    def record(ex: Any, status: int, sent: int, seconds: float) -> None:
        if access_log.isEnabledFor(logging.INFO):
            query = ex.query
            target = ex.path + ("?" + query.decode("latin-1") if query else "")
            access_log.info(
                '%s "%s %s HTTP/%s" %d %d %.1fms',
                ex.request_id or "-",
                ex.method,
                target,
                ex.http_version,
                status,
                sent,
                seconds * 1000.0,
                extra={"request_id": ex.request_id},
            )

    return record
