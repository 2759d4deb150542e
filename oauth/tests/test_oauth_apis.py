"""Client registration (admin API and RFC 7591 DCR), the user-context token flow and
connected apps, over real HTTP."""

from __future__ import annotations

import uuid

import httpx
import pytest
from oauth2_provider.models import AccessToken, Application

from oauth import services
from oauth.testing import AppCredentials, OAuthBrowser, call_tool, exchange_code, pkce_pair, token_request


@pytest.fixture
def admin(make_user):
    return make_user("root", is_staff=True)


# --- admin client registration ---------------------------------------------------------------


def test_admin_registers_a_client_and_sees_the_secret_once(live_server, admin, token_for):
    token = token_for(admin, scope="memories:admin")["access_token"]
    response = httpx.post(f"{live_server.url}/api/admin/clients/register", headers={"Authorization": f"Bearer {token}"}, json={
        "client_name": "Partner site", "redirect_uris": ["https://partner.example.com/oauth/callback"],
        "scopes": ["memories:read"], "allow_user_token_flow": True,
    })
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert uuid.UUID(data["client_id"]).version == 4
    assert len(data["client_secret"]) >= 40
    app = Application.objects.get(client_id=data["client_id"])
    assert app.client_secret != data["client_secret"] and data["client_secret"] not in app.client_secret
    assert data["allowed_scopes"] == ["memories:read"] and data["allow_user_token_flow"] is True
    # the secret works for the user-token flow, and is never shown again by any endpoint
    issued = httpx.post(f"{live_server.url}/api/user-tokens/user-token", json={
        "client_id": data["client_id"], "client_secret": data["client_secret"], "username": "newbie",
        "email": "newbie@example.com", "create_if_missing": True})
    assert issued.status_code == 200, issued.text
    assert issued.json()["data"]["scope"] == "memories:read"


def test_admin_registration_is_refused_to_non_admins(live_server, alice, admin, token_for, browser_for):
    body = {"client_name": "X", "redirect_uris": ["https://x.example.com/cb"]}
    rw = token_for(alice)["access_token"]
    response = httpx.post(f"{live_server.url}/api/admin/clients/register", headers={"Authorization": f"Bearer {rw}"}, json=body)
    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"
    assert "memories:admin" in response.json()["error"]["message"]
    # a non-staff person who granted memories:admin still is not an admin
    not_staff = token_for(alice, scope="memories:admin")["access_token"]
    response = httpx.post(f"{live_server.url}/api/admin/clients/register", headers={"Authorization": f"Bearer {not_staff}"}, json=body)
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert httpx.post(f"{live_server.url}/api/admin/clients/register", json=body).status_code == 401
    assert not Application.objects.filter(name="X").exists()


def test_admin_registration_validates_its_input(live_server, admin, browser_for):
    browser = browser_for(admin)
    csrf = {"X-CSRFToken": browser.client.cookies.get("csrftoken")}
    for body, field in [({"redirect_uris": ["https://a.example.com/cb"]}, "name"),
                        ({"client_name": "A", "redirect_uris": ["not a url"]}, "redirect_uris"),
                        ({"client_name": "A", "redirect_uris": ["https://a.example.com/cb"], "scopes": ["root"]}, "scopes"),
                        ({"client_name": "A", "redirect_uris": ["https://a.example.com/cb"], "client_type": "weird"}, "client_type")]:
        response = browser.client.post("/api/admin/clients/register", json=body, headers=csrf)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["details"]["field"] == field
    ok = browser.client.post("/api/admin/clients/register", json={"client_name": "A", "redirect_uris": ["https://a.example.com/cb"]}, headers=csrf)
    assert ok.status_code == 201


