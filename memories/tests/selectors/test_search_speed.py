"""Search stays cheap as the store grows (issue 9, load): a bounded number of SQL queries per
``query_memory`` call, and cached collection statistics for others' public memories that
rank exactly like counting them with every query."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mcp_bridge.tools import TOOLS
from memories import keywords, search, services
from memories.models import MemoryShare
from memories.selectors import MemoryFilters
from picard.context import call_context

pytestmark = pytest.mark.django_db
EVERYTHING = MemoryFilters(scope="all")  # these tests search others' public memories

TEXTS = [
    "my sister lives in Lisbon and loves sailing",
    "sailing lessons every Saturday in the harbour",
    "the harbour cafe makes the best espresso",
    "Lisbon trip planned for May with my sister",
    "espresso after lunch, never after 3 pm",
    "book club reads a novel about lighthouse keepers",
    "my brother prefers green tea to espresso",
    "lighthouse tour in Porto next summer",
]


@pytest.fixture
def public_corpus(alice, bob, carol):
    for i, text in enumerate(TEXTS):
        services.memory_create(actor=bob if i % 2 else carol, text=text, permission="public")
    services.memory_create(actor=bob, text="my private note about sailing", permission="private")
    return alice


@pytest.fixture
def cached_stats(settings):
    """The cached-statistics path for any collection size, starting from an empty cache."""
    settings.PICARD_KEYWORD_STATS_CACHE_MIN_ROWS = 0
    settings.PICARD_KEYWORD_STATS_CACHE_SECONDS = 60
    search.keyword.public_stats_clear()
    yield
    search.keyword.public_stats_clear()


def _keyword(actor, query: str):
    return [(hit.memory.id, hit.score) for hit in search.memory_search(actor=actor, query=query, mode="keyword", limit=20, filters=EVERYTHING, min_score=0.0)]


@pytest.mark.parametrize("query", ["sister in Lisbon", "espresso", "sailing harbour", "lighthouse novel"])
def test_cached_public_statistics_rank_like_counting_them_per_query(public_corpus, settings, query):
    settings.PICARD_KEYWORD_STATS_CACHE_MIN_ROWS = 10**9  # count with every query
    exact = _keyword(public_corpus, query)
    settings.PICARD_KEYWORD_STATS_CACHE_MIN_ROWS = 0
    search.keyword.public_stats_clear()
    try:
        cached = _keyword(public_corpus, query)
    finally:
        search.keyword.public_stats_clear()
    assert exact, "the query must find something"
    assert [memory_id for memory_id, _ in cached] == [memory_id for memory_id, _ in exact]
    assert [score for _, score in cached] == pytest.approx([score for _, score in exact], rel=1e-6)


def test_a_new_public_memory_is_found_at_once_while_statistics_are_cached(public_corpus, bob, cached_stats):
    assert _keyword(public_corpus, "espresso")
    fresh = services.memory_create(actor=bob, text="a xylophone concert on Friday", permission="public")
    assert [memory_id for memory_id, _ in _keyword(public_corpus, "xylophone")] == [fresh.id]
    private = services.memory_create(actor=bob, text="a secret xylophone plan", permission="private")
    assert private.id not in [memory_id for memory_id, _ in _keyword(public_corpus, "xylophone")]


def test_public_statistics_are_counted_once_then_reused(public_corpus, bob, cached_stats):
    key_id = keywords.key_id()
    first = search.public_keyword_stats(key_id=key_id)
    assert first is not None and first[0] == len(TEXTS)
    services.memory_create(actor=bob, text="one more public memory", permission="public")
    with CaptureQueriesContext(connection) as queries:
        assert search.public_keyword_stats(key_id=key_id) == first
    assert len(queries) == 0
    search.keyword.public_stats_clear()  # what the end of the cache period does
    assert search.public_keyword_stats(key_id=key_id)[0] == len(TEXTS) + 1


def test_small_public_collections_are_counted_with_every_query(public_corpus, settings):
    settings.PICARD_KEYWORD_STATS_CACHE_MIN_ROWS = 2_000
    search.keyword.public_stats_clear()
    assert search.public_keyword_stats(key_id=keywords.key_id()) is None
    assert search.keyword._public_stats == {}


def test_filters_on_public_memories_still_rank_within_the_filtered_memories(public_corpus, bob, cached_stats):
    tagged = services.memory_create(actor=bob, text="espresso tasting notes", permission="public", tags=["coffee"])
    hits = search.memory_search(actor=public_corpus, query="espresso", mode="keyword", filters=MemoryFilters(tags=("coffee",), scope="all"), min_score=0.0)
    assert [hit.memory.id for hit in hits] == [tagged.id]


def test_memories_shared_through_a_group_are_found(public_corpus, bob):
    from django.contrib.auth.models import Group

    team = Group.objects.create(name="team")
    public_corpus.groups.add(team)
    memory = services.memory_create(actor=bob, text="team offsite in Porto", permission="shared",
                                    shared_with={"groups": ["team"]})
    assert MemoryShare.objects.filter(memory=memory, group=team).exists()
    assert memory.id in [hit.memory.id for hit in search.memory_search(actor=public_corpus, query="offsite Porto")]
    public_corpus.groups.remove(team)
    assert memory.id not in [hit.memory.id for hit in search.memory_search(actor=public_corpus, query="offsite Porto")]


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
def test_query_memory_runs_a_bounded_number_of_sql_queries(public_corpus, bob, cached_stats, mode):
    """Own, shared and public parts, both channels, loading the hits and the activity row:
    a fixed number of queries, however many memories match (no query per hit)."""
    for i in range(30):
        services.memory_create(actor=bob, text=f"espresso note {i}", permission="public")
        services.memory_create(actor=public_corpus, text=f"my espresso note {i}")
    tool = TOOLS["query_memory"]
    data = tool.input.model_validate({"query": "espresso note", "mode": mode, "limit": 20, "scope": "all", "min_score": 0})
    with call_context(surface="api"):
        tool.handler(public_corpus, data)  # warms the statistics cache
        with CaptureQueriesContext(connection) as queries:
            result = tool.handler(public_corpus, data)
    assert len(result["memories"]) == 20
    # The user's groups, ONE ranking statement (every channel, every part), the hits, the
    # activity row (the embedding state and the index choice are cached per process).
    limits = {"keyword": 4, "semantic": 4, "hybrid": 4}
    assert len(queries) <= limits[mode], "\n".join(q["sql"][:120] for q in queries)


def _keyword_ids(actor, query: str) -> list:
    return [memory_id for memory_id, _ in _keyword(actor, query)]


def test_a_permission_change_reaches_the_public_keyword_index_at_once(public_corpus, bob, cached_stats):
    """Others' public memories are searched from the postings' own copy of the permission
    (kept by a database trigger): making a memory private hides it from the very next search,
    making it public again shows it."""
    memory = services.memory_create(actor=bob, text="a zeppelin ride over the lake", permission="public")
    assert _keyword_ids(public_corpus, "zeppelin") == [memory.id]
    services.memory_set_permission(actor=bob, memory_id=memory.id, permission="private")
    assert _keyword_ids(public_corpus, "zeppelin") == []
    services.memory_set_permission(actor=bob, memory_id=memory.id, permission="public")
    assert _keyword_ids(public_corpus, "zeppelin") == [memory.id]


def test_expiry_reaches_the_public_keyword_index_whatever_writes_it(public_corpus, bob, cached_stats):
    """Expiry set through the service, or by a bare UPDATE that bypasses it (the admin, a SQL
    console), hides the memory; clearing it shows the memory again."""
    from datetime import timedelta

    from django.utils import timezone

    from memories.models import Memory

    memory = services.memory_create(actor=bob, text="a zeppelin ride over the lake", permission="public")
    services.memory_update(actor=bob, memory_id=memory.id, expires_at=(timezone.now() + timedelta(seconds=1)).isoformat())
    Memory.objects.filter(pk=memory.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert _keyword_ids(public_corpus, "zeppelin") == []
    Memory.objects.filter(pk=memory.pk).update(expires_at=None)
    assert _keyword_ids(public_corpus, "zeppelin") == [memory.id]
    Memory.objects.filter(pk=memory.pk).update(permission="shared")
    assert _keyword_ids(public_corpus, "zeppelin") == []


def test_an_edited_public_memory_is_found_by_its_new_words_only(public_corpus, bob, cached_stats):
    memory = services.memory_create(actor=bob, text="a zeppelin ride over the lake", permission="public")
    services.memory_update(actor=bob, memory_id=memory.id, text="a balloon ride over the lake")
    assert _keyword_ids(public_corpus, "zeppelin") == []
    assert _keyword_ids(public_corpus, "balloon") == [memory.id]


def test_the_askers_own_public_memories_are_ranked_once(public_corpus, cached_stats):
    own = services.memory_create(actor=public_corpus, text="my zeppelin model kit", permission="public")
    hits = search.memory_search(actor=public_corpus, query="zeppelin", mode="keyword", filters=EVERYTHING, min_score=0.0)
    assert [hit.memory.id for hit in hits] == [own.id]


def test_hits_are_loaded_like_the_orm_would_with_their_owners_and_without_vectors(public_corpus, bob):
    """Search loads its hits with one hand-written statement (picard.rowload): the same field
    values as the ORM, the owner already attached, the vector columns left deferred."""
    from memories.models import Memory

    tagged = services.memory_create(actor=bob, text="espresso tasting notes", permission="public", tags=["coffee"],
                                    metadata={"place": "Porto", "rating": 4})
    [hit] = [h for h in search.memory_search(actor=public_corpus, query="espresso tasting", mode="keyword", filters=EVERYTHING, min_score=0.0) if h.memory.id == tagged.id]
    expected = Memory.objects.get(pk=tagged.pk)
    for field in Memory._meta.concrete_fields:
        if field.name not in ("embedding", "embedding_next"):
            assert getattr(hit.memory, field.attname) == getattr(expected, field.attname), field.name
    assert hit.memory.text == "espresso tasting notes"
    assert {"embedding", "embedding_next"} <= hit.memory.get_deferred_fields()
    with CaptureQueriesContext(connection) as queries:
        assert hit.memory.owner.username == bob.username
    assert len(queries) == 0
