"""Synchronous Django code called from async code outside Django's request cycle: the MCP
door (token check, tools, resources) and the ASGI edge (the ``/mcp`` rate limit).

Django closes a request's database connection when the request ends; nothing does that for
these calls, so ``run_sync`` does it around each one: an old or broken connection is dropped
first, and the connection goes back to the pool (``DATABASES["default"]["OPTIONS"]["pool"]``)
when the call ends, even when it raised. A connection left in a worker thread would hold a
pool slot for good.

The calls run in the event loop's thread pool (``thread_sensitive=False``), several at a
time, not one after another on a single shared thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections

T = TypeVar("T")


def call_with_fresh_connection(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


async def run_sync(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``await run_sync(fn, ...)``: ``fn(...)`` in a worker thread with its own connection."""
    return await sync_to_async(call_with_fresh_connection, thread_sensitive=False)(fn, *args, **kwargs)
