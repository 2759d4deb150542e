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
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from memories import keywords, search, selectors
from memories.activity import activity_collected, activity_record
from memories.embeddings import EmbeddingUnavailable, get_provider  # noqa: F401  (re-exported for callers)
from memories.models import KeywordDocument, KeywordPosting, Memory, MemoryShare, MemoryVersion, Permission
from memories.reembed import active_provider, assign_vectors, embed_for_write, lock_for_write
from memories.validation import (
    clean_expires_at,
    clean_metadata,
    clean_permission,
    clean_tags,
    clean_text,
    clean_uuid,
)
from picard import context
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


def _owned_for_update(*, actor, memory_id, trashed: bool | None = False) -> Memory:
    """Lock the actor's own memory. Not visible → NotFound; visible but not owned → PermissionDenied.
    ``trashed``: False (the default) only a memory outside the trash, True only one in it,
    None either."""
    memory_id = clean_uuid(memory_id, field="memory_id")
    qs = Memory.objects.select_for_update().filter(id=memory_id, owner=actor)
    if trashed is not None:
        qs = qs.filter(trashed_at__isnull=not trashed)
    memory = qs.first()
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


# --- version history --------------------------------------------------------------------


def _version_row(memory: Memory, *, actor, change: str) -> MemoryVersion:
    ctx = context.current()
    shares = MemoryShare.objects.filter(memory=memory).select_related("group")
    return MemoryVersion(
        memory=memory, version=memory.version, text_encrypted=memory.text_encrypted, permission=memory.permission,
        shared_with={"users": sorted(str(s.user_id) for s in shares if s.user_id),
                     "groups": sorted(s.group.name for s in shares if s.group_id)},
        tags=list(memory.tags), metadata=memory.metadata, expires_at=memory.expires_at,
        created_at=memory.updated_at, actor=actor if getattr(actor, "is_authenticated", False) else None,
        surface=ctx.surface, client_id=ctx.client_id, change=change,
    )


def _record_version(memory: Memory, *, actor, change: str, merged_from=None) -> None:
    """Store the state ``memory`` is in now as its version ``memory.version`` (inside the
    transaction that wrote it)."""
    row = _version_row(memory, actor=actor, change=change)
    row.merged_from = merged_from
    row.save(force_insert=True)


def _keep_previous_version(memory: Memory) -> None:
    """Before changing ``memory`` (locked): make sure the version it is at is in its history.
    Memories written before history existed have no row for it; it is stored now, its door
    unknown (``legacy``)."""
    if not MemoryVersion.objects.filter(memory=memory, version=memory.version).exists():
        row = _version_row(memory, actor=None, change="legacy")
        row.surface, row.client_id = "internal", None
        row.save(force_insert=True)


# --- duplicates --------------------------------------------------------------------------


