"""Django's PostgreSQL backend with a connection pool that fails fast when the server is away.

Django's pool (``OPTIONS["pool"]``, psycopg_pool) makes a request wait up to the pool's
timeout for a connection. When PostgreSQL is down, no connection ever comes, so every
request would hang for the whole timeout before its 503. Here a request first waits at
most ``FIRST_WAIT`` seconds; if no connection was free by then, one direct connection
attempt tells a busy pool (the server answers: keep waiting, up to the pool's timeout) from
a missing server (``OperationalError`` at once: the 503 "database unavailable" answer).
Once the server is back, the pool reconnects by itself.
"""

from __future__ import annotations

import time

import psycopg
from django.db.backends.postgresql import base
from django.db.backends.postgresql.base import *  # noqa: F403 - a backend module exposes these
from psycopg_pool import PoolTimeout

FIRST_WAIT = 1.0


class FailFastPool:
    """Wraps a ``psycopg_pool.ConnectionPool``; only ``getconn`` behaves differently."""

    def __init__(self, pool):
        self._pool = pool

    def __getattr__(self, name):
        return getattr(self._pool, name)

    def getconn(self, timeout: float | None = None):
        total = self._pool.timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            return self._pool.getconn(timeout=min(FIRST_WAIT, total))
        except PoolTimeout:
            pass
        # Raises psycopg.OperationalError at once when the server cannot be reached.
        psycopg.connect(self._pool.conninfo, **self._pool.kwargs).close()
        return self._pool.getconn(timeout=max(0.1, total - (time.monotonic() - started)))


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        if pool is None:
            return None
        wrapped = getattr(pool, "_picard_fail_fast", None)
        if wrapped is None:
            wrapped = pool._picard_fail_fast = FailFastPool(pool)
        return wrapped
