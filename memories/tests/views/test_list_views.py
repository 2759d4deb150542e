"""The memory list's views (Mine / Shared with me / Everything I can see), its search's
honest "nothing found", and the word filter served from the keyword index."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from memories import crypto, services

pytestmark = pytest.mark.django_db


def test_shared_with_me_is_a_view_of_its_own(client, alice, bob):
    services.memory_create(actor=bob, text="Bob's door code for the allotment", permission="shared", shared_with=["alice"])
    services.memory_create(actor=bob, text="Bob's public garden tips", permission="public")
    services.memory_create(actor=alice, text="Alice's own seed list")
    client.force_login(alice)
    shared = client.get("/memories/?whose=shared").content.decode()
    assert "<h1>Shared with me</h1>" in shared
    assert "door code" in shared and "garden tips" not in shared and "seed list" not in shared
    assert "@bob" in shared  # whose it is, on the card
    assert "data-select-all" not in shared  # nothing there is the viewer's to change
    mine = client.get("/memories/").content.decode()
    assert "<h1>Your memories</h1>" in mine and "seed list" in mine and "door code" not in mine
    assert "data-select-all" in mine


def test_everything_view_says_so_and_offers_bulk_actions_only_for_own_memories(client, alice, bob):
    services.memory_create(actor=bob, text="Bob's public garden tips", permission="public")
    client.force_login(alice)
    html = client.get("/memories/?whose=all").content.decode()
    assert "<h1>Everything you can see</h1>" in html and "Your memories" not in html
    assert "garden tips" in html and "data-select-all" not in html
    services.memory_create(actor=alice, text="Alice's own seed list")
    html = client.get("/memories/?whose=all").content.decode()
    assert "data-select-all" in html


def test_nobody_shared_anything_yet_is_said_plainly(client, alice):
    client.force_login(alice)
    html = client.get("/memories/?whose=shared").content.decode()
    assert "Nothing shared with you yet" in html and "No memories yet" not in html


def test_a_search_nothing_answers_says_no_memory_matches(client, alice, bob):
    for text in ("I drink Darjeeling tea every morning", "My sister lives in Lyon", "The cello lesson is on Sunday"):
        services.memory_create(actor=alice, text=text)
    services.memory_create(actor=bob, text="Bob's public garden tips", permission="public")
    client.force_login(alice)
    for mode in ("", "semantic", "keyword"):
        html = client.get(f"/memories/?q=zzqx+unrelated+gibberish&whose=all&mode={mode}").content.decode()
        assert "No memory matches “zzqx unrelated gibberish”" in html, mode
        assert re.search(r"\d+ match", html) is None, mode
        assert "relevance -" not in html and 'class="score"' not in html, mode
    html = client.get("/memories/?q=Darjeeling+tea&mode=semantic").content.decode()
    assert "Darjeeling" in html and "relevance -" not in html


def test_word_filter_is_answered_by_the_keyword_index_without_decrypting_every_memory(client, alice, monkeypatch):
    """Issue 18, finding 11: ``kw=`` used to decrypt up to 2,000 memories per request. Now the
    keyword index picks the rows and only the page shown is decrypted."""
    for i in range(120):
        services.memory_create(actor=alice, text=f"Shopping list number {i}: oat milk, bread, apples")
    wanted = services.memory_create(actor=alice, text="The locksmith is called Wojciechowski", tags=["house"])
    tagged = services.memory_create(actor=alice, text="Call about the boiler", tags=["wojciechowski"])
    decrypted = []
    real_decrypt = crypto.decrypt
    monkeypatch.setattr(crypto, "decrypt", lambda token: decrypted.append(1) or real_decrypt(token))
    client.force_login(alice)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/memories/?kw=Wojciechowski")
    html = response.content.decode()
    assert response.status_code == 200
    assert "locksmith" in html and "boiler" in html and "Shopping list" not in html
    assert html.count('class="card memory"') == 2  # by the index (text) and by its tag
    assert f"memory-{wanted.id}" in html and f"memory-{tagged.id}" in html
    assert len(decrypted) <= 2  # only the memories on the page
    assert any("memories_keywordposting" in q["sql"] for q in queries.captured_queries)
    stemmed = client.get("/memories/?kw=apple").content.decode()  # stemmed like keyword search
    assert stemmed.count("Shopping list") == 20 and "Next page" in stemmed
