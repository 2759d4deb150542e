"""Scope checks at the REST doors (``/api/tools``, personas, OAuth admin APIs): what a
request's bearer token may do. Sessions (a person on the site) are not token-scoped."""

from __future__ import annotations

from rest_framework.request import Request

from oauth.models import PERSONAL_TOKEN_CLIENT_PREFIX
from picard.exceptions import InsufficientScope


def token_scopes(request: Request) -> frozenset[str] | None:
    """The scopes of the bearer token, or ``None`` for a session (a person acting on the site)."""
    token = getattr(request, "auth", None)
    scope = getattr(token, "scope", None)
    if scope is None:
        return None
    return frozenset(scope.split())


def token_client_id(request: Request) -> str | None:
    """The acting client for the activity log: the OAuth application's client id, or
    ``pat:<id>`` for a personal access token (``oauth.models.PersonalAccessToken``)."""
    token = getattr(request, "auth", None)
    if getattr(token, "picard_pat_id", None) is not None:
        return f"{PERSONAL_TOKEN_CLIENT_PREFIX}{token.picard_pat_id}"
    application = getattr(token, "application", None)
    return application.client_id if application is not None else None


def require_scope(request: Request, scope: str) -> None:
    """403 ``insufficient_scope`` when a token lacks ``scope``. Sessions have every scope
    the person may use; the admin scope is additionally checked against ``is_staff``."""
    scopes = token_scopes(request)
    if scopes is not None and scope not in scopes:
        raise InsufficientScope(scope)
