"""The top-level ASGI app: one process serves the site, the APIs and ``/mcp``.

- It owns the lifespan, because a mounted sub-app's lifespan never runs and Django's ASGI
  handler refuses lifespan events: startup runs the MCP session manager and resumes imports
  a stopped process left behind (``resume_interrupted_imports``); shutdown stops it
  and releases the embedded database handle (uvicorn re-raises SIGTERM, skipping atexit).
- HTTP goes through the edge (``picard.edge``): input checks, the body read once, then
  ``/mcp`` to the MCP app with its scope unchanged (no ``/mcp/`` redirect dance), the
  RFC 9728 metadata (``/.well-known/oauth-protected-resource[/mcp]``) to the MCP door,
  everything else to Django (``picard.edge.django.DjangoApp``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "picard.settings.base")

import django  # noqa: E402

django.setup(set_prefix=False)

# Everything below needs the app registry (models, settings) that django.setup() filled.
from django.conf import settings  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.db import DatabaseError, connection, connections  # noqa: E402

from mcp_bridge.http import McpHttpApp, ProtectedResourceMetadataApp  # noqa: E402
from memories.activity import activity_flush  # noqa: E402
from memories.importexport import import_jobs_resume  # noqa: E402
from picard.checks import assert_encryption_keys_match  # noqa: E402
from picard.db import run_sync  # noqa: E402
from picard.edge.asgi import Edge  # noqa: E402
from picard.edge.django import DjangoApp  # noqa: E402
from picard.edge.request_id import RequestIdMiddleware  # noqa: E402
from picard.embedded_db import release  # noqa: E402

logger = logging.getLogger(__name__)


def _close_db_connections(*, close_pool: bool) -> None:
    """Close this thread's connection and, for a real server shutting down, the pool."""
    connections.close_all()
    if close_pool:
        for alias in connections.all(initialized_only=True):
            if hasattr(alias, "close_pool"):
                alias.close_pool()


def resume_interrupted_imports() -> threading.Thread | None:
    """Start a background thread that finishes every import a stopped process left behind
    (``memories.importexport.import_jobs_resume``), unless
    ``settings.PICARD_IMPORT_RESUME_ON_START`` is off. Called from the lifespan, so it runs
    only where the site is served — never in ``migrate`` or another management command.
    With several workers each one calls it; a job's lease (``_claim``) lets one take it."""
    if not settings.PICARD_IMPORT_RESUME_ON_START:
        return None

    def resume() -> None:
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
    mcp_app = McpHttpApp(stateless=stateless, json_response=json_response)

    async def lifespan(receive, send) -> None:
        await serve_lifespan(receive, send, mcp_app=mcp_app, release_db_on_shutdown=release_db_on_shutdown)

    edge = Edge(django_app=DjangoApp(), mcp_app=mcp_app, prm_app=ProtectedResourceMetadataApp(), lifespan=lifespan)
    # Outermost: every HTTP request (refusals included) gets a request id in its logs and
    # response headers.
    application = RequestIdMiddleware(edge)
    application.mcp = mcp_app  # for tests and introspection
    return application


async def serve_lifespan(receive, send, *, mcp_app, release_db_on_shutdown: bool) -> None:
    """Startup: refuse to serve with encryption keys that cannot read the stored memories,
    start the MCP session manager, resume the imports a stopped process left behind
    (``resume_interrupted_imports``). Shutdown: stop it, write the buffered read activity,
    close the database connections, release the embedded PostgreSQL."""
    stack = contextlib.AsyncExitStack()
    message = await receive()
    assert message["type"] == "lifespan.startup"
    try:
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
        await run_sync(activity_flush)
        await run_sync(_close_db_connections, close_pool=release_db_on_shutdown)
    finally:
        if release_db_on_shutdown:
            # Off the event loop: it waits for the embedded PostgreSQL to stop, and its
            # Django close_all() is refused in async code (this process's connections
            # and pool were closed just above).
            await asyncio.to_thread(release)
        await send({"type": "lifespan.shutdown.complete"})


application = build_application()
