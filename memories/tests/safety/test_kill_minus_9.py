"""A ``kill -9`` during a trash purge or an import undo leaves nothing half-done: the real
work runs in a subprocess that is SIGKILLed while it waits inside its transaction (the test
holds a lock on a row that transaction needs), then the database is checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from memories import importexport, services
from memories.models import ImportJob, KeywordDocument, KeywordPosting, Memory, MemoryVersion


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if not db.get("PORT"):
        return f"postgresql://{db['USER']}:{db['PASSWORD']}@/{db['NAME']}?host={db['HOST']}"
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _run_until_blocked_then_kill(args: list[str]) -> None:
    """Start ``args`` (Django set up against the test database), wait until it waits for a
    lock, then SIGKILL it."""
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "picard.settings.test", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, cwd=Path(settings.BASE_DIR), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
                if cursor.fetchone()[0]:
                    break
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the subprocess never reached the locked row"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _consistent(memory_ids) -> None:
    """Every remaining memory still has its history and keyword entry; nothing is left of the others."""
    for memory_id in memory_ids:
        assert MemoryVersion.objects.filter(memory_id=memory_id).count() == 2
        assert KeywordDocument.objects.filter(memory_id=memory_id).exists()
        assert KeywordPosting.objects.filter(memory_id=memory_id).exists()
    assert not MemoryVersion.objects.exclude(memory_id__in=list(Memory.objects.values_list("id", flat=True))).exists()


@pytest.mark.django_db(transaction=True)
def test_kill_minus_9_mid_trash_purge_leaves_whole_batches_and_a_rerun_finishes(alice):
    memories = []
    for i in range(50):
        memory = services.memory_create(actor=alice, text=f"purge row {i} about sailing")
        services.memory_update(actor=alice, memory_id=memory.id, text=f"purge row {i} about sailing, edited")
        services.memory_delete(actor=alice, memory_id=memory.id)
        memories.append(memory.id)
    base = timezone.now() - timedelta(days=40)
    for i, memory_id in enumerate(memories):  # purged oldest first: 10 a batch, in this order
        Memory.objects.filter(id=memory_id).update(trashed_at=base + timedelta(seconds=i))
    blocker = psycopg.connect(_database_url(), autocommit=False)
    try:  # a history row of the third batch is locked: the purge waits inside that batch's transaction
        blocker.execute("SELECT id FROM memories_memoryversion WHERE memory_id = %s FOR UPDATE", [memories[25]])
        _run_until_blocked_then_kill([sys.executable, "manage.py", "purge_trash", "--batch-size", "10"])
    finally:
        blocker.rollback()
        blocker.close()
    remaining = set(Memory.objects.values_list("id", flat=True))
    assert remaining == set(memories[20:])  # two whole batches gone, nothing of the third
    _consistent(remaining)
    assert services.memory_purge_trash() == 30
    assert not Memory.objects.exists() and not MemoryVersion.objects.exists() and not KeywordDocument.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_kill_minus_9_mid_import_undo_trashes_nothing_and_a_rerun_undoes_all(alice, settings):
    settings.PICARD_IMPORT_INLINE = True
    before = services.memory_create(actor=alice, text="written by hand, not imported")
    rows = "".join(json.dumps({"text": f"imported row {i}"}) + "\n" for i in range(40)).encode()
    job, _ = importexport.import_job_create(actor=alice, filename="rows.jsonl", raw=rows)
    importexport.import_job_start(actor=alice, job_id=job.id)
    importexport.import_job_run(job_id=job.id)
    imported = list(Memory.objects.filter(import_job=job).order_by("id").values_list("id", flat=True))
    assert len(imported) == 40
    for memory_id in imported[:2]:  # history rows, so that the consistency check has something to check
        services.memory_update(actor=alice, memory_id=memory_id, tags=["checked"])
    blocker = psycopg.connect(_database_url(), autocommit=False)
    try:  # one imported memory is locked: the undo's single UPDATE waits for it mid-statement
        blocker.execute("SELECT id FROM memories_memory WHERE id = %s FOR UPDATE", [imported[-1]])
        code = ("import django; django.setup(); from django.contrib.auth import get_user_model; "
                "from memories.importexport import import_job_undo; "
                f"import_job_undo(actor=get_user_model().objects.get(pk='{alice.pk}'), job_id='{job.id}')")
        _run_until_blocked_then_kill([sys.executable, "-c", code])
    finally:
        blocker.rollback()
        blocker.close()
    job.refresh_from_db()
    assert job.undone_at is None and job.undone_count == 0
    assert not Memory.objects.filter(trashed_at__isnull=False).exists()  # all or nothing: nothing
    _consistent(imported[:2])
    assert importexport.import_job_undo(actor=alice, job_id=job.id) == 40
    assert set(Memory.objects.filter(trashed_at__isnull=False).values_list("id", flat=True)) == set(imported)
    assert Memory.objects.get(id=before.id).trashed_at is None
    assert ImportJob.objects.get(id=job.id).undone_count == 40
