"""``Edge``: the input checks and the routing of the top-level ASGI app (see
``picard.edge``). Each step is a named function; ``Edge.__call__`` only runs them in order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from picard.edge import checks
from picard.edge.responses import send_error
from picard.exceptions import DomainError

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]

MCP_PATH = "/mcp"
PRM_PATHS = ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp")

# Keys the edge puts in the ASGI scope for the apps behind it.
BODY = "picard.body"  # the request body, read once (JSON and form bodies)
JSON = "picard.json"  # the parsed, checked JSON value of a JSON body
BODY_ERROR = "picard.body_error"  # /mcp only: why the JSON body was refused (the MCP door renders it)


class Disconnected(Exception):
    """The client went away while the edge read its body."""


def header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def client_ip(scope: dict) -> str:
    return (scope.get("client") or ("unknown",))[0]


def replay_body(body: bytes, receive: Callable) -> Callable:
    """An ASGI ``receive`` that hands the already-read ``body`` to the app once, then
    defers to the real ``receive`` (for disconnects)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def read_body(receive: Callable, limit: int) -> bytes:
    """The whole body, refusing one over ``limit`` as soon as it is exceeded."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise checks.too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class CountedStream:
    """For bodies the edge does not buffer (multipart uploads, octet streams): counts the
    bytes the app reads and answers 413 once they pass ``limit``."""

    def __init__(self, receive: Callable, send: Callable, limit: int):
        self._receive, self._send, self.limit = receive, send, limit
        self.seen, self.responded = 0, False

    async def receive(self) -> dict:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit and not self.responded:
                self.responded = True
                await send_error(self._send, checks.too_large(self.limit))
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: dict) -> None:
        if not self.responded:
            await self._send(message)


def check_head(scope: dict) -> tuple[str, int, bool]:
    """URL and headers: returns (media type, body limit, whether the edge buffers the body)."""
    path = scope.get("path", "")
    checks.check_url(
        path=path, raw_path=scope.get("raw_path") or path.encode("utf-8", "surrogateescape"),
        query=scope.get("query_string", b""),
    )
    media = checks.media_type(header(scope, b"content-type"))
    limit = checks.body_limit(media)
    declared = checks.check_declared_length(header(scope, b"content-length"), limit)
    has_body = declared != 0 and (declared is not None or bool(header(scope, b"transfer-encoding")))
    checks.check_api_media_type(method=scope.get("method", "GET"), path=path, media=media, has_body=has_body)
    buffered = checks.is_json(media) or media == "application/x-www-form-urlencoded"
    return media, limit, buffered


def check_body(scope: dict, body: bytes, media: str) -> None:
    """Check a buffered body; the parsed JSON goes into the scope. On ``/mcp`` a refused
    JSON body is left for the MCP door to answer as a JSON-RPC error."""
    if not body:
        return
    if not checks.is_json(media):
        checks.check_form_body(body)
        return
    try:
        scope[JSON] = checks.parse_json_body(body)
    except DomainError as exc:
        if scope.get("path") != MCP_PATH:
            raise
        scope[BODY_ERROR] = exc


class Edge:
    """The top-level ASGI app: lifespan to ``lifespan``; HTTP through the checks, then to
    ``mcp_app`` (``/mcp``), ``prm_app`` (RFC 9728 metadata) or ``django_app``."""

    def __init__(self, *, django_app: ASGIApp, mcp_app: ASGIApp, prm_app: ASGIApp,
                 lifespan: Callable[[Callable, Callable], Awaitable[None]]):
        self.django_app, self.mcp, self.prm_app, self.lifespan = django_app, mcp_app, prm_app, lifespan

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            await self.django_app(scope, receive, send)
            return
        try:
            media, limit, buffered = check_head(scope)
            if buffered:
                body = await read_body(receive, limit)
                check_body(scope, body, media)
                scope[BODY] = body
                receive = replay_body(body, receive)
        except Disconnected:
            return
        except DomainError as exc:
            await send_error(send, exc)
            return
        if not buffered:
            stream = CountedStream(receive, send, limit)
            receive, send = stream.receive, stream.send
        await self.route(scope)(scope, receive, send)

    def route(self, scope: dict[str, Any]) -> ASGIApp:
        path = scope["path"]
        if path == MCP_PATH:
            return self.mcp
        if path.rstrip("/") in PRM_PATHS:
            return self.prm_app
        return self.django_app
