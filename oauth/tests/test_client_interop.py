"""What real MCP clients send, over real HTTP: the registration bodies of Cursor, VS Code,
Claude and ChatGPT; the whitespace attack on the redirect-URI policy on every path that
stores redirect URIs (issue 18, finding 3); RFC 9207 ``iss`` on error redirects; two
processes of one client refreshing with the same refresh token at once."""

from __future__ import annotations

import re
import threading
import time
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.management import CommandError, call_command
from oauth2_provider.models import RefreshToken, get_application_model

from oauth.testing import AppCredentials, OAuthBrowser, exchange_code, pkce_pair, token_request

Application = get_application_model()

CURSOR = {
    "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback", "https://www.cursor.com/agents/mcp/oauth/callback",
                      "http://localhost:8787/callback"],
    "token_endpoint_auth_method": "none",
}
VSCODE = {
    "client_name": "Visual Studio Code", "client_uri": "https://code.visualstudio.com/product",
    "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
    "response_types": ["code"],
    "redirect_uris": ["https://insiders.vscode.dev/redirect", "https://vscode.dev/redirect", "http://127.0.0.1/", "http://127.0.0.1:33418/"],
    "token_endpoint_auth_method": "none",
}
CLAUDE = {
    "client_name": "Claude", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
    "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "token_endpoint_auth_method": "none",
}
CLAUDE_CODE = {
    "client_name": "Claude Code (picard)", "redirect_uris": ["http://localhost:54212/callback"],
    "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "token_endpoint_auth_method": "none",
}
CHATGPT = {
    "client_name": "ChatGPT", "redirect_uris": ["https://chatgpt.com/connector_platform_oauth_redirect"],
    "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "token_endpoint_auth_method": "none",
}
SPLIT_ATTACKS = ["http://127.0.0.1/cb http://evil.example/cb", "http://127.0.0.1/cb\thttp://evil.example/cb",
                 "https://ok.example/cb\nhttp://evil.example/cb", "https://ok.example/c\x01b"]


