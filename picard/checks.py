"""Start-up checks: refuse to serve with encryption keys that cannot read the stored memories.

Losing the encryption key is the one failure Picard cannot recover from (docs/security.md).
Serving with a wrong key would look healthy while every read fails, and new memories
would be written under a key that does not match the old ones — so the server refuses
to start instead, loudly. Called from the ASGI lifespan (``picard/asgi.py``) and
registered as a Django ``database`` check (run by ``migrate`` and ``check --database default``).
"""

from __future__ import annotations

import logging

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection

from memories.crypto import EncryptionKeyError, decrypt
from memories.models import Memory

logger = logging.getLogger("picard.startup")

KEY_MISMATCH = (
    "PICARD_ENCRYPTION_KEYS cannot decrypt the memories already stored in this database "
    "(the {which} memory, {memory_id}). Picard refuses to start: serving now would fail every read "
    "and mix keys. Put back the key these memories were encrypted with (keys are listed newest first, "
    "comma-separated; an old key must stay listed until `manage.py rotate_encryption_key` has finished). "
    "If the key is truly lost, the memory texts cannot be recovered — see docs/security.md."
)


def encryption_key_problem() -> str | None:
    """A message when the configured keys cannot decrypt the newest or the oldest stored
    memory; ``None`` when they can, when there are no memories, or before migrations ran."""
    try:
        samples = []
        newest = Memory.objects.order_by("-created_at").values_list("id", "text_encrypted").first()
        if newest is None:
            return None
        samples.append(("newest", newest))
        oldest = Memory.objects.order_by("created_at").values_list("id", "text_encrypted").first()
        if oldest is not None and oldest[0] != newest[0]:
            samples.append(("oldest", oldest))
    except DatabaseError:
        return None  # no table yet (before migrate) or the database is away: nothing to compare
    for which, (memory_id, token) in samples:
        try:
            decrypt(token)
        except EncryptionKeyError as exc:
            if "not a valid Fernet key" in exc.message or "is empty" in exc.message:
                return exc.message
            return KEY_MISMATCH.format(which=which, memory_id=memory_id)
    return None


def assert_encryption_keys_match() -> None:
    """Raise ImproperlyConfigured (logged as CRITICAL) when the keys cannot read stored memories."""
    try:
        problem = encryption_key_problem()
    finally:
        connection.close()
    if problem:
        logger.critical(problem)
        raise ImproperlyConfigured(problem)


@checks.register(checks.Tags.database)
def check_encryption_keys(app_configs=None, databases=None, **kwargs):
    if not databases or "default" not in databases:
        return []
    problem = encryption_key_problem()
    return [checks.Critical(problem, id="picard.E001")] if problem else []
