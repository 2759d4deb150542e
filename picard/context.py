"""Who is calling, through which door: set once per request by each door, read by the
activity log. Services take ``actor`` explicitly; the *surface* and *client application*
are ambient facts about the call, so they live in a context variable."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CallContext:
    surface: str = "internal"  # web | api | mcp | command | internal
    client_id: str | None = None  # OAuth client id (UUID string) when a token was used
    scopes: frozenset[str] | None = None  # None: not token-based (session / command): all scopes
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])


_current: ContextVar[CallContext] = ContextVar("picard_call_context", default=CallContext())


def current() -> CallContext:
    return _current.get()


@contextlib.contextmanager
def call_context(**kwargs) -> Iterator[CallContext]:
    ctx = CallContext(**kwargs)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
