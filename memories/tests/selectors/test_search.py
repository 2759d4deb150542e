"""Semantic search (mode="semantic"): ordering, scores, limits, filters, model isolation and
the index strategy. Hybrid and keyword modes are covered in memories/tests/ (issue 8) and by
the visibility tests, which run every mode."""

import math
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from memories import search, selectors, services
from memories.embeddings import get_provider
from memories.models import Activity, Memory
from memories.selectors import MemoryFilters
from picard.exceptions import PayloadTooLarge, ValidationError

pytestmark = pytest.mark.django_db


def test_search_orders_by_similarity_within_visibility(alice, bob):
    services.memory_create(actor=alice, text="I go hiking in the alps every summer")
    services.memory_create(actor=alice, text="my favourite food is ramen")
    hidden = services.memory_create(actor=bob, text="bob goes hiking in the alps too")
    public = services.memory_create(actor=bob, text="public hiking alps tips", permission="public")
    hits = search.memory_search(mode="semantic", actor=alice, query="hiking in the alps", limit=10, filters=MemoryFilters(scope="all"), min_score=0.0)
    ids = [h.memory.id for h in hits]
    assert hidden.id not in ids
    assert public.id in ids
    assert hits[0].memory.text.startswith("I go hiking")
    assert hits[0].score >= hits[-1].score
    assert all(0.0 <= h.score <= 1.0 for h in hits)


def test_semantic_scores_are_calibrated_and_sources_are_the_cosines(alice, bob):
    exact = services.memory_create(actor=alice, text="red apples and green pears")
    half = services.memory_create(actor=alice, text="red apples")
    services.memory_create(actor=bob, text="red apples and green pears", permission="public")
    services.memory_create(actor=alice, text="quantum chromodynamics lecture")
    hits = search.memory_search(mode="semantic", actor=alice, query="red apples and green pears", limit=10, filters=MemoryFilters(scope="all"), min_score=0.0)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert hits[0].sources["semantic"] == pytest.approx(1.0, abs=1e-5)
    assert hits[0].score == pytest.approx(search.calibrated_score(channels={"semantic"}, cosine=1.0, bm25=None, coverage=None, unmatched=None), abs=1e-5)
    assert {hits[0].memory.id, hits[1].memory.id} >= {exact.id}
    by_id = {h.memory.id: h for h in hits}
    provider = get_provider()
    q = provider.embed_query("red apples and green pears")
    d = provider.embed_documents(["red apples"])[0]
    assert by_id[half.id].sources["semantic"] == pytest.approx(sum(a * b for a, b in zip(q, d, strict=False)), abs=1e-5)
    assert set(by_id[half.id].sources) == {"semantic"}


def test_limit_is_top_n_across_own_shared_and_public(alice, bob, carol):
    for i in range(4):
        services.memory_create(actor=alice, text=f"garden tomato {i}")
        services.memory_create(actor=bob, text=f"garden tomato public {i}", permission="public")
        services.memory_create(actor=carol, text=f"garden tomato shared {i}", permission="shared", shared_with=["alice"])
    hits = search.memory_search(mode="semantic", actor=alice, query="garden tomato", limit=5, filters=MemoryFilters(scope="all"), min_score=0.0)
    assert len(hits) == 5
    everything = search.memory_search(mode="semantic", actor=alice, query="garden tomato", limit=50, filters=MemoryFilters(scope="all"), min_score=0.0)
    assert len(everything) == 12
    assert [h.memory.id for h in hits] == [h.memory.id for h in everything[:5]]
    assert {h.memory.owner_id for h in everything} == {alice.pk, bob.pk, carol.pk}


def test_filters_apply_to_search(alice, bob):
    work = services.memory_create(actor=alice, text="project deadline friday", tags=["work"])
    services.memory_create(actor=alice, text="project deadline for the garden shed", tags=["home"])
    theirs = services.memory_create(actor=bob, text="project deadline public", permission="public", tags=["work"])
    hits = search.memory_search(mode="semantic", actor=alice, query="project deadline", filters=MemoryFilters(tags=("work",), scope="all"), min_score=0.0)
    assert {h.memory.id for h in hits} == {work.id, theirs.id}
    hits = search.memory_search(mode="semantic", actor=alice, query="project deadline", filters=MemoryFilters(owner_id=bob.pk), min_score=0.0)
    assert [h.memory.id for h in hits] == [theirs.id]
    hits = search.memory_search(mode="semantic", actor=alice, query="project deadline", filters=MemoryFilters(permission="private"), min_score=0.0)
    assert {h.memory.text for h in hits} == {"project deadline friday", "project deadline for the garden shed"}


