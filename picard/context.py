"""Who is calling, through which door: set once per request by each door, read by the
activity log. Services take ``actor`` explicitly; the *surface* and *client application*
are ambient facts about the call, so they live in a context variable."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from picard.logging import request_id_var as _request_id_var


@dataclass(frozen=True)
class CallContext:
    surface: str = "internal"  # web | api | mcp | command | internal
    client_id: str | None = None  # OAuth client id (UUID string) when a token was used
    scopes: frozenset[str] | None = None  # None: not token-based (session / command): all scopes
    # The HTTP request's id (picard.edge.request_id.RequestIdMiddleware) when there is one.
    request_id: str = field(default_factory=lambda: _request_id_var.get() or uuid.uuid4().hex[:16])


_current: ContextVar[CallContext | None] = ContextVar("picard_call_context", default=None)


def current() -> CallContext:
    ctx = _current.get()
    return ctx if ctx is not None else CallContext()


@contextlib.contextmanager
def call_context(**kwargs) -> Iterator[CallContext]:
    ctx = CallContext(**kwargs)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
