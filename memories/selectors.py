"""Memory selectors: every read goes through here, and through ``Memory.objects.visible_to``.

A memory the actor may not see raises ``NotFound`` with the same message as one that does
not exist.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Cast
from pgvector.django import CosineDistance, VectorField

from memories.embeddings import get_provider
from memories.models import Memory
from memories.validation import clean_permission, clean_tags, clean_uuid, parse_iso_datetime
from picard.exceptions import NotFound, ValidationError

SORTS = {
    "newest": ("created_at", True),
    "oldest": ("created_at", False),
    "updated": ("updated_at", True),
}
EXPIRED_CHOICES = ("active", "expired", "all")


@dataclass(frozen=True)
class MemoryFilters:
    owner_id: uuid.UUID | None = None
    permission: str | None = None
    tags: tuple[str, ...] = ()  # a memory must carry all of them
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    expired: str = "active"  # active | expired (own only) | all (own expired + everything visible)

    @classmethod
    def from_input(cls, data: dict) -> "MemoryFilters":
        """Build from raw tool/query input (strings); raises ValidationError naming the field."""
        owner = data.get("user_id")
        expired = data.get("expired", data.get("expiration_status")) or "active"
        if expired not in EXPIRED_CHOICES:
            raise ValidationError.for_field("expired", f"must be one of {', '.join(EXPIRED_CHOICES)}.")
        return cls(
            owner_id=clean_uuid(owner, field="user_id") if owner else None,
            permission=clean_permission(data["permission"]) if data.get("permission") else None,
            tags=tuple(clean_tags(data.get("tags"))),
            created_after=parse_iso_datetime(data.get("created_after"), field="created_after"),
            created_before=parse_iso_datetime(data.get("created_before"), field="created_before"),
            updated_after=parse_iso_datetime(data.get("updated_after"), field="updated_after"),
            updated_before=parse_iso_datetime(data.get("updated_before"), field="updated_before"),
            expired=expired,
        )


@dataclass
class Page:
    items: list[Memory]
    next_cursor: str | None
    limit: int


@dataclass
class SearchHit:
    memory: Memory
    score: float
    sources: dict = field(default_factory=dict)


def _apply_filters(qs: QuerySet, filters: MemoryFilters) -> QuerySet:
    if filters.owner_id:
        qs = qs.filter(owner_id=filters.owner_id)
    if filters.permission:
        qs = qs.filter(permission=filters.permission)
    if filters.tags:
        qs = qs.filter(tags__contains=list(filters.tags))
    if filters.created_after:
        qs = qs.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        qs = qs.filter(created_at__lt=filters.created_before)
    if filters.updated_after:
        qs = qs.filter(updated_at__gte=filters.updated_after)
    if filters.updated_before:
        qs = qs.filter(updated_at__lt=filters.updated_before)
    return qs


def visible_parts(*, actor, filters: MemoryFilters) -> dict[str, QuerySet]:
    """The visible memories matching ``filters``, split into the three parts of the
    visibility rule (own / shared-with-me / others' public). Parts that cannot match the
    filters are left out."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {}
    include_own_expired = filters.expired in ("expired", "all")
    conditions = Memory.objects.visibility_parts(actor, include_own_expired=include_own_expired)
    parts: dict[str, QuerySet] = {}
    for name, condition in conditions.items():
        if filters.expired == "expired" and name != "own":
            continue  # only the owner ever sees expired memories
        if filters.owner_id and (filters.owner_id == actor.pk) != (name == "own"):
            continue
        if filters.permission and name in ("shared", "public") and filters.permission != name:
            continue
        qs = Memory.objects.filter(condition)
        if filters.expired == "expired":
            qs = qs.expired()
        parts[name] = _apply_filters(qs, filters)
    return parts


def memory_visible_qs(*, actor, filters: MemoryFilters | None = None) -> QuerySet:
    filters = filters or MemoryFilters()
    parts = visible_parts(actor=actor, filters=filters)
    if not parts:
        return Memory.objects.none()
    conditions = Memory.objects.visibility_parts(actor, include_own_expired=filters.expired in ("expired", "all"))
    combined = Q(pk__in=[])
    for name in parts:
        combined |= conditions[name]
    qs = _apply_filters(Memory.objects.filter(combined), filters)
    if filters.expired == "expired":
        qs = qs.expired()
    return qs


def memory_visible_exists(*, actor, memory_id) -> bool:
    return Memory.objects.visible_to(actor).filter(id=memory_id).exists()


def memory_get_for_actor(*, actor, memory_id, include_expired: bool = False) -> Memory:
    """One memory the actor may see. Invisible and missing look the same (NotFound)."""
    memory_id = clean_uuid(memory_id, field="memory_id")
    memory = (
        Memory.objects.visible_to(actor, include_own_expired=include_expired)
        .select_related("owner")
        .filter(id=memory_id)
        .first()
    )
    if memory is None:
        raise NotFound("Memory not found.")
    return memory


def memory_share_targets(*, memory: Memory) -> dict:
    """Who a shared memory is shared with (owner-facing)."""
    shares = memory.shares.select_related("user", "group")
    return {
        "users": [str(s.user.id) for s in shares if s.user_id],
        "groups": [s.group.name for s in shares if s.group_id],
    }


# --- lists with keyset (cursor) pagination --------------------------------------------------


def _encode_cursor(sort: str, value: datetime, memory_id: uuid.UUID) -> str:
    raw = json.dumps({"s": sort, "v": value.isoformat(), "id": str(memory_id)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data["s"] != sort:
            raise ValueError("sort changed")
        value = datetime.fromisoformat(data["v"])
        return value, uuid.UUID(data["id"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationError.for_field("cursor", "is not a cursor returned by this listing (with the same sort).")


def clean_limit(value, *, default: int, maximum: int, field: str = "limit") -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError.for_field(field, "must be an integer.")
    if value < 1 or value > maximum:
        raise ValidationError.for_field(field, f"must be between 1 and {maximum}.")
    return value


def memory_list(*, actor, filters: MemoryFilters | None = None, sort: str = "newest", limit: int | None = None, cursor: str | None = None) -> Page:
    if sort not in SORTS:
        raise ValidationError.for_field("sort", f"must be one of {', '.join(SORTS)}.")
    limit = clean_limit(limit, default=settings.PICARD_LIST_DEFAULT_LIMIT, maximum=settings.PICARD_LIST_MAX_LIMIT)
    column, descending = SORTS[sort]
    qs = memory_visible_qs(actor=actor, filters=filters).select_related("owner")
    if cursor:
        value, last_id = _decode_cursor(cursor, sort)
        if descending:
            qs = qs.filter(Q(**{f"{column}__lt": value}) | Q(**{column: value, "id__lt": last_id}))
        else:
            qs = qs.filter(Q(**{f"{column}__gt": value}) | Q(**{column: value, "id__gt": last_id}))
    order = [f"-{column}", "-id"] if descending else [column, "id"]
    rows = list(qs.order_by(*order)[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode_cursor(sort, getattr(last, column), last.id)
    return Page(items=rows, next_cursor=next_cursor, limit=limit)


def memory_list_own(*, actor, limit: int | None = None, cursor: str | None = None) -> Page:
    """``retrieve_memories``: all of the caller's own (non-expired) memories, newest first."""
    return memory_list(actor=actor, filters=MemoryFilters(owner_id=actor.pk), limit=limit, cursor=cursor)


# --- semantic search ------------------------------------------------------------------------


def _semantic_part(qs: QuerySet, *, vector, model_name: str, dimensions: int, limit: int, use_index: bool) -> list[tuple[Memory, float]]:
    qs = qs.filter(embedding_model=model_name)
    if use_index:
        expression = CosineDistance(Cast("embedding", VectorField(dimensions=dimensions)), vector)
    else:
        expression = CosineDistance("embedding", vector)  # matches no index: exact scan
    rows = qs.annotate(distance=expression).select_related("owner").order_by("distance")[:limit]
    return [(m, 1.0 - float(m.distance)) for m in rows]


def memory_semantic_search(*, actor, query_vector, model_name: str, dimensions: int, limit: int, filters: MemoryFilters) -> list[SearchHit]:
    """Cosine top-``limit`` among the memories ``actor`` may see, each part of the
    visibility rule searched with the strategy that is exact for it (see vector_index)."""
    parts = visible_parts(actor=actor, filters=filters)
    scored: list[tuple[Memory, float]] = []
    for name, qs in parts.items():
        if name == "public" and not filters.owner_id:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                    cursor.execute("SET LOCAL hnsw.ef_search = %s", [max(40, 2 * limit)])
                scored += _semantic_part(qs, vector=query_vector, model_name=model_name, dimensions=dimensions, limit=limit, use_index=True)
        else:
            scored += _semantic_part(qs, vector=query_vector, model_name=model_name, dimensions=dimensions, limit=limit, use_index=False)
    scored.sort(key=lambda pair: (-pair[1], str(pair[0].id)))
    return [SearchHit(memory=m, score=round(score, 6), sources={"semantic": round(score, 6)}) for m, score in scored[:limit]]


def memory_search(*, actor, query: str, limit: int | None = None, filters: MemoryFilters | None = None) -> list[SearchHit]:
    """``query_memory``: the most similar memories the actor may see, with cosine scores."""
    from memories.validation import clean_text

    query = clean_text(query, field="query")
    limit = clean_limit(limit, default=10, maximum=settings.PICARD_SEARCH_MAX_LIMIT)
    filters = filters or MemoryFilters()
    provider = get_provider()
    vector = provider.embed_query(query)
    hits = memory_semantic_search(
        actor=actor, query_vector=vector, model_name=provider.name, dimensions=provider.dimensions,
        limit=limit, filters=filters,
    )
    from memories.activity import activity_record

    activity_record(actor=actor, action="memory.search", memory_ids=[h.memory.id for h in hits], details={"results": len(hits), "mode": "semantic"})
    return hits


def user_get(*, user_id) -> object:
    """An active user by UUID, or NotFound."""
    user_id = clean_uuid(user_id, field="user_id")
    user = get_user_model().objects.filter(id=user_id, is_active=True).first()
    if user is None:
        raise NotFound("User not found.")
    return user


