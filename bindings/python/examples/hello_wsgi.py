"""Plain-text "Hello, World!" as a bare WSGI app, for benchmarks:
`zroute-worker examples.hello_wsgi:app`."""

BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
