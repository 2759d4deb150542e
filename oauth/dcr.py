"""Policy for dynamic client registration (RFC 7591) at ``/oauth/register``.

``PICARD_DCR_MODE``: ``open`` (default) lets anyone register a *public* PKCE client whose
redirect URIs are loopback (any port, RFC 8252), https or a native app's private-use scheme
(``oauth.redirect_uris``) — what MCP clients need to connect on their own; ``token`` requires ``Authorization: Bearer <PICARD_DCR_INITIAL_ACCESS_TOKEN>``;
``closed`` turns registration off. DOT's registration view does the rest.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from oauth2_provider.utils import parse_bearer_token

from oauth.redirect_uris import redirect_uri_problem

SUPPORTED_GRANT_TYPES = ("authorization_code", "refresh_token")


class PicardDCRPermission:
    """DCR_REGISTRATION_PERMISSION_CLASSES entry: who may register at all."""

    def has_permission(self, request) -> bool:
        mode = getattr(settings, "PICARD_DCR_MODE", "open")
        if mode == "open":
            return True
        if mode == "token":
            expected = getattr(settings, "PICARD_DCR_INITIAL_ACCESS_TOKEN", "")
            presented = parse_bearer_token(request.META.get("HTTP_AUTHORIZATION", "")) or ""
            return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())
        return False


def registration_policy_error(metadata: dict) -> tuple[str, str] | None:
    """(error, description) when the metadata breaks Picard's registration policy."""
    method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
    if method != "none":
        return (
            "invalid_client_metadata",
            "Only public clients may register here: send token_endpoint_auth_method \"none\" and use PKCE (S256). "
            "Confidential clients are registered by an administrator.",
        )
    uris = metadata.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        return ("invalid_redirect_uri", "redirect_uris must be a non-empty array.")
    if len(uris) > 20:
        return ("invalid_redirect_uri", "at most 20 redirect URIs.")
    for uri in uris:
        problem = redirect_uri_problem(uri, dynamic=True)
        if problem:
            return ("invalid_redirect_uri", problem)
    grant_types = metadata.get("grant_types", ["authorization_code"])
    if isinstance(grant_types, list) and "authorization_code" not in grant_types:
        return ("invalid_client_metadata", "Only the authorization_code grant (with refresh_token) is available; include authorization_code.")
    response_types = metadata.get("response_types", ["code"])
    if isinstance(response_types, list) and any(r != "code" for r in response_types):
        return ("invalid_client_metadata", "Only the code response type is available.")
    return None


def registration_metadata_supported(metadata: dict) -> dict:
    """The metadata Picard registers: grant types it does not offer (VS Code also asks for
    the device-code grant) are dropped rather than refused — RFC 7591 §3.2.1 lets the server
    replace requested values, and the answer lists what was registered."""
    grant_types = metadata.get("grant_types")
    if isinstance(grant_types, list) and all(isinstance(g, str) for g in grant_types):
        kept = [g for g in grant_types if g in SUPPORTED_GRANT_TYPES]
        if kept != grant_types:
            return {**metadata, "grant_types": kept}
    return metadata
