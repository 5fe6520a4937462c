"""A one-file Django project."""

import hashlib

from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="zroute-tests",
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    LOGGING_CONFIG=None,
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


def index(request):
    return HttpResponse("hello from django", content_type="text/plain")


def headers(request):
    res = JsonResponse(
        {"x-custom": request.headers.get("X-Custom"), "request_id": request.META.get("zroute.request_id")}
    )
    res["X-Answer"] = "42"
    return res


@csrf_exempt
def upload(request):
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = request.read(65536)
        if not chunk:
            break
        size += len(chunk)
        digest.update(chunk)
    return JsonResponse({"size": size, "sha256": digest.hexdigest()})


def stream(request):
    n = int(request.GET.get("n", "5"))
    return StreamingHttpResponse((f"line {i}\n" for i in range(n)), content_type="text/plain")


def fail(request):
    raise RuntimeError("this view always fails")


urlpatterns = [
    path("", index),
    path("headers", headers),
    path("upload", upload),
    path("stream", stream),
    path("fail", fail),
]

app = get_wsgi_application()
