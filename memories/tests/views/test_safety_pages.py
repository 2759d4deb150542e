"""The site's side of "nothing is ever lost by accident": history with a diff, the trash page,
the merge hint, import undo, "select all N matching" and one activity entry per bulk action."""

from __future__ import annotations

import json

from memories import importexport, services
from memories.models import Activity, Memory


def _form(**overrides):
    data = {"text": "A memory", "tags": "", "permission": "private", "share_users": "", "expires_at": "", "metadata": ""}
    data.update(overrides)
    return data


def test_memory_page_shows_the_history_with_a_diff_and_restores_a_version(client, alice):
    memory = services.memory_create(actor=alice, text="I moved to Lyon in May")
    services.memory_update(actor=alice, memory_id=memory.id, text="I moved to Paris in May")
    client.force_login(alice)
    page = client.get(f"/memories/{memory.id}/").content.decode()
    assert "History" in page and "Version 2" in page and "Version 1" in page
    assert "<del>Lyon</del><ins>Paris</ins>" in page
    restored = client.post(f"/memories/{memory.id}/restore", {"version": "1"}, follow=True)
    assert "Version 1 is current again (saved as version 3)" in restored.content.decode()
    assert Memory.objects.get(id=memory.id).text == "I moved to Lyon in May"
    bad = client.post(f"/memories/{memory.id}/restore", {"version": "x"})
    assert bad.status_code == 400


def test_restoring_a_version_shared_with_people_now_gone_says_it_came_back_private(client, alice, bob):
    memory = services.memory_create(actor=alice, text="door code 4512", permission="shared", shared_with=["bob"])
    services.memory_set_permission(actor=alice, memory_id=memory.id, permission="private")
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    client.force_login(alice)
    page = client.post(f"/memories/{memory.id}/restore", {"version": "1"}, follow=True).content.decode()
    assert "Version 1 is current again (saved as version 3)" in page
    assert "so it was restored as private" in page
    assert Memory.objects.get(id=memory.id).permission == "private"


def test_others_see_the_history_of_a_memory_they_can_see_but_cannot_restore(client, alice, bob):
    memory = services.memory_create(actor=alice, text="public note v1", permission="public")
    services.memory_update(actor=alice, memory_id=memory.id, text="public note v2")
    client.force_login(bob)
    page = client.get(f"/memories/{memory.id}/").content.decode()
    assert "Version 1" in page and "Restore this version" not in page
    assert client.post(f"/memories/{memory.id}/restore", {"version": "1"}).status_code == 403


def test_trash_page_restores_deletes_forever_and_empties(client, alice, bob):
    keep, forever, rest = (services.memory_create(actor=alice, text=t) for t in ("bring me back", "delete me forever", "empty me"))
    theirs = services.memory_create(actor=bob, text="bob's trashed memory")
    services.memory_delete(actor=bob, memory_id=theirs.id)
    client.force_login(alice)
    for memory in (keep, forever, rest):
        client.post(f"/memories/{memory.id}/delete")
    page = client.get("/memories/trash").content.decode()
    assert all(t in page for t in ("bring me back", "delete me forever", "empty me")) and "bob's trashed memory" not in page
    assert "bring me back" not in client.get("/memories/").content.decode()
    client.post(f"/memories/{keep.id}/restore", {"next": "/memories/trash"})
    assert Memory.objects.get(id=keep.id).trashed_at is None
    assert "cannot be undone" in client.get(f"/memories/{forever.id}/delete?permanent=1").content.decode()
    client.post(f"/memories/{forever.id}/delete", {"permanent": "1"})
    assert not Memory.objects.filter(id=forever.id).exists()
    assert client.post(f"/memories/{theirs.id}/delete", {"permanent": "1"}).status_code == 404  # not hers
    client.post("/memories/trash/empty")
    assert not Memory.objects.filter(id=rest.id).exists() and Memory.objects.filter(id=theirs.id).exists()
    assert "The trash is empty" in client.get("/memories/trash").content.decode()


