"""Plain-dict shapes of memories for every door (tools, REST, MCP). Seed-compatible keys:
``id, text, permission, created_at, updated_at, expiration_date``."""

from __future__ import annotations

from datetime import datetime

from memories.models import Memory, MemoryVersion
from memories.selectors import memory_share_targets


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
        data["shared_with"] = memory_share_targets(memory=memory)
    return data


def memory_version_as_dict(row: MemoryVersion, *, actor=None, client_name: str | None = None) -> dict:
    """One entry of ``memory_history``. Who it is shared with: for the owner only."""
    data = {
        "version": row.version,
        "created_at": iso(row.created_at),
        "change": row.change,
        "surface": row.surface,
        "client_id": row.client_id,
        "client_name": client_name,
        "text": row.text,
        "tags": list(row.tags),
        "permission": row.permission,
        "expiration_date": iso(row.expires_at),
        "metadata": row.metadata,
    }
    if row.merged_from:
        data["merged_from"] = str(row.merged_from)
    if actor is not None and row.memory.owner_id == actor.pk and row.permission == "shared":
        data["shared_with"] = row.shared_with
    return data
