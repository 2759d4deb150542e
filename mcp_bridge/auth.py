"""MCP authorization, resource-server side: who is calling ``/mcp`` and with which scopes.

Tokens are django-oauth-toolkit ``AccessToken`` rows (issued by Picard's own authorization
server, see ``oauth/``). A token is accepted for ``/mcp`` only when it is known (looked up
by its SHA-256 checksum, so a revoked — deleted — token is simply unknown), unexpired,
belongs to an active user, and is bound to this resource: its RFC 8707 ``resource`` list
contains ``settings.PICARD_MCP_RESOURCE`` exactly (on a developer's machine, any loopback
spelling of it: ``picard.public_url``). A token without any resource binding is
refused here (DOT treats it as "unrestricted"; the MCP spec forbids accepting it: no token
passthrough, no confused deputy).

The HTTP side (401/403 challenges) lives in ``mcp_bridge.http``; the per-tool scope check is
repeated inside every tool (``mcp_bridge.server``).
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from mcp.server.auth.provider import AccessToken as SdkAccessToken

from oauth.models import PERSONAL_TOKEN_CLIENT_PREFIX
from oauth.services import personal_token_note_use
from oauth.validators import access_token_load
from picard.db import run_sync
from picard.public_url import canonical_url

logger = logging.getLogger(__name__)

# The scopes an MCP client should ask for: everything the tools use (admin is not needed).
MCP_SCOPES = ("memories:read", "memories:write")


@dataclass(frozen=True)
class VerifiedToken:
    """A bearer token that passed every check, with the facts the tools need."""

    user_id: Any  # the owner's primary key (UUID)
    client_id: str  # the OAuth application's client id
    scopes: frozenset[str]
    expires_at: int  # Unix time
    resource: str  # the bound resource (== settings.PICARD_MCP_RESOURCE)
    # A personal access token's name (oauth.models.PersonalAccessToken); None for OAuth
    # tokens, whose client_id names their application. client_id is then "pat:<token id>".
    token_name: str | None = None
    # The active user behind the token, loaded with it (the tools act as this user).
    user: Any = field(default=None, compare=False, repr=False)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def as_sdk_token(self, raw: str) -> SdkAccessToken:
        """The SDK's view of the token (session ownership: client id + issuer + subject)."""
        return SdkAccessToken(
            token=raw,
            client_id=self.client_id,
            scopes=sorted(self.scopes),
            expires_at=self.expires_at,
            resource=self.resource,
            subject=str(self.user_id),
            claims={"iss": issuer()},
        )


_current: contextvars.ContextVar[VerifiedToken | None] = contextvars.ContextVar("picard_mcp_token", default=None)


def current_token() -> VerifiedToken | None:
    """The token of the MCP request being served (set by ``mcp_bridge.http``)."""
    return _current.get()


def set_current_token(token: VerifiedToken | None) -> contextvars.Token:
    return _current.set(token)


def reset_current_token(marker: contextvars.Token) -> None:
    _current.reset(marker)


def issuer() -> str:
    """This site's OAuth issuer (never derived from a request)."""
    provider = getattr(settings, "OAUTH2_PROVIDER", {}) or {}
    return (provider.get("OIDC_ISS_ENDPOINT") or settings.PICARD_PUBLIC_URL).rstrip("/")


def resource_metadata_url(origin: str | None = None) -> str:
    """RFC 9728 §3.1: the well-known path inserted between the origin and ``/mcp``.
    ``origin``: the one the client used (``picard.public_url.origin_for_host``)."""
    return f"{origin or settings.PICARD_PUBLIC_URL}/.well-known/oauth-protected-resource/mcp"


def protected_resource_metadata(origin: str | None = None) -> dict[str, Any]:
    """The RFC 9728 document for ``/mcp`` (served at both well-known URLs). The resource is
    ``PICARD_MCP_RESOURCE``; locally, the loopback spelling the client used (``origin``)."""
    return {
        "resource": f"{origin}/mcp" if origin else settings.PICARD_MCP_RESOURCE,
        "authorization_servers": [issuer()],
        "scopes_supported": list(MCP_SCOPES),
        "bearer_methods_supported": ["header"],
        "resource_name": "Picard memories (MCP)",
        "resource_documentation": f"{settings.PICARD_PUBLIC_URL}/docs",
    }


def _bound_to_this_resource(resources: Any) -> bool:
    if not isinstance(resources, list) or not resources:
        return False  # unbound: refused for /mcp
    wanted = settings.PICARD_MCP_RESOURCE.rstrip("/")
    # canonical_url: locally, localhost/127.0.0.1/[::1] on the public port are one origin.
    return any(isinstance(r, str) and canonical_url(r).rstrip("/") == wanted for r in resources)


def verify_token(raw: str) -> VerifiedToken | None:
    """Check a bearer token against the database. Synchronous (Django ORM)."""
    if not raw or len(raw) > 4096:
        return None
    token = access_token_load(raw)  # with its user, application and the client's disabled flag
    if token is None:
        return None
    if token.is_expired():
        return None
    if token.user is None or not token.user.is_active:
        return None
    if not _bound_to_this_resource(token.resource):
        logger.info("refused an MCP bearer token not bound to %s (resource=%r)", settings.PICARD_MCP_RESOURCE, token.resource)
        return None
    if token.picard_client_disabled:  # the per-client kill switch (oauth.models.ClientPolicy)
        return None
    personal_token_note_use(access_token=token)
    if token.picard_pat_id is not None:
        client_id = f"{PERSONAL_TOKEN_CLIENT_PREFIX}{token.picard_pat_id}"
    else:
        client_id = token.application.client_id if token.application else ""
    return VerifiedToken(
        user_id=token.user_id,
        client_id=client_id,
        token_name=token.picard_pat_name,
        scopes=frozenset(token.scope.split()),
        expires_at=int(token.expires.timestamp()),
        resource=settings.PICARD_MCP_RESOURCE,
        user=token.user,
    )


async def averify_token(raw: str) -> VerifiedToken | None:
    return await run_sync(verify_token, raw)


class PicardTokenVerifier:
    """The SDK's ``TokenVerifier`` protocol over DOT's tokens (for SDK-side auth plumbing)."""

    async def verify_token(self, token: str) -> SdkAccessToken | None:
        verified = await averify_token(token)
        return verified.as_sdk_token(token) if verified else None