def _query(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _register(base_url: str, body: dict) -> httpx.Response:
    return httpx.post(f"{base_url}/oauth/register", json=body, timeout=30)


# --- real clients register --------------------------------------------------------------------


@pytest.mark.parametrize("body", [CURSOR, VSCODE, CLAUDE, CLAUDE_CODE, CHATGPT], ids=["cursor", "vscode", "claude", "claude-code", "chatgpt"])
def test_real_client_registration_bodies_are_accepted(live_server, body):
    response = _register(live_server.url, body)
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["redirect_uris"] == body["redirect_uris"]
    assert data["grant_types"] in (["authorization_code", "refresh_token"], ["authorization_code"])


def test_cursor_completes_the_flow_on_its_private_use_scheme_and_deny_returns_there_with_iss(live_server, alice, settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": live_server.url}
    client_id = _register(live_server.url, CURSOR).json()["client_id"]
    browser = OAuthBrowser(live_server.url)
    browser.login(alice.username)
    verifier, challenge = pkce_pair()
    callback = "cursor://anysphere.cursor-mcp/oauth/callback"
    params = browser.get_code(client_id=client_id, challenge=challenge, redirect_uri=callback)
    assert params["_location"].startswith(callback + "?")
    assert params["iss"] == live_server.url
    token = exchange_code(live_server.url, app=AppCredentials(client_id, None), code=params["code"], verifier=verifier, redirect_uri=callback)
    assert token.status_code == 200, token.text

    page = browser.consent_page(browser.authorize_url(client_id=client_id, challenge=challenge, redirect_uri=callback, state="d1"))
    denied = browser.decide(page, allow=False)
    assert denied.status_code == 302 and denied.headers["location"].startswith(callback + "?")
    assert {"error": "access_denied", "state": "d1", "iss": live_server.url}.items() <= _query(denied.headers["location"]).items()
    # an unregistered spelling of the callback is never redirected to
    other = browser.client.get(browser.authorize_url(client_id=client_id, challenge=challenge, redirect_uri="cursor://anysphere.cursor-mcp/oauth/other"))
    assert other.status_code == 400 and "location" not in other.headers
    browser.close()


@pytest.mark.parametrize("uri", [
    "javascript:alert(1)", "data:text/html,hi", "file:///etc/passwd", "http://evil.example/cb", "vbscript:msgbox",
    "cursor://anysphere.cursor-mcp/cb#frag", "https://user:pw@ok.example/cb", "cursor://x/c b",
])
def test_dangerous_redirect_uris_are_refused_at_registration(live_server, uri):
    response = _register(live_server.url, {**CURSOR, "redirect_uris": [uri]})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_redirect_uri"
    assert not Application.objects.exists()


# --- issue 18, finding 3: one URI with whitespace must never become two ------------------------


@pytest.mark.parametrize("uri", SPLIT_ATTACKS)
def test_dcr_refuses_a_redirect_uri_with_whitespace_or_control_characters(live_server, uri):
    response = _register(live_server.url, {**CLAUDE_CODE, "redirect_uris": [uri]})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_redirect_uri"
    assert "spaces or control characters" in response.json()["error_description"]
    assert not Application.objects.exists()


def test_the_split_uri_attack_stores_no_redirect_to_the_smuggled_host(live_server, alice):
    _register(live_server.url, {**CLAUDE_CODE, "redirect_uris": [SPLIT_ATTACKS[0]]})
    assert not Application.objects.filter(redirect_uris__contains="evil.example").exists()


def test_rfc7592_update_refuses_a_redirect_uri_with_whitespace(live_server):
    data = _register(live_server.url, CLAUDE_CODE).json()
    headers = {"Authorization": f"Bearer {data['registration_access_token']}"}
    for uri in SPLIT_ATTACKS:
        response = httpx.put(data["registration_client_uri"], json={**CLAUDE_CODE, "client_id": data["client_id"], "redirect_uris": [uri]},
                             headers=headers, timeout=30)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_redirect_uri"
    assert Application.objects.get(client_id=data["client_id"]).redirect_uris == "http://localhost:54212/callback"


def _staff_browser(live_server, make_user) -> OAuthBrowser:
    staff = make_user("staffer", is_staff=True, is_superuser=True)
    browser = OAuthBrowser(live_server.url)
    browser.login(staff.username)
    return browser


def test_admin_registration_api_refuses_a_redirect_uri_with_whitespace(live_server, make_user):
    browser = _staff_browser(live_server, make_user)
    browser.client.get("/")
    csrf = {"X-CSRFToken": browser.client.cookies.get("csrftoken"), "Referer": live_server.url + "/"}
    for uri in SPLIT_ATTACKS:
        response = browser.client.post("/api/admin/clients/register", json={"client_name": "A", "redirect_uris": [uri]}, headers=csrf)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["details"]["field"] == "redirect_uris"
    # a space-separated string is not a list of URIs either
    response = browser.client.post("/api/admin/clients/register", json={"client_name": "A", "redirect_uris": SPLIT_ATTACKS[0]}, headers=csrf)
    assert response.status_code == 400
    assert not Application.objects.exists()
    browser.close()


def test_manage_clients_page_refuses_a_line_with_two_uris(live_server, make_user):
    browser = _staff_browser(live_server, make_user)
    page = browser.client.get("/manage/clients")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = browser.client.post("/manage/clients", data={
        "csrfmiddlewaretoken": csrf, "name": "Partner", "client_type": "confidential",
        "redirect_uris": SPLIT_ATTACKS[0], "scopes": ["memories:read"],
    }, headers={"Referer": live_server.url + "/manage/clients"})
    assert response.status_code == 400, response.status_code
    assert "spaces or control characters" in response.text
    assert not Application.objects.exists()
    browser.close()


def test_django_admin_refuses_a_redirect_uri_with_a_control_character(live_server, make_user):
    browser = _staff_browser(live_server, make_user)
    page = browser.client.get("/admin/oauth2_provider/application/add/")
    assert page.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    form = {"csrfmiddlewaretoken": csrf, "client_id": "11111111-1111-4111-8111-111111111111", "client_type": "public",
            "authorization_grant_type": "authorization-code", "client_secret": "", "name": "Sneaky", "algorithm": "",
            "redirect_uris": "https://ok.example/c\x01b", "post_logout_redirect_uris": "", "allowed_origins": ""}
    response = browser.client.post("/admin/oauth2_provider/application/add/", data=form,
                                   headers={"Referer": live_server.url + "/admin/oauth2_provider/application/add/"})
    assert response.status_code == 200 and "spaces or control characters" in response.text
    assert not Application.objects.exists()
    form["redirect_uris"] = "https://ok.example/cb\ncursor://anysphere.cursor-mcp/oauth/callback"
    saved = browser.client.post("/admin/oauth2_provider/application/add/", data=form,
                                headers={"Referer": live_server.url + "/admin/oauth2_provider/application/add/"})
    assert saved.status_code == 302, saved.text[:2000]
    assert Application.objects.get().redirect_uris == "https://ok.example/cb cursor://anysphere.cursor-mcp/oauth/callback"
    browser.close()


@pytest.mark.django_db
def test_register_oauth_client_command_refuses_a_redirect_uri_with_whitespace():
    for uri in SPLIT_ATTACKS:
        with pytest.raises(CommandError, match="spaces or control characters"):
            call_command("register_oauth_client", "--name", "X", "--redirect-uri", uri, stdout=StringIO())
    assert not Application.objects.exists()


# --- RFC 9207 iss on every authorization response ---------------------------------------------


@pytest.fixture
def issuer(live_server, settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": live_server.url}
    return live_server.url


def test_every_authorization_error_redirect_carries_iss(issuer, alice, public_app):
    browser = OAuthBrowser(issuer)
    browser.login(alice.username)
    _, challenge = pkce_pair()
    cases = {
        "invalid_scope": browser.authorize_url(client_id=public_app.client_id, challenge=challenge, scope="memories:root"),
        "missing PKCE": browser.authorize_url(client_id=public_app.client_id, challenge=None),
        "plain PKCE": browser.authorize_url(client_id=public_app.client_id, challenge=challenge, method="plain"),
    }
    for case, url in cases.items():
        response = browser.client.get(url)
        assert response.status_code == 302, (case, response.text[:300])
        query = _query(response.headers["location"])
        assert query.get("error") in ("invalid_scope", "invalid_request"), (case, query)
        assert query.get("iss") == issuer, (case, query)
        assert query.get("state") == "xyz", (case, query)
    page = browser.consent_page(browser.authorize_url(client_id=public_app.client_id, challenge=challenge))
    denied = _query(browser.decide(page, allow=False).headers["location"])
    assert denied["error"] == "access_denied" and denied["iss"] == issuer
    allowed = browser.get_code(client_id=public_app.client_id, challenge=challenge)
    assert allowed["iss"] == issuer and list(parse_qs(urlsplit(allowed["_location"]).query)["iss"]) == [issuer]
    browser.close()


# --- refresh-token concurrency: the grace window -----------------------------------------------


def _tokens(live_server, browser_for, app, user) -> dict:
    browser = browser_for(user)
    verifier, challenge = pkce_pair()
    params = browser.get_code(client_id=app.client_id, challenge=challenge)
    response = exchange_code(live_server.url, app=app, code=params["code"], verifier=verifier)
    assert response.status_code == 200, response.text
    return response.json()


def _refresh(live_server, app, refresh_token) -> httpx.Response:
    return token_request(live_server.url, {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": app.client_id})


def _works(live_server, access_token) -> bool:
    from oauth.testing import call_tool

    return call_tool(live_server.url, access_token, "retrieve_memories", {}).status_code == 200


def test_two_concurrent_refreshes_by_one_client_both_get_working_tokens(live_server, browser_for, public_app, alice):
    first = _tokens(live_server, browser_for, public_app, alice)
    results: list[httpx.Response] = []
    barrier = threading.Barrier(2)

    def refresh():
        barrier.wait()
        results.append(_refresh(live_server, public_app, first["refresh_token"]))

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    pairs = [r.json() for r in results]
    assert pairs[0]["access_token"] != pairs[1]["access_token"]
    for pair in pairs:
        assert pair["access_token"] and pair["refresh_token"]
        assert set(pair["scope"].split()) == {"memories:read", "memories:write"}
        assert _works(live_server, pair["access_token"])
        # each process goes on refreshing with what it received
        again = _refresh(live_server, public_app, pair["refresh_token"])
        assert again.status_code == 200, again.text
        assert _works(live_server, again.json()["access_token"])


def test_refresh_token_reuse_after_the_grace_window_revokes_the_whole_family(live_server, browser_for, public_app, alice, settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 1}
    first = _tokens(live_server, browser_for, public_app, alice)
    second = _refresh(live_server, public_app, first["refresh_token"]).json()
    assert _works(live_server, second["access_token"])
    time.sleep(1.2)
    replay = _refresh(live_server, public_app, first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert not _works(live_server, second["access_token"])
    assert _refresh(live_server, public_app, second["refresh_token"]).status_code == 400
    assert not RefreshToken.objects.filter(user=alice, revoked__isnull=True).exists()


def test_a_refresh_token_reused_by_another_client_is_refused_even_inside_the_window(live_server, browser_for, public_app, oauth_app, alice):
    first = _tokens(live_server, browser_for, public_app, alice)
    assert _refresh(live_server, public_app, first["refresh_token"]).status_code == 200
    stolen = token_request(live_server.url, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                           auth=(oauth_app.client_id, oauth_app.client_secret))
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("uri", ["com.example.app:/oauth2redirect", "vscode://vscode.github-authentication/did-authenticate",
                                 "http://[::1]:7777/cb", "http://127.0.0.1/"])
def test_native_and_loopback_redirect_uris_are_accepted(live_server, uri):
    response = _register(live_server.url, {**CLAUDE_CODE, "redirect_uris": [uri]})
    assert response.status_code == 201, response.text
    assert response.json()["redirect_uris"] == [uri]
