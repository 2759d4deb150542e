"""Memory services: every write goes through here (HackSoft style: ``<entity>_<action>``).

Services take ``actor`` (never a request), validate their input with
``memories.validation``, and raise ``picard.exceptions`` errors. Embedding happens before
the transaction opens (it is slow I/O); if the embedding provider fails, the memory is
still stored with its embedding *pending* (``embedding is NULL``) and
``memory_embed_pending`` fills it in later — nothing is lost.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from memories import keywords, search, selectors
from memories.activity import activity_record
from memories.embeddings import EmbeddingUnavailable, get_provider  # noqa: F401  (re-exported for callers)
from memories.models import KeywordDocument, KeywordPosting, Memory, MemoryShare, Permission
from memories.reembed import assign_vectors, lock_for_write
from memories.validation import (
    clean_expires_at,
    clean_metadata,
    clean_permission,
    clean_tags,
    clean_text,
    clean_uuid,
)
from picard.exceptions import Conflict, DomainError, NotFound, PermissionDenied, ValidationError

logger = logging.getLogger(__name__)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class ShareTargets:
    users: tuple = ()
    groups: tuple = ()


def _embed_or_pending(text: str) -> dict[str, list[float]]:
    """``{model name: vector}`` for the active model (and the target of a model switch in
    progress, see memories.reembed). A provider that is down leaves its slot pending."""
    from memories.reembed import embed_for_write

    return embed_for_write([text])[0]


def _as_vectors(embedding) -> dict[str, list[float]] | None:
    """Accept pre-computed vectors as ``{model: vector}`` or a legacy ``(vector, model)``."""
    if embedding is None or isinstance(embedding, dict):
        return embedding
    vector, model = embedding
    return {model: vector} if vector is not None and model else {}


def _resolve_share_targets(*, actor, shared_with) -> ShareTargets:
    """``shared_with``: {"users": [uuid or username], "groups": [group name]} (or a plain list of users)."""
    if shared_with is None:
        return ShareTargets()
    if isinstance(shared_with, (list, tuple)):
        shared_with = {"users": list(shared_with), "groups": []}
    if not isinstance(shared_with, dict) or set(shared_with) - {"users", "groups"}:
        raise ValidationError.for_field("shared_with", 'must be {"users": [...], "groups": [...]}.')
    user_refs, group_refs = shared_with.get("users") or [], shared_with.get("groups") or []
    if not isinstance(user_refs, list) or not isinstance(group_refs, list):
        raise ValidationError.for_field("shared_with", "users and groups must be lists.")
    if len(user_refs) + len(group_refs) > settings.PICARD_MEMORY_MAX_SHARES:
        raise ValidationError.for_field("shared_with", f"at most {settings.PICARD_MEMORY_MAX_SHARES} users and groups.")
    User = get_user_model()
    users = []
    for ref in user_refs:
        if not isinstance(ref, str) or not ref or "\x00" in ref:
            raise ValidationError.for_field("shared_with", "every user must be a user id or username.")
        try:
            lookup = {"id": uuid.UUID(ref)} if len(ref) == 36 else {"username": ref}
        except ValueError:
            lookup = {"username": ref}
        user = User.objects.filter(is_active=True, **lookup).first()
        if user is None:
            raise ValidationError(f"shared_with: no user {ref!r}.", details={"field": "shared_with"})
        if user.pk != actor.pk and user not in users:
            users.append(user)
    groups = []
    for ref in group_refs:
        if not isinstance(ref, str) or not ref or "\x00" in ref:
            raise ValidationError.for_field("shared_with", "every group must be a group name.")
        group = Group.objects.filter(name=ref).first()
        if group is None:
            raise ValidationError(f"shared_with: no group {ref!r}.", details={"field": "shared_with"})
        if group not in groups:
            groups.append(group)
    return ShareTargets(users=tuple(users), groups=tuple(groups))


SHARED_WITH_NOBODY = "a shared memory needs at least one user or group to share it with (or choose private)."


def share_targets_clean(*, actor, permission: str, shared_with) -> ShareTargets:
    """The users and groups a memory with ``permission`` is to be shared with: targets only
    with permission ``shared``, and ``shared`` with somebody (the owner alone does not count)
    — every door (site, REST, MCP, import) gets the same ValidationError on ``shared_with``.
    ``shared_with=None`` with ``shared`` means "keep the current shares"
    (``memory_set_permission`` checks that there are some)."""
    targets = _resolve_share_targets(actor=actor, shared_with=shared_with)
    if permission != Permission.SHARED and targets != ShareTargets():
        raise ValidationError.for_field("shared_with", "is only allowed with permission 'shared'.")
    if permission == Permission.SHARED and shared_with is not None and targets == ShareTargets():
        raise ValidationError.for_field("shared_with", SHARED_WITH_NOBODY)
    return targets


def memory_default_permission(*, actor, shared_with=None) -> str:
    """The permission of a new memory that names none: the actor's default. A ``shared``
    default (it cannot say with whom) counts only when ``shared_with`` names someone;
    otherwise the memory is private."""
    default = getattr(actor, "default_permission", None) or Permission.PRIVATE
    if default == Permission.SHARED and not shared_with:
        return Permission.PRIVATE
    return default


def _replace_shares(memory: Memory, targets: ShareTargets) -> None:
    MemoryShare.objects.filter(memory=memory).delete()
    MemoryShare.objects.bulk_create(
        [MemoryShare(memory=memory, user=u) for u in targets.users]
        + [MemoryShare(memory=memory, group=g) for g in targets.groups]
    )


def _owned_for_update(*, actor, memory_id) -> Memory:
    """Lock the actor's own memory. Not visible → NotFound; visible but not owned → PermissionDenied."""
    memory_id = clean_uuid(memory_id, field="memory_id")
    memory = Memory.objects.select_for_update().filter(id=memory_id, owner=actor).first()
    if memory is None:
        if selectors.memory_visible_exists(actor=actor, memory_id=memory_id):
            raise PermissionDenied("Only the owner can change this memory.")
        raise NotFound("Memory not found.")
    return memory


