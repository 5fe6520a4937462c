import hashlib
import time

from flask import Flask, Response, jsonify, request, stream_with_context

app = Flask(__name__)


@app.get("/")
def index():
    return "hello from flask"


@app.get("/headers")
def headers():
    res = jsonify(
        {
            "x-custom": request.headers.get("X-Custom"),
            "request_id_environ": request.environ.get("zroute.request_id"),
            "request_id_header": request.environ.get("HTTP_X_REQUEST_ID"),
            "multithread": request.environ["wsgi.multithread"],
            "input_terminated": request.environ["wsgi.input_terminated"],
        }
    )
    res.headers["X-Answer"] = "42"
    return res


@app.post("/upload")
def upload():
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = request.stream.read(65536)
        if not chunk:
            break
        size += len(chunk)
        digest.update(chunk)
    return {"size": size, "sha256": digest.hexdigest()}


@app.get("/stream")
def stream():
    n = request.args.get("n", default=5, type=int)

    def lines():
        for i in range(n):
            yield f"line {i}\n"

    return Response(stream_with_context(lines()), mimetype="text/plain")


@app.get("/slow")
def slow():
    time.sleep(request.args.get("ms", default=100, type=int) / 1000)
    return "slow"


@app.get("/fail")
def fail():
    raise RuntimeError("this route always fails")


@app.get("/multiprocess")
def multiprocess():
    return str(request.environ["wsgi.multiprocess"])
