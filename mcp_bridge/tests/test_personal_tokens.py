"""Personal access tokens end to end on the real server (uvicorn): created on
``/settings/tokens/`` (shown once, stored hashed), used as a bearer on ``/api/tools`` and by
the MCP SDK client on ``/mcp`` with the same scope checks as OAuth tokens, listed with their
last use, named in the activity log, revoked; and ``manage.py create_access_token``."""

from __future__ import annotations

import asyncio
import hashlib
import re
from io import StringIO

import httpx
import httpx2
import pytest
from django.core.management import CommandError, call_command
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from oauth2_provider.models import AccessToken

from memories.models import Activity
from oauth.models import PersonalAccessToken
from oauth.testing import OAuthBrowser, call_tool


def _create_on_page(base_url: str, user, *, name="backup script", scopes=("memories:read",), expires="30") -> tuple[OAuthBrowser, str, httpx.Response]:
    browser = OAuthBrowser(base_url)
    browser.login(user.username)
    page = browser.client.get("/settings/tokens/")
    assert page.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = browser.client.post("/settings/tokens/", data={"csrfmiddlewaretoken": csrf, "name": name, "scopes": list(scopes),
                                                             "expires_days": expires}, headers={"Referer": base_url + "/settings/tokens/"})
    match = re.search(r'id="new-token"[^>]*value="([^"]+)"', response.text)
    return browser, (match.group(1) if match else ""), response


