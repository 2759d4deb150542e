"""Duplicates: the same (normalised) text is never stored twice for one owner; similar texts
are stored but reported as possible duplicates; merge keeps both histories."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from mcp_bridge.tools import TOOLS
from memories import importexport, selectors, services
from memories.models import Memory


def _call(tool: str, actor, data: dict) -> dict:
    entry = TOOLS[tool]
    return entry.handler(actor, entry.input.model_validate(data))


def test_the_same_text_again_answers_the_existing_memory(alice):
    first = _call("submit_memory", alice, {"text": "My passport number ends in 42."})
    assert first["duplicate"] is False
    for spelling in ("My passport number ends in 42.", "  my PASSPORT   number ends in 42 ", "My passport number ends in 42"):
        again = _call("submit_memory", alice, {"text": spelling, "tags": ["other"]})
        assert again["duplicate"] is True and again["id"] == first["id"] and again["tags"] == []
    assert Memory.objects.filter(owner=alice).count() == 1


def test_other_owners_trashed_and_expired_memories_are_not_duplicates(alice, bob):
    mine = services.memory_create(actor=alice, text="the garage code is 1234")
    theirs = services.memory_create(actor=bob, text="the garage code is 1234")
    assert theirs.id != mine.id and theirs.is_duplicate is False
    services.memory_delete(actor=alice, memory_id=mine.id)
    again = services.memory_create(actor=alice, text="the garage code is 1234")
    assert again.id != mine.id and again.is_duplicate is False
    expiring = services.memory_create(actor=alice, text="a passing thought", expires_at=timezone.now() + timedelta(days=1))
    Memory.objects.filter(id=expiring.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.memory_create(actor=alice, text="a passing thought").id != expiring.id


def test_near_duplicates_are_stored_and_reported_with_scores(alice, bob, settings):
    settings.PICARD_NEAR_DUPLICATE_THRESHOLD = 0.75
    original = services.memory_create(actor=alice, text="alice drinks green tea every morning at seven")
    services.memory_create(actor=bob, text="alice drinks green tea every morning at eight")  # not the same owner
    similar = _call("submit_memory", alice, {"text": "alice drinks green tea every morning at eight"})
    assert similar["duplicate"] is False and similar["id"] != str(original.id)
    assert [d["id"] for d in similar["possible_duplicates"]] == [str(original.id)]
    assert 0.75 <= similar["possible_duplicates"][0]["score"] < 1
    unrelated = _call("submit_memory", alice, {"text": "the car needs new tyres before winter"})
    assert unrelated["possible_duplicates"] == []


def test_batch_reports_duplicates_per_item(alice):
    services.memory_create(actor=alice, text="already here")
    out = _call("batch_memories", alice, {"operations": [
        {"op": "create", "data": {"text": "already here"}},
        {"op": "create", "data": {"text": "brand new"}},
        {"op": "create", "data": {"text": "Brand new."}},
    ]})
    assert [r["memory"]["duplicate"] for r in out["results"]] == [True, False, True]
    assert out["results"][1]["id"] == out["results"][2]["id"]
    assert Memory.objects.filter(owner=alice).count() == 2


def test_import_skips_rows_whose_text_is_already_a_memory(alice, settings):
    settings.PICARD_IMPORT_INLINE = True
    services.memory_create(actor=alice, text="I was born in Oslo")
    raw = "\n".join(['{"text": "I was born in Oslo"}', '{"text": "i was born in oslo."}', '{"text": "I like skiing"}']).encode()
    job, _ = importexport.import_job_create(actor=alice, filename="x.jsonl", raw=raw)
    importexport.import_job_start(actor=alice, job_id=job.id)
    job = importexport.import_job_run(job_id=job.id)
    assert (job.created_count, job.skipped_count, job.failed_count) == (1, 2, 0)
    assert sorted(m.text for m in Memory.objects.filter(owner=alice)) == ["I like skiing", "I was born in Oslo"]


def test_merge_keeps_both_histories_and_trashes_the_duplicate(alice):
    kept = services.memory_create(actor=alice, text="dentist on Monday", tags=["health"])
    other = services.memory_create(actor=alice, text="dentist appointment Monday 9am", tags=["calendar"])
    merged = services.memory_merge(actor=alice, memory_id=kept.id, duplicate_id=other.id)
    assert merged.text == "dentist on Monday\n\ndentist appointment Monday 9am"
    assert merged.tags == ["health", "calendar"] and merged.version == 2
    _, versions = selectors.memory_history(actor=alice, memory_id=kept.id)
    assert versions[0].change == "merge" and versions[0].merged_from == other.id
    assert Memory.objects.get(id=other.id).trashed_at is not None
    services.memory_restore(actor=alice, memory_id=other.id)  # the duplicate's own history is intact
    _, theirs = selectors.memory_history(actor=alice, memory_id=other.id)
    assert [v.text for v in theirs] == ["dentist appointment Monday 9am"]


def test_concurrent_submits_of_one_text_store_one_memory(alice, transactional_db):
    import threading

    from django.db import connection

    results = []

    def submit():
        try:
            results.append(services.memory_create(actor=alice, text="raced text").id)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and Memory.objects.filter(owner=alice).count() == 1
