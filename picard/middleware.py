"""Hardening at the edge: hostile input, failures that must not become 500s, rate limits.

Two layers, both here so one file answers "what happens to a bad request":

- ``asgi_edge(app)`` wraps the whole ASGI application (Django *and* ``/mcp``). Before any
  application code runs it refuses bodies over the limit (413), NUL characters in the path
  or query string, JSON bodies that are not strict UTF-8, nested too deeply, or carry NUL
  characters / lone surrogates (400), and non-JSON bodies sent to ``/api/`` (415). JSON and
  form bodies are read once (bounded by the limit), checked, and replayed to the app.
- Django middleware: ``ErrorEnvelopeMiddleware`` (outermost) turns an exception that
  escaped a view or another middleware into a clear answer — the database being away
  is a 503 with Retry-After, a value PostgreSQL refuses is a 400, anything else a generic
  500 that names a reference id and never carries a traceback. ``RateLimitMiddleware``
  applies ``settings.PICARD_RATE_LIMITS`` (see ``picard.ratelimit``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Callable
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.signals import got_request_exception
from django.db import DataError, InterfaceError, OperationalError
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse

from picard.drf import error_body
from picard.exceptions import DomainError, RateLimited

logger = logging.getLogger("picard.edge")

JSON_MAX_DEPTH = 64
DB_RETRY_AFTER_SECONDS = 5

# Paths whose clients are programs: their errors are always JSON envelopes.
_API_PATHS = re.compile(
    r"^/(api/|mcp|token|revoke_token|introspect|oauth/|o/|\.well-known/|openapi\.json|healthz)"
)


def is_api_path(path: str) -> bool:
    return bool(_API_PATHS.match(path))


# --- exception classification (shared by the Django middleware and the DRF handler) ---------


def classify_exception(exc: BaseException) -> tuple[int, str, str, dict] | None:
    """Map an exception that is *not* a bug in our code to (status, code, message, details).

    ``None`` means "a genuine bug": answer with a generic 500.
    """
    if isinstance(exc, DomainError):
        return exc.http_status, exc.code, exc.message, exc.details
    if isinstance(exc, (OperationalError, InterfaceError)) or _is_psycopg_connection_error(exc):
        return (
            503,
            "database_unavailable",
            "The database is unavailable right now; nothing was changed. Try again in a few seconds.",
            {"retry_after": DB_RETRY_AFTER_SECONDS},
        )
    if isinstance(exc, DataError):
        return 400, "invalid", "A value in the request cannot be stored (out of range or invalid characters).", {}
    if isinstance(exc, UnicodeEncodeError):
        return 400, "invalid_characters", "The request contains invalid Unicode (lone surrogates).", {}
    if isinstance(exc, ValueError) and "NUL (0x00)" in str(exc):
        return 400, "invalid_characters", "The request contains NUL characters, which cannot be stored.", {}
    if isinstance(exc, RequestDataTooBig):
        return 413, "payload_too_large", _too_large_message(settings.DATA_UPLOAD_MAX_MEMORY_SIZE), {}
    if isinstance(exc, SuspiciousOperation):
        return 400, "bad_request", "The request was refused as malformed.", {}
    return None


def _is_psycopg_connection_error(exc: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


def _too_large_message(limit: int) -> str:
    return f"The request body is larger than the limit of {limit} bytes."


# --- the ASGI edge -------------------------------------------------------------------------


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


async def send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer an ASGI request with a small JSON body (used before any app code runs)."""
    payload = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"cache-control", b"no-store"),
            *(headers or []),
        ],
    })
    await send({"type": "http.response.body", "body": payload})


async def send_known_failure(send, exc: BaseException, headers: list[tuple[bytes, bytes]] = ()) -> bool:
    """Answer ``exc`` as its clear error (the database being away: 503 + Retry-After) and
    return True; return False when it is not a known failure (the caller re-raises)."""
    known = classify_exception(exc)
    if known is None:
        return False
    status, code, message, details = known
    await send_json(send, status, error_body(code, message, details),
                    [(b"retry-after", str(DB_RETRY_AFTER_SECONDS).encode()), *headers])
    return True


