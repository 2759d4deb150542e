"""Shared pytest fixtures: users, groups and the real local embedder."""

from __future__ import annotations

import itertools

import pytest

_counter = itertools.count()


@pytest.fixture(autouse=True)
def _fresh_search_caches():
    """Each test starts without the per-process search caches of the tests before it."""
    from memories.search import search_caches_clear

    search_caches_clear()
    yield
    search_caches_clear()


@pytest.fixture
def make_user(db, django_user_model):
    def _make(username: str | None = None, **extra):
        n = next(_counter)
        username = username or f"user{n}"
        extra.setdefault("email", f"{username}@example.com")
        return django_user_model.objects.create_user(username=username, password="correct horse battery", **extra)

    return _make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def real_embedder(settings, db):
    """Switch to the real default local model (paraphrase-MiniLM-L3-v2) and its index."""
    from memories.embeddings import get_provider
    from memories.vector_index import ensure_vector_index

    settings.PICARD_EMBEDDINGS = {**settings.PICARD_EMBEDDINGS, "provider": "local", "dimensions": 0}
    provider = get_provider()
    ensure_vector_index(model_name=provider.name, dimensions=provider.dimensions)
    return provider
