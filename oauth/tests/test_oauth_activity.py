"""OAuth administration and token grants leave a trace in the activity log: who registered,
disabled or re-enabled a client, which app obtained a token for a person through the
user-token flow, and when a person disconnected an app — never a secret or a token."""

from __future__ import annotations

import httpx
import pytest

from memories.models import Activity
from oauth import services


@pytest.fixture
def admin(make_user):
    return make_user("root", is_staff=True)


def _entries(action: str, client_id: str) -> list[Activity]:
    return list(Activity.objects.filter(action=action, details__client_id=client_id).order_by("created_at"))


def _no_secret_in(entries: list[Activity], *secrets: str) -> None:
    for entry in entries:
        dumped = repr(entry.details)
        for secret in secrets:
            assert secret not in dumped


def test_client_registration_disable_and_enable_are_logged_for_the_admin(live_server, admin, token_for, browser_for):
    admin_token = token_for(admin, scope="memories:admin")["access_token"]
    headers = {"Authorization": f"Bearer {admin_token}"}
    registered = httpx.post(f"{live_server.url}/api/admin/clients/register", headers=headers, json={
        "client_name": "Partner", "redirect_uris": ["https://partner.example.com/cb"], "allow_user_token_flow": True})
    assert registered.status_code == 201, registered.text
    client_id, secret = registered.json()["data"]["client_id"], registered.json()["data"]["client_secret"]

    [entry] = _entries("oauth.client.register", client_id)
    assert entry.actor == admin and entry.surface == "api"
    assert entry.details == {"client_id": client_id, "client_type": "confidential", "user_token_flow": True}

    # disable / enable through the admin pages (a session, not a token)
    browser = browser_for(admin)
    page = browser.client.get("/manage/clients")
    csrf = page.cookies.get("csrftoken") or browser.client.cookies.get("csrftoken")
    for action in ("disable", "enable"):
        response = browser.client.post(f"/manage/clients/{client_id}/{action}", data={"csrfmiddlewaretoken": csrf},
                                       headers={"Referer": f"{live_server.url}/manage/clients"})
        assert response.status_code == 302
    [disabled] = _entries("oauth.client.disable", client_id)
    [enabled] = _entries("oauth.client.enable", client_id)
    assert disabled.actor == enabled.actor == admin
    assert disabled.details == {"client_id": client_id, "tokens_revoked": 0}
    assert enabled.details == {"client_id": client_id}
    _no_secret_in([entry, disabled, enabled], secret)

    # the admin sees these on their own activity page, in words
    activity = browser.client.get("/activity")
    assert activity.status_code == 200
    assert "Registered an OAuth client" in activity.text and "Disabled an OAuth client" in activity.text


def test_user_token_grant_and_app_revocation_show_on_the_persons_activity(live_server, browser_for, make_user):
    partner = services.client_register(name="Partner", redirect_uris=["https://partner.example.com/cb"], allow_user_token_flow=True)
    make_user("ada", email="ada@example.com")
    issued = httpx.post(f"{live_server.url}/api/user-tokens/user-token", json={
        "client_id": partner.client_id, "client_secret": partner.client_secret, "username": "ada", "email": "ada@example.com"})
    assert issued.status_code == 200, issued.text
    tokens = issued.json()["data"]

    [grant] = _entries("oauth.user_token.issue", partner.client_id)
    assert grant.actor.username == "ada" and grant.client_id == partner.client_id
    assert grant.details == {"client_id": partner.client_id, "scope": tokens["scope"], "user_created": False}

    revoked = httpx.delete(f"{live_server.url}/api/connected-apps/{partner.client_id}",
                           headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert revoked.status_code == 200, revoked.text
    [revocation] = _entries("oauth.app.revoke", partner.client_id)
    assert revocation.actor.username == "ada" and revocation.details["client_id"] == partner.client_id
    assert revocation.details["tokens_revoked"] >= 2  # the access and the refresh token
    _no_secret_in([grant, revocation], partner.client_secret, tokens["access_token"], tokens["refresh_token"])

    page = browser_for(grant.actor).client.get("/activity")
    assert "An app obtained a token for you" in page.text and "Disconnected an app" in page.text


def test_a_refused_user_token_request_logs_nothing(live_server, make_user):
    partner = services.client_register(name="Partner", redirect_uris=["https://partner.example.com/cb"], allow_user_token_flow=True)
    make_user("ada", email="ada@example.com")
    refused = httpx.post(f"{live_server.url}/api/user-tokens/user-token", json={
        "client_id": partner.client_id, "client_secret": "wrong", "username": "ada", "email": "ada@example.com"})
    assert refused.status_code == 401
    assert not _entries("oauth.user_token.issue", partner.client_id)
