"""A Flask app: `zroute-worker examples.flask_app:app` from bindings/python."""

from flask import Flask, Response, request, stream_with_context

app = Flask(__name__)


@app.get("/")
def index():
    return "Hello from Flask behind zroute!\n"


@app.get("/request-id")
def request_id():
    return {"request_id": request.environ.get("zroute.request_id"), "header": request.headers.get("X-Request-Id")}


@app.post("/upload")
def upload():
    size = 0
    while True:
        chunk = request.stream.read(65536)
        if not chunk:
            break
        size += len(chunk)
    return {"received": size}


@app.get("/stream")
def stream():
    n = request.args.get("n", default=5, type=int)

    def lines():
        for i in range(n):
            yield f"line {i}\n"

    return Response(stream_with_context(lines()), mimetype="text/plain")


@app.get("/fail")
def fail():
    raise RuntimeError("this route always fails")