def _check_version(memory: Memory, expected_version: int | None) -> None:
    if expected_version is not None and memory.version != expected_version:
        raise Conflict(
            f"The memory was changed since you read it (your version {expected_version}, current {memory.version}). "
            "Read it again and retry.",
            details={"current_version": memory.version},
        )


def memory_create(
    *,
    actor,
    text: str,
    permission: str | None = None,
    expires_at: datetime | str | None = None,
    tags: Sequence[str] | None = None,
    metadata: dict | None = None,
    shared_with=None,
    embedding: dict[str, list[float]] | tuple | None = None,
    memory_id: uuid.UUID | None = None,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
) -> Memory:
    """Create a memory. ``memory_id``/``created_at``/``updated_at`` restore those values
    (imports of exported memories); callers check that ``memory_id`` is free."""
    text = clean_text(text)
    permission = clean_permission(permission or memory_default_permission(actor=actor, shared_with=shared_with))
    expires_at = clean_expires_at(expires_at)
    tags = clean_tags(tags)
    metadata = clean_metadata(metadata)
    if permission == Permission.SHARED and shared_with is None:
        raise ValidationError.for_field("shared_with", SHARED_WITH_NOBODY)
    targets = share_targets_clean(actor=actor, permission=permission, shared_with=shared_with)
    vectors = _as_vectors(embedding)
    if vectors is None:
        vectors = _embed_or_pending(text)
    with transaction.atomic():
        state = lock_for_write()
        now = timezone.now()
        memory = Memory(
            owner=actor, permission=permission, expires_at=expires_at, tags=tags, metadata=metadata,
            created_at=created_at or now, updated_at=updated_at or created_at or now,
        )
        if memory_id is not None:
            memory.id = memory_id
        assign_vectors(memory, vectors, state)
        memory.set_text(text)
        memory.save(force_insert=True)
        if targets != ShareTargets():
            _replace_shares(memory, targets)
        _after_text_change(memory)
        activity_record(actor=actor, action="memory.create", memory_ids=[memory.id], details={"permission": permission})
    return memory


def memory_update(
    *,
    actor,
    memory_id,
    text: str = UNSET,
    expires_at=UNSET,
    tags=UNSET,
    metadata=UNSET,
    expected_version: int | None = None,
) -> Memory:
    """Change text/expiry/tags/metadata of the actor's memory. ``None`` for ``expires_at``
    clears the expiry. Changing the text re-embeds it. ``expected_version`` (optional)
    makes the write conditional: a stale version raises Conflict (409)."""
    memory_id = clean_uuid(memory_id, field="memory_id")  # before the (slow) embedding
    changes: dict[str, Any] = {}
    if text is not UNSET:
        changes["text"] = clean_text(text)
    if expires_at is not UNSET:
        changes["expires_at"] = clean_expires_at(expires_at)
    if tags is not UNSET:
        changes["tags"] = clean_tags(tags)
    if metadata is not UNSET:
        changes["metadata"] = clean_metadata(metadata)
    if not changes:
        raise ValidationError("Nothing to update: send text, expiration_date, tags or metadata.")
    embedding = _embed_or_pending(changes["text"]) if "text" in changes else None
    with transaction.atomic():
        state = lock_for_write() if embedding is not None else None  # before any memory row lock
        memory = _owned_for_update(actor=actor, memory_id=memory_id)
        _check_version(memory, expected_version)
        if "text" in changes:
            memory.set_text(changes["text"])
            assign_vectors(memory, embedding, state)
        for name in ("expires_at", "tags", "metadata"):
            if name in changes:
                setattr(memory, name, changes[name])
        memory.updated_at = timezone.now()
        memory.version += 1
        memory.save()
        if "text" in changes or "metadata" in changes:
            _after_text_change(memory)
        activity_record(actor=actor, action="memory.update", memory_ids=[memory.id], details={"fields": sorted(changes)})
    return memory