def _lock_text_digest(*, owner_id, digest: str) -> None:
    """Serialise creates of the same text by the same owner (transaction-scoped advisory
    lock), so two concurrent submits of one text cannot both create a memory."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"picard:text:{owner_id}:{digest}"])


def _exact_duplicate(*, actor, digest: str) -> Memory | None:
    """The actor's active (not trashed, not expired) memory whose normalised text has
    ``digest``, if any (oldest first)."""
    return (
        Memory.objects.active().not_trashed()
        .filter(owner=actor, keyword_document__text_digest=digest, keyword_document__key_id=keywords.key_id())
        .order_by("created_at").first()
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
    import_job=None,
    report_near_duplicates: bool = True,
) -> Memory:
    """Create a memory. ``memory_id``/``created_at``/``updated_at`` restore those values
    (imports of exported memories); callers check that ``memory_id`` is free.

    Duplicates: if the actor already has an active memory with the same normalised text
    (``keywords.normalise_text``), nothing is created and that memory is returned with
    ``is_duplicate = True``. Otherwise the new memory carries ``possible_duplicates``
    (``memory_near_duplicates``: similar, not equal, memories of the actor), unless
    ``report_near_duplicates`` is false (imports: nobody reads it, and it costs a scan of the
    owner's vectors per row)."""
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
    digest = keywords.text_digest(text)
    with transaction.atomic():
        state = lock_for_write()
        _lock_text_digest(owner_id=actor.pk, digest=digest)
        existing = _exact_duplicate(actor=actor, digest=digest)
        if existing is not None:
            existing.is_duplicate = True
            existing.possible_duplicates = []
            return existing
        now = timezone.now()
        memory = Memory(
            owner=actor, permission=permission, expires_at=expires_at, tags=tags, metadata=metadata,
            created_at=created_at or now, updated_at=updated_at or created_at or now, import_job=import_job,
        )
        if memory_id is not None:
            memory.id = memory_id
        assign_vectors(memory, vectors, state)
        memory.set_text(text)
        memory.save(force_insert=True)
        if targets != ShareTargets():
            _replace_shares(memory, targets)
        _after_text_change(memory)
        _record_version(memory, actor=actor, change="create")
        activity_record(actor=actor, action="memory.create", memory_ids=[memory.id], details={"permission": permission})
    memory.is_duplicate = False
    memory.possible_duplicates = selectors.memory_near_duplicates(memory=memory) if report_near_duplicates else []
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
        _keep_previous_version(memory)
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
        _record_version(memory, actor=actor, change="update")
        activity_record(actor=actor, action="memory.update", memory_ids=[memory.id], details={"fields": sorted(changes)})
    return memory


@dataclass(frozen=True)
class Deleted:
    """What ``memory_delete`` did: ``trashed`` (restorable until ``purge_at``) or deleted for good."""

    id: uuid.UUID
    trashed: bool
    purge_at: datetime | None = None


def trash_purge_at(trashed_at: datetime) -> datetime:
    """When a memory trashed at ``trashed_at`` is purged (``PICARD_TRASH_DAYS`` later)."""
    return trashed_at + timedelta(days=settings.PICARD_TRASH_DAYS)


def memory_delete(*, actor, memory_id, permanent: bool = False) -> Deleted:
    """Move the actor's memory to the trash: from this moment it is gone from every read,
    search, persona and export (the visibility rule leaves trashed memories out), and
    ``memory_restore`` brings it back until it is purged ``PICARD_TRASH_DAYS`` later.
    ``permanent=True`` deletes it (and its keyword entry, vectors and history) at once; that
    also works on a memory already in the trash ("delete forever")."""
    with transaction.atomic():
        memory = _owned_for_update(actor=actor, memory_id=memory_id, trashed=None if permanent else False)
        if permanent:
            deleted_id = memory.id
            memory.delete()
            activity_record(actor=actor, action="memory.delete", memory_ids=[deleted_id], details={"permanent": True})
            return Deleted(id=deleted_id, trashed=False)
        memory.trashed_at = timezone.now()
        memory.save(update_fields=["trashed_at"])
        activity_record(actor=actor, action="memory.trash", memory_ids=[memory.id])
    return Deleted(id=memory.id, trashed=True, purge_at=trash_purge_at(memory.trashed_at))


def memory_trash_many(*, actor, memory_ids: Sequence) -> int:
    """Move many of the actor's memories to the trash in ONE statement (one transaction: all
    or nothing, also under ``kill -9``); ids that are not the actor's or already trashed are
    ignored. Returns how many were trashed; logs one activity entry."""
    ids = [clean_uuid(m, field="ids") for m in memory_ids]
    with transaction.atomic():
        trashed = list(
            Memory.objects.filter(owner=actor, id__in=ids, trashed_at__isnull=True).order_by("id")
            .select_for_update().values_list("id", flat=True)
        )
        Memory.objects.filter(id__in=trashed).update(trashed_at=timezone.now())
        if trashed:
            activity_record(actor=actor, action="memory.trash", memory_ids=trashed, details={"count": len(trashed)})
    return len(trashed)


def memory_restore(*, actor, memory_id, version: int | None = None) -> Memory:
    """``restore_memory``. Without ``version``: bring the actor's memory back from the trash
    (as it was). With ``version``: write that version's text, tags, metadata, expiry and
    permission back as a new version (the history keeps everything in between); a memory in
    the trash is brought back first. A shared version whose users and groups are all gone
    comes back private; ``memory.restore_note`` then says so (None otherwise)."""
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise ValidationError.for_field("version", "must be a version number (1 or more).")
    memory_id = clean_uuid(memory_id, field="memory_id")
    with transaction.atomic():
        memory = _owned_for_update(actor=actor, memory_id=memory_id, trashed=None)
        if version is None and memory.trashed_at is None:
            raise ValidationError.for_field("memory_id", "this memory is not in the trash; pass a version to restore an earlier version.")
        if memory.trashed_at is not None:
            memory.trashed_at = None
            memory.save(update_fields=["trashed_at"])
            activity_record(actor=actor, action="memory.restore", memory_ids=[memory.id])
        if version is None or version == memory.version:
            memory.restore_note = None
            return memory
        old = MemoryVersion.objects.filter(memory=memory, version=version).first()
        if old is None:
            raise NotFound(f"This memory has no version {version}.", details={"field": "version"})
    text = old.text
    embedding = _embed_or_pending(text) if text != memory.text else None
    with transaction.atomic():
        state = lock_for_write() if embedding is not None else None
        memory = _owned_for_update(actor=actor, memory_id=memory_id)
        _keep_previous_version(memory)
        if embedding is not None:
            memory.set_text(text)
            assign_vectors(memory, embedding, state)
        memory.tags, memory.metadata, memory.expires_at = list(old.tags), old.metadata, old.expires_at
        targets, note = _restored_share_targets(old)
        memory.permission = Permission.PRIVATE if note else old.permission
        memory.updated_at = timezone.now()
        memory.version += 1
        memory.save()
        _replace_shares(memory, targets)
        _after_text_change(memory)
        _record_version(memory, actor=actor, change="restore")
        details = {"version": version, **({"permission_fallback": Permission.PRIVATE} if note else {})}
        activity_record(actor=actor, action="memory.restore_version", memory_ids=[memory.id], details=details)
    memory.restore_note = note
    return memory


RESTORED_SHARED_WITH_NOBODY = (
    "Version {version} was shared only with people or groups that are no longer there (deactivated or deleted), "
    "and a shared memory needs someone to share it with, so it was restored as private. Share it again if you like."
)


def _restored_share_targets(old: MemoryVersion) -> tuple[ShareTargets, str | None]:
    """Who a restored version is shared with: the users (still active) and groups (still
    there) it named. A shared version none of whom are left would be "shared with nobody",
    which no door may write (``share_targets_clean``): it is restored as private instead,
    with a note saying so (the second value; None otherwise)."""
    if old.permission != Permission.SHARED:
        return ShareTargets(), None
    users = get_user_model().objects.filter(id__in=old.shared_with.get("users") or [], is_active=True)
    groups = Group.objects.filter(name__in=old.shared_with.get("groups") or [])
    targets = ShareTargets(users=tuple(users), groups=tuple(groups))
    if targets == ShareTargets():
        return targets, RESTORED_SHARED_WITH_NOBODY.format(version=old.version)
    return targets, None


def memory_merge(*, actor, memory_id, duplicate_id, text: str | None = None) -> Memory:
    """Merge ``duplicate_id`` into ``memory_id`` (both the actor's): the kept memory gets
    ``text`` (default: its own text, then the duplicate's) and the union of both tags as a
    new version whose history row names the duplicate (``merged_from``); the duplicate goes
    to the trash with its own history, restorable like any trashed memory."""
    memory_id = clean_uuid(memory_id, field="memory_id")
    duplicate_id = clean_uuid(duplicate_id, field="duplicate_id")
    if memory_id == duplicate_id:
        raise ValidationError.for_field("duplicate_id", "must be another memory.")
    with transaction.atomic():
        kept = _owned_for_update(actor=actor, memory_id=memory_id)
        other = _owned_for_update(actor=actor, memory_id=duplicate_id)
        merged_text = clean_text(text) if text is not None else f"{kept.text}\n\n{other.text}"
        tags = list(dict.fromkeys([*kept.tags, *other.tags]))
        kept_text, other_id = kept.text, other.id
    embedding = _embed_or_pending(merged_text) if merged_text != kept_text else None
    with transaction.atomic():
        state = lock_for_write() if embedding is not None else None
        kept = _owned_for_update(actor=actor, memory_id=memory_id)
        other = _owned_for_update(actor=actor, memory_id=other_id)
        _keep_previous_version(kept)
        _keep_previous_version(other)
        if embedding is not None:
            kept.set_text(merged_text)
            assign_vectors(kept, embedding, state)
        kept.tags = clean_tags(tags)
        kept.updated_at = timezone.now()
        kept.version += 1
        kept.save()
        _after_text_change(kept)
        _record_version(kept, actor=actor, change="merge", merged_from=other.id)
        other.trashed_at = timezone.now()
        other.save(update_fields=["trashed_at"])
        activity_record(actor=actor, action="memory.merge", memory_ids=[kept.id, other.id])
    return kept


def memory_purge_trash(*, older_than_days: int | None = None, owner=None, batch_size: int = 200, progress=None) -> int:
    """Delete for good the memories that have been in the trash for ``older_than_days``
    (default ``PICARD_TRASH_DAYS``; 0: all of them — "empty trash" with ``owner``). Their
    keyword entries, vectors, shares and history go with them (one cascade).

    Works in batches of ``batch_size``, each ONE transaction: a crash or ``kill -9`` leaves
    whole batches deleted and the rest untouched, never a memory without its history or a
    history without its memory; running it again finishes the job. ``progress(n)`` is
    called after each committed batch. Returns how many were deleted."""
    if older_than_days is None:
        older_than_days = settings.PICARD_TRASH_DAYS
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) or older_than_days < 0:
        raise ValidationError.for_field("older_than_days", "must be a whole number of days, 0 or more.")
    cutoff = timezone.now() - timedelta(days=older_than_days)
    trashed = Memory.objects.filter(trashed_at__lte=cutoff)
    if owner is not None:
        trashed = trashed.filter(owner=owner)
    User = get_user_model()
    deleted = 0
    while True:
        with transaction.atomic():
            rows = list(trashed.select_for_update(skip_locked=True).order_by("trashed_at", "id").values_list("id", "owner_id")[:batch_size])
            if not rows:
                return deleted
            Memory.objects.filter(id__in=[r[0] for r in rows]).delete()
            by_owner: dict = {}
            for memory_id, owner_id in rows:
                by_owner.setdefault(owner_id, []).append(memory_id)
            owners = User.objects.in_bulk(list(by_owner))
            for owner_id, ids in by_owner.items():
                activity_record(actor=owners.get(owner_id), action="memory.purge_trash", memory_ids=ids, details={"count": len(ids)})
            deleted += len(rows)
        if progress is not None:
            progress(len(rows))


