"""zroute: run any WSGI or ASGI app behind a zroute router.

    zroute-worker examples.flask_app:app --connect tcp://127.0.0.1:8000

or, from Python, ``zroute.serve(app, connect=["tcp://127.0.0.1:8000"])``.
"""

from ._zroute import ClientDisconnected
from .config import Config
from .serving import serve

__all__ = ["ClientDisconnected", "Config", "serve"]