def memory_delete(*, actor, memory_id) -> uuid.UUID:
    with transaction.atomic():
        memory = _owned_for_update(actor=actor, memory_id=memory_id)
        deleted_id = memory.id
        memory.delete()
        activity_record(actor=actor, action="memory.delete", memory_ids=[deleted_id])
    return deleted_id


def memory_set_permission(*, actor, memory_id, permission: str, shared_with=None, expected_version: int | None = None) -> Memory:
    permission = clean_permission(permission)
    targets = share_targets_clean(actor=actor, permission=permission, shared_with=shared_with)
    with transaction.atomic():
        memory = _owned_for_update(actor=actor, memory_id=memory_id)
        _check_version(memory, expected_version)
        if permission == Permission.SHARED and shared_with is None and not MemoryShare.objects.filter(memory=memory).exists():
            raise ValidationError.for_field("shared_with", SHARED_WITH_NOBODY)
        memory.permission = permission
        memory.updated_at = timezone.now()
        memory.version += 1
        memory.save(update_fields=["permission", "updated_at", "version"])
        if permission == Permission.SHARED:
            if shared_with is not None:
                _replace_shares(memory, targets)
        else:
            MemoryShare.objects.filter(memory=memory).delete()
        activity_record(
            actor=actor, action="memory.permission", memory_ids=[memory.id],
            details={"permission": permission, "users": len(targets.users), "groups": len(targets.groups)},
        )
    return memory


# --- batch ---------------------------------------------------------------------------------


@dataclass
class BatchResult:
    index: int
    op: str
    ok: bool
    memory: Memory | None = None
    memory_id: uuid.UUID | None = None
    error: DomainError | None = None


@dataclass
class BatchOperation:
    op: str  # create | update | delete
    data: dict = field(default_factory=dict)


def memory_batch(*, actor, operations: Sequence[BatchOperation]) -> list[BatchResult]:
    """Run many creates/updates/deletes. Each item is its own transaction: it succeeds or
    fails on its own, and a failed item leaves nothing behind. Creates are embedded in one
    batched provider call up front."""
    limit = settings.PICARD_BATCH_MAX_ITEMS
    if not operations:
        raise ValidationError.for_field("operations", "must contain at least one item.")
    if len(operations) > limit:
        raise ValidationError(f"operations: at most {limit} items per batch (got {len(operations)}).", details={"field": "operations", "limit": limit})
    pre_embedded: dict[int, tuple] = {}
    texts = []
    for i, op in enumerate(operations):
        if op.op == "create" and isinstance(op.data.get("text"), str):
            try:
                texts.append((i, clean_text(op.data["text"])))
            except DomainError:
                pass
    if texts:
        from memories.reembed import embed_for_write

        vectors = embed_for_write([t for _, t in texts])
        pre_embedded = {i: v for (i, _), v in zip(texts, vectors)}
    results: list[BatchResult] = []
    for i, op in enumerate(operations):
        try:
            with transaction.atomic():
                if op.op == "create":
                    memory = memory_create(actor=actor, embedding=pre_embedded.get(i), **op.data)
                    results.append(BatchResult(index=i, op=op.op, ok=True, memory=memory, memory_id=memory.id))
                elif op.op == "update":
                    memory = memory_update(actor=actor, **op.data)
                    results.append(BatchResult(index=i, op=op.op, ok=True, memory=memory, memory_id=memory.id))
                elif op.op == "delete":
                    deleted = memory_delete(actor=actor, **op.data)
                    results.append(BatchResult(index=i, op=op.op, ok=True, memory_id=deleted))
                else:
                    raise ValidationError.for_field(f"operations[{i}].op", "must be create, update or delete.")
        except DomainError as exc:
            results.append(BatchResult(index=i, op=op.op, ok=False, error=exc))
        except TypeError as exc:  # unknown keyword from a caller that skipped schema validation
            results.append(BatchResult(index=i, op=op.op, ok=False, error=ValidationError(f"operations[{i}]: {exc}")))
    return results


# --- embeddings maintenance ----------------------------------------------------------------


