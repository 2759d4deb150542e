"""Web hardening: no framing (the consent page above all), security headers, open
redirects refused (login ``next``, ``/authorize`` redirect_uri), CSRF on forms, inert Markdown."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client

from memories.markdown import render_markdown
from oauth.testing import REDIRECT_URI, pkce_pair

pytestmark = pytest.mark.django_db


def _authorize_url(client_id: str, redirect_uri: str = REDIRECT_URI) -> str:
    _, challenge = pkce_pair()
    return "/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "memories:read",
        "state": "s", "code_challenge": challenge, "code_challenge_method": "S256",
    })


def test_consent_page_cannot_be_framed_and_carries_security_headers(client, alice, oauth_app):
    client.force_login(alice)
    page = client.get(_authorize_url(oauth_app.client_id))
    assert page.status_code == 200
    assert page["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
    assert page["X-Content-Type-Options"] == "nosniff"
    assert page["Referrer-Policy"] == "same-origin"
    for url in ("/", "/login", "/register"):
        response = client.get(url)
        assert response["X-Frame-Options"] == "DENY", url
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"], url


@pytest.mark.parametrize("target", [
    "https://evil.example/steal", "//evil.example/", "/\\evil.example", "https:evil.example", "javascript:alert(1)",
    "http://testserver.evil.example/",
])
def test_login_next_never_redirects_off_site(client, alice, target):
    response = client.post("/login", {"username": "alice", "password": "correct horse battery", "next": target})
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/") and not location.startswith("//") and "evil" not in location and "javascript" not in location


def test_authorize_never_redirects_to_an_unregistered_uri(client, alice, oauth_app):
    client.force_login(alice)
    response = client.get(_authorize_url(oauth_app.client_id, redirect_uri="https://evil.example/cb"))
    assert response.status_code in (400, 200)
    assert "evil.example" not in response.get("Location", "")
    decided = client.post("/authorize", {
        "client_id": oauth_app.client_id, "redirect_uri": "https://evil.example/cb", "response_type": "code",
        "scope": "memories:read", "state": "s", "allow": "Authorize",
    })
    assert "evil.example" not in decided.get("Location", "")


@pytest.mark.parametrize("path, data", [
    ("/login", {"username": "alice", "password": "correct horse battery"}),
    ("/register", {"username": "newbie", "password1": "x-Very-long-pass-1", "password2": "x-Very-long-pass-1"}),
    ("/memories/new", {"text": "forged", "permission": "public"}),
    ("/authorize", {"allow": "Authorize"}),
])
def test_forms_refuse_posts_without_a_csrf_token(alice, path, data):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    response = browser.post(path, data)
    assert response.status_code == 403, path


@pytest.mark.parametrize("source", [
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "<img src=x onerror=alert(1)>",
    '<a href="#" onclick="alert(1)">x</a>',
    "![x](javascript:alert(1))",
    "<iframe src=https://evil.example></iframe>",
    "<svg onload=alert(1)>",
    '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
])
def test_markdown_renders_inert(source):
    """Dangerous markup may survive as visible text, never as live tags, handlers or URLs."""
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(str(render_markdown(source)))
    for tag, attrs in found:
        assert tag not in ("script", "iframe", "svg", "object", "embed", "style"), (source, tag)
        for name, value in attrs:
            assert not name.lower().startswith("on"), (source, tag, name)
            if name.lower() in ("href", "src") and value:
                assert not value.strip().lower().startswith(("javascript:", "data:", "vbscript:")), (source, value)
