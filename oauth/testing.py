"""Test helpers: drive the real OAuth flow over HTTP against a live server.

``OAuthBrowser`` signs a person in through ``/login`` and walks ``/authorize`` (consent
page, Allow/Deny) the way a browser would; ``pkce_pair`` makes an S256 verifier/challenge.
Fixtures: ``oauth_app`` (a registered confidential client), ``public_app``, ``token_for``
(the whole authorization-code + PKCE flow → token response).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from oauth.services import client_register

REDIRECT_URI = "http://127.0.0.1:9/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def hidden_fields(html: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]*)"', tag)
        if not name or 'type="hidden"' not in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        fields[unescape(name.group(1))] = unescape(value.group(1)) if value else ""
    return fields


@dataclass
class OAuthBrowser:
    """A person's browser session on the live server."""

    base_url: str
    client: httpx.Client = field(init=False)

    def __post_init__(self):
        self.client = httpx.Client(base_url=self.base_url, follow_redirects=False, timeout=30)

    def close(self) -> None:
        self.client.close()

    def login(self, username: str, password: str = "correct horse battery") -> None:
        page = self.client.get("/login")
        assert page.status_code == 200, page.text
        form = hidden_fields(page.text)
        response = self.client.post(
            "/login", data={**form, "username": username, "password": password, "next": "/"},
        )
        assert response.status_code == 302, f"login failed: {response.status_code}"

    def authorize_url(self, *, client_id: str, challenge: str | None, method: str = "S256", scope: str = "memories:read memories:write",
                      redirect_uri: str = REDIRECT_URI, state: str = "xyz", resource: str | None = None) -> str:
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope, "state": state}
        if challenge is not None:
            params["code_challenge"] = challenge
            params["code_challenge_method"] = method
        if resource:
            params["resource"] = resource
        return "/authorize?" + urlencode(params)

    def consent_page(self, url: str) -> httpx.Response:
        return self.client.get(url)

    def decide(self, page: httpx.Response, *, allow: bool = True) -> httpx.Response:
        data = hidden_fields(page.text)
        if allow:
            data["allow"] = "Authorize"
        return self.client.post("/authorize", data=data, headers={"Referer": self.base_url + "/authorize"})

    def get_code(self, **kwargs) -> dict:
        """Authorize and return the redirect's query parameters (code, state, iss)."""
        page = self.consent_page(self.authorize_url(**kwargs))
        assert page.status_code == 200, page.text[:500]
        response = self.decide(page, allow=True)
        assert response.status_code == 302, response.text[:500]
        location = response.headers["location"]
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()} | {"_location": location}


def token_request(base_url: str, data: dict, auth: tuple[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{base_url}/token", data=data, auth=auth, timeout=30)


def exchange_code(base_url: str, *, app: AppCredentials, code: str, verifier: str | None, redirect_uri: str = REDIRECT_URI, **extra) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "client_id": app.client_id, **extra}
    if verifier is not None:
        data["code_verifier"] = verifier
    return token_request(base_url, data, auth=(app.client_id, app.client_secret) if app.client_secret else None)


@dataclass
class AppCredentials:
    client_id: str
    client_secret: str | None
    application: object = None


@pytest.fixture
def oauth_app(db) -> AppCredentials:
    registered = client_register(name="Test Client", redirect_uris=[REDIRECT_URI, "https://client.example.com/cb"])
    return AppCredentials(registered.client_id, registered.client_secret, registered.application)


@pytest.fixture
def public_app(db) -> AppCredentials:
    registered = client_register(name="Public Test Client", redirect_uris=[REDIRECT_URI], client_type="public")
    return AppCredentials(registered.client_id, None, registered.application)


@pytest.fixture
def browser_for(live_server):
    browsers: list[OAuthBrowser] = []

    def _make(user) -> OAuthBrowser:
        browser = OAuthBrowser(live_server.url)
        browser.login(user.username)
        browsers.append(browser)
        return browser

    yield _make
    for browser in browsers:
        browser.close()


@pytest.fixture
def token_for(live_server, browser_for, oauth_app):
    """token_for(user, scope=...) → the /token JSON of a full authorization-code + PKCE flow."""

    def _token(user, *, scope: str = "memories:read memories:write", app: AppCredentials | None = None, resource: str | None = None) -> dict:
        app = app or oauth_app
        browser = browser_for(user)
        verifier, challenge = pkce_pair()
        params = browser.get_code(client_id=app.client_id, challenge=challenge, scope=scope, resource=resource)
        response = exchange_code(live_server.url, app=app, code=params["code"], verifier=verifier)
        assert response.status_code == 200, response.text
        return response.json()

    return _token


def call_tool(base_url: str, token: str | None, tool: str, data: dict | None = None, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"tool": tool} if data is None else {"tool": tool, "data": data}
    return httpx.post(f"{base_url}/api/tools", json=body, headers=headers, timeout=30, **kwargs)