def replay_body(body: bytes, receive):
    """An ASGI ``receive`` that hands the already-read ``body`` to the app once, then
    defers to the real ``receive`` (for disconnects)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


def check_json_value(value, *, max_depth: int = JSON_MAX_DEPTH) -> None:
    """Refuse NUL characters and lone surrogates anywhere (keys too) and nesting deeper than
    ``max_depth``. Iterative, so hostile input cannot exhaust the stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise _Refused(400, "too_deeply_nested", f"The JSON body is nested deeper than {max_depth} levels.")
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, dict):
            for key, sub in item.items():
                _check_string(key)
                stack.append((sub, depth + 1))
        elif isinstance(item, list):
            stack.extend((sub, depth + 1) for sub in item)


def _check_string(value: str) -> None:
    if "\x00" in value:
        raise _Refused(400, "invalid_characters", "The request contains NUL characters (\\u0000), which cannot be stored.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Refused(400, "invalid_characters", "The request contains lone UTF-16 surrogates, which are not valid Unicode.")


def _check_json_body(body: bytes) -> None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused(400, "invalid_encoding", "The request body is not valid UTF-8.")
    if text.startswith("\ufeff"):
        raise _Refused(400, "invalid_encoding", "The request body starts with a byte-order mark; send plain UTF-8 JSON.")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise _Refused(400, "too_deeply_nested", f"The JSON body is nested deeper than {JSON_MAX_DEPTH} levels.")
    except ValueError as exc:
        raise _Refused(400, "malformed_json", f"The request body is not valid JSON ({_short(exc)}).")
    check_json_value(value)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _short(exc: Exception) -> str:
    return str(exc).split("\n")[0][:160]


def _check_form_body(body: bytes) -> None:
    try:
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
    except ValueError:
        return  # Django reports malformed forms itself
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise _Refused(400, "invalid_characters", "The form contains NUL characters, which cannot be stored.")


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def asgi_edge(app: Callable) -> Callable:
    """Wrap the top-level ASGI app with the input checks described in the module docstring."""

    async def edge(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        path = scope.get("path", "")
        raw_path = scope.get("raw_path") or path.encode("utf-8", "surrogateescape")
        query = scope.get("query_string", b"")
        if "\x00" in path or b"%00" in raw_path.lower() or b"%00" in query or b"\x00" in query:
            return await send_json(send, 400, error_body("invalid_characters", "The URL contains NUL characters."))

        content_type = _header(scope, b"content-type")
        media = _media_type(content_type)
        limit = settings.PICARD_MAX_UPLOAD_BYTES if media == "multipart/form-data" else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length_header = _header(scope, b"content-length")
        if length_header:
            try:
                declared = int(length_header)
            except ValueError:
                return await send_json(send, 400, error_body("bad_request", "Content-Length is not a number."))
            if declared > limit:
                return await send_json(send, 413, error_body("payload_too_large", _too_large_message(limit), {"limit": limit}))
        else:
            declared = None

        method = scope.get("method", "GET")
        has_body = declared != 0 and (declared is not None or _header(scope, b"transfer-encoding"))
        if method in ("POST", "PUT", "PATCH") and has_body and path.startswith("/api/") and media and not (
            _is_json(media) or media in ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            return await send_json(
                send, 415,
                error_body("unsupported_media_type", f"Content type {media!r} is not supported here; send application/json."),
            )

        async def mcp_limited() -> bool:
            """/mcp is not served by Django, so its per-token rate limit is applied here."""
            if method != "POST" or not path.startswith("/mcp"):
                return False
            scope["picard.rate_limited_at_edge"] = True
            try:
                await _mcp_rate_check(path=path, ip=(scope.get("client") or ("unknown",))[0],
                                      authorization=_header(scope, b"authorization"))
            except RateLimited as exc:
                await send_json(send, 429, error_body(exc.code, exc.message, exc.details),
                                 [(b"retry-after", str(exc.retry_after).encode())])
                return True
            except Exception as exc:  # noqa: BLE001 - a database failure here is a 503, never a 500
                if not await send_known_failure(send, exc):
                    raise
                return True
            return False

        buffer_body = _is_json(media) or media == "application/x-www-form-urlencoded"
        if buffer_body:
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    return await send_json(send, 413, error_body("payload_too_large", _too_large_message(limit), {"limit": limit}))
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            if body:
                try:
                    (_check_json_body if _is_json(media) else _check_form_body)(body)
                except _Refused as refused:
                    return await send_json(send, refused.status, error_body(refused.code, refused.message))
            replay = replay_body(body, receive)

            if await mcp_limited():
                return
            return await app(scope, replay, send)

        if await mcp_limited():
            return
        # Other bodies (multipart uploads, octet streams) pass through, counted against the limit.
        seen, responded = 0, False

        async def counted():
            nonlocal seen, responded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit and not responded:
                    responded = True
                    await send_json(send, 413, error_body("payload_too_large", _too_large_message(limit), {"limit": limit}))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not responded:
                await send(message)

        return await app(scope, counted, guarded_send)

    return edge


async def _mcp_rate_check(*, path: str, ip: str, authorization: str) -> None:
    from picard import ratelimit
    from picard.db import run_sync

    await run_sync(ratelimit.check, method="POST", path=path, ip=ip, authorization=authorization)


# --- Django middleware ---------------------------------------------------------------------


@receiver(got_request_exception, dispatch_uid="picard.middleware.remember_exception")
def _remember_exception(sender, request=None, **kwargs):
    """Django turns an escaped exception into a 500 response deep inside its handler; keep
    the exception on the request so ``ErrorEnvelopeMiddleware`` can answer properly."""
    if request is not None:
        request._picard_exception = sys.exc_info()[1]


def error_response(request, status: int, code: str, message: str, details: dict | None = None) -> HttpResponse:
    """The error envelope for programs, a short plain page for people."""
    wants_json = is_api_path(request.path) or "application/json" in request.headers.get("Accept", "")
    if wants_json:
        response = JsonResponse(error_body(code, message, details), status=status)
    else:
        from django.utils.html import escape

        response = HttpResponse(
            f"<!doctype html><title>{status}</title><h1>{escape(message)}</h1>",
            status=status, content_type="text/html; charset=utf-8",
        )
    response["Cache-Control"] = "no-store"
    if status == 503:
        response["Retry-After"] = str(DB_RETRY_AFTER_SECONDS)
    return response


class ErrorEnvelopeMiddleware:
    """Outermost Django middleware: an escaped exception never leaves as a traceback or an
    HTML 500 for an API client. Known failure kinds get their proper status (see
    ``classify_exception``); bugs get a generic 500 with a reference id that is in the log."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        exc = getattr(request, "_picard_exception", None)
        if exc is None or response.status_code < 500:
            if response.status_code in (404, 405) and is_api_path(request.path) and "html" in response.get("Content-Type", ""):
                # Django's own not-found/not-allowed pages, on a path programs call: the envelope instead.
                code = "not_found" if response.status_code == 404 else "method_not_allowed"
                message = "Not found." if response.status_code == 404 else f"Method {request.method} is not allowed here."
                replacement = error_response(request, response.status_code, code, message)
                if response.has_header("Allow"):
                    replacement["Allow"] = response["Allow"]
                return replacement
            return response
        request._picard_exception = None
        return self.answer(request, exc)

    def process_exception(self, request, exc):
        # Exceptions raised by views reach here before Django's 500 machinery.
        if classify_exception(exc) is not None:
            return self.answer(request, exc)
        return None

    @staticmethod
    def answer(request, exc: BaseException) -> HttpResponse:
        known = classify_exception(exc)
        if known is None:
            reference = uuid.uuid4().hex[:12]
            logger.error("unhandled error (reference %s) on %s %s", reference, request.method, request.path, exc_info=exc)
            return error_response(
                request, 500, "server_error",
                f"Something went wrong on our side. The error was logged with reference {reference}.",
                {"reference": reference},
            )
        status, code, message, details = known
        if status == 503:
            logger.warning("database unavailable on %s %s: %s", request.method, request.path, _short(exc))
        response = error_response(request, status, code, message, details)
        if isinstance(exc, RateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response


class RateLimitMiddleware:
    """Applies ``settings.PICARD_RATE_LIMITS`` and the login back-off (``picard.ratelimit``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from picard import ratelimit

        if getattr(request, "scope", {}).get("picard.rate_limited_at_edge"):
            return self.get_response(request)
        try:
            ratelimit.check_request(request)
        except RateLimited as exc:
            response = error_response(request, 429, exc.code, exc.message, exc.details)
            response["Retry-After"] = str(exc.retry_after)
            return response
        return self.get_response(request)


class SecurityHeadersMiddleware:
    """A Content-Security-Policy that forbids framing (clickjacking, e.g. of the OAuth
    consent page), plugins and ``<base>`` hijacking on every response that has none yet.

    Deliberately no ``form-action``: browsers apply it to the redirect after the consent
    form, which goes to the client's own redirect URI. A stricter script/style policy
    belongs with the templates (``settings.PICARD_CONTENT_SECURITY_POLICY`` overrides).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "PICARD_CONTENT_SECURITY_POLICY", "")
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