def test_admin_disabling_a_client_revokes_its_tokens(live_server, alice, admin, token_for, oauth_app):
    user_token = token_for(alice)["access_token"]
    admin_token = token_for(admin, scope="memories:admin")["access_token"]
    response = httpx.post(f"{live_server.url}/api/admin/clients/{oauth_app.client_id}/disable", headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["disabled"] is True
    assert call_tool(live_server.url, user_token, "retrieve_memories", {}).status_code == 401
    # the admin's own token came from the same client, so it is revoked too
    assert call_tool(live_server.url, admin_token, "retrieve_memories", {}).status_code == 401
    assert not AccessToken.objects.filter(application=oauth_app.application).exists()


# --- user-context token flow -------------------------------------------------------------------


@pytest.fixture
def partner(db) -> AppCredentials:
    registered = services.client_register(name="Partner", redirect_uris=["https://partner.example.com/cb"], allow_user_token_flow=True)
    return AppCredentials(registered.client_id, registered.client_secret, registered.application)


def _user_token(base_url, **body) -> httpx.Response:
    return httpx.post(f"{base_url}/api/user-tokens/user-token", json=body)


def test_user_token_flow_creates_the_user_and_tokens_work_and_refresh(live_server, partner):
    response = _user_token(live_server.url, client_id=partner.client_id, client_secret=partner.client_secret,
                           username="ada", email="ada@example.com", create_if_missing=True)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    data = response.json()["data"]
    assert data["user"]["created"] is True and data["expires_in"] == 3600 and data["token_type"] == "Bearer"
    saved = call_tool(live_server.url, data["access_token"], "submit_memory", {"text": "from the partner"})
    assert saved.status_code == 200 and saved.json()["data"]["owner_id"] == data["user"]["id"]
    again = _user_token(live_server.url, client_id=partner.client_id, client_secret=partner.client_secret,
                        username="ada", email="ADA@example.com").json()["data"]
    assert again["user"] == {**data["user"], "created": False}
    refreshed = token_request(live_server.url, {"grant_type": "refresh_token", "refresh_token": data["refresh_token"]},
                              auth=(partner.client_id, partner.client_secret))
    assert refreshed.status_code == 200, refreshed.text


@pytest.mark.parametrize("case", ["unknown", "wrong_secret", "public", "disabled", "not_allowed", "mismatch", "missing_user", "staff"])
def test_user_token_flow_refusals(live_server, partner, public_app, oauth_app, alice, make_user, case):
    body = {"client_id": partner.client_id, "client_secret": partner.client_secret, "username": "alice", "email": "alice@example.com"}
    expected = {"unknown": (401, "invalid_client"), "wrong_secret": (401, "invalid_client"), "public": (401, "invalid_client"),
                "disabled": (401, "invalid_client"), "not_allowed": (403, "unauthorized_client"),
                "mismatch": (409, "user_mismatch"), "missing_user": (404, "not_found"), "staff": (403, "forbidden")}[case]
    if case == "unknown":
        body["client_id"] = str(uuid.uuid4())
    elif case == "wrong_secret":
        body["client_secret"] = partner.client_secret[:-1] + ("x" if partner.client_secret[-1] != "x" else "y")
    elif case == "public":
        body.update(client_id=public_app.client_id, client_secret="anything")
    elif case == "disabled":
        services.client_disable(client_id=partner.client_id)
    elif case == "not_allowed":
        body.update(client_id=oauth_app.client_id, client_secret=oauth_app.client_secret)
    elif case == "mismatch":
        body["email"] = "someone-else@example.com"
    elif case == "missing_user":
        body.update(username="ghost", email="ghost@example.com")
    elif case == "staff":
        make_user("boss", is_staff=True)
        body.update(username="boss", email="boss@example.com")
    response = _user_token(live_server.url, **body)
    assert (response.status_code, response.json()["error"]["code"]) == expected, response.text
    assert not AccessToken.objects.filter(user__username=body["username"]).exists()


def test_user_token_flow_rejects_bad_input(live_server, partner):
    creds = {"client_id": partner.client_id, "client_secret": partner.client_secret}
    for body, field in [({**creds, "username": "u1", "email": "not-an-email", "create_if_missing": True}, "email"),
                        ({**creds, "username": "u1", "email": "u1@example.com", "scope": "memories:admin"}, "scope"),
                        ({**creds, "username": "u1", "email": "u1@example.com", "create_if_missing": "yes"}, "create_if_missing"),
                        ({**creds, "username": "u1", "email": "u1@example.com", "role": "admin"}, "role")]:
        response = _user_token(live_server.url, **body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["details"]["field"] == field


# --- dynamic client registration (RFC 7591) ---------------------------------------------------


def _register(base_url, headers=None, **metadata) -> httpx.Response:
    body = {"client_name": "Inspector", "redirect_uris": ["http://localhost:6274/oauth/callback"],
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"]} | metadata
    return httpx.post(f"{base_url}/oauth/register", json=body, headers=headers or {})


def test_dcr_registers_a_public_client_that_can_complete_the_flow(live_server, alice):
    response = _register(live_server.url)
    assert response.status_code == 201, response.text
    data = response.json()
    assert uuid.UUID(data["client_id"]).version == 4
    assert "client_secret" not in data and data["token_endpoint_auth_method"] == "none"
    browser = OAuthBrowser(live_server.url)
    browser.login(alice.username)
    verifier, challenge = pkce_pair()
    redirect = "http://localhost:40123/oauth/callback"  # another port: loopback redirect
    params = browser.get_code(client_id=data["client_id"], challenge=challenge, redirect_uri=redirect)
    token = exchange_code(live_server.url, app=AppCredentials(data["client_id"], None), code=params["code"], verifier=verifier, redirect_uri=redirect)
    assert token.status_code == 200, token.text
    browser.close()


@pytest.mark.parametrize(("metadata", "error"), [
    ({"token_endpoint_auth_method": "client_secret_basic"}, "invalid_client_metadata"),
    ({"redirect_uris": ["http://evil.example.com/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": []}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https://ok.example.com/cb#frag"]}, "invalid_redirect_uri"),
    ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
    ({"response_types": ["token"]}, "invalid_client_metadata"),
])
def test_dcr_refuses_what_the_policy_does_not_allow(live_server, metadata, error):
    response = _register(live_server.url, **metadata)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert not Application.objects.exists()


def test_dcr_accepts_https_redirects(live_server):
    assert _register(live_server.url, redirect_uris=["https://claude.ai/api/mcp/auth_callback"]).status_code == 201


def test_dcr_can_require_an_initial_access_token_or_be_closed(live_server, settings):
    settings.PICARD_DCR_MODE = "token"
    settings.PICARD_DCR_INITIAL_ACCESS_TOKEN = "let-me-in-0123456789"
    assert _register(live_server.url).status_code == 401
    assert _register(live_server.url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert _register(live_server.url, headers={"Authorization": "Bearer let-me-in-0123456789"}).status_code == 201
    settings.PICARD_DCR_MODE = "closed"
    assert _register(live_server.url, headers={"Authorization": "Bearer let-me-in-0123456789"}).status_code == 401
    assert Application.objects.count() == 1


# --- connected apps ------------------------------------------------------------------------------


def test_person_lists_and_revokes_connected_apps(live_server, alice, bob, token_for, oauth_app):
    alice_token = token_for(alice)["access_token"]
    bob_token = token_for(bob)["access_token"]
    listed = httpx.get(f"{live_server.url}/api/connected-apps", headers={"Authorization": f"Bearer {alice_token}"})
    assert listed.status_code == 200
    apps = listed.json()["data"]["apps"]
    assert [a["client_id"] for a in apps] == [oauth_app.client_id]
    assert apps[0]["name"] == "Test Client" and "memories:write" in apps[0]["scopes"]
    revoked = httpx.delete(f"{live_server.url}/api/connected-apps/{oauth_app.client_id}", headers={"Authorization": f"Bearer {alice_token}"})
    assert revoked.status_code == 200
    assert call_tool(live_server.url, alice_token, "retrieve_memories", {}).status_code == 401
    # bob's connection to the same app is untouched
    assert call_tool(live_server.url, bob_token, "retrieve_memories", {}).status_code == 200
    missing = httpx.delete(f"{live_server.url}/api/connected-apps/{uuid.uuid4()}", headers={"Authorization": f"Bearer {bob_token}"})
    assert missing.status_code == 404


def test_connected_app_last_used_follows_its_tool_calls(live_server, alice, token_for, oauth_app):
    from datetime import datetime

    token = token_for(alice)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    before = httpx.get(f"{live_server.url}/api/connected-apps", headers=headers).json()["data"]["apps"][0]
    assert call_tool(live_server.url, token, "submit_memory", {"text": "used by the app"}).status_code == 200
    after = httpx.get(f"{live_server.url}/api/connected-apps", headers=headers).json()["data"]["apps"][0]
    parse = lambda v: datetime.fromisoformat(v.replace("Z", "+00:00"))  # noqa: E731
    assert parse(after["last_used_at"]) > parse(before["last_used_at"])


def test_connected_apps_page_shows_and_revokes(live_server, alice, token_for, browser_for, oauth_app):
    token = token_for(alice)["access_token"]
    browser = browser_for(alice)
    page = browser.client.get("/connected-apps")
    assert page.status_code == 200 and "Test Client" in page.text and "127.0.0.1" in page.text
    assert "Last used" in page.text
    csrf = browser.client.cookies.get("csrftoken")
    response = browser.client.post(f"/connected-apps/{oauth_app.client_id}/revoke", data={"csrfmiddlewaretoken": csrf})
    assert response.status_code == 302
    assert call_tool(live_server.url, token, "retrieve_memories", {}).status_code == 401
    assert "No apps are connected" in browser.client.get("/connected-apps").text
