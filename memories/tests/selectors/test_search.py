import pytest

from memories import selectors, services

pytestmark = pytest.mark.django_db


def test_search_orders_by_similarity_within_visibility(alice, bob):
    services.memory_create(actor=alice, text="I go hiking in the alps every summer")
    services.memory_create(actor=alice, text="my favourite food is ramen")
    hidden = services.memory_create(actor=bob, text="bob goes hiking in the alps too")
    public = services.memory_create(actor=bob, text="public hiking alps tips", permission="public")
    hits = selectors.memory_search(actor=alice, query="hiking in the alps", limit=10)
    ids = [h.memory.id for h in hits]
    assert hidden.id not in ids
    assert public.id in ids
    assert hits[0].memory.text.startswith("I go hiking")
    assert hits[0].score >= hits[-1].score
    assert all(-1.0 <= h.score <= 1.0 for h in hits)


def test_list_pagination_with_cursor(alice):
    for i in range(5):
        services.memory_create(actor=alice, text=f"memory {i}")
    first = selectors.memory_list(actor=alice, limit=2)
    second = selectors.memory_list(actor=alice, limit=2, cursor=first.next_cursor)
    third = selectors.memory_list(actor=alice, limit=2, cursor=second.next_cursor)
    texts = [m.text for page in (first, second, third) for m in page.items]
    assert texts == [f"memory {i}" for i in range(4, -1, -1)]
    assert third.next_cursor is None


@pytest.mark.real_embedder
def test_real_local_model_finds_paraphrase(alice, real_embedder):
    services.memory_create(actor=alice, text="I adopted a golden retriever puppy named Max")
    services.memory_create(actor=alice, text="The quarterly tax filing is due in April")
    services.memory_create(actor=alice, text="My sister lives in Lisbon")
    hits = selectors.memory_search(actor=alice, query="what kind of dog do I have?", limit=3)
    assert hits[0].memory.text.startswith("I adopted a golden retriever")
    assert hits[0].memory.embedding_model == "local:paraphrase-MiniLM-L3-v2"
