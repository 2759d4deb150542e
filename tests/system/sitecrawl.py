"""A crawler for the site's pages and the data it crawls over (test_site_crawl, test_site_forms)."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import urlsplit

from django.contrib.auth.models import Group
from django.utils import timezone

from memories.models import Memory
from memories.services import memory_create
from personas.services import persona_update

LINK = re.compile(r'href="([^"#]*)')
# Not followed: static files, the MCP endpoint, the persona's streamed answer (its own tests),
# and Django admin's per-object history/delete/password pages (admin's own code).
SKIP = re.compile(r"^/(static/|mcp|personas/[^/]+/ask/stream|admin/.*/(history|delete|password)/|admin/logout)")
MAX_PAGES = 400


def _links(body: str) -> list[str]:
    found = []
    for raw in LINK.findall(body):
        url = html.unescape(raw)
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not url.startswith("/") or SKIP.match(parts.path):
            continue
        found.append(url)
    return found


def crawl(client, start: list[str]) -> dict[str, int]:
    """GET every page reachable from ``start`` by the site's own links (at most MAX_PAGES),
    asserting none answers a server error; returns each URL's status."""
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


def build_varied_site(alice, bob, carol) -> dict:
    """Memories of every kind for alice (own private / public / shared with a user and a group,
    expired, tagged, with metadata), others' public and shared-with-alice memories, a group,
    and two personas."""
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
