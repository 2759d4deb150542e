"""Every page a signed-in person can reach answers without a server error.

A crawler (tests.system.sitecrawl) follows each link of the site (GET only) from the home
page, as a normal user and as a staff user, over data with every kind of memory (own
private / shared / public, expired, others' shared-with-me and public, tagged, with
metadata), personas and a group. The memory list's filter form is then submitted with its
fields in combination (whose × search × exact words × mode, the others rotating): searching
everyone's memories without other filters once answered 500.
"""

from __future__ import annotations

import itertools
import re
from urllib.parse import urlencode, urlsplit

import pytest

from tests.system.sitecrawl import crawl

pytestmark = pytest.mark.django_db


def test_every_page_a_user_can_reach_answers(client, site_world):
    client.force_login(site_world["alice"])
    seen = crawl(client, ["/", "/memories/"])
    pages = {urlsplit(url).path for url, status in seen.items() if status == 200}
    # The crawl reached the site's main areas (a broken link map would make this test hollow).
    for expected in ("/memories/", "/memories/new", "/activity", "/personas/", "/personas/me/", "/connected-apps"):
        assert expected in pages, sorted(pages)
    assert sum(1 for path in pages if re.fullmatch(r"/memories/[0-9a-f-]{36}/", path)) >= 4
    assert any(re.fullmatch(r"/personas/[0-9a-f-]{36}/", path) for path in pages)


def test_every_page_a_staff_user_can_reach_answers(client, site_world, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    seen = crawl(client, ["/", "/manage/overview", "/admin/"])
    pages = {urlsplit(url).path for url, status in seen.items() if status == 200}
    assert "/manage/overview" in pages and "/admin/memories/memory/" in pages, sorted(pages)


def test_the_memory_filters_in_combination_answer(client, site_world):
    client.force_login(site_world["alice"])
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
    response = client.get("/memories/?" + urlencode({"whose": "all", "kw": "garden"}))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Bob&#x27;s public garden diary" in body or "Bob's public garden diary" in body
    assert "Carol" in body and "crew" in body
