import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from memories import services
from memories.models import ImportJob, Memory

pytestmark = pytest.mark.django_db


def test_upload_preview_import_and_export_through_the_pages(client, alice, settings):
    settings.PICARD_IMPORT_INLINE = True
    client.force_login(alice)
    raw = b'{"text": "from a file", "tags": ["imported"]}\n{"text": ""}\n'
    response = client.post("/memories/import", {"file": SimpleUploadedFile("notes.jsonl", raw), "format": ""})
    assert response.status_code == 302
    job = ImportJob.objects.get(owner=alice)
    preview = client.get(response["Location"]).content.decode()
    assert "2</strong> memories found" in preview and "from a file" in preview and "must not be empty" in preview.lower()
    assert Memory.objects.count() == 0
    client.post(f"/memories/import/{job.id}/start")
    page = client.get(f"/memories/import/{job.id}").content.decode()
    assert "1 imported" in page and "Rows that were not imported" in page
    status = client.get(f"/memories/import/{job.id}/status").json()
    assert status | {"errors": None} == status | {"status": "done", "position": 2, "total": 2, "created": 1, "failed": 1, "errors": None}
    export = client.get("/memories/export?format=jsonl")
    assert export["Content-Disposition"].startswith('attachment; filename="picard-memories-')
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["from a file"]


def test_bad_uploads_show_inline_errors(client, alice):
    client.force_login(alice)
    response = client.post("/memories/import", {"file": SimpleUploadedFile("notes.json", b"{nope"), "format": ""})
    assert response.status_code == 400 and "This is not valid JSON" in response.content.decode()
    response = client.post("/memories/import", {})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    assert client.get("/memories/export?format=pdf", follow=True).status_code == 200


def test_other_users_import_job_is_not_found(client, alice, bob):
    services.memory_create(actor=alice, text="x")
    job = ImportJob.objects.create(owner=alice, format="jsonl", total=0)
    client.force_login(bob)
    assert client.get(f"/memories/import/{job.id}").status_code == 404
    assert client.post(f"/memories/import/{job.id}/start").status_code == 404
    assert client.get(f"/memories/import/{job.id}/status").status_code == 404


def test_import_button_counts_only_the_rows_that_will_really_be_imported(client, alice, bob, settings):
    """The preview used to promise "Import 5 memories" while saying 2 rows would be skipped;
    the button counts every row of the file (not just the previewed ones) that will be created:
    not invalid rows, not rows whose id is already one of yours (nor a repeat of an id that
    keeps itself); an id that is given a fresh one (issue 18) makes no row a repeat."""
    settings.PICARD_IMPORT_INLINE = True
    client.force_login(alice)
    mine = services.memory_create(actor=alice, text="already here")
    theirs = services.memory_create(actor=bob, text="bob's")
    gone_id = services.memory_create(actor=alice, text="yours once").id
    services.memory_delete(actor=alice, memory_id=gone_id, permanent=True)
    rows = [{"text": f"row {i}"} for i in range(22)]
    rows += [
        {"text": ""},                                    # invalid, beyond the first 20 rows previewed
        {"text": "x", "permission": "secret"},           # invalid
        {"id": str(mine.id), "text": "already here"},    # already present: skipped
        {"id": str(theirs.id), "text": "same id as bob's"},  # someone else's id: imported with a new id
        {"id": str(gone_id), "text": "yours once"},      # once yours (deleted for good): keeps its id
        {"id": str(gone_id), "text": "yours once, again"},  # a repeat of that id: skipped
        {"id": "6f1c2a8e-0d7b-4c53-9a57-0e6f9a1b2c3d", "text": "new id"},  # never yours: a fresh id
        {"id": "6f1c2a8e-0d7b-4c53-9a57-0e6f9a1b2c3d", "text": "new id again"},  # a fresh id again: imported too
    ]
    raw = "\n".join(json.dumps(r) for r in rows).encode()
    response = client.post("/memories/import", {"file": SimpleUploadedFile("notes.jsonl", raw), "format": ""})
    preview = client.get(response["Location"]).content.decode()
    assert "30</strong> memories found" in preview
    assert "2 rows have problems and will be skipped" in preview
    assert "2 are already among your memories and will be skipped" in preview
    assert ">Import 26 memories</button>" in preview
    job = ImportJob.objects.get(owner=alice)
    client.post(f"/memories/import/{job.id}/start")
    job.refresh_from_db()
    assert (job.created_count, job.skipped_count, job.failed_count) == (26, 2, 2)
    assert Memory.objects.filter(id=gone_id, owner=alice).exists()


def test_import_button_counts_trashed_memories_it_brings_back_and_skips_texts_you_already_have(client, alice, settings):
    """Importing an id of yours that is in the trash brings it back (counted as imported);
    a row whose text equals one of your active memories, or an earlier row's, is skipped
    by the duplicate check (counted as already present), so the button still tells the truth."""
    settings.PICARD_IMPORT_INLINE = True
    client.force_login(alice)
    binned = services.memory_create(actor=alice, text="in the trash")
    services.memory_delete(actor=alice, memory_id=binned.id)
    services.memory_create(actor=alice, text="Already Here")
    rows = [
        {"id": str(binned.id), "text": "in the trash"},  # brought back
        {"text": "already here."},                       # same text as an active memory (case, full stop)
        {"text": "new one"},
        {"text": "new  one"},                            # same text as the row before
        {"text": "in the trash"},                        # same text as the memory just brought back
    ]
    raw = "\n".join(json.dumps(r) for r in rows).encode()
    response = client.post("/memories/import", {"file": SimpleUploadedFile("notes.jsonl", raw), "format": ""})
    preview = client.get(response["Location"]).content.decode()
    assert "3 are already among your memories and will be skipped" in preview
    assert ">Import 2 memories</button>" in preview
    job = ImportJob.objects.get(owner=alice)
    client.post(f"/memories/import/{job.id}/start")
    job.refresh_from_db()
    assert (job.created_count, job.skipped_count, job.failed_count) == (2, 3, 0)
    assert Memory.objects.get(id=binned.id).trashed_at is None
