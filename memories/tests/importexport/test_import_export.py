import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from memories import importexport, services
from memories.models import ImportJob, Memory
from memories.selectors import MemoryFilters

pytestmark = pytest.mark.django_db

TRICKY = [
    "Plain memory",
    "Ends with newlines\n\n",
    "---\nLooks like a separator\n---",
    "<!-- picard:memory {\"id\": \"fake\"} -->\ninside text",
    "Unicode ✓ – “quotes” – 日本語 – emoji 🧠",
    "  leading spaces and a trailing space ",
]


def _seed(actor, other):
    team = Group.objects.create(name="team")
    future = timezone.now() + timedelta(days=30)
    created = []
    for i, text in enumerate(TRICKY):
        created.append(services.memory_create(actor=actor, text=text, tags=[f"t{i}", "all"], metadata={"i": i, "nested": {"a": [1, "x"]}}))
    created.append(services.memory_create(actor=actor, text="Shared one", permission="shared", shared_with={"users": [other.username], "groups": ["team"]}, expires_at=future))
    created.append(services.memory_create(actor=actor, text="Public one", permission="public"))
    return team


@pytest.mark.parametrize("fmt", ["jsonl", "markdown"])
def test_export_then_import_round_trip_is_exact(settings, alice, bob, fmt):
    settings.PICARD_IMPORT_INLINE = True
    _seed(alice, bob)
    first = importexport.export_text(actor=alice, fmt=fmt)
    Memory.objects.filter(owner=alice).delete()
    job, plans = importexport.import_job_create(actor=alice, filename=f"x.{ 'md' if fmt == 'markdown' else 'jsonl'}", raw=first.encode())
    assert job.total == len(TRICKY) + 2 and all(p.error is None for p in plans)
    importexport.import_job_start(actor=alice, job_id=job.id)
    job = importexport.import_job_run(job_id=job.id)
    assert (job.status, job.created_count, job.failed_count) == ("done", len(TRICKY) + 2, 0)
    second = importexport.export_text(actor=alice, fmt=fmt)
    assert second == first
    # importing the same file again changes nothing (every id is already there)
    job2, _ = importexport.import_job_create(actor=alice, filename="again", raw=first.encode(), fmt=fmt)
    importexport.import_job_start(actor=alice, job_id=job2.id)
    job2 = importexport.import_job_run(job_id=job2.id)
    assert (job2.created_count, job2.skipped_count) == (0, len(TRICKY) + 2)
    assert importexport.export_text(actor=alice, fmt=fmt) == first


def test_import_into_another_account_keeps_content_but_not_foreign_ids(alice, bob):
    services.memory_create(actor=alice, text="alice's note", tags=["x"])
    data = importexport.export_text(actor=alice, fmt="jsonl")
    job, _ = importexport.import_job_create(actor=bob, filename="a.jsonl", raw=data.encode())
    importexport.import_job_start(actor=bob, job_id=job.id)
    job = importexport.import_job_run(job_id=job.id)
    assert job.created_count == 1
    mine = Memory.objects.get(owner=bob)
    assert mine.text == "alice's note" and str(mine.id) != json.loads(data)["id"]


def test_per_row_errors_and_upload_is_stored_encrypted(alice):
    raw = (
        b'{"text": "good one", "tags": "a, b"}\n'
        b"not json at all\n"
        b'{"text": ""}\n'
        b'{"text": "bad permission", "permission": "everyone"}\n'
        b'{"text": "expired", "expiration_date": "2001-01-01T00:00:00Z"}\n'
        b'{"text": "shared with a ghost", "permission": "shared", "shared_with": {"users": ["ghost"]}}\n'
        b'["a list"]\n'
        b'{"text": "second good one", "metadata": {"k": "v"}}\n'
    )
    job, plans = importexport.import_job_create(actor=alice, filename="rows.jsonl", raw=raw)
    assert [p.error is None for p in plans] == [True, False, False, False, False, False, False, True]
    assert Memory.objects.count() == 0  # a preview writes nothing
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload_encrypted FROM memories_importjob WHERE id = %s", [job.id])
        stored = cursor.fetchone()[0]
    assert "good one" not in stored and "ghost" not in stored
    importexport.import_job_start(actor=alice, job_id=job.id)
    job = importexport.import_job_run(job_id=job.id)
    assert (job.created_count, job.failed_count) == (2, 6)
    messages = {e["row"]: e["message"] for e in job.errors}
    assert "not valid JSON" in messages[2]
    assert "must not be empty" in messages[3].lower()
    assert "permission" in messages[4].lower()
    assert "future" in messages[5]
    assert "ghost" in messages[6]
    assert job.payload_encrypted == ""  # dropped when finished
    assert sorted(m.text for m in Memory.objects.filter(owner=alice)) == ["good one", "second good one"]
    assert Memory.objects.get(text_encrypted__isnull=False, tags=["a", "b"]).text == "good one"


