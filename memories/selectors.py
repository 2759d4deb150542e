"""Memory selectors: every read goes through here, and through ``Memory.objects.visible_to``.

A memory the actor may not see raises ``NotFound`` with the same message as one that does
not exist.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet

from memories import keywords
from memories.models import KeywordPosting, Memory, MemoryShare, MemoryVersion
from memories.validation import clean_permission, clean_tags, clean_uuid, parse_iso_datetime
from picard.exceptions import NotFound, ValidationError

SORTS = {
    "newest": ("created_at", True),
    "oldest": ("created_at", False),
    "updated": ("updated_at", True),
}
EXPIRED_CHOICES = ("active", "expired", "all")

# Whose memories a read covers: which parts of the visibility rule it may draw on.
# ``mine_and_shared`` is the default: others' public memories only when asked for (``all``)
# or when a ``user_id`` filter names another user, so an assistant never mistakes another
# person's public memory for a fact about its user. ``shared_with_me`` is the site's
# "Shared with me" view (not a tool value).
SCOPES = ("mine", "mine_and_shared", "all")
SCOPE_PARTS = {
    "mine": ("own",),
    "mine_and_shared": ("own", "shared"),
    "all": ("own", "shared", "public"),
    "shared_with_me": ("shared",),
}
DEFAULT_SCOPE = "mine_and_shared"


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
    scope: str | None = None  # SCOPE_PARTS key; None: DEFAULT_SCOPE, or "all" when owner_id names another user
    words: tuple[str, ...] = ()  # the site's "contains the words": each word in the text/metadata (keyword index) or a tag

    def scope_for(self, actor) -> str:
        """The scope this read really has: the one asked for, else ``all`` for a ``user_id``
        naming someone else (their memories the actor may see), else ``mine_and_shared``."""
        if self.scope:
            return self.scope
        if self.owner_id and self.owner_id != actor.pk:
            return "all"
        return DEFAULT_SCOPE

    @classmethod
    def from_input(cls, data: dict) -> MemoryFilters:
        """Build from raw tool/query input (strings); raises ValidationError naming the field."""
        owner = data.get("user_id")
        expired = data.get("expired", data.get("expiration_status")) or "active"
        if expired not in EXPIRED_CHOICES:
            raise ValidationError.for_field("expired", f"must be one of {', '.join(EXPIRED_CHOICES)}.")
        scope = data.get("scope") or None
        if scope is not None and scope not in SCOPES:
            raise ValidationError.for_field("scope", f"must be one of {', '.join(SCOPES)}.")
        return cls(
            scope=scope,
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


def _containing_word(word: str) -> Q:
    """Memories whose text or metadata holds ``word`` (stemmed, as keyword search matches it:
    answered by the keyword index, no memory decrypted), or that carry it as a tag."""
    condition = Q(tags__contains=[word])
    terms = list(keywords.hashed_terms(word)[0])
    if terms:
        indexed = Q()
        for term in terms:
            indexed &= Q(id__in=KeywordPosting.objects.filter(term_hash=term).values("memory_id"))
        condition |= indexed
    return condition


def _apply_filters(qs: QuerySet, filters: MemoryFilters) -> QuerySet:
    for word in filters.words:
        qs = qs.filter(_containing_word(word))
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
    filters, or lie outside their scope, are left out."""
    return _visible_parts(actor=actor, filters=filters)[0]