def memory_set_permission(*, actor, memory_id, permission: str, shared_with=None, expected_version: int | None = None) -> Memory:
    permission = clean_permission(permission)
    targets = share_targets_clean(actor=actor, permission=permission, shared_with=shared_with)
    with transaction.atomic():
        memory = _owned_for_update(actor=actor, memory_id=memory_id)
        _check_version(memory, expected_version)
        if permission == Permission.SHARED and shared_with is None and not MemoryShare.objects.filter(memory=memory).exists():
            raise ValidationError.for_field("shared_with", SHARED_WITH_NOBODY)
        _keep_previous_version(memory)
        memory.permission = permission
        memory.updated_at = timezone.now()
        memory.version += 1
        memory.save(update_fields=["permission", "updated_at", "version"])
        if permission == Permission.SHARED:
            if shared_with is not None:
                _replace_shares(memory, targets)
        else:
            MemoryShare.objects.filter(memory=memory).delete()
        _record_version(memory, actor=actor, change="permission")
        activity_record(
            actor=actor, action="memory.permission", memory_ids=[memory.id],
            details={"permission": permission, "users": len(targets.users), "groups": len(targets.groups)},
        )
    return memory


# --- bulk actions (the site's list page) --------------------------------------------------

BULK_ACTIONS = ("delete", "make_private", "make_public", "add_tag", "remove_tag")


