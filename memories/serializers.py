"""Plain-dict shapes of memories for every door (tools, REST, MCP). Seed-compatible keys:
``id, text, permission, created_at, updated_at, expiration_date``."""

from __future__ import annotations

from datetime import datetime

from memories.models import Memory


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def owner_as_dict(user) -> dict:
    """Who a memory belongs to, in words an assistant can relate to its user."""
    return {"id": str(user.pk), "username": user.get_username(), "display_name": user.display_name or user.get_username()}


def memory_as_dict(memory: Memory, *, actor=None, score: float | None = None, include_shares: bool = False) -> dict:
    """A memory as every door shows it. ``owner`` and ``is_mine`` say whose it is: a memory
    with ``is_mine: false`` belongs to another person (shared with the actor, or public)."""
    data = {
        "id": str(memory.id),
        "text": memory.text,
        "permission": memory.permission,
        "owner_id": str(memory.owner_id),
        "owner": owner_as_dict(memory.owner),
        "is_mine": actor is not None and memory.owner_id == actor.pk,
        "tags": list(memory.tags),
        "metadata": memory.metadata,
        "created_at": iso(memory.created_at),
        "updated_at": iso(memory.updated_at),
        "expiration_date": iso(memory.expires_at),
        "version": memory.version,
        "embedding_status": "ready" if memory.embedding_model else "pending",
    }
    if score is not None:
        data["score"] = round(score, 4)
    if include_shares and actor is not None and memory.owner_id == actor.pk and memory.permission == "shared":
        from memories.selectors import memory_share_targets

        data["shared_with"] = memory_share_targets(memory=memory)
    return data
