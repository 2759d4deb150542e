"""The activity log writer. Reads the surface/client from ``picard.context``; never stores text."""

from __future__ import annotations

from collections.abc import Iterable

from memories.models import Activity
from picard import context


def activity_record(*, actor, action: str, memory_ids: Iterable = (), details: dict | None = None) -> Activity:
    ctx = context.current()
    return Activity.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        surface=ctx.surface,
        client_id=ctx.client_id,
        memory_ids=[m for m in memory_ids][:1000],
        details=details or {},
        request_id=ctx.request_id,
    )