def memory_embed_pending(*, limit: int = 500, progress=None) -> int:
    """Embed memories whose embedding is pending (NULL) or made by another model than the
    active one (see memories.reembed), in place. Returns how many were embedded. Safe to
    run concurrently (SKIP LOCKED). ``progress(n)`` is called after each batch."""
    from memories.reembed import active_provider, lock_for_write

    done = 0
    while done < limit:
        with transaction.atomic():
            state = lock_for_write()
            provider = active_provider(state)
            unique = list(
                Memory.objects.select_for_update(skip_locked=True)
                .exclude(embedding_model=provider.name)  # includes NULL (pending) rows
                .order_by("created_at")[: min(64, limit - done)]
            )
            if not unique:
                break
            vectors = provider.embed_documents([m.text for m in unique])
            for memory, vector in zip(unique, vectors):
                memory.embedding, memory.embedding_model = vector, provider.name
            Memory.objects.bulk_update(unique, ["embedding", "embedding_model"])
            done += len(unique)
        if progress:
            progress(len(unique))
    return done


def _after_text_change(memory: Memory) -> None:
    """Derived data that depends on the text (and metadata): the keyword index (same transaction)."""
    keyword_index_memory(memory=memory)


# --- keyword index (keyed term hashes, docs/search.md) --------------------------------------


def keyword_index_memory(*, memory: Memory, current_key_id: str | None = None) -> None:
    """(Re)write ``memory``'s postings from its text and its metadata's words
    (``keywords.document_text``) under the current term-hash key. Call inside the
    transaction that changed them."""
    counts, length = keywords.hashed_terms(keywords.document_text(memory.text, memory.metadata))
    KeywordPosting.objects.filter(memory_id=memory.pk).delete()
    KeywordDocument.objects.update_or_create(
        memory_id=memory.pk,
        defaults={"owner_id": memory.owner_id, "length": length, "key_id": current_key_id or keywords.key_id()},
    )
    KeywordPosting.objects.bulk_create(
        [KeywordPosting(memory_id=memory.pk, owner_id=memory.owner_id, term_hash=h, tf=tf, length=length) for h, tf in counts.items()]
    )


def keyword_index_rebuild(*, full: bool = False, owner=None, batch_size: int = 200, progress=None) -> int:
    """Re-index memories whose keyword entry is missing or was made with another term-hash
    key (``full=True``: every memory, e.g. after changing the stemmer). Each batch is one
    transaction; rows locked by a concurrent writer are skipped and picked up by the next
    run. Returns how many memories were (re)indexed."""
    current = keywords.key_id()
    done = 0
    last_pk = None
    while True:
        with transaction.atomic():
            qs = Memory.objects.select_for_update(skip_locked=True).order_by("pk")
            if owner is not None:
                qs = qs.filter(owner=owner)
            if last_pk is not None:
                qs = qs.filter(pk__gt=last_pk)
            if not full:
                # stale: no entry, or one made with another key
                qs = qs.exclude(pk__in=KeywordDocument.objects.filter(key_id=current).values("memory_id"))
            batch = list(qs[:batch_size])
            if not batch:
                break
            for memory in batch:
                keyword_index_memory(memory=memory, current_key_id=current)
            last_pk = batch[-1].pk
            done += len(batch)
        if progress is not None:
            progress(done)
    return done


__all__ = [
    "UNSET",
    "BatchOperation",
    "BatchResult",
    "memory_batch",
    "memory_create",
    "memory_default_permission",
    "memory_delete",
    "memory_embed_pending",
    "memory_set_permission",
    "memory_update",
    "share_targets_clean",
    "keyword_index_memory",
    "keyword_index_rebuild",
]


# --- searching (a read, and the record that it happened) ----------------------------------


def memory_query(
    *, actor, query: str, limit: int | None = None, filters: selectors.MemoryFilters | None = None,
    mode: str | None = None, min_score: float | None = None,
) -> search.SearchResults:
    """``query_memory`` and the site's search: ``memories.search.memory_search`` plus one
    ``memory.search`` activity row (mode, scope, result count; never the query). Personas
    search through ``memory_search`` directly: their question is recorded once, as
    ``persona.query``."""
    filters = filters or selectors.MemoryFilters()
    hits = search.memory_search(actor=actor, query=query, limit=limit, filters=filters, mode=mode, min_score=min_score)
    details: dict = {"mode": hits.mode, "scope": filters.scope_for(actor), "min_score": hits.min_score, "results": len(hits)}
    if hits.degraded:
        details["degraded"] = hits.degraded
    activity_record(actor=actor, action="memory.search", memory_ids=[h.memory.id for h in hits], details=details)
    return hits
