"""Which redirect URIs a client may register: one policy for every path that stores them —
dynamic registration (``POST /oauth/register``) and its RFC 7592 updates, the admin API
(``POST /api/admin/clients/register``), ``manage.py register_oauth_client``, the
manage-clients page and the Django admin.

Every path refuses a URI with whitespace or a control character anywhere: DOT stores the
list as one space-separated string, so ``"http://127.0.0.1/cb http://evil.example/cb"``
sent as ONE URI would otherwise be stored as two. Every path also refuses fragments,
userinfo and the schemes a browser would execute or read locally (``javascript:``,
``data:``, ``file:``…). Dynamic registration (anyone may call it) further allows only:

- ``https://`` with a host;
- ``http://`` to a loopback host (127.0.0.1, [::1], localhost — any port, RFC 8252 §7.3);
- a private-use scheme of a native app (RFC 8252 §7.1): ``cursor://…``, ``vscode://…``,
  ``com.example.app:/callback``.

At ``/authorize`` the redirect URI must match a registered one exactly (DOT, with
``COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING``); only a loopback URI may differ in port.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

# RFC 3986 §3.1 scheme syntax.
_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*$")
WEB_SCHEMES = ("http", "https")
# Schemes a browser executes, reads locally, or that are not redirect targets at all.
REFUSED_SCHEMES = frozenset({
    "javascript", "vbscript", "data", "file", "blob", "about", "filesystem", "view-source",
    "ftp", "ws", "wss", "mailto", "tel", "sms", "urn", "jar", "intent", "content", "chrome",
    "resource", "moz-extension", "chrome-extension", "ms-browser-extension", "safari-extension",
})


def _has_space_or_control(uri: str) -> bool:
    return any(ch.isspace() or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in uri)


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


def is_private_use_scheme(scheme: str) -> bool:
    """A native app's own scheme (RFC 8252 §7.1): syntactically a scheme, not a web or
    refused one."""
    scheme = scheme.lower()
    return bool(_SCHEME.match(scheme)) and scheme not in WEB_SCHEMES and scheme not in REFUSED_SCHEMES


def redirect_uri_problem(uri, *, dynamic: bool) -> str | None:
    """Why ``uri`` may not be registered (a sentence naming it), or None.

    ``dynamic``: registered by anyone through ``/oauth/register`` (the strict list in the
    module docstring); otherwise an administrator registers it (any http/https host too)."""
    if not isinstance(uri, str) or not uri:
        return "each redirect URI must be a non-empty string."
    shown = uri[:200].encode("unicode_escape").decode("ascii")
    if _has_space_or_control(uri):
        return f"{shown}: a redirect URI may not contain spaces or control characters (send several URIs as separate list items)."
    if len(uri) > 2000:
        return f"{shown}…: a redirect URI may be at most 2000 characters."
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return f"{shown}: not a valid URI."
    scheme = parts.scheme.lower()
    if not scheme or not _SCHEME.match(scheme):
        return f"{shown}: not an absolute URI (it needs a scheme such as https:)."
    if "#" in uri:
        return f"{shown}: a redirect URI may not contain a fragment (#)."
    if parts.username is not None or parts.password is not None:
        return f"{shown}: a redirect URI may not contain a user name or password."
    if scheme in WEB_SCHEMES:
        if not parts.hostname:
            return f"{shown}: an http(s) redirect URI needs a host."
        if dynamic and scheme == "http" and not is_loopback_redirect(uri):
            return f"{shown}: plain http is allowed only to a loopback address (127.0.0.1, [::1] or localhost, any port); use https."
        return None
    if not is_private_use_scheme(scheme):
        return f"{shown}: the {scheme}: scheme is not allowed for redirects."
    if not (parts.netloc or parts.path):
        return f"{shown}: a private-use redirect URI needs a path, e.g. {scheme}:/callback."
    return None


def allowed_schemes_for(redirect_uris: str) -> list[str]:
    """http, https and the private-use schemes among an application's registered redirect
    URIs (each already checked by ``redirect_uri_problem`` when it was stored)."""
    schemes = list(WEB_SCHEMES)
    for uri in (redirect_uris or "").split():
        scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
        if scheme and scheme not in schemes and is_private_use_scheme(scheme):
            schemes.append(scheme)
    return schemes
