"""Fixtures for the hardening tests: the real ASGI app served by uvicorn on a free port."""

from __future__ import annotations

import threading
import time

import pytest

from oauth.testing import browser_for, oauth_app, public_app, token_for  # noqa: F401 - fixtures
from picard.testing import free_port


@pytest.fixture(scope="session")
def edge_server(django_db_setup, django_db_blocker):
    """``picard.asgi.application`` (edge checks + Django) served over real HTTP in a thread.

    Lifespan is off: the in-process server must not release the test run's embedded
    database on shutdown. Tests that reach the database also need ``transactional_db``."""
    import uvicorn

    from picard.asgi import application

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    # The server's worker threads may still hold connections to the test database.
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


from mcp_bridge.tests.conftest import make_token, mcp_server_factory  # noqa: E402,F401 - fixtures
