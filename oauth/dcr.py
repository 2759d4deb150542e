"""Policy for dynamic client registration (RFC 7591) at ``/oauth/register``.

``PICARD_DCR_MODE``: ``open`` (default) lets anyone register a *public* PKCE client whose
redirect URIs are loopback (any port, RFC 8252) or https — what MCP clients need to connect
on their own; ``token`` requires ``Authorization: Bearer <PICARD_DCR_INITIAL_ACCESS_TOKEN>``;
``closed`` turns registration off. DOT's registration view does the rest.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from oauth2_provider.utils import parse_bearer_token


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


def is_loopback_redirect(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
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
    for uri in uris:
        if not isinstance(uri, str):
            return ("invalid_redirect_uri", "Each redirect URI must be a string.")
        parts = urlsplit(uri)
        if parts.fragment or "#" in uri or parts.username or parts.password:
            return ("invalid_redirect_uri", f"{uri[:200]}: no fragments or credentials in redirect URIs.")
        if not (is_loopback_redirect(uri) or (parts.scheme == "https" and parts.hostname)):
            return ("invalid_redirect_uri", f"{uri[:200]}: redirect URIs must be https, or http on a loopback address (any port).")
    grant_types = metadata.get("grant_types", ["authorization_code"])
    if isinstance(grant_types, list) and any(g not in ("authorization_code", "refresh_token") for g in grant_types):
        return ("invalid_client_metadata", "Only the authorization_code and refresh_token grants are available.")
    response_types = metadata.get("response_types", ["code"])
    if isinstance(response_types, list) and any(r != "code" for r in response_types):
        return ("invalid_client_metadata", "Only the code response type is available.")
    return None