def test_search_only_compares_vectors_of_the_same_model(alice):
    same = services.memory_create(actor=alice, text="the lighthouse keeper")
    other_model = services.memory_create(
        actor=alice, text="the lighthouse keeper (other model)", permission="public",
        embedding=([1.0] + [0.0] * 63, "other-model:64"),
    )
    pending = services.memory_create(actor=alice, text="the lighthouse keeper (pending)", embedding=(None, None))
    ids = [h.memory.id for h in search.memory_search(mode="semantic", actor=alice, query="lighthouse keeper", limit=10)]
    assert ids == [same.id]
    assert other_model.id not in ids and pending.id not in ids
    # Both still show up in lists: nothing is lost while a vector is pending or of another model.
    listed = {m.id for m in selectors.memory_list(actor=alice).items}
    assert {same.id, other_model.id, pending.id} <= listed


def test_switching_models_reembeds_and_search_follows(alice, settings):
    memory = services.memory_create(actor=alice, text="violin lessons on tuesday", permission="public")
    settings.PICARD_EMBEDDINGS = {**settings.PICARD_EMBEDDINGS, "provider": "hash", "dimensions": 128}
    assert search.memory_search(mode="semantic", actor=alice, query="violin lessons") == []
    assert services.memory_embed_pending() == 1
    memory.refresh_from_db()
    assert memory.embedding_model == "hash:128" and len(memory.embedding) == 128
    assert [h.memory.id for h in search.memory_search(mode="semantic", actor=alice, query="violin lessons")] == [memory.id]


def _search_sql(actor, query, **kw) -> tuple[list, str]:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        hits = search.memory_search(mode="semantic", actor=actor, query=query, **kw)
    return hits, "\n".join(q["sql"] for q in ctx.captured_queries)


def test_filtered_public_search_is_not_starved(alice, make_user):
    """Many public rows of other users, few matching a filter: all of those few come back."""
    owners = [make_user() for _ in range(3)]
    for i in range(60):
        services.memory_create(actor=owners[i % 3], text=f"weather report number {i}", permission="public",
                               tags=["rare"] if i % 20 == 0 else ["common"])
    hits, sql = _search_sql(alice, "weather report", limit=10, filters=MemoryFilters(tags=("rare",), scope="all"), min_score=0.0)
    assert len(hits) == 3 and all("rare" in h.memory.tags for h in hits)
    assert "::vector(" not in sql  # few public rows: ranked exactly
    assert len(search.memory_search(mode="semantic", actor=alice, query="weather report", limit=50, filters=MemoryFilters(scope="all"), min_score=0.0)) == 50


