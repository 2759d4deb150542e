"""The HTTP side of the MCP door: ``/mcp`` (Streamable HTTP) and the RFC 9728 protected
resource metadata, as plain ASGI apps that ``picard/asgi.py`` routes to.

For every ``/mcp`` request, in order (each step a named method of ``McpHttpApp``):

1. CORS (preflight and response headers): Starlette's ``CORSMiddleware``, configured from
   django-cors-headers' settings (``CORS_ALLOW_HEADERS``, ``CORS_EXPOSE_HEADERS``,
   ``CORS_PREFLIGHT_MAX_AGE``) and ``PICARD_MCP_ALLOWED_ORIGINS`` (``mcp_cors``).
2. Host (Django's ``ALLOWED_HOSTS``) and Origin (``PICARD_MCP_ALLOWED_ORIGINS``) are checked:
   DNS-rebinding protection, also correct behind a reverse proxy (``USE_X_FORWARDED_HOST``).
3. Rate limit before any token lookup: a client IP whose ``mcp`` bucket is spent gets 429.
4. The bearer token is verified (``mcp_bridge.auth``): none or invalid → ``401`` with
   ``WWW-Authenticate: Bearer resource_metadata="…", scope="…"`` (and the request counts
   against the client IP); a verified token is counted against its own bucket.
5. For a POST, the JSON-RPC body the edge read and parsed once (``scope["picard.json"]``) is
   checked, whatever protocol revision the client speaks. Before the token, like every other
   hostile-input check: not JSON (or not UTF-8, or empty) → ``-32700``; NUL characters, lone
   surrogates, nesting too deep → ``-32600``. After it: not a JSON-RPC message → ``-32600``
   (with the ``id`` when one can be read; ``error.data.code`` names Picard's reason, if any);
   a ``tools/call`` whose tool needs a scope the token lacks (or a resource read without
   ``memories:read``) → ``403 insufficient_scope`` naming the scopes (MCP step-up).
6. The SDK's session manager serves the request (stateful or stateless, JSON or SSE, every
   protocol revision the SDK speaks), with the token in context for the tools; it receives
   the body the edge already read; stateful sessions are capped per token and per user
   (``mcp_bridge.session_caps``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from mcp_bridge import auth
from mcp_bridge import tools as registry
from mcp_bridge.server import build_server
from mcp_bridge.session_caps import SessionCaps
from picard import ratelimit
from picard.db import run_sync
from picard.edge.asgi import BODY, BODY_ERROR, JSON, client_ip
from picard.edge.checks import MalformedJson, is_json, media_type
from picard.edge.responses import send_error, send_json
from picard.exceptions import RateLimited
from picard.public_url import origin_for_host

logger = logging.getLogger(__name__)

ALLOW_METHODS = ("GET", "POST", "DELETE", "OPTIONS")

# JSON-RPC 2.0 error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600

# JSON-RPC methods that read memories through resources.
_RESOURCE_READS = {"resources/read"}


# --- small ASGI helpers ------------------------------------------------------------------------


def _jsonrpc_error(message: str, code: int = INVALID_REQUEST, id_: Any = None, *, reason: str | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if reason:
        error["data"] = {"code": reason}  # Picard's error code, as in the REST envelope
    return {"jsonrpc": "2.0", "id": id_, "error": error}


def _readable_id(message: Any) -> Any:
    """The ``id`` of a message when it has a valid one (string or number), else ``None``."""
    if isinstance(message, dict):
        value = message.get("id")
        if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            return value
    return None


def jsonrpc_problem(message: Any) -> str | None:
    """Why ``message`` is not a JSON-RPC 2.0 request, notification or response (``None``: it is)."""
    if not isinstance(message, dict):
        return "A JSON-RPC message must be a JSON object."
    if message.get("jsonrpc") != "2.0":
        return 'A JSON-RPC message needs "jsonrpc": "2.0".'
    if "method" in message:
        if not isinstance(message["method"], str) or not message["method"]:
            return '"method" must be a non-empty string.'
        if "params" in message and not isinstance(message["params"], (dict, list)):
            return '"params" must be an object or an array.'
        if "id" in message and _readable_id(message) is None:
            return '"id" must be a string or a number.'
        return None
    if ("result" in message or "error" in message) and "id" in message:
        return None
    return 'A JSON-RPC request needs a "method".'


def refused_body_error(scope: dict) -> dict | None:
    """The JSON-RPC error for a POST body the edge refused (not JSON, not UTF-8, NUL
    characters, lone surrogates, nested too deeply) or an empty JSON body."""
    refused = scope.get(BODY_ERROR)
    if isinstance(refused, MalformedJson):
        return _jsonrpc_error(f"Parse error: {refused.message}", PARSE_ERROR, reason=refused.code)
    if refused is not None:
        return _jsonrpc_error(f"Invalid Request: {refused.message}", reason=refused.code)
    if JSON not in scope and BODY in scope and is_json(media_type(Headers(scope=scope).get("content-type", ""))):
        return _jsonrpc_error("Parse error: the body is empty.", PARSE_ERROR, reason="malformed_json")
    return None


def jsonrpc_message_error(scope: dict) -> dict | None:
    """The JSON-RPC error for a JSON body that is not a JSON-RPC message (or batch)."""
    if JSON not in scope:
        return None  # not a JSON body: the SDK answers (415)
    parsed = scope[JSON]
    messages = parsed if isinstance(parsed, list) else [parsed]
    if not messages:
        return _jsonrpc_error("Invalid Request: an empty batch.")
    for message in messages:
        problem = jsonrpc_problem(message)
        if problem:
            return _jsonrpc_error(f"Invalid Request: {problem}", INVALID_REQUEST, _readable_id(message))
    return None


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


class McpCORS(CORSMiddleware):
    """Starlette's CORS for ``/mcp``: origins are ``PICARD_MCP_ALLOWED_ORIGINS`` (read at each
    request, like every other setting); a preflight answers 204 with no body (and names the
    exposed headers too, as it always has)."""

    def is_allowed_origin(self, origin: str) -> bool:
        return origin_allowed(origin)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 200:
            return response
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
        headers["Access-Control-Expose-Headers"] = ", ".join(settings.CORS_EXPOSE_HEADERS)
        return Response(status_code=204, headers=headers)


def mcp_cors(app) -> McpCORS:
    """``app`` behind CORS configured from django-cors-headers' settings (one list of allowed
    and exposed headers for the whole site) and ``PICARD_MCP_ALLOWED_ORIGINS``."""
    return McpCORS(
        app,
        allow_methods=ALLOW_METHODS,
        allow_headers=list(settings.CORS_ALLOW_HEADERS),
        expose_headers=list(settings.CORS_EXPOSE_HEADERS),
        max_age=getattr(settings, "CORS_PREFLIGHT_MAX_AGE", 86400),
    )


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


async def _unauthorized(send, *, token_given: bool, origin: str | None = None) -> None:
    if token_given:
        header = www_authenticate(error="invalid_token", description="The access token is invalid, expired, revoked or not issued for this server.", origin=origin)
        body = {"error": "invalid_token", "error_description": "The access token is invalid, expired, revoked or not issued for " + settings.PICARD_MCP_RESOURCE + "."}
    else:
        header = www_authenticate(origin=origin)
        body = {"error": "invalid_token", "error_description": "Authentication required: send an OAuth access token for " + settings.PICARD_MCP_RESOURCE + "."}
    await send_json(send, 401, body, [(b"www-authenticate", header.encode())])


async def _insufficient_scope(send, *, needed: set[str], token: auth.VerifiedToken, what: str, origin: str | None = None) -> None:
    scope = " ".join(sorted(set(token.scopes) | needed))
    description = f"{what} needs the scope {' '.join(sorted(needed))}."
    header = www_authenticate(error="insufficient_scope", description=description, scope=scope, origin=origin)
    body = {"error": "insufficient_scope", "error_description": description, "required_scopes": sorted(needed)}
    await send_json(send, 403, body, [(b"www-authenticate", header.encode())])


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
        self.cors = mcp_cors(self.serve)
        self.session_caps = None if self.stateless else SessionCaps(
            self.session_manager,
            per_token=settings.PICARD_MCP_MAX_SESSIONS_PER_TOKEN, per_user=settings.PICARD_MCP_MAX_SESSIONS_PER_USER,
        )

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with self.session_manager.run():
            yield

    async def __call__(self, scope, receive, send) -> None:
        await self.cors(scope, receive, send)

    async def serve(self, scope, receive, send) -> None:
        """Steps 2-6 of the module docstring (CORS, step 1, wraps this)."""
        headers = Headers(scope=scope)
        if not _host_allowed(headers):
            await send_json(send, 421, _jsonrpc_error("Invalid Host header: add this host to ALLOWED_HOSTS."))
            return
        origin = headers.get("origin")
        if origin and not origin_allowed(origin):
            await send_json(send, 403, _jsonrpc_error("Origin not allowed: add it to PICARD_MCP_ALLOWED_ORIGINS."))
            return
        if scope["method"] == "POST" and (error := refused_body_error(scope)) is not None:
            await send_json(send, 400, error)  # hostile input: refused before any token lookup
            return
        try:
            token, raw = await self.authenticate(scope, headers)
        except RateLimited as exc:
            await send_error(send, exc)
            return
        except Exception as exc:  # noqa: BLE001 - the database being away is a 503, never a 500
            await send_error(send, exc, where="/mcp")
            return
        if token is None:
            await _unauthorized(send, token_given=bool(headers.get("authorization")), origin=origin_for_host(headers.get("host")))
            return
        if scope["method"] == "POST":
            if (error := jsonrpc_message_error(scope)) is not None:
                await send_json(send, 400, error)
                return
            if not await self.step_up(scope, send, token):
                return
        # ``receive`` still holds the body for the SDK: the edge read it once and replays it.
        await self.handle_with_token(scope, receive, send, token, raw)

    async def authenticate(self, scope, headers: Headers) -> tuple[auth.VerifiedToken | None, str]:
        """The verified token (or ``None``) and its raw value, with the rate limits around
        the lookup: a spent client-IP bucket is refused before it; afterwards a verified
        token counts against its own bucket, anything else against the client IP."""
        method, path, ip = scope["method"], scope["path"], client_ip(scope)
        await _rate_call(ratelimit.check, method=method, path=path, ip=ip)
        authorization = headers.get("authorization", "")
        raw = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        token = await auth.averify_token(raw) if raw else None
        await _rate_call(ratelimit.count_caller, method=method, path=path, ip=ip, verified_token=raw if token else None)
        return token, raw

    async def step_up(self, scope, send, token: auth.VerifiedToken) -> bool:
        """403 ``insufficient_scope`` when a message needs a scope the token lacks."""
        parsed = scope.get(JSON)
        for message in parsed if isinstance(parsed, list) else [parsed]:
            needed = _needed_scopes(message)
            if needed and not needed[0] <= token.scopes:
                await _insufficient_scope(send, needed=needed[0], token=token, what=needed[1],
                                          origin=origin_for_host(Headers(scope=scope).get("host")))
                return False
        return True

    async def handle_with_token(self, scope, receive, send, token: auth.VerifiedToken, raw: str) -> None:
        scope = {**scope, "user": AuthenticatedUser(token.as_sdk_token(raw))}
        marker = auth.set_current_token(token)
        sdk_marker = auth_context_var.set(scope["user"])
        try:
            if self.session_caps is None:
                await self.session_manager.handle_request(scope, receive, send)
            else:
                await self.session_caps.handle_request(scope, receive, send, raw_token=raw, user_id=token.user_id)
        finally:
            auth_context_var.reset(sdk_marker)
            auth.reset_current_token(marker)


async def _rate_call(fn, **kwargs) -> None:
    """A ``picard.ratelimit`` call from async code: directly when its rules count in this
    process, in a worker thread when one of them counts in PostgreSQL."""
    if ratelimit.needs_database(method=kwargs["method"], path=kwargs["path"]):
        await run_sync(fn, **kwargs)
    else:
        fn(**kwargs)
