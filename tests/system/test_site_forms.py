"""Every form on every page a signed-in person reaches, submitted with hostile values, gets
an answer that is not a server error (a page with the form's errors, a redirect, a 4xx).

The forms are found by crawling the site (tests.system.sitecrawl); each is posted once per
kind of bad value in every field at once: empty, far too long, a NUL character, markup,
numbers out of range, impossible dates, ids that are not UUIDs."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin, urlsplit

import pytest

from tests.system.sitecrawl import crawl

pytestmark = pytest.mark.django_db

FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')
FIELD = re.compile(r"<(input|select|textarea)\b([^>]*)>", re.I)
# Not submitted: signing out (ends the crawl's session) and deleting the account.
SKIP_ACTIONS = re.compile(r"/(logout|account/delete)")
BAD_VALUES = ["", "x" * 20_000, "a\x00b", "<script>alert(1)</script>", "-1", "99999999999999999999",
              "2026-13-45", "not-a-uuid", "../../etc/passwd"]


def _forms(url: str, body: str) -> list[tuple[str, list[str]]]:
    outside: dict[str, list[str]] = {}  # fields placed elsewhere on the page with form="<id>"
    for _, field_attrs in FIELD.findall(body):
        field = dict(ATTR.findall(field_attrs))
        if field.get("form") and field.get("name"):
            outside.setdefault(field["form"], []).append(field["name"])
    forms = []
    for attrs, inner in FORM.findall(body):
        attributes = dict(ATTR.findall(attrs))
        if attributes.get("method", "get").lower() != "post":
            continue
        action = urljoin(url, html.unescape(attributes.get("action") or url))
        if urlsplit(action).netloc or SKIP_ACTIONS.search(action):
            continue
        names = list(outside.get(attributes.get("id", ""), []))
        for _, field_attrs in FIELD.findall(inner):
            field = dict(ATTR.findall(field_attrs))
            if field.get("name") and field["name"] != "csrfmiddlewaretoken":
                names.append(field["name"])
        forms.append((action, names))
    return forms


def _post_hostile_values_to_every_form(client, user, start: list[str], *, skip: re.Pattern | None = None) -> dict:
    client.force_login(user)
    pages = [url for url, status in crawl(client, start).items() if status == 200]
    forms: dict[str, set] = {}
    for url in pages:
        client.force_login(user)
        response = client.get(url)
        if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
            for action, names in _forms(url, response.content.decode()):
                if skip is None or not skip.search(action):
                    forms.setdefault(action, set()).update(names)
    for action, names in sorted(forms.items()):
        for value in BAD_VALUES:
            client.force_login(user)
            response = client.post(action, {name: value for name in names})
            assert response.status_code < 500, f"POST {action} with {value[:30]!r} in {sorted(names)} answered {response.status_code}"
    return forms


def test_every_form_refuses_hostile_values_without_a_server_error(client, site_world):
    forms = _post_hostile_values_to_every_form(client, site_world["alice"], ["/", "/memories/"])
    for expected in ("/memories/new", "/memories/bulk", "/memories/import", "/personas/me/", "/account/settings"):
        assert expected in forms, sorted(forms)  # the crawl found the site's forms
    assert {"ids", "action"} <= forms["/memories/bulk"]  # fields placed outside their form count too


def test_every_staff_form_refuses_hostile_values_without_a_server_error(client, site_world, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    forms = _post_hostile_values_to_every_form(client, admin, ["/manage/overview"], skip=re.compile(r"^/admin/"))
    assert "/manage/clients" in forms, sorted(forms)