def _analyze():
    """What autovacuum does: update the index's row count. Autovacuum itself is paused for
    the table (until the test's transaction rolls back): it sees only committed rows and
    could reset the count in between."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks before ALTER TABLE
        cursor.execute("ALTER TABLE memories_memory SET (autovacuum_enabled = false)")
        cursor.execute("ANALYZE memories_memory")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def test_small_public_sets_are_ranked_exactly_and_large_ones_through_the_index(alice, bob, settings):
    services.memory_create(actor=bob, text="strategy switch", permission="public")
    _analyze()
    settings.PICARD_SEARCH_EXACT_MAX_ROWS = 1
    _, sql = _search_sql(alice, "strategy switch", filters=MemoryFilters(scope="all"))
    assert "::vector(256)" not in sql
    services.memory_create(actor=bob, text="strategy switch again", permission="public")
    _analyze()
    search.search_caches_clear()  # what the end of the one-minute cache period does
    _, sql = _search_sql(alice, "strategy switch", filters=MemoryFilters(scope="all"))
    # Results through the index are checked with the real model below: the lexical test
    # embedder's sparse, mostly orthogonal vectors make a poor HNSW graph (rows without
    # incoming links are unreachable), which is exactly why small sets are ranked exactly.
    assert "::vector(256)" in sql
    # One owner's public memories are always ranked exactly (the btree on owner narrows them).
    _, sql = _search_sql(alice, "strategy switch", filters=MemoryFilters(owner_id=bob.pk))
    assert "::vector(256)" not in sql
    # A model without an index is always ranked exactly.
    settings.PICARD_EMBEDDINGS = {**settings.PICARD_EMBEDDINGS, "dimensions": 64}
    assert search.public_index_pays_off(model_name="hash:64") is False


@pytest.mark.real_embedder
def test_hnsw_public_search_with_a_selective_filter_is_not_starved(alice, make_user, settings, real_embedder):
    settings.PICARD_SEARCH_EXACT_MAX_ROWS = 0  # always through the index
    owners = [make_user() for _ in range(4)]
    topics = ["cooking pasta", "running a marathon", "learning the violin", "repairing bicycles", "growing tomatoes"]
    texts = [(owners[i % 4], f"Notes about {topics[i % 5]}, entry {i}", ["rare"] if i in (7, 41, 77) else ["common"]) for i in range(80)]
    vectors = real_embedder.embed_documents([t for _, t, _ in texts])
    for (owner, text, tags), vector in zip(texts, vectors, strict=False):
        services.memory_create(actor=owner, text=text, permission="public", tags=tags, embedding=(vector, real_embedder.name))
    hits, sql = _search_sql(alice, "how do I cook spaghetti?", limit=10, filters=MemoryFilters(tags=("rare",), scope="all"), min_score=0.0)
    assert "::vector(384)" in sql
    assert sorted(h.memory.text for h in hits) == sorted(t for _, t, tags in texts if tags == ["rare"])
    hits = search.memory_search(mode="semantic", actor=alice, query="how do I cook spaghetti?", limit=5, filters=MemoryFilters(scope="all"), min_score=0.0)
    assert len(hits) == 5 and all("cooking pasta" in h.memory.text for h in hits)


def test_public_part_plan_uses_the_vector_index_and_owner_part_does_not(alice, bob):
    provider = get_provider()
    services.memory_create(actor=bob, text="plan check", permission="public")
    vector = provider.embed_query("plan check")
    parts = selectors.visible_parts(actor=alice, filters=MemoryFilters(scope="all"))
    from django.db.models.functions import Cast
    from pgvector.django import CosineDistance, VectorField

    public = parts["public"].filter(embedding_model=provider.name).annotate(
        d=CosineDistance(Cast("embedding", VectorField(dimensions=provider.dimensions)), vector)
    ).order_by("d")[:10]
    own = parts["own"].filter(embedding_model=provider.name).annotate(d=CosineDistance("embedding", vector)).order_by("d")[:10]
    with connection.cursor() as cursor:
        # Make every alternative to an ordered index scan look expensive, so the plan shows
        # which index *can* serve the ORDER BY, whatever the table's statistics are.
        cursor.execute("SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off")
        try:
            public_plan = public.explain()
            own_plan = own.explain()
        finally:
            cursor.execute("RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_sort")
    assert "memory_hnsw_" in public_plan
    assert "memory_hnsw_" not in own_plan


def test_search_validates_query_and_limit(alice, settings):
    with pytest.raises(ValidationError, match="query"):
        search.memory_search(mode="semantic", actor=alice, query="   ")
    with pytest.raises(ValidationError, match="query"):
        search.memory_search(mode="semantic", actor=alice, query=None)
    with pytest.raises(PayloadTooLarge, match="query"):
        search.memory_search(mode="semantic", actor=alice, query="x" * (settings.PICARD_MEMORY_MAX_TEXT + 1))
    for bad in (0, settings.PICARD_SEARCH_MAX_LIMIT + 1, "10"):
        with pytest.raises(ValidationError, match="limit"):
            search.memory_search(mode="semantic", actor=alice, query="ok", limit=bad)


def test_search_is_recorded_without_text_by_the_query_service_only(alice):
    memory = services.memory_create(actor=alice, text="the secret recipe uses cardamom")
    search.memory_search(mode="semantic", actor=alice, query="secret recipe cardamom")
    assert not Activity.objects.filter(action="memory.search").exists()  # the read writes nothing
    services.memory_query(mode="semantic", actor=alice, query="secret recipe cardamom")
    activity = Activity.objects.filter(action="memory.search").get()
    assert activity.memory_ids == [memory.id]
    assert "cardamom" not in str(activity.details)


def test_expired_memories_are_never_search_results(alice):
    memory = services.memory_create(actor=alice, text="expiring coupon code", expires_at=timezone.now() + timedelta(hours=1))
    Memory.objects.filter(id=memory.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert search.memory_search(mode="semantic", actor=alice, query="expiring coupon code") == []


@pytest.mark.real_embedder
def test_real_local_model_finds_paraphrase(alice, real_embedder):
    services.memory_create(actor=alice, text="I adopted a golden retriever puppy named Max")
    services.memory_create(actor=alice, text="The quarterly tax filing is due in April")
    services.memory_create(actor=alice, text="My sister lives in Lisbon")
    hits = search.memory_search(mode="semantic", actor=alice, query="what kind of dog do I have?", limit=3, min_score=0.0)
    assert hits[0].memory.text.startswith("I adopted a golden retriever")
    assert hits[0].memory.embedding_model == "local:paraphrase-MiniLM-L3-v2"
    assert hits[0].score > hits[1].score


@pytest.mark.real_embedder
def test_real_local_model_public_search_across_users(alice, bob, real_embedder):
    services.memory_create(actor=bob, text="Our team meets every Monday at nine for standup", permission="public")
    services.memory_create(actor=bob, text="I am allergic to peanuts", permission="public")
    services.memory_create(actor=bob, text="Bob keeps his diary private")
    hits = search.memory_search(mode="semantic", actor=alice, query="when is the weekly meeting?", limit=2, filters=MemoryFilters(scope="all"), min_score=0.0)
    assert hits[0].memory.text.startswith("Our team meets")
    assert len(hits) == 2
    vec = hits[0].memory.embedding
    assert len(vec) == 384 and math.isclose(sum(float(v) * float(v) for v in vec), 1.0, rel_tol=1e-4)
