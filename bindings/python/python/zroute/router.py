"""``zroute-router``: the router, from the same Rust code as the cargo build's
binary, run by the extension (``_zroute.router_main``)."""

from __future__ import annotations

import signal
import sys
from typing import Optional, Sequence

from . import _zroute


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    # The router stops gracefully on SIGINT itself; Python's own handler
    # would also leave a KeyboardInterrupt to raise once it returned.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(_zroute.router_main(["zroute-router", *args]))


if __name__ == "__main__":
    main()
