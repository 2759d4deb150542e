"""Trash: a deleted memory vanishes from every read at once, comes back on restore, and is
purged (with its keyword entry, vectors and history) after PICARD_TRASH_DAYS."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from mcp_bridge.tools import TOOLS
from memories import importexport, keywords, search, selectors, services
from memories.models import Activity, KeywordDocument, KeywordPosting, Memory, MemoryShare, MemoryVersion
from memories.selectors import SCOPES, MemoryFilters
from picard.exceptions import NotFound, PermissionDenied, ValidationError


def _call(tool: str, actor, data: dict) -> dict:
    entry = TOOLS[tool]
    return entry.handler(actor, entry.input.model_validate(data))


def _every_read(actor, *, query: str) -> set:
    """The memory ids ``actor`` reaches through each read path."""
    found = set()
    found |= {m.id for m in selectors.memory_list(actor=actor, limit=100).items}
    found |= {m.id for m in selectors.memory_list(actor=actor, filters=MemoryFilters(expired="all"), limit=100).items}
    for mode in search.SEARCH_MODES:
        for scope in SCOPES:
            found |= {h.memory.id for h in search.memory_search(actor=actor, query=query, mode=mode, min_score=0.0,
                                                                filters=MemoryFilters(scope=scope))}
        found |= {h.memory.id for h in search.memory_search(actor=actor, query=query, mode=mode, min_score=0.0,
                                                            filters=MemoryFilters(permission="public", scope="all"))}
    found |= set(selectors.memory_visible_qs(actor=actor).values_list("id", flat=True))
    return found


def test_a_trashed_memory_is_gone_from_every_read_for_everyone_and_comes_back_on_restore(alice, bob, carol):
    public = services.memory_create(actor=alice, text="the lighthouse on the island is red", permission="public")
    shared = services.memory_create(actor=alice, text="the lighthouse key is under the mat", permission="shared", shared_with=["bob"])
    private = services.memory_create(actor=alice, text="the lighthouse smells of salt", permission="private")
    ids = {public.id, shared.id, private.id}
    assert _every_read(alice, query="lighthouse") >= ids
    assert public.id in _every_read(carol, query="lighthouse") and shared.id in _every_read(bob, query="lighthouse")

    answers = [_call("delete_memory", alice, {"memory_id": str(m.id)}) for m in (public, shared, private)]
    assert all(a["trashed"] is True and a["deleted"] is True for a in answers)
    purge_at = timezone.datetime.fromisoformat(answers[0]["purge_at"].replace("Z", "+00:00"))
    assert timedelta(days=29, hours=23) < purge_at - timezone.now() <= timedelta(days=30)

    for actor in (alice, bob, carol):
        assert not _every_read(actor, query="lighthouse") & ids, actor
        for memory in (public, shared, private):
            with pytest.raises(NotFound, match="Memory not found"):
                selectors.memory_get_for_actor(actor=actor, memory_id=memory.id, include_expired=True)
            with pytest.raises(NotFound):
                selectors.memory_history(actor=actor, memory_id=memory.id)
    with pytest.raises(NotFound):  # a trashed memory cannot be edited either
        services.memory_update(actor=alice, memory_id=public.id, text="changed")
    assert not importexport.export_text(actor=alice, fmt="jsonl").strip()

    restored = _call("restore_memory", alice, {"memory_id": str(public.id)})
    assert restored["text"] == "the lighthouse on the island is red" and restored["version"] == 1
    assert public.id in _every_read(carol, query="lighthouse")
    assert {h.memory.id for h in search.memory_search(actor=carol, query="island", mode="keyword", min_score=0.0, filters=MemoryFilters(scope="all"))} == {public.id}


def _query_memory_ids(actor, *, query: str, scope: str, mode: str, **filters) -> set[str]:
    answer = _call("query_memory", actor, {"query": query, "scope": scope, "mode": mode, "min_score": 0, "limit": 50, **filters})
    return {m["id"] for m in answer["memories"]}


@pytest.mark.parametrize("filtered", [False, True], ids=["unfiltered", "tag-filtered"])
def test_query_memory_never_returns_a_trashed_memory_in_any_scope_or_mode(alice, bob, carol, filtered):
    """query_memory under each scope (mine / mine_and_shared / all) and each mode: a trashed
    memory (own, shared with the asker, or someone's public one) is in no answer, while the
    same kinds of memory that are not trashed still are. Unfiltered searches use the
    visibility rule's SQL form, a tag filter its ORM form: both must leave the trash out."""
    tags = ["beacon"]
    kept = {
        "alice_private": services.memory_create(actor=alice, text="lighthouse lamp oil kept", tags=tags),
        "alice_public": services.memory_create(actor=alice, text="lighthouse tours kept", permission="public", tags=tags),
        "alice_shared": services.memory_create(actor=alice, text="lighthouse key kept", permission="shared", shared_with=["bob"], tags=tags),
        "bob_private": services.memory_create(actor=bob, text="lighthouse visit kept", tags=tags),
    }
    trashed = {
        "alice_private": services.memory_create(actor=alice, text="lighthouse lamp oil binned", tags=tags),
        "alice_public": services.memory_create(actor=alice, text="lighthouse tours binned", permission="public", tags=tags),
        "alice_shared": services.memory_create(actor=alice, text="lighthouse key binned", permission="shared", shared_with=["bob"], tags=tags),
        "bob_private": services.memory_create(actor=bob, text="lighthouse visit binned", tags=tags),
    }
    # Who reaches which memory in which scope (when nothing is trashed).
    reach = {
        (alice, "mine"): {"alice_private", "alice_public", "alice_shared"},
        (alice, "mine_and_shared"): {"alice_private", "alice_public", "alice_shared"},
        (alice, "all"): {"alice_private", "alice_public", "alice_shared"},
        (bob, "mine"): {"bob_private"},
        (bob, "mine_and_shared"): {"bob_private", "alice_shared"},
        (bob, "all"): {"bob_private", "alice_shared", "alice_public"},
        (carol, "mine"): set(),
        (carol, "mine_and_shared"): set(),
        (carol, "all"): {"alice_public"},
    }
    extra = {"tags": tags} if filtered else {}
    for memory in trashed.values():
        services.memory_delete(actor=memory.owner, memory_id=memory.id)
    trashed_ids = {str(m.id) for m in trashed.values()}
    for (actor, scope), names in reach.items():
        for mode in search.SEARCH_MODES:
            found = _query_memory_ids(actor, query="lighthouse", scope=scope, mode=mode, **extra)
            assert not found & trashed_ids, (actor.username, scope, mode)
            assert found == {str(kept[name].id) for name in names}, (actor.username, scope, mode)
    # And back on restore, in the same scopes as before.
    for memory in trashed.values():
        services.memory_restore(actor=memory.owner, memory_id=memory.id)
    for (actor, scope), names in reach.items():
        for mode in search.SEARCH_MODES:
            found = _query_memory_ids(actor, query="lighthouse", scope=scope, mode=mode, **extra)
            assert found == {str(m[name].id) for m in (kept, trashed) for name in names}, (actor.username, scope, mode)


def test_public_keyword_statistics_leave_trashed_memories_out(alice, bob, settings):
    """The keyword channel's cached collection statistics for others' public memories count
    only memories that are not in the trash (a trashed memory must not weigh on a score)."""
    settings.PICARD_KEYWORD_STATS_CACHE_MIN_ROWS = 2
    settings.PICARD_KEYWORD_STATS_CACHE_SECONDS = 0
    memories = [services.memory_create(actor=alice, text=f"harbour note number {n}", permission="public") for n in range(5)]
    key_id = keywords.key_id()
    assert search.public_keyword_stats(key_id=key_id)[0] == 5
    services.memory_trash_many(actor=alice, memory_ids=[m.id for m in memories[:2]])
    assert search.public_keyword_stats(key_id=key_id)[0] == 3
    services.memory_trash_many(actor=alice, memory_ids=[memories[2].id])
    assert search.public_keyword_stats(key_id=key_id) is None  # 2 left: counted exactly with each query


def test_trashed_public_memory_leaves_the_public_keyword_index_read_from_postings_alone(alice, bob, settings):
    """Keyword search over others' public memories at scale reads postings only (their copy of
    'public'): trashing must clear that copy, restoring must set it again."""
    settings.PICARD_KEYWORD_STATS_CACHE_MIN_ROWS = 0
    settings.PICARD_KEYWORD_STATS_CACHE_SECONDS = 0
    memory = services.memory_create(actor=alice, text="zanzibar spice market", permission="public")
    services.memory_create(actor=alice, text="another public note", permission="public")
    assert [h.memory.id for h in search.memory_search(actor=bob, query="zanzibar", mode="keyword", min_score=0.0, filters=MemoryFilters(scope="all"))] == [memory.id]
    services.memory_delete(actor=alice, memory_id=memory.id)
    assert not KeywordPosting.objects.filter(memory_id=memory.id, public=True).exists()
    assert search.memory_search(actor=bob, query="zanzibar", mode="keyword", min_score=0.0, filters=MemoryFilters(scope="all")) == []
    services.memory_restore(actor=alice, memory_id=memory.id)
    assert [h.memory.id for h in search.memory_search(actor=bob, query="zanzibar", mode="keyword", min_score=0.0, filters=MemoryFilters(scope="all"))] == [memory.id]


def test_only_the_owner_can_trash_or_restore_and_others_see_not_found(alice, bob):
    memory = services.memory_create(actor=alice, text="only mine to delete", permission="public")
    with pytest.raises(PermissionDenied):
        services.memory_delete(actor=bob, memory_id=memory.id)
    services.memory_delete(actor=alice, memory_id=memory.id)
    with pytest.raises(NotFound) as missing:
        services.memory_restore(actor=bob, memory_id=memory.id)
    with pytest.raises(NotFound) as never:
        services.memory_restore(actor=bob, memory_id="550e8400-e29b-41d4-a716-446655440000")
    assert missing.value.message == never.value.message
    with pytest.raises(ValidationError, match="not in the trash"):
        services.memory_restore(actor=alice, memory_id=services.memory_create(actor=alice, text="active one").id)


def test_permanent_delete_removes_everything_at_once_even_from_the_trash(alice, bob):
    memory = services.memory_create(actor=alice, text="gone for good", permission="shared", shared_with=["bob"])
    services.memory_update(actor=alice, memory_id=memory.id, text="gone for good, really")
    services.memory_delete(actor=alice, memory_id=memory.id)
    answer = _call("delete_memory", alice, {"memory_id": str(memory.id), "permanent": True})
    assert answer == {"id": str(memory.id), "deleted": True, "trashed": False, "purge_at": None}
    assert not Memory.objects.filter(id=memory.id).exists()
    for model in (KeywordDocument, KeywordPosting, MemoryShare, MemoryVersion):
        assert not model.objects.filter(memory_id=memory.id).exists(), model
    with pytest.raises(NotFound):
        services.memory_restore(actor=alice, memory_id=memory.id)


def test_purge_removes_only_memories_trashed_longer_than_the_trash_days_with_all_their_data(alice, settings):
    settings.PICARD_TRASH_DAYS = 30
    old = services.memory_create(actor=alice, text="trashed long ago")
    recent = services.memory_create(actor=alice, text="trashed yesterday")
    kept = services.memory_create(actor=alice, text="still here")
    for memory in (old, recent):
        services.memory_delete(actor=alice, memory_id=memory.id)
    Memory.objects.filter(id=old.id).update(trashed_at=timezone.now() - timedelta(days=31))
    Memory.objects.filter(id=recent.id).update(trashed_at=timezone.now() - timedelta(days=1))
    out = StringIO()
    call_command("purge_expired", stdout=out)  # the daily job operators already run
    assert "Deleted 1 memories that were in the trash for 30 days" in out.getvalue()
    assert set(Memory.objects.values_list("id", flat=True)) == {recent.id, kept.id}
    assert not KeywordDocument.objects.filter(memory_id=old.id).exists()
    assert not MemoryVersion.objects.filter(memory_id=old.id).exists()
    assert Activity.objects.filter(action="memory.purge_trash", memory_ids__contains=[old.id]).exists()
    call_command("purge_trash", "--older-than-days", "0", stdout=StringIO())
    assert set(Memory.objects.values_list("id", flat=True)) == {kept.id}


def test_empty_trash_is_per_owner(alice, bob):
    mine = services.memory_create(actor=alice, text="alice trash")
    theirs = services.memory_create(actor=bob, text="bob trash")
    services.memory_delete(actor=alice, memory_id=mine.id)
    services.memory_delete(actor=bob, memory_id=theirs.id)
    assert [m.id for m in selectors.memory_trash_list(actor=alice)] == [mine.id]
    assert services.memory_purge_trash(owner=alice, older_than_days=0) == 1
    assert Memory.objects.filter(id=theirs.id).exists()


def test_batch_delete_trashes_and_says_so(alice):
    memory = services.memory_create(actor=alice, text="batched away")
    out = _call("batch_memories", alice, {"operations": [{"op": "delete", "data": {"memory_id": str(memory.id)}}]})
    assert out["results"][0]["trashed"] is True and out["results"][0]["purge_at"]
    assert Memory.objects.get(id=memory.id).trashed_at is not None
