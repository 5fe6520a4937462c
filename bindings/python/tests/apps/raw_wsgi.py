"""A bare WSGI app using the corners of PEP 3333 that frameworks hide."""

import io
import json
import sys
import threading
import urllib.parse

CLOSED = []
LOCK = threading.Lock()


class Closing:
    """An iterable result whose close() must be called."""

    def __init__(self, tag):
        self.tag = tag

    def __iter__(self):
        yield b"one "
        yield b"two"

    def close(self):
        with LOCK:
            CLOSED.append(self.tag)


class Endless(Closing):
    """Chunks until the client goes away; close() must still be called."""

    def __iter__(self):
        while True:
            yield b"tick\n"


def create():
    """For --factory."""
    return app


def app(environ, start_response):
    path = environ["PATH_INFO"]
    text = [("Content-Type", "text/plain")]
    if path == "/write":
        write = start_response("200 OK", text)
        write(b"written, ")
        return [b"then returned"]
    if path == "/exc-info":
        start_response("200 OK", text)
        try:
            raise ValueError("changed my mind")
        except ValueError:
            start_response("503 Service Unavailable", text, sys.exc_info())
        return [b"replaced"]
    if path == "/close":
        start_response("200 OK", text)
        return Closing(environ["QUERY_STRING"])
    if path == "/endless":
        start_response("200 OK", text)
        return Endless(environ["QUERY_STRING"])
    if path == "/closed":
        start_response("200 OK", [("Content-Type", "application/json")])
        with LOCK:
            return [json.dumps(CLOSED).encode()]
    if path == "/file":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"0123456789" * 10000), 4096)
    if path == "/lines":
        stream = environ["wsgi.input"]
        first = stream.readline()
        rest = stream.readlines()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"first": first.decode(), "rest": len(rest)}).encode()]
    if path == "/input-corners":
        stream = environ["wsgi.input"]
        got = {
            "read3": stream.read(3).decode(),
            "read1": len(stream.read1(5)),
            "readline2": stream.readline(2).decode(),
            "readline": stream.readline().decode(),
            "hinted": len(stream.readlines(1)),
            "iterated": sum(1 for _ in stream),
            "after": stream.read().decode(),
        }
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(got).encode()]
    if path == "/status-line":
        # The query, unquoted, is the whole WSGI status: "200 Totally Fine".
        start_response(urllib.parse.unquote(environ["QUERY_STRING"]), text)
        return [b""]
    if path == "/fail":
        raise RuntimeError("this route always fails")
    if path.startswith("/environ"):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({k: v for k, v in environ.items() if isinstance(v, str)}).encode()]
    start_response("404 Not Found", text)
    return [b"not found"]
