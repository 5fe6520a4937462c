"""Flask and Django (WSGI) behind a real router, through a real HTTP client."""

import pytest

from helpers import digest_of, upload_chunks

BIG = 8 * 1024 * 1024


@pytest.fixture(params=["flask", "django"])
def wsgi_app(request, router, start_worker):
    start_worker(f"{request.param}_app:app", "--threads", "4", id=f"{request.param}-1")
    return request.param


def test_get(router, wsgi_app):
    res = router.client.get("/")
    assert res.status_code == 200
    assert res.text == f"hello from {wsgi_app}"


def test_headers_both_ways_and_request_id(router, wsgi_app):
    res = router.client.get("/headers", headers={"X-Custom": "abc", "X-Request-Id": "test-rid-1"})
    assert res.status_code == 200
    assert res.headers["x-answer"] == "42"
    body = res.json()
    assert body["x-custom"] == "abc"
    rid = body.get("request_id_environ", body.get("request_id"))
    assert rid == "test-rid-1"
    if wsgi_app == "flask":
        assert body["request_id_header"] == "test-rid-1"
        assert body["input_terminated"] is True
        assert body["multithread"] is True


def test_large_streamed_upload(router, wsgi_app):
    # Django reads only a body whose length is declared; both get it streamed.
    res = router.client.post("/upload", content=upload_chunks(BIG), headers={"Content-Length": str(BIG)})
    assert res.status_code == 200
    assert res.json() == {"size": BIG, "sha256": digest_of(BIG)}


def test_streaming_response(router, wsgi_app):
    with router.client.stream("GET", "/stream?n=50") as res:
        assert res.status_code == 200
        text = "".join(res.iter_text())
    assert text == "".join(f"line {i}\n" for i in range(50))


def test_error_is_500_and_worker_lives_on(router, wsgi_app):
    res = router.client.get("/fail")
    assert res.status_code == 500
    for _ in range(3):
        assert router.client.get("/").status_code == 200


def test_head_has_no_body(router, wsgi_app):
    res = router.client.head("/")
    assert res.status_code == 200
    assert res.content == b""
    assert router.client.get("/").text == f"hello from {wsgi_app}"
