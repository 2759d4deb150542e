"""Loopback spellings are one origin locally.

Everything public — the OAuth issuer, the MCP resource, links in pages — derives from
``PICARD_PUBLIC_URL``, never from a request's Host header. One exception, for a developer's
machine only: when Picard is not in production and the public URL is a loopback address
(``make run``: ``http://127.0.0.1:8000``), ``localhost``, ``127.0.0.1`` and ``[::1]`` on the
same scheme and port are the same server. A client that was given ``http://localhost:8000/mcp``
then finds that resource named in the protected-resource metadata it fetches there, and a
token bound to any spelling is accepted under any other (``canonical_url``).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from oauth2_provider.oauth2_validators import validate_resource_as_url_prefix

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def _host_of(netloc_host: str | None) -> str:
    return (netloc_host or "").lower().strip("[]")


def loopback_spellings_enabled() -> bool:
    if getattr(settings, "PICARD_PRODUCTION", False):
        return False
    return _host_of(urlsplit(settings.PICARD_PUBLIC_URL).hostname) in LOOPBACK_HOSTS


def _same_local_origin(parts) -> bool:
    public = urlsplit(settings.PICARD_PUBLIC_URL)
    try:
        return (parts.scheme == public.scheme and _host_of(parts.hostname) in LOOPBACK_HOSTS
                and (parts.port or 80) == (public.port or 80))
    except ValueError:
        return False


def canonical_url(url: str) -> str:
    """``url`` with a loopback spelling of the public origin replaced by the public origin
    (locally only; anything else unchanged)."""
    if not isinstance(url, str) or not loopback_spellings_enabled():
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not _same_local_origin(parts):
        return url
    public = urlsplit(settings.PICARD_PUBLIC_URL)
    return urlunsplit((public.scheme, public.netloc, parts.path, parts.query, parts.fragment))


def origin_for_host(host: str | None) -> str:
    """The origin a client used to reach this server: the request's loopback spelling of the
    public origin when locally enabled, otherwise always ``PICARD_PUBLIC_URL``."""
    public = settings.PICARD_PUBLIC_URL
    if not host or not loopback_spellings_enabled():
        return public
    scheme = urlsplit(public).scheme
    try:
        parts = urlsplit(f"{scheme}://{host}")
    except ValueError:
        return public
    if not _same_local_origin(parts) or parts.username is not None or parts.path:
        return public
    return f"{scheme}://{parts.netloc.lower()}"


def resource_validator(request_uri: str, audiences) -> bool:
    """``OAUTH2_PROVIDER["RESOURCE_SERVER_TOKEN_RESOURCE_VALIDATOR"]``: DOT's prefix match,
    with loopback spellings made one origin first (locally only)."""
    return validate_resource_as_url_prefix(canonical_url(request_uri), [canonical_url(a) for a in audiences or []])