def _visible_parts(*, actor, filters: MemoryFilters) -> tuple[dict[str, QuerySet], QuerySet]:
    """``visible_parts`` and the union of those parts as one queryset (an OR of their
    conditions), from one reading of the visibility rule."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {}, Memory.objects.none()
    include_own_expired = filters.expired in ("expired", "all")
    conditions = Memory.objects.visibility_parts(actor, include_own_expired=include_own_expired)
    parts: dict[str, QuerySet] = {}
    combined = Q(pk__in=[])
    in_scope = SCOPE_PARTS[filters.scope_for(actor)]
    for name, condition in conditions.items():
        if name not in in_scope:
            continue
        if filters.expired == "expired" and name != "own":
            continue  # only the owner ever sees expired memories
        if filters.owner_id and (filters.owner_id == actor.pk) != (name == "own"):
            continue
        if filters.permission and name in ("shared", "public") and filters.permission != name:
            continue
        parts[name] = _filtered(Memory.objects.filter(condition), filters)
        combined |= condition
    if not parts:
        return {}, Memory.objects.none()
    return parts, _filtered(Memory.objects.filter(combined), filters)


def _filtered(qs: QuerySet, filters: MemoryFilters) -> QuerySet:
    if filters.expired == "expired":
        qs = qs.expired()
    return _apply_filters(qs, filters)


def memory_visible_qs(*, actor, filters: MemoryFilters | None = None) -> QuerySet:
    return _visible_parts(actor=actor, filters=filters or MemoryFilters())[1]


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
        raise ValidationError.for_field("cursor", "is not a cursor returned by this listing (with the same sort).") from None


def clean_limit(value, *, default: int, maximum: int, field: str = "limit") -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError.for_field(field, "must be an integer.")
    if value < 1 or value > maximum:
        raise ValidationError.for_field(field, f"must be between 1 and {maximum}.")
    return value


def memory_list(*, actor, filters: MemoryFilters | None = None, sort: str = "newest", limit: int | None = None, cursor: str | None = None) -> Page:
    """One page of the memories the actor may see, in ``sort`` order, after ``cursor``.

    Each part of the visibility rule (own / shared with me / others' public) takes its own
    first ``limit + 1`` in order from its own index, and one statement merges them: an OR of
    the three parts would collect and sort every visible memory (all public ones included)
    to show a page (200 ms with 100 000 memories, 2 ms this way). The page's rows are then
    loaded through the visibility rule again, so a memory made private between the two
    statements is not shown."""
    if sort not in SORTS:
        raise ValidationError.for_field("sort", f"must be one of {', '.join(SORTS)}.")
    limit = clean_limit(limit, default=settings.PICARD_LIST_DEFAULT_LIMIT, maximum=settings.PICARD_LIST_MAX_LIMIT)
    filters = filters or MemoryFilters()
    column, descending = SORTS[sort]
    after = None
    if cursor:
        value, last_id = _decode_cursor(cursor, sort)
        if descending:
            after = Q(**{f"{column}__lt": value}) | Q(**{column: value, "id__lt": last_id})
        else:
            after = Q(**{f"{column}__gt": value}) | Q(**{column: value, "id__gt": last_id})
    order = [f"-{column}", "-id"] if descending else [column, "id"]
    parts, visible = _visible_parts(actor=actor, filters=filters)
    firsts = []
    for qs in parts.values():
        if after is not None:
            qs = qs.filter(after)
        firsts.append(qs.order_by(*order).values_list("id", column)[: limit + 1])
    if not firsts:
        return Page(items=[], next_cursor=None, limit=limit)
    merged = firsts[0] if len(firsts) == 1 else firsts[0].union(*firsts[1:], all=True).order_by(*order)[: limit + 1]
    ids = [row[0] for row in merged]
    loaded = visible.select_related("owner").defer("embedding", "embedding_next").in_bulk(ids)
    rows = [loaded[memory_id] for memory_id in ids if memory_id in loaded]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode_cursor(sort, getattr(last, column), last.id)
    return Page(items=rows, next_cursor=next_cursor, limit=limit)


def memory_list_own(*, actor, limit: int | None = None, cursor: str | None = None) -> Page:
    """``retrieve_memories``: all of the caller's own (non-expired) memories, newest first."""
    return memory_list(actor=actor, filters=MemoryFilters(owner_id=actor.pk), limit=limit, cursor=cursor)


def user_get(*, user_id) -> object:
    """An active user by UUID, or NotFound."""
    user_id = clean_uuid(user_id, field="user_id")
    user = get_user_model().objects.filter(id=user_id, is_active=True).first()
    if user is None:
        raise NotFound("User not found.")
    return user


def user_share_suggestions(*, actor, query: str, limit: int = 8) -> list:
    """Active users the share picker may suggest for ``query`` (a username prefix or part of a
    display name): only people the actor already has something to do with — a group in
    common, a memory shared either way — or whose persona is listed in the directory (they
    chose to be found). Anyone else stays unknown to a prefix search, so it cannot list the
    site's users; sharing by an exact username still works."""
    User = get_user_model()
    shared_with_actor = MemoryShare.objects.filter(user=actor).values("memory__owner_id")
    shared_by_actor = MemoryShare.objects.filter(memory__owner=actor, user__isnull=False).values("user_id")
    related = (
        Q(pk__in=shared_with_actor) | Q(pk__in=shared_by_actor)
        | Q(groups__in=actor.groups.all()) | Q(personas__listed=True, personas__enabled=True)
    )
    matches = Q(username__istartswith=query) | Q(display_name__icontains=query)
    return list(
        User.objects.filter(is_active=True).filter(matches).filter(related).exclude(pk=actor.pk)
        .distinct().order_by("username")[:limit]
    )


# --- history and trash ------------------------------------------------------------------------


def memory_history(*, actor, memory_id) -> tuple[Memory, list[MemoryVersion]]:
    """``memory_history``: a memory's versions, newest first, for whoever may see the memory
    now (a memory the actor may not see, or one in the trash, is NotFound). A memory written
    before history existed shows its current state as its one (``legacy``) version."""
    memory = memory_get_for_actor(actor=actor, memory_id=memory_id, include_expired=True)
    versions = list(MemoryVersion.objects.filter(memory=memory).select_related("actor").order_by("-version"))
    if not versions or versions[0].version != memory.version:
        versions.insert(0, MemoryVersion(
            memory=memory, version=memory.version, text_encrypted=memory.text_encrypted, permission=memory.permission,
            tags=list(memory.tags), metadata=memory.metadata, expires_at=memory.expires_at, created_at=memory.updated_at,
            change="legacy",
        ))
    return memory, versions


def memory_version_get(*, actor, memory_id, version: int) -> MemoryVersion:
    """One version of a memory the actor may see (NotFound otherwise)."""
    memory, versions = memory_history(actor=actor, memory_id=memory_id)
    for row in versions:
        if row.version == version:
            return row
    raise NotFound(f"This memory has no version {version}.", details={"field": "version"})


def memory_trash_list(*, actor, limit: int = 500) -> list[Memory]:
    """The actor's memories in the trash, most recently trashed first (only the owner ever
    sees a trashed memory, and only here)."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return []
    return list(Memory.objects.trashed().filter(owner=actor).defer("embedding", "embedding_next").order_by("-trashed_at", "id")[:limit])


def memory_trash_count(*, actor) -> int:
    return Memory.objects.trashed().filter(owner=actor).count()


def memory_near_duplicates(*, memory: Memory, limit: int = 5) -> list[dict]:
    """The owner's other active memories whose embedding (same model) has cosine similarity
    ≥ ``PICARD_NEAR_DUPLICATE_THRESHOLD`` with ``memory``'s: ``[{"id", "score"}]``, most
    similar first. Empty while ``memory``'s embedding is pending."""
    if memory.embedding is None or not memory.embedding_model or memory.trashed_at is not None:
        return []
    threshold = settings.PICARD_NEAR_DUPLICATE_THRESHOLD
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, 1 - (embedding <=> (SELECT embedding FROM memories_memory WHERE id = %s)) AS score "
            "FROM memories_memory WHERE owner_id = %s AND embedding_model = %s AND id <> %s AND trashed_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > now()) "
            "AND 1 - (embedding <=> (SELECT embedding FROM memories_memory WHERE id = %s)) >= %s "
            "ORDER BY score DESC, id LIMIT %s",
            [memory.id, memory.owner_id, memory.embedding_model, memory.id, memory.id, threshold, limit],
        )
        return [{"id": str(row[0]), "score": round(float(row[1]), 4)} for row in cursor.fetchall()]


