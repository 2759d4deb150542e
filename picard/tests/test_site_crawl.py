"""Every page a signed-in person can reach answers without a server error.

A crawler follows each link of the site (GET only) from the home page, as a normal user and
as a staff user, over data with every kind of memory (own private / shared / public,
expired, others' shared-with-me and public, tagged, with metadata), a persona, a group and a
connected app. The memory list's filter form is then submitted with its fields in
combination (whose × search × exact words × mode, the others rotating): searching
everyone's memories without other filters once answered 500.
"""

from __future__ import annotations

import html
import itertools
import re
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from memories.models import Memory
from memories.services import memory_create
from personas.services import persona_update

pytestmark = pytest.mark.django_db

LINK = re.compile(r'href="([^"#]*)')
# Not followed: static files, the MCP endpoint, the persona's streamed answer (its own tests),
# downloads, and Django admin's per-object history/delete/password pages (admin's own code).
SKIP = re.compile(r"^/(static/|mcp|personas/[^/]+/ask/stream|admin/.*/(history|delete|password)/|admin/logout)")
MAX_PAGES = 400


@pytest.fixture
def world(alice, bob, carol):
    crew = Group.objects.create(name="crew")
    alice.groups.add(crew)
    memory_create(actor=alice, text="My **private** garden plan", tags=["garden"], metadata={"source": "notes"})
    memory_create(actor=alice, text="A public garden tip: water early", permission="public", tags=["garden", "tips"])
    memory_create(actor=alice, text="Garden party for the crew", permission="shared", shared_with={"users": [str(bob.pk)], "groups": ["crew"]})
    expired = memory_create(actor=alice, text="An old garden reminder", expires_at=timezone.now() + timedelta(hours=1))
    Memory.objects.filter(id=expired.id).update(expires_at=timezone.now() - timedelta(hours=1))
    memory_create(actor=bob, text="Bob's public garden diary", permission="public", tags=["garden"])
    memory_create(actor=bob, text="Bob shares his garden keys with alice", permission="shared", shared_with=["alice"])
    memory_create(actor=carol, text="Carol's garden for the crew", permission="shared", shared_with={"groups": ["crew"]})
    persona_update(actor=bob, display_name="Bob the gardener", bio="Grows tomatoes.", enabled=True)
    persona_update(actor=alice, display_name="Alice", enabled=True)
    return {"alice": alice, "bob": bob}


def _links(body: str) -> list[str]:
    found = []
    for raw in LINK.findall(body):
        url = html.unescape(raw)
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not url.startswith("/") or SKIP.match(parts.path):
            continue
        found.append(url)
    return found


def _crawl(client, start: list[str]) -> dict[str, int]:
    seen: dict[str, int] = {}
    queue = list(start)
    while queue and len(seen) < MAX_PAGES:
        url = queue.pop(0)
        if url in seen:
            continue
        response = client.get(url)
        seen[url] = response.status_code
        assert response.status_code < 500, f"GET {url} answered {response.status_code}"
        if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
            queue += [link for link in _links(response.content.decode()) if link not in seen]
    return seen


def test_every_page_a_user_can_reach_answers(client, world):
    client.force_login(world["alice"])
    seen = _crawl(client, ["/", "/memories/"])
    pages = {urlsplit(url).path for url, status in seen.items() if status == 200}
    # The crawl reached the site's main areas (a broken link map would make this test hollow).
    for expected in ("/memories/", "/memories/new", "/activity", "/personas/", "/personas/me/", "/connected-apps"):
        assert expected in pages, sorted(pages)
    assert sum(1 for path in pages if re.fullmatch(r"/memories/[0-9a-f-]{36}/", path)) >= 4
    assert any(re.fullmatch(r"/personas/[0-9a-f-]{36}/", path) for path in pages)


def test_every_page_a_staff_user_can_reach_answers(client, world, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    seen = _crawl(client, ["/", "/manage/overview", "/admin/"])
    pages = {urlsplit(url).path for url, status in seen.items() if status == 200}
    assert "/manage/overview" in pages and "/admin/memories/memory/" in pages, sorted(pages)


def test_the_memory_filters_in_combination_answer(client, world):
    client.force_login(world["alice"])
    rotating = {
        "permission": ["", "private", "shared", "public"],
        "expired": ["active", "expired", "all"],
        "sort": ["", "newest", "oldest", "updated", "relevance"],
        "tags": ["", "garden"],
    }
    combos = list(itertools.product(["mine", "all"], ["", "garden"], ["", "garden"], ["", "semantic", "keyword"]))
    for i, (whose, q, kw, mode) in enumerate(combos):
        params = {"whose": whose, "q": q, "kw": kw, "mode": mode}
        params.update({name: values[i % len(values)] for name, values in rotating.items()})
        response = client.get("/memories/?" + urlencode(params))
        assert response.status_code == 200, f"{params} answered {response.status_code}"
    # Each filter value on its own, the others at their defaults.
    for name, values in rotating.items():
        for value in values:
            for whose in ("mine", "all"):
                response = client.get("/memories/?" + urlencode({"whose": whose, name: value}))
                assert response.status_code == 200, f"{name}={value}, whose={whose} answered {response.status_code}"
    # What "everything I can see" shows is what alice may see, and nothing else.
    response = client.get("/memories/?" + urlencode({"whose": "all", "q": "garden"}))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Bob&#x27;s public garden diary" in body or "Bob's public garden diary" in body
    assert "Carol" in body and "crew" in body
