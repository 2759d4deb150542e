"""The top-level ASGI app: one process serves the site, the APIs and ``/mcp``.

- It owns the lifespan, because a mounted sub-app's lifespan never runs and Django's ASGI
  handler refuses lifespan events: startup runs the MCP session manager and resumes imports
  a stopped process left behind (``resume_interrupted_imports``); shutdown stops it
  and releases the embedded database handle (uvicorn re-raises SIGTERM, skipping atexit).
- ``/mcp`` goes to the MCP app with its scope unchanged (no ``/mcp/`` redirect dance).
- ``/.well-known/oauth-protected-resource`` and ``…/mcp`` (RFC 9728) have one owner: the MCP door.
- Everything else goes to Django.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "picard.settings.base")

from django.core.asgi import get_asgi_application  # noqa: E402

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
PRM_PATHS = ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp")


def _close_db_connections(*, close_pool: bool) -> None:
    """Close this thread's connection and, for a real server shutting down, the pool."""
    from django.db import connections

    connections.close_all()
    if close_pool:
        for connection in connections.all(initialized_only=True):
            if hasattr(connection, "close_pool"):
                connection.close_pool()


def resume_interrupted_imports() -> threading.Thread | None:
    """Start a background thread that finishes every import a stopped process left behind
    (``memories.importexport.import_jobs_resume``), unless
    ``settings.PICARD_IMPORT_RESUME_ON_START`` is off. Called from the lifespan, so it runs
    only where the site is served — never in ``migrate`` or another management command.
    With several workers each one calls it; a job's lease (``_claim``) lets one take it."""
    from django.conf import settings

    if not settings.PICARD_IMPORT_RESUME_ON_START:
        return None

    def resume() -> None:
        from django.db import DatabaseError, connection

        from memories.importexport import import_jobs_resume

        try:
            resumed = import_jobs_resume()
            if resumed:
                logger.info("resumed %d interrupted import(s) at start-up", resumed)
        except DatabaseError as exc:  # not migrated yet, or the database is away: not a bug
            logger.warning("interrupted imports were not resumed at start-up (%s); they resume when their page is opened",
                           type(exc).__name__)
        except Exception:  # noqa: BLE001 - a background thread has nobody to raise to
            logger.exception("resuming interrupted imports failed; they resume when their page is opened")
        finally:
            connection.close()

    thread = threading.Thread(target=resume, name="import-resume", daemon=True)
    thread.start()
    return thread


def build_application(*, release_db_on_shutdown: bool = True, stateless: bool | None = None, json_response: bool | None = None):
    """A fresh top-level app (tests build several, with different MCP modes)."""
    django_app = get_asgi_application()

    from django.core.exceptions import ImproperlyConfigured

    from picard.checks import assert_encryption_keys_match
    from picard.db import run_sync
    from picard.middleware import asgi_edge

    from mcp_bridge.http import McpHttpApp, ProtectedResourceMetadataApp

    mcp_app = McpHttpApp(stateless=stateless, json_response=json_response)
    prm_app = ProtectedResourceMetadataApp()

    async def lifespan(receive, send) -> None:
        stack = contextlib.AsyncExitStack()
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            # Refuse to serve with encryption keys that cannot read the stored memories.
            await run_sync(assert_encryption_keys_match)
        except ImproperlyConfigured as exc:
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        try:
            await stack.enter_async_context(mcp_app.lifespan())
        except Exception as exc:  # pragma: no cover - reported to the server, which exits
            logger.exception("MCP session manager failed to start")
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        resume_interrupted_imports()
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        try:
            await stack.aclose()
            await run_sync(_close_db_connections, close_pool=release_db_on_shutdown)
        finally:
            if release_db_on_shutdown:
                from picard.embedded_db import release

                # Off the event loop: it waits for the embedded PostgreSQL to stop, and its
                # Django close_all() is refused in async code (this process's connections
                # and pool were closed just above).
                await asyncio.to_thread(release)
            await send({"type": "lifespan.shutdown.complete"})

    async def application(scope, receive, send):
        kind = scope["type"]
        if kind == "lifespan":
            await lifespan(receive, send)
            return
        if kind == "http":
            path = scope["path"]
            if path == MCP_PATH:
                await mcp_app(scope, receive, send)
                return
            if path.rstrip("/") in PRM_PATHS:
                await prm_app(scope, receive, send)
                return
        await django_app(scope, receive, send)

    from picard.logging import RequestIdMiddleware

    # Body limits, malformed input and the /mcp rate limit are refused here, before any app
    # runs; outermost, every HTTP request (refusals included) gets a request id in its logs
    # and response headers.
    edge = RequestIdMiddleware(asgi_edge(application))
    edge.mcp = mcp_app  # for tests and introspection
    return edge


application = build_application()