@dataclass(frozen=True)
class BulkOutcome:
    done: int
    failed: int  # not the actor's, missing, or changed meanwhile


def memory_bulk_apply(*, actor, memory_ids: Sequence, action: str, tag: str | None = None) -> BulkOutcome:
    """Apply one list-page action to many of the actor's memories, logged as ONE activity
    entry (``memory.bulk``). ``delete`` moves them all to the trash in one statement
    (``memory_trash_many``); the others change each memory in its own transaction."""
    if action not in BULK_ACTIONS:
        raise ValidationError.for_field("action", f"must be one of {', '.join(BULK_ACTIONS)}.")
    ids = list(dict.fromkeys(clean_uuid(m, field="ids") for m in memory_ids))
    if action == "delete":
        done = memory_trash_many(actor=actor, memory_ids=ids)
        return BulkOutcome(done=done, failed=len(ids) - done)
    if action in ("add_tag", "remove_tag"):
        tag = (clean_tags([tag or ""]) or [None])[0]
        if not tag:
            raise ValidationError.for_field("tag", "type the tag to add or remove.")
    own = Memory.objects.not_trashed().filter(owner=actor, id__in=ids).order_by("id")
    done = failed = 0
    with activity_collected() as touched:
        for memory in own.iterator(chunk_size=200):
            try:
                if action in ("make_private", "make_public"):
                    permission = Permission.PRIVATE if action == "make_private" else Permission.PUBLIC
                    if memory.permission != permission:
                        memory_set_permission(actor=actor, memory_id=memory.id, permission=permission)
                elif action == "add_tag" and tag not in memory.tags:
                    memory_update(actor=actor, memory_id=memory.id, tags=[*memory.tags, tag], expected_version=memory.version)
                elif action == "remove_tag" and tag in memory.tags:
                    memory_update(actor=actor, memory_id=memory.id, tags=[t for t in memory.tags if t != tag], expected_version=memory.version)
                done += 1
            except DomainError:
                failed += 1
    if touched:
        activity_record(actor=actor, action="memory.bulk", memory_ids=list(dict.fromkeys(touched)),
                        details={"action": action, "count": len(set(touched))})
    return BulkOutcome(done=done, failed=failed + len(ids) - done - failed)


# --- batch ---------------------------------------------------------------------------------


@dataclass
class BatchResult:
    index: int
    op: str
    ok: bool
    memory: Memory | None = None
    memory_id: uuid.UUID | None = None
    error: DomainError | None = None
    deleted: Deleted | None = None


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
        vectors = embed_for_write([t for _, t in texts])
        pre_embedded = {i: v for (i, _), v in zip(texts, vectors, strict=False)}
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
                    results.append(BatchResult(index=i, op=op.op, ok=True, memory_id=deleted.id, deleted=deleted))
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
            for memory, vector in zip(unique, vectors, strict=False):
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
        defaults={"owner_id": memory.owner_id, "length": length, "key_id": current_key_id or keywords.key_id(),
                  "text_digest": keywords.text_digest(memory.text)},
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
                # (an entry without a text digest was made before duplicate detection existed)
                qs = qs.exclude(pk__in=KeywordDocument.objects.filter(key_id=current).exclude(text_digest="").values("memory_id"))
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
    "memory_merge",
    "memory_purge_trash",
    "memory_restore",
    "memory_trash_many",
    "Deleted",
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
