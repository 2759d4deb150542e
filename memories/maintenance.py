"""Operator services: purge expired memories, statistics, encryption-key rotation.

Each is wrapped by a thin management command (``memories/management/commands``). The
re-embedding (model switch) service lives in ``memories.reembed``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from memories import crypto
from memories.activity import activity_record
from memories.embeddings import get_provider
from memories.models import Activity, Memory
from memories.reembed import embedding_state
from picard.exceptions import ValidationError

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]  # called with the number of rows just processed


# --- purge expired ----------------------------------------------------------------------------


def memory_purge_expired(*, older_than_days: int = 0, dry_run: bool = False, batch_size: int = 1000) -> int:
    """Permanently delete memories that expired at least ``older_than_days`` days ago.

    Owners can still see (and renew) their expired memories until this runs. Deletes in
    batches, one transaction each, and logs one ``memory.purge_expired`` entry per owner
    and batch (ids only). Returns the number deleted (or that would be, with ``dry_run``).
    """
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) or older_than_days < 0:
        raise ValidationError.for_field("older_than_days", "must be a whole number of days, 0 or more.")
    cutoff = timezone.now() - timedelta(days=older_than_days)
    expired = Memory.objects.filter(expires_at__lte=cutoff)
    if dry_run:
        return expired.count()
    User = get_user_model()
    deleted = 0
    while True:
        with transaction.atomic():
            rows = list(
                expired.select_for_update(skip_locked=True).order_by("expires_at", "id").values_list("id", "owner_id")[:batch_size]
            )
            if not rows:
                return deleted
            by_owner: dict = {}
            for memory_id, owner_id in rows:
                by_owner.setdefault(owner_id, []).append(memory_id)
            Memory.objects.filter(id__in=[r[0] for r in rows]).delete()
            owners = User.objects.in_bulk(list(by_owner))
            for owner_id, ids in by_owner.items():
                activity_record(actor=owners.get(owner_id), action="memory.purge_expired", memory_ids=ids, details={"count": len(ids)})
            deleted += len(rows)


# --- statistics ---------------------------------------------------------------------------------


def stats_collect() -> dict:
    """Counts an operator wants at a glance (no memory text, no per-user detail)."""

    now = timezone.now()
    User = get_user_model()
    memories = Memory.objects.all()
    data: dict = {
        "users": {
            "total": User.objects.count(),
            "active": User.objects.filter(is_active=True).count(),
            "staff": User.objects.filter(is_staff=True).count(),
            "joined_last_30_days": User.objects.filter(date_joined__gte=now - timedelta(days=30)).count(),
        },
        "memories": {
            "total": memories.count(),
            "by_permission": dict(memories.values_list("permission").annotate(n=Count("id")).order_by("permission")),
            "expired": memories.filter(expires_at__lte=now).count(),
            "embedding_pending": memories.filter(embedding__isnull=True).count(),
            "by_embedding_model": {
                (k or "(pending)"): v
                for k, v in memories.values_list("embedding_model").annotate(n=Count("id")).order_by("embedding_model")
            },
        },
        "embedding": {"configured_model": get_provider().name},
        "activity": {
            "last_24_hours": Activity.objects.filter(created_at__gte=now - timedelta(days=1)).count(),
            "last_30_days": Activity.objects.filter(created_at__gte=now - timedelta(days=30)).count(),
            "total": Activity.objects.count(),
        },
    }

    state = embedding_state()
    data["embedding"]["active_model"] = state.active_model if state else get_provider().name
    data["embedding"]["switching_to"] = state.target_model if state else None

    data["oauth"] = {
        "clients": get_application_model().objects.count(),
        "active_access_tokens": get_access_token_model().objects.filter(expires__gt=now).count(),
    }
    if apps.is_installed("personas"):
        data["personas"] = {m._meta.model_name: m.objects.count() for m in apps.get_app_config("personas").get_models()}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        data["database"] = {"size_bytes": cursor.fetchone()[0], "vendor": connection.vendor}
    return data


# --- encryption-key rotation -----------------------------------------------------------------


@dataclass
class RotationReport:
    total: int = 0
    rotated: int = 0
    already_current: int = 0
    unreadable: list = field(default_factory=list)  # ids no configured key opens
    not_current_after: int = 0

    @property
    def ok(self) -> bool:
        return not self.unreadable and self.not_current_after == 0


def encryption_key_check(*, batch_size: int = 1000, progress: Progress | None = None) -> RotationReport:
    """Decrypt every memory with the configured keys. Changes nothing. ``unreadable`` lists
    the ids no key opens; ``already_current`` counts rows under the newest key."""
    report = RotationReport()
    last_id = None
    while True:
        qs = Memory.objects.order_by("id")
        if last_id is not None:
            qs = qs.filter(id__gt=last_id)
        rows = list(qs.values_list("id", "text_encrypted")[:batch_size])
        if not rows:
            return report
        for memory_id, token in rows:
            report.total += 1
            try:
                crypto.decrypt(token)
            except crypto.EncryptionKeyError:
                report.unreadable.append(memory_id)
                continue
            if crypto.is_current(token):
                report.already_current += 1
        last_id = rows[-1][0]
        if progress:
            progress(len(rows))


def memory_rotate_encryption_key(*, batch_size: int = 500, progress: Progress | None = None) -> RotationReport:
    """Re-encrypt every memory under the newest key of ``PICARD_ENCRYPTION_KEYS``.

    1. Checks that every row decrypts with the configured keys; if any does not, raises
       ``EncryptionKeyError`` and changes nothing.
    2. Walks the table by id in batches; each batch is one transaction that locks its rows,
       re-encrypts the ones not yet under the newest key, checks that each new token
       decrypts to exactly the old plaintext, and writes them. Text, version and
       timestamps are unchanged. An interruption loses at most the batch in flight (rolled
       back: those rows stay readable under their old key); running again resumes, since
       rows already under the newest key are skipped.
    3. Checks every row again: each must now open with the newest key alone
       (``not_current_after`` counts those that do not).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError.for_field("batch_size", "must be a positive integer.")
    before = encryption_key_check()
    if before.unreadable:
        raise crypto.EncryptionKeyError(
            f"{len(before.unreadable)} memories cannot be decrypted with the configured keys "
            f"(first: {', '.join(str(i) for i in before.unreadable[:5])}). Nothing was changed: add the key "
            "that encrypted them to PICARD_ENCRYPTION_KEYS and run again."
        )
    report = RotationReport(total=before.total)
    last_id = None
    while True:
        with transaction.atomic():
            qs = Memory.objects.select_for_update().order_by("id")
            if last_id is not None:
                qs = qs.filter(id__gt=last_id)
            rows = list(qs.only("id", "text_encrypted")[:batch_size])
            if not rows:
                break
            changed = []
            for memory in rows:
                token = memory.text_encrypted
                if crypto.is_current(token):
                    report.already_current += 1
                    continue
                plaintext = crypto.decrypt(token)
                new_token = crypto.rotate(token)
                if crypto.decrypt(new_token) != plaintext or not crypto.is_current(new_token):
                    raise crypto.EncryptionKeyError(f"Re-encrypting memory {memory.id} did not round-trip; nothing in this batch was written.")
                memory.text_encrypted = new_token
                changed.append(memory)
            if changed:
                Memory.objects.bulk_update(changed, ["text_encrypted"])
            report.rotated += len(changed)
            last_id = rows[-1].id
        if progress:
            progress(len(rows))
    after = encryption_key_check()
    report.total = after.total
    report.unreadable = after.unreadable
    report.not_current_after = after.total - after.already_current - len(after.unreadable)
    logger.info("encryption key rotation: %s rotated, %s already current, %s rows", report.rotated, report.already_current, report.total)
    return report
