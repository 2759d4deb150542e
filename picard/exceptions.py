"""One error tree for the whole application, translated once (``picard.errors``).

Application code raises these; ``picard.errors.translate`` turns any exception into
(status, code, message, details, headers) and each door only renders that: DRF's handler
(``picard.drf``), the ASGI edge (``picard.edge``), the MCP door (``mcp_bridge``) and the
HTML views (``picard.errors.form_message``). A class carries its own HTTP status and
headers (``Retry-After`` only on 429 and 503). Messages are "boring": they never reveal
whether something the actor may not see exists.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "invalid"
    http_status = 400
    default_message = "The request is invalid."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None, code: str | None = None):
        self.message = message or self.default_message
        self.details = details or {}
        if code:
            self.code = code
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def headers(self) -> dict[str, str]:
        """HTTP headers every door sends with this error (none by default)."""
        return {}


class ValidationError(DomainError):
    code, http_status = "invalid", 400

    @classmethod
    def for_field(cls, field: str, message: str) -> ValidationError:
        return cls(f"{field}: {message}", details={"field": field})


class NotAuthenticated(DomainError):
    code, http_status = "unauthorized", 401
    default_message = "Authentication is required."


class PermissionDenied(DomainError):
    code, http_status = "forbidden", 403
    default_message = "You may not do this."


class InsufficientScope(PermissionDenied):
    code = "insufficient_scope"

    def __init__(self, required: str | list[str]):
        scopes = [required] if isinstance(required, str) else list(required)
        super().__init__(
            f"This action needs the scope {' '.join(scopes)}.", details={"required_scopes": scopes}
        )
        self.required_scopes = scopes


class NotFound(DomainError):
    code, http_status = "not_found", 404
    default_message = "Not found."


class Conflict(DomainError):
    code, http_status = "conflict", 409
    default_message = "The resource was changed by someone else."


class PayloadTooLarge(DomainError):
    code, http_status = "payload_too_large", 413
    default_message = "The request is too large."


class RateLimited(DomainError):
    code, http_status = "rate_limited", 429
    default_message = "Too many requests; slow down."

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(DomainError):
    code, http_status = "unavailable", 503
    default_message = "A service Picard depends on is unavailable; try again shortly."
    retry_after = 5

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached (``picard.errors.translate`` raises nothing: it maps
    Django's and psycopg's connection errors onto this class)."""

    code = "database_unavailable"
    default_message = "The database is unavailable right now; nothing was changed. Try again in a few seconds."

    def __init__(self, message: str | None = None, **kwargs: Any):
        super().__init__(message, details={"retry_after": self.retry_after}, **kwargs)


class ConfigurationError(DomainError):
    """The server is misconfigured (e.g. a missing or wrong encryption key)."""

    code, http_status = "server_misconfigured", 500
    default_message = "The server is misconfigured."