def test_csv_json_and_plain_markdown_imports(alice):
    csv_raw = b'text,tags,permission,metadata\n"Hello, world",work,public,"{""a"": 1}"\n"Second ""quoted""",,,\n,empty,,\n'
    job, plans = importexport.import_job_create(actor=alice, filename="notes.csv", raw=csv_raw)
    assert job.format == "csv" and [p.error is None for p in plans] == [True, True, False]
    assert plans[0].fields["metadata"] == {"a": 1} and plans[0].fields["tags"] == ["work"] and plans[0].fields["permission"] == "public"
    job, plans = importexport.import_job_create(actor=alice, filename="x.json", raw=b'{"memories": [{"text": "from json"}, 3]}')
    assert [p.error is None for p in plans] == [True, False]
    job, plans = importexport.import_job_create(actor=alice, filename="notes.md", raw=b"# Trip\nPack the tent\n---\nSecond note\n\n---\n\n")
    assert [p.fields["text"] for p in plans] == ["# Trip\nPack the tent", "Second note"]


@pytest.mark.parametrize("raw,name,fragment", [
    (b"\xff\xfe\x00bad", "x.jsonl", "not UTF-8"),
    (b"{broken", "x.json", "not valid JSON"),
    (b"a,b\n1,2\n", "x.csv", "\"text\" column"),
    (b"", "x.jsonl", "no memories"),
    (b"hello", "x.exe", "Cannot tell the format"),
])
def test_unreadable_files_are_refused_with_a_clear_message(alice, raw, name, fragment):
    with pytest.raises(importexport.ImportFormatError) as exc:
        importexport.import_job_create(actor=alice, filename=name, raw=raw)
    assert fragment in exc.value.message
    assert not ImportJob.objects.exists()


def test_export_filters_and_only_own_memories(alice, bob):
    services.memory_create(actor=alice, text="work thing", tags=["work"])
    services.memory_create(actor=alice, text="home thing", tags=["home"], permission="public")
    services.memory_create(actor=bob, text="bob public", permission="public")
    lines = importexport.export_text(actor=alice, fmt="jsonl", filters=MemoryFilters(tags=("work",))).splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["work thing"]
    everything = importexport.export_text(actor=alice, fmt="jsonl").splitlines()
    assert sorted(json.loads(line)["text"] for line in everything) == ["home thing", "work thing"]


@pytest.mark.django_db(transaction=True)
def test_kill_minus_9_mid_import_never_half_writes_and_resume_finishes(alice):
    rows = "".join(json.dumps({"text": f"row {i}", "tags": ["bulk"]}) + "\n" for i in range(60))
    job, _ = importexport.import_job_create(actor=alice, filename="big.jsonl", raw=rows.encode())
    importexport.import_job_start(actor=alice, job_id=job.id)
    db = settings.DATABASES["default"]
    url = f"postgresql://{db['USER']}:{db['PASSWORD']}@/{db['NAME']}?host={db['HOST']}" if not db.get("PORT") else \
        f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "picard.settings.test", "PICARD_IMPORT_THROTTLE_SECONDS": "0.05"}
    code = f"import django; django.setup(); from memories.importexport import import_job_run; import_job_run(job_id='{job.id}')"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(settings.BASE_DIR), env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.position >= 10:
                break
            assert proc.poll() is None, "the worker exited early"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    job.refresh_from_db()
    assert job.status == "running" and 10 <= job.position < 60
    # exactly the rows the progress pointer says, no more, no less
    assert Memory.objects.filter(owner=alice).count() == job.position == job.created_count
    # a restart takes over once the dead worker's lease is stale
    assert importexport.import_job_run(job_id=job.id).status == "running"  # lease still fresh: not taken
    ImportJob.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert importexport.import_jobs_resume() == 1
    job.refresh_from_db()
    assert (job.status, job.position, job.created_count, job.failed_count) == ("done", 60, 60, 0)
    texts = sorted(Memory.objects.filter(owner=alice).values_list("text_encrypted", flat=True))
    assert len(texts) == 60
    assert sorted(m.text for m in Memory.objects.filter(owner=alice)) == sorted(f"row {i}" for i in range(60))


def test_import_row_shared_with_nobody_is_an_invalid_row(settings, alice, bob):
    settings.PICARD_IMPORT_INLINE = True
    raw = "\n".join(json.dumps(r) for r in [
        {"text": "nobody", "permission": "shared"},
        {"text": "empty lists", "permission": "shared", "shared_with": {"users": [], "groups": []}},
        {"text": "with bob", "permission": "shared", "shared_with": {"users": ["bob"]}},
    ]).encode()
    job, plans = importexport.import_job_create(actor=alice, filename="x.jsonl", raw=raw)
    assert [p.error is not None for p in plans] == [True, True, False]
    assert "at least one user or group" in plans[0].error
    importexport.import_job_start(actor=alice, job_id=job.id)
    job = importexport.import_job_run(job_id=job.id)
    assert (job.created_count, job.failed_count) == (1, 2)
    assert [m.text for m in Memory.objects.filter(owner=alice)] == ["with bob"]
