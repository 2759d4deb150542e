"""The one error translator: any exception → ``Translation(status, code, message, details,
headers)``. Every door renders a ``Translation`` and decides nothing itself:

- DRF's exception handler (``picard.drf``) and the Django middleware (``picard.edge.django``):
  the JSON envelope ``{"status": "error", "error": {"code", "message", "details"}}`` (or a
  short page for people);
- the ASGI edge (``picard.edge``) before any app code runs;
- the MCP door (``mcp_bridge.server``): ``ToolError("<code>: <message>")``;
- HTML forms and pages: ``form_message`` (the message without its ``field: `` prefix).

Known failures keep their meaning (the database being away is a 503 with ``Retry-After``, a
value PostgreSQL refuses is a 400); anything else is a bug: logged with a reference id and
answered with a generic 500 that carries no traceback. ``Retry-After`` is only ever sent
on 429 and 503 (the error classes carry it, see ``picard.exceptions``).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, NamedTuple

import psycopg
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions

from picard.exceptions import DatabaseUnavailable, DomainError

logger = logging.getLogger("picard.errors")


class Translation(NamedTuple):
    status: int
    code: str
    message: str
    details: dict[str, Any]
    headers: dict[str, str]

    def body(self) -> dict:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    """The JSON error envelope of every HTTP door."""
    return {"status": "error", "error": {"code": code, "message": message, "details": details or {}}}


def too_large_message(limit: int) -> str:
    return f"The request body is larger than the limit of {limit} bytes."


def short(exc: BaseException) -> str:
    """The first line of an exception's text, bounded (for logs and parser messages)."""
    return str(exc).split("\n")[0][:160]


_DRF_CODES = (
    (drf_exceptions.NotAuthenticated, "unauthorized"),
    (drf_exceptions.AuthenticationFailed, "unauthorized"),
    (drf_exceptions.PermissionDenied, "forbidden"),
    (drf_exceptions.NotFound, "not_found"),
    (drf_exceptions.MethodNotAllowed, "method_not_allowed"),
    (drf_exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (drf_exceptions.ParseError, "malformed_json"),
    (drf_exceptions.Throttled, "rate_limited"),
    (drf_exceptions.ValidationError, "invalid"),
)


def _from_domain(exc: DomainError) -> Translation:
    return Translation(exc.http_status, exc.code, exc.message, exc.details, exc.headers())


def _from_drf(exc: drf_exceptions.APIException) -> Translation:
    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "error")
    detail = exc.detail
    if isinstance(detail, (dict, list)):
        message, details = "The request is invalid.", {"fields": detail}
    else:
        message, details = str(detail), {}
    headers = {"Retry-After": str(int(exc.wait or 1))} if isinstance(exc, drf_exceptions.Throttled) else {}
    return Translation(exc.status_code, code, message, details, headers)


def is_database_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError))


def known(exc: BaseException) -> Translation | None:
    """The translation of a failure that is *not* a bug in our code, or ``None``."""
    if isinstance(exc, DomainError):
        return _from_domain(exc)
    if isinstance(exc, drf_exceptions.APIException):
        return _from_drf(exc)
    if isinstance(exc, Http404):
        return Translation(404, "not_found", "Not found.", {}, {})
    if isinstance(exc, DjangoPermissionDenied):
        return Translation(403, "forbidden", "You may not do this.", {}, {})
    if is_database_unavailable(exc):
        return _from_domain(DatabaseUnavailable())
    if isinstance(exc, DataError):
        return Translation(400, "invalid", "A value in the request cannot be stored (out of range or invalid characters).", {}, {})
    if isinstance(exc, UnicodeEncodeError):
        return Translation(400, "invalid_characters", "The request contains invalid Unicode (lone surrogates).", {}, {})
    if isinstance(exc, ValueError) and "NUL (0x00)" in str(exc):
        return Translation(400, "invalid_characters", "The request contains NUL characters, which cannot be stored.", {}, {})
    if isinstance(exc, RequestDataTooBig):
        return Translation(413, "payload_too_large", too_large_message(settings.DATA_UPLOAD_MAX_MEMORY_SIZE), {}, {})
    if isinstance(exc, SuspiciousOperation):
        return Translation(400, "bad_request", "The request was refused as malformed.", {}, {})
    return None


def translate(exc: BaseException, *, where: str = "") -> Translation:
    """Any exception → its answer. A bug is logged (with ``where``, e.g. ``"POST /api/tools"``)
    under a reference id that the generic 500 names; the database being away is logged as a
    warning."""
    translation = known(exc)
    if translation is None:
        reference = uuid.uuid4().hex[:12]
        logger.error("unhandled error (reference %s) on %s", reference, where or "-", exc_info=exc)
        return Translation(
            500, "server_error",
            f"Something went wrong on our side. The error was logged with reference {reference}.",
            {"reference": reference}, {},
        )
    if translation.code == DatabaseUnavailable.code:
        logger.warning("database unavailable on %s: %s", where or "-", short(exc))
    return translation


def form_message(exc: DomainError) -> str:
    """The message an HTML form shows next to the field the error names: without the
    ``field: `` prefix the API needs, starting with a capital letter."""
    message = exc.message
    field = exc.details.get("field")
    if field and message.startswith(f"{field}: "):
        message = message[len(field) + 2 :]
    return message[:1].upper() + message[1:]
