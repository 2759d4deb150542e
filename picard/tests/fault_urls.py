"""URLs whose views fail on purpose, for the error-envelope tests (tests only)."""

from django.db import DataError, OperationalError
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from picard.urls import urlpatterns as site_urlpatterns

SECRET = "sk-never-show-this-in-a-response"


def boom(request):
    secret = SECRET  # noqa: F841 - a local a traceback page would show
    raise RuntimeError(f"bug with {SECRET}")


def db_gone(request):
    raise OperationalError("connection to server on socket failed: No such file or directory")


def db_refuses(request):
    raise DataError("integer out of range")


def nul_value(request):
    raise ValueError("A string literal cannot contain NUL (0x00) characters.")


class ApiBoom(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        if request.GET.get("kind") == "db":
            raise OperationalError("server closed the connection unexpectedly")
        raise RuntimeError(f"bug with {SECRET}")

    def post(self, request):
        return Response({"received": request.data})


urlpatterns = site_urlpatterns + [
    path("boom", boom),
    path("api/boom", boom),
    path("api/db-gone", db_gone),
    path("db-gone", db_gone),
    path("api/db-refuses", db_refuses),
    path("api/nul", nul_value),
    path("api/drf-boom", ApiBoom.as_view()),
]