def memory_trashed_get(*, actor, memory_id) -> Memory:
    """One of the actor's own memories, in the trash or not (the trash page's "delete
    forever"); anything else is NotFound."""
    memory_id = clean_uuid(memory_id, field="memory_id")
    memory = Memory.objects.filter(owner=actor, id=memory_id).first() if getattr(actor, "is_authenticated", False) else None
    if memory is None:
        raise NotFound("Memory not found.")
    return memory


def memory_own_matching_ids(*, actor, filters: MemoryFilters, limit: int = 20_000) -> list[uuid.UUID]:
    """Ids of the actor's own memories matching ``filters`` (every page of a list), for bulk
    actions on "all N matching"; at most ``limit``. Whatever the list's scope ("Shared
    with me", "Everything I can see"), only the actor's own memories are acted on."""
    filters = MemoryFilters(**{**filters.__dict__, "owner_id": actor.pk, "scope": "mine"})
    return list(memory_visible_qs(actor=actor, filters=filters).order_by("-created_at", "-id").values_list("id", flat=True)[:limit])


def memory_own_matching_count(*, actor, filters: MemoryFilters) -> int:
    filters = MemoryFilters(**{**filters.__dict__, "owner_id": actor.pk, "scope": "mine"})
    return memory_visible_qs(actor=actor, filters=filters).count()
