"""DRF exception handler: every error leaves as
``{"status": "error", "error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
import uuid

from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from picard.exceptions import DomainError, RateLimited

logger = logging.getLogger(__name__)


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"status": "error", "error": {"code": code, "message": message, "details": details or {}}}


_DRF_CODES = {
    drf_exceptions.NotAuthenticated: "unauthorized",
    drf_exceptions.AuthenticationFailed: "unauthorized",
    drf_exceptions.PermissionDenied: "forbidden",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.ParseError: "malformed_json",
    drf_exceptions.Throttled: "rate_limited",
    drf_exceptions.ValidationError: "invalid",
}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        response = Response(error_body(exc.code, exc.message, exc.details), status=exc.http_status)
        if isinstance(exc, RateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Http404):
        return Response(error_body("not_found", "Not found."), status=404)
    response = drf_default_handler(exc, context)
    if response is None:
        from picard.middleware import DB_RETRY_AFTER_SECONDS, classify_exception

        known = classify_exception(exc)
        if known is not None:  # the database is away (503), a value PostgreSQL refuses (400), ...
            status, code, message, details = known
            response = Response(error_body(code, message, details), status=status)
            if status == 503:
                logger.warning("database unavailable in API view: %s", str(exc).split("\n")[0][:160])
                response["Retry-After"] = str(DB_RETRY_AFTER_SECONDS)
            return response
        reference = uuid.uuid4().hex[:12]
        logger.exception("unhandled error in API view (reference %s)", reference)
        return Response(
            error_body("server_error", f"Something went wrong on our side. The error was logged with reference {reference}.",
                       {"reference": reference}),
            status=500,
        )
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    detail = exc.detail if hasattr(exc, "detail") else str(exc)
    if isinstance(detail, (dict, list)):
        message, details = "The request is invalid.", {"fields": detail}
    else:
        message, details = str(detail), {}
    body = error_body(code, message, details)
    if response.status_code == 401:
        response.data = body
        return response
    response.data = body
    return response