def test_similar_memory_hint_and_merge(client, alice, settings):
    settings.PICARD_NEAR_DUPLICATE_THRESHOLD = 0.75
    older = services.memory_create(actor=alice, text="the boat is moored at pier seven in the harbour")
    newer = services.memory_create(actor=alice, text="the boat is moored at pier eight in the harbour")
    client.force_login(alice)
    page = client.get(f"/memories/{newer.id}/").content.decode()
    assert "This looks like an existing memory" in page and "pier seven" in page
    client.post(f"/memories/{newer.id}/merge", {"duplicate_id": str(older.id)})
    assert Memory.objects.get(id=older.id).trashed_at is not None
    assert "pier seven" in Memory.objects.get(id=newer.id).text
    assert "This looks like an existing memory" not in client.get(f"/memories/{newer.id}/").content.decode()


def test_import_can_be_undone_and_redone_from_its_page_in_one_step(client, alice, settings):
    settings.PICARD_IMPORT_INLINE = True
    mine = services.memory_create(actor=alice, text="typed by hand")
    client.force_login(alice)
    rows = "\n".join(json.dumps({"text": f"imported {i}"}) for i in range(30))
    job, _ = importexport.import_job_create(actor=alice, filename="notes.jsonl", raw=rows.encode())
    client.post(f"/memories/import/{job.id}/start")
    assert Memory.objects.filter(import_job=job).count() == 30
    assert Activity.objects.filter(actor=alice, action="memory.create").count() == 1  # only the hand-typed one
    assert Activity.objects.filter(actor=alice, action="memory.import").count() == 1
    feed = client.get("/activity").content.decode()
    assert feed.count("Imported") == 1 and "30 memories" in feed and feed.count("Created") == 1
    assert "Undo this import" in client.get(f"/memories/import/{job.id}").content.decode()
    done = client.post(f"/memories/import/{job.id}/undo", follow=True).content.decode()
    assert "Import undone: 30 memories moved to the trash" in done and "Restore the 30 undone memories" in done
    assert Memory.objects.trashed().filter(import_job=job).count() == 30 and Memory.objects.get(id=mine.id).trashed_at is None
    assert Activity.objects.filter(actor=alice, action="memory.import_undo").count() == 1
    client.post(f"/memories/import/{job.id}/redo")
    assert Memory.objects.not_trashed().filter(import_job=job).count() == 30


def test_select_all_matching_acts_on_every_page_with_one_activity_entry(client, alice, bob):
    for i in range(45):
        services.memory_create(actor=alice, text=f"trip note {i}", tags=["trip"])
    other = services.memory_create(actor=alice, text="not a trip", tags=["home"])
    services.memory_create(actor=bob, text="bob's trip", tags=["trip"], permission="public")
    client.force_login(alice)
    page = client.get("/memories/?tags=trip").content.decode()
    assert "Select all 45 of yours that match" in page
    before = Activity.objects.filter(actor=alice).count()
    client.post("/memories/bulk", {"all_matching": "1", "filter_query": "tags=trip", "action": "add_tag", "tag": "2026"})
    assert Memory.objects.filter(owner=alice, tags__contains=["2026"]).count() == 45
    entries = list(Activity.objects.filter(actor=alice).order_by("-created_at")[: Activity.objects.filter(actor=alice).count() - before])
    assert [e.action for e in entries] == ["memory.bulk"] and entries[0].details == {"action": "add_tag", "count": 45}
    confirm = client.post("/memories/bulk", {"all_matching": "1", "filter_query": "tags=trip", "action": "delete"})
    assert "Delete 45 memories?" in confirm.content.decode()
    client.post("/memories/bulk", {"all_matching": "1", "filter_query": "tags=trip", "action": "delete", "confirm": "1"})
    assert Memory.objects.trashed().filter(owner=alice).count() == 45
    assert Memory.objects.get(id=other.id).trashed_at is None
    assert Activity.objects.filter(actor=alice, action="memory.trash").count() == 1
