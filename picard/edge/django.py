"""Django behind the edge: the app that serves it in one worker thread per request, and
the two Picard middlewares of its (all-synchronous) chain.

``DjangoApp`` is Django's ASGI handler with the middleware chain loaded *synchronously*:
request_started, the whole chain, the view and request_finished run in ONE call to a worker
thread (``thread_sensitive=False``: requests run side by side in the loop's thread pool,
not queued on one shared thread). Stock ``ASGIHandler`` loads the chain in async mode and
hops between the event loop and threads several times per request (each sync-only
middleware, each ``MiddlewareMixin.process_request``, the view, the signals). The body was
already read by the edge and arrives through ``receive`` in one message.
"""

from __future__ import annotations

import logging
import re
import sys
import tempfile

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.core.signals import got_request_exception
from django.db import close_old_connections
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse
from django.urls import set_script_prefix
from django.utils.html import escape

from picard import ratelimit
from picard.errors import Translation, known, translate
from picard.exceptions import RateLimited

logger = logging.getLogger("picard.edge")

# Paths whose clients are programs: their errors are always JSON envelopes.
_API_PATHS = re.compile(
    r"^/(api/|mcp|token|revoke_token|introspect|oauth/|o/|\.well-known/|openapi\.json|healthz)"
)
# OAuth endpoints called by OAuth clients: a 429 there has OAuth's error shape (RFC 6749 §5.2).
_OAUTH_PATHS = re.compile(r"^/(o/|oauth/)?(token|revoke|revoke_token|introspect)/?$|^/(o|oauth)/register(/|$)")


def is_api_path(path: str) -> bool:
    return bool(_API_PATHS.match(path))


def is_oauth_path(path: str) -> bool:
    return bool(_OAUTH_PATHS.match(path))


def oauth_error_body(translation: Translation) -> dict:
    """OAuth's error shape for a refusal at an OAuth endpoint: 429 is ``slow_down``, 503
    ``temporarily_unavailable``."""
    error = "slow_down" if translation.status == 429 else "temporarily_unavailable"
    return {"error": error, "error_description": translation.message}


# --- the app -------------------------------------------------------------------------------


class DjangoApp(ASGIHandler):
    """Django's ASGI handler, one thread hop per request (see the module docstring)."""

    def __init__(self):
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:  # the client went away
            return
        try:
            response = await sync_to_async(self.respond, thread_sensitive=False)(scope, body_file)
            await self.send_response(response, send)
        finally:
            body_file.close()
        if response.streaming:
            # Django iterates a synchronous stream in its one shared sync thread; close (and
            # so request_finished, which returns database connections) runs there too.
            await sync_to_async(response.close, thread_sensitive=True)()

    def respond(self, scope, body_file: tempfile.SpooledTemporaryFile) -> HttpResponse:
        """Synchronous: the signals, the middleware chain and the view. A non-streaming
        response is closed here (request_finished: the connection goes back to the pool)."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        response = error_response if request is None else self.get_response(request)
        response._handler_class = self.__class__
        if response.streaming:
            close_old_connections()  # the view is done; the stream opens its own if it needs one
        else:
            response.close()
        return response


# --- middleware ------------------------------------------------------------------------------


@receiver(got_request_exception, dispatch_uid="picard.edge.remember_exception")
def _remember_exception(sender, request=None, **kwargs):
    """Django turns an escaped exception into a 500 response deep inside its handler; keep
    the exception on the request so ``ErrorEnvelopeMiddleware`` can answer properly."""
    if request is not None:
        request._picard_exception = sys.exc_info()[1]


def error_response(request, translation: Translation) -> HttpResponse:
    """Render ``translation``: the error envelope for programs (OAuth's shape for a 429 at an
    OAuth endpoint), a short plain page for people."""
    if translation.status == 429 and is_oauth_path(request.path):
        response = JsonResponse(oauth_error_body(translation), status=translation.status)
    elif is_api_path(request.path) or "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse(translation.body(), status=translation.status)
    else:
        response = HttpResponse(
            f"<!doctype html><title>{translation.status}</title><h1>{escape(translation.message)}</h1>",
            status=translation.status, content_type="text/html; charset=utf-8",
        )
    response["Cache-Control"] = "no-store"
    for name, value in translation.headers.items():
        response[name] = value
    return response


def _envelope_for_django_page(request, response: HttpResponse) -> HttpResponse:
    """Django's own not-found/not-allowed pages, on a path programs call: the envelope instead."""
    if response.status_code == 404:
        translation = Translation(404, "not_found", "Not found.", {}, {})
    else:
        translation = Translation(405, "method_not_allowed", f"Method {request.method} is not allowed here.", {}, {})
    replacement = error_response(request, translation)
    if response.has_header("Allow"):
        replacement["Allow"] = response["Allow"]
    return replacement


class ErrorEnvelopeMiddleware:
    """Outermost Django middleware: an escaped exception never leaves as a traceback or an
    HTML 500 for an API client. Rendered from ``picard.errors.translate``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        exc = getattr(request, "_picard_exception", None)
        if exc is not None and response.status_code >= 500:
            request._picard_exception = None
            return error_response(request, translate(exc, where=f"{request.method} {request.path}"))
        if response.status_code in (404, 405) and is_api_path(request.path) and "html" in response.get("Content-Type", ""):
            return _envelope_for_django_page(request, response)
        return response

    def process_exception(self, request, exc):
        # Exceptions raised by views reach here before Django's 500 machinery.
        translation = known(exc)
        if translation is None:
            return None
        return error_response(request, translate(exc, where=f"{request.method} {request.path}"))


class RateLimitMiddleware:
    """Applies ``settings.PICARD_RATE_LIMITS`` before authentication and the login back-off
    (``picard.ratelimit.check_request``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            ratelimit.check_request(request)
        except RateLimited as exc:
            return error_response(request, translate(exc))
        return self.get_response(request)

