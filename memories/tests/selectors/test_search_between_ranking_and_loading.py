"""What happens to a memory that changes between ranking (one statement) and loading the
hits (the next): the real search path, with a change made by another user in between (the
ranking function is wrapped, not replaced)."""

import pytest

from memories import search, services
from memories.models import Memory
from memories.search import query as search_query
from memories.selectors import MemoryFilters

pytestmark = pytest.mark.django_db


def _between(monkeypatch, change):
    """Run ``change()`` right after the ranking statement, before the hits are loaded."""
    rank = search_query.rank_pieces

    def ranked_then_changed(*args, **kwargs):
        result = rank(*args, **kwargs)
        change()
        return result

    monkeypatch.setattr(search_query, "rank_pieces", ranked_then_changed)


def test_a_memory_made_private_after_ranking_is_not_loaded(monkeypatch, alice, bob):
    """Loading the hits re-applies the visibility rule (a bare load by id would show it)."""
    theirs = services.memory_create(actor=bob, text="the lighthouse keeper's logbook", permission="public")
    mine = services.memory_create(actor=alice, text="my lighthouse postcard")
    _between(monkeypatch, lambda: Memory.objects.filter(id=theirs.id).update(permission="private"))
    for mode in search.SEARCH_MODES:
        hits = search.memory_search(actor=alice, query="lighthouse", mode=mode, filters=MemoryFilters(scope="all"), min_score=0.0)
        assert theirs.id not in [h.memory.id for h in hits], mode
        assert mine.id in [h.memory.id for h in hits], mode


def test_each_hit_keeps_its_own_scores_when_another_vanishes_before_loading(monkeypatch, alice):
    """Scores are paired with hits by memory id, not by position: when the best candidate is
    deleted in between, the others still carry their own scores and sources."""
    best = services.memory_create(actor=alice, text="walnut walnut walnut cake")
    second = services.memory_create(actor=alice, text="a walnut tree in the garden of my aunt")
    third = services.memory_create(actor=alice, text="walnut oil, a garden hose, a ladder and some rope")
    expected = {h.memory.id: (h.score, h.sources) for h in search.memory_search(actor=alice, query="walnut", min_score=0.0)}
    assert list(expected)[0] == best.id and set(expected) == {best.id, second.id, third.id}
    assert expected[second.id] != expected[third.id]
    _between(monkeypatch, lambda: Memory.objects.filter(id=best.id).delete())
    hits = search.memory_search(actor=alice, query="walnut", min_score=0.0)
    assert [h.memory.id for h in hits] == [second.id, third.id]
    for hit in hits:
        assert (hit.score, hit.sources) == expected[hit.memory.id]
