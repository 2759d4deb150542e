"""Fixtures for the hardening tests: the real ASGI app served by uvicorn on a free port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from oauth.testing import browser_for, oauth_app, public_app, token_for  # noqa: F401 - fixtures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def site_world(alice, bob, carol):
    """Data with every kind of memory, for the site crawls (picard.tests.sitecrawl)."""
    from picard.tests.sitecrawl import build_varied_site

    return build_varied_site(alice, bob, carol)


def uvicorn_workers_of(master: int) -> list[int]:
    """uvicorn's worker processes (its children, less multiprocessing's resource tracker)."""
    workers = []
    for task in Path(f"/proc/{master}/task").iterdir():
        for pid in (task / "children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(int(pid))
    return workers


@contextlib.contextmanager
def uvicorn_with_workers(env: dict, *, workers: int = 2, timeout: float = 120, output=subprocess.PIPE):
    """A real ``uvicorn picard.asgi:application --workers N`` on a free loopback port: yields
    ``(process, url)`` once it answers ``/healthz`` with all its workers running. Stopped
    with one SIGTERM to the main process (as ``docker stop`` does), which stops its workers.
    ``workers=1``: uvicorn's single process serves (no worker processes). ``output``: where
    its log goes (a file for a noisy server: nobody reads the pipe while the test runs, and
    a full pipe blocks every thread that logs)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "picard.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--no-access-log"],
        cwd=ROOT, env={**env, "PORT": str(port), "PICARD_PUBLIC_URL": url}, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode(errors="replace") if process.stdout else "uvicorn exited"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200 and (workers == 1 or len(uvicorn_workers_of(process.pid)) == workers):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError(f"uvicorn --workers {workers} did not come up")
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


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
