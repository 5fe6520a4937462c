"""A Starlette hello app: `zroute-worker examples.starlette_app:app` from bindings/python."""

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request):
    return PlainTextResponse("Hello, World!")


app = Starlette(routes=[Route("/", hello)])
