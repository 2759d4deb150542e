"""The outermost ASGI layer: one request id per HTTP request (see ``picard.logging``)."""

from __future__ import annotations

import logging
import re
import time

from picard import context
from picard.logging import new_request_id, redact_path, request_id_var

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_request_logger = logging.getLogger("picard.request")


class RequestIdMiddleware:
    """ASGI middleware: one request id per HTTP request (see the module docstring)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_ID.match(incoming) else new_request_id()
        token = request_id_var.set(request_id)
        # Each request starts without a call context (the door sets one); nothing set
        # earlier in this task's context may leak into it.
        context_token = context._current.set(None)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = redact_path(scope.get("path", ""))  # a password-reset token is masked
            if path != "/healthz":  # health probes every few seconds would drown the log
                _request_logger.info(
                    "%s %s %s %.1fms", scope.get("method", ""), path, status["code"], (time.perf_counter() - started) * 1000,
                    extra={"http_method": scope.get("method", ""), "http_path": path, "http_status": status["code"],
                           "duration_ms": round((time.perf_counter() - started) * 1000, 1)},
                )
            context._current.reset(context_token)
            request_id_var.reset(token)
