"""Secrets for local development, generated ONCE and reused.

Production never uses this file: there every secret comes from the environment and
start-up fails when one is missing. Locally, the first start writes
``<PICARD_DATA_DIR>/local-secrets.json`` (git-ignored, mode 0600) and every later start
reads the same values back, so a memory encrypted yesterday still decrypts today.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

from picard.filelock import exclusive


def _generate() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PICARD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PICARD_TERM_HASH_KEY": secrets.token_urlsafe(32),
    }


def load_or_create(path: Path) -> dict[str, str]:
    """Return the local secrets, creating the file on the very first call only.

    Keys missing from an existing file (added by a newer Picard) are appended; existing
    values are never replaced. Processes starting together (``--workers N`` on a fresh data
    folder) take turns under a file lock, so they all use the one set of keys written: a
    worker holding keys that another overwrote would encrypt memories nobody can read.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(path.with_suffix(".lock")):
        existing: dict[str, str] = {}
        if path.exists():
            existing = json.loads(path.read_text())
        wanted = _generate()
        missing = {k: v for k, v in wanted.items() if k not in existing}
        if missing:
            merged = {**existing, **missing}
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(merged, fh, indent=2)
            os.replace(tmp, path)
            existing = merged
    return existing
