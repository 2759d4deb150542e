"""The HTTP side of the MCP door: ``/mcp`` (Streamable HTTP) and the RFC 9728 protected
resource metadata, as plain ASGI apps that ``picard/asgi.py`` routes to.

For every ``/mcp`` request, in order:

1. CORS preflight (``OPTIONS``) is answered here, without authentication.
2. Host (Django's ``ALLOWED_HOSTS``) and Origin (``PICARD_MCP_ALLOWED_ORIGINS``) are checked:
   DNS-rebinding protection, also correct behind a reverse proxy (``USE_X_FORWARDED_HOST``).
3. The bearer token is verified (``mcp_bridge.auth``): none or invalid → ``401`` with
   ``WWW-Authenticate: Bearer resource_metadata="…", scope="…"``.
4. For a POST, the JSON-RPC body is read once: a ``tools/call`` whose tool needs a scope the
   token lacks (or a resource read without ``memories:read``) → ``403 insufficient_scope``
   naming the scopes (MCP step-up authorization); the body is then replayed.
5. The SDK's session manager serves the request (stateful or stateless, JSON or SSE, every
   protocol revision the SDK speaks), with the token in context for the tools; stateful
   sessions are capped per token and per user (``mcp_bridge.session_caps``).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, TransportSecuritySettings
from starlette.datastructures import Headers

from mcp_bridge import auth
from mcp_bridge import tools as registry
from mcp_bridge.session_caps import SessionCaps
from picard.middleware import replay_body, send_json, send_known_failure
from picard.public_url import origin_for_host

logger = logging.getLogger(__name__)

ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = (
    "Authorization, Content-Type, Accept, Mcp-Protocol-Version, Mcp-Session-Id, Mcp-Method, Mcp-Name, Last-Event-ID"
)
EXPOSE_HEADERS = "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate"

# JSON-RPC methods that read memories through resources.
_RESOURCE_READS = {"resources/read"}


# --- small ASGI helpers ------------------------------------------------------------------------


def _jsonrpc_error(message: str, code: int = -32600) -> dict:
    return {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}


def origin_allowed(origin: str) -> bool:
    allowed = settings.PICARD_MCP_ALLOWED_ORIGINS
    origin = origin.rstrip("/")
    for entry in allowed:
        entry = entry.rstrip("/")
        if entry == "*" or entry == origin:
            return True
        if entry.endswith(":*") and origin.startswith(entry[:-2] + ":"):
            return True
    return False


def _host_allowed(headers: Headers) -> bool:
    host = headers.get("host", "")
    if getattr(settings, "USE_X_FORWARDED_HOST", False) and headers.get("x-forwarded-host"):
        host = headers["x-forwarded-host"].split(",")[-1].strip()
    domain, _port = split_domain_port(host)
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


def _cors_headers(origin: str | None) -> list[tuple[bytes, bytes]]:
    if not origin or not origin_allowed(origin):
        return []
    return [
        (b"access-control-allow-origin", origin.encode()),
        (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
        (b"vary", b"Origin"),
    ]


def _with_headers(send, extra: list[tuple[bytes, bytes]]):
    if not extra:
        return send

    async def wrapped(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


# --- challenges ----------------------------------------------------------------------------------


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def www_authenticate(*, error: str | None = None, description: str | None = None, scope: str | None = None,
                     origin: str | None = None) -> str:
    parts = []
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{_quote(description)}"')
    parts.append(f'resource_metadata="{auth.resource_metadata_url(origin)}"')
    parts.append(f'scope="{scope or " ".join(auth.MCP_SCOPES)}"')
    return "Bearer " + ", ".join(parts)


async def _unauthorized(send, *, token_given: bool, cors, origin: str | None = None) -> None:
    if token_given:
        header = www_authenticate(error="invalid_token", description="The access token is invalid, expired, revoked or not issued for this server.", origin=origin)
        body = {"error": "invalid_token", "error_description": "The access token is invalid, expired, revoked or not issued for " + settings.PICARD_MCP_RESOURCE + "."}
    else:
        header = www_authenticate(origin=origin)
        body = {"error": "invalid_token", "error_description": "Authentication required: send an OAuth access token for " + settings.PICARD_MCP_RESOURCE + "."}
    await send_json(send, 401, body, [(b"www-authenticate", header.encode()), *cors])


async def _insufficient_scope(send, *, needed: set[str], token: auth.VerifiedToken, what: str, cors, origin: str | None = None) -> None:
    scope = " ".join(sorted(set(token.scopes) | needed))
    description = f"{what} needs the scope {' '.join(sorted(needed))}."
    header = www_authenticate(error="insufficient_scope", description=description, scope=scope, origin=origin)
    body = {"error": "insufficient_scope", "error_description": description, "required_scopes": sorted(needed)}
    await send_json(send, 403, body, [(b"www-authenticate", header.encode()), *cors])


def _needed_scopes(message: Any) -> tuple[set[str], str] | None:
    """The scopes one JSON-RPC message needs beyond a valid token, and what needs them."""
    if not isinstance(message, dict):
        return None
    method = message.get("method")
    params = message.get("params") if isinstance(message.get("params"), dict) else {}
    if method == "tools/call":
        tool = registry.TOOLS.get(params.get("name")) if isinstance(params.get("name"), str) else None
        if tool is not None:
            return {tool.scope}, f"The tool {tool.name}"
    elif method in _RESOURCE_READS:
        return {registry.READ}, "Reading resources"
    return None


# --- the apps ---------------------------------------------------------------------------------------


class ProtectedResourceMetadataApp:
    """RFC 9728 metadata for ``/mcp``; the only owner of ``/.well-known/oauth-protected-resource[/mcp]``."""

    async def __call__(self, scope, receive, send) -> None:
        cors = [(b"access-control-allow-origin", b"*")]
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": [
                *cors, (b"access-control-allow-methods", b"GET, OPTIONS"),
                (b"access-control-allow-headers", b"Mcp-Protocol-Version, Content-Type, Authorization"),
                (b"access-control-max-age", b"86400"),
            ]})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["method"] not in ("GET", "HEAD"):
            await send_json(send, 405, {"error": "method_not_allowed"}, [(b"allow", b"GET, OPTIONS"), *cors])
            return
        origin = origin_for_host(Headers(scope=scope).get("host"))  # PICARD_PUBLIC_URL except locally
        await send_json(send, 200, auth.protected_resource_metadata(None if origin == settings.PICARD_PUBLIC_URL else origin),
                        [*cors, (b"cache-control", b"public, max-age=3600"), (b"vary", b"Host")])


class McpHttpApp:
    """``/mcp``: checks, authentication, step-up, then the SDK's session manager."""

    def __init__(self, *, stateless: bool | None = None, json_response: bool | None = None):
        from mcp_bridge.server import build_server

        self.stateless = settings.PICARD_MCP_STATELESS if stateless is None else stateless
        self.json_response = settings.PICARD_MCP_JSON_RESPONSE if json_response is None else json_response
        self.server = build_server()
        # Host/Origin are checked above (with Django's host rules), so the SDK's own
        # localhost-only default is switched off here.
        self.server.streamable_http_app(
            stateless_http=self.stateless,
            json_response=self.json_response,
            session_idle_timeout=settings.PICARD_MCP_SESSION_IDLE_TIMEOUT,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self.session_manager = self.server.session_manager
        self.session_caps = None if self.stateless else SessionCaps(
            self.session_manager,
            per_token=settings.PICARD_MCP_MAX_SESSIONS_PER_TOKEN, per_user=settings.PICARD_MCP_MAX_SESSIONS_PER_USER,
        )
        self.max_body = DEFAULT_MAX_REQUEST_BODY_SIZE

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with self.session_manager.run():
            yield

    async def __call__(self, scope, receive, send) -> None:
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        method = scope["method"]

        if method == "OPTIONS":
            await self._preflight(send, origin)
            return
        if not _host_allowed(headers):
            await send_json(send, 421, _jsonrpc_error("Invalid Host header: add this host to ALLOWED_HOSTS."))
            return
        if origin and not origin_allowed(origin):
            await send_json(send, 403, _jsonrpc_error("Origin not allowed: add it to PICARD_MCP_ALLOWED_ORIGINS."))
            return
        cors = _cors_headers(origin)

        authorization = headers.get("authorization", "")
        raw = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        try:
            token = await auth.averify_token(raw) if raw else None
        except Exception as exc:  # noqa: BLE001 - the database being away is a 503, never a 500
            if not await send_known_failure(send, exc, cors):
                raise
            return
        if token is None:
            if method == "POST":
                await _drain(receive)
            await _unauthorized(send, token_given=bool(authorization), cors=cors, origin=origin_for_host(headers.get("host")))
            return

        if method == "POST":
            body, complete = await _read_body(receive, self.max_body)
            if body is None:
                await send_json(send, 413, _jsonrpc_error("Request body too large."), cors)
                return
            try:
                parsed = json.loads(body) if body else None
            except (ValueError, RecursionError):
                parsed = None  # the SDK answers with a JSON-RPC parse error
            for message in parsed if isinstance(parsed, list) else [parsed]:
                needed = _needed_scopes(message)
                if needed and not needed[0] <= token.scopes:
                    await _insufficient_scope(send, needed=needed[0], token=token, what=needed[1], cors=cors,
                                              origin=origin_for_host(headers.get("host")))
                    return
            receive = replay_body(body, receive)

        scope = {**scope, "user": AuthenticatedUser(token.as_sdk_token(raw))}
        marker = auth.set_current_token(token)
        sdk_marker = auth_context_var.set(scope["user"])
        try:
            if self.session_caps is None:
                await self.session_manager.handle_request(scope, receive, _with_headers(send, cors))
            else:
                await self.session_caps.handle_request(scope, receive, _with_headers(send, cors), raw_token=raw, user_id=token.user_id)
        finally:
            auth_context_var.reset(sdk_marker)
            auth.reset_current_token(marker)

    async def _preflight(self, send, origin: str | None) -> None:
        if not origin or not origin_allowed(origin):
            await send_json(send, 403, _jsonrpc_error("Origin not allowed: add it to PICARD_MCP_ALLOWED_ORIGINS."))
            return
        await send({"type": "http.response.start", "status": 204, "headers": [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-allow-methods", ALLOW_METHODS.encode()),
            (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
            (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
            (b"access-control-max-age", b"86400"),
            (b"vary", b"Origin"),
        ]})
        await send({"type": "http.response.body", "body": b""})


async def _read_body(receive, limit: int) -> tuple[bytes | None, bool]:
    chunks = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(chunks), False
        chunks.extend(message.get("body", b""))
        if len(chunks) > limit:
            return None, False
        if not message.get("more_body", False):
            return bytes(chunks), True


async def _drain(receive) -> None:
    with contextlib.suppress(Exception):
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