async def _mcp_calls(url: str, token: str):
    """(read result, write result — or the refusal the SDK raised for the write)."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            listed = await client.call_tool("retrieve_memories", {})
            try:
                written = await client.call_tool("submit_memory", {"text": "written over MCP with a token"})
            except Exception as exc:  # noqa: BLE001 - the step-up 403 surfaces as an exception in the SDK
                written = exc
            return listed, written


def test_token_created_on_the_page_is_shown_once_stored_hashed_and_works_with_its_scopes(mcp_server, alice):
    browser, raw, response = _create_on_page(mcp_server.url, alice, scopes=("memories:read",))
    assert response.status_code == 200 and raw.startswith("picard_pat_")
    assert "cannot be shown again" in response.text
    stored = PersonalAccessToken.objects.get(user=alice)
    assert stored.name == "backup script" and stored.scope == "memories:read" and stored.last_used_at is None
    access = AccessToken.objects.get(pk=stored.access_token_id)
    assert access.token == "" and access.token_checksum == hashlib.sha256(raw.encode()).hexdigest()
    # never again: the list shows the name, not the token
    listing = browser.client.get("/settings/tokens/")
    assert "backup script" in listing.text and raw not in listing.text and "never" in listing.text

    # REST: reads work, writes are refused for lack of the scope
    assert call_tool(mcp_server.url, raw, "retrieve_memories", {}).status_code == 200
    refused = call_tool(mcp_server.url, raw, "submit_memory", {"text": "nope"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    # MCP through the SDK client: the same token, the same scope rule
    listed, written = asyncio.run(_mcp_calls(mcp_server.mcp_url, raw))
    assert listed.is_error is False
    assert isinstance(written, Exception)  # 403 insufficient_scope (MCP step-up), as for an OAuth token
    assert not alice.memories.exists()

    stored.refresh_from_db()
    assert stored.last_used_at is not None
    assert "ago" in browser.client.get("/settings/tokens/").text
    browser.close()


def test_activity_names_the_token_that_acted_and_revoking_stops_it_at_once(mcp_server, alice):
    browser, raw, _ = _create_on_page(mcp_server.url, alice, name="nightly sync", scopes=("memories:read", "memories:write"))
    assert call_tool(mcp_server.url, raw, "submit_memory", {"text": "from my script"}).status_code == 200
    listed, written = asyncio.run(_mcp_calls(mcp_server.mcp_url, raw))
    assert written.is_error is False
    token = PersonalAccessToken.objects.get(user=alice)
    surfaces = set(Activity.objects.filter(actor=alice, action="memory.create").values_list("surface", "client_id"))
    assert surfaces == {("api", f"pat:{token.id}"), ("mcp", f"pat:{token.id}")}
    activity_page = browser.client.get("/activity")
    assert "personal access token “nightly sync”" in activity_page.text

    csrf = browser.client.cookies.get("csrftoken")
    revoked = browser.client.post(f"/settings/tokens/{token.id}/revoke", data={"csrfmiddlewaretoken": csrf},
                                  headers={"Referer": mcp_server.url + "/settings/tokens/"})
    assert revoked.status_code == 302
    assert call_tool(mcp_server.url, raw, "retrieve_memories", {}).status_code == 401
    assert httpx.post(mcp_server.mcp_url, json={}, headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    after = browser.client.get("/settings/tokens/").text
    assert "Token “nightly sync” revoked" in after and f'data-token-id="{token.id}"' not in after
    # the activity log still names it after revocation
    assert "personal access token “nightly sync”" in browser.client.get("/activity").text
    browser.close()


def test_another_persons_token_cannot_be_revoked_and_looks_missing(mcp_server, alice, bob):
    _, raw, _ = _create_on_page(mcp_server.url, alice)
    token = PersonalAccessToken.objects.get(user=alice)
    browser = OAuthBrowser(mcp_server.url)
    browser.login(bob.username)
    browser.client.get("/settings/tokens/")
    csrf = browser.client.cookies.get("csrftoken")
    response = browser.client.post(f"/settings/tokens/{token.id}/revoke", data={"csrfmiddlewaretoken": csrf},
                                   headers={"Referer": mcp_server.url + "/settings/tokens/"}, follow_redirects=True)
    assert "does not exist or was already revoked" in response.text
    assert call_tool(mcp_server.url, raw, "retrieve_memories", {}).status_code == 200
    browser.close()


def test_the_form_refuses_bad_input_with_a_clear_message(mcp_server, alice):
    _, raw, response = _create_on_page(mcp_server.url, alice, name="", scopes=())
    assert response.status_code == 400 and raw == ""
    _, raw, response = _create_on_page(mcp_server.url, alice, scopes=("memories:admin",))
    assert response.status_code == 400 and raw == ""  # not offered to a non-staff person
    assert not PersonalAccessToken.objects.exists()


def test_an_expired_token_is_refused_and_listed_as_expired(mcp_server, alice):
    from datetime import timedelta

    from django.utils import timezone

    browser, raw, _ = _create_on_page(mcp_server.url, alice)
    token = PersonalAccessToken.objects.get(user=alice)
    AccessToken.objects.filter(pk=token.access_token_id).update(expires=timezone.now() - timedelta(seconds=1))
    PersonalAccessToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert call_tool(mcp_server.url, raw, "retrieve_memories", {}).status_code == 401
    assert httpx.post(mcp_server.mcp_url, json={}, headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    assert "expired" in browser.client.get("/settings/tokens/").text
    browser.close()


def test_create_access_token_command_prints_a_working_token_once(mcp_server, alice):
    out = StringIO()
    call_command("create_access_token", "--user", alice.username, "--scopes", "memories:read memories:write",
                 "--name", "ops import", "--expires-days", "7", stdout=out)
    raw = re.search(r"^token: (\S+)$", out.getvalue(), re.M).group(1)
    assert "stored hashed" in out.getvalue() and mcp_server.mcp_url in out.getvalue()
    assert call_tool(mcp_server.url, raw, "submit_memory", {"text": "via the command's token"}).status_code == 200
    token = PersonalAccessToken.objects.get(user=alice)
    assert token.name == "ops import" and (token.expires_at - token.created_at).days in (6, 7)
    for args, message in [(["--user", "nobody"], "no user"), (["--user", alice.username, "--scopes", "memories:root"], "unknown scope"),
                          (["--user", alice.username, "--scopes", "memories:admin"], "only for administrators"),
                          (["--user", alice.username, "--expires-days", "0"], "between 1 and")]:
        with pytest.raises(CommandError, match=message):
            call_command("create_access_token", *args, stdout=StringIO())
