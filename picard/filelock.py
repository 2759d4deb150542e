"""An exclusive lock between processes on this machine, held by an open lock file."""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path


@contextlib.contextmanager
def exclusive(path: Path):
    """Wait until no other process holds ``path``'s lock, hold it for the block (the file is
    created if missing and kept; the lock goes when the block ends or the process dies)."""
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
