"""End to end, as a real MCP client does it: the SDK's ``OAuthClientProvider`` is pointed at
``/mcp`` and nothing else. It gets the 401, reads the protected resource metadata and the
authorization server metadata, registers itself (RFC 7591), sends the person to
``/authorize`` (the test signs Alice in and approves the consent page over HTTP), exchanges
the code (PKCE, RFC 8707 resource), and then uses every tool and both resources."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import httpx2
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from mcp_bridge.tools import TOOLS
from oauth.testing import OAuthBrowser

REDIRECT_URI = "http://127.0.0.1:9/callback"


class MemoryTokenStorage:
    def __init__(self):
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


class SignedInBrowser:
    """Plays the person: opens the authorization URL, approves, hands back the redirect."""

    def __init__(self, base_url: str, username: str):
        self.browser = OAuthBrowser(base_url)
        self.browser.login(username)
        self.visited: list[str] = []
        self.location: str | None = None

    def _approve(self, url: str) -> str:
        self.visited.append(url)
        page = self.browser.client.get(url)
        assert page.status_code == 200, page.text[:500]
        response = self.browser.decide(page, allow=True)
        assert response.status_code == 302, response.text[:500]
        return response.headers["location"]

    async def redirect_handler(self, url: str) -> None:
        self.location = await anyio.to_thread.run_sync(self._approve, url)

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.location and self.location.startswith(REDIRECT_URI)
        params = {k: v[0] for k, v in parse_qs(urlsplit(self.location).query).items()}
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))


def _provider(server_url: str, person: SignedInBrowser, storage: MemoryTokenStorage, scope: str | None = None) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=server_url,
        client_metadata=OAuthClientMetadata(
            client_name="Picard end-to-end test",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope=scope,
        ),
        storage=storage,
        redirect_handler=person.redirect_handler,
        callback_handler=person.callback_handler,
    )


async def _use_everything(client, bob_id: str) -> dict:
    out = {"tools": [t.name for t in (await client.list_tools()).tools]}
    calls = {}

    async def call(name, args):
        result = await client.call_tool(name, args)
        assert result.is_error is False, (name, result.content)
        calls[name] = result.structured_content
        return result.structured_content

    created = await call("submit_memory", {"text": "Alice's bicycle is green", "tags": ["bike"]})
    memory_id = created["id"]
    await call("update_memory", {"memory_id": memory_id, "text": "Alice's bicycle is dark green"})
    await call("modify_permissions", {"memory_id": memory_id, "permission": "shared", "shared_with": {"users": [bob_id]}})
    await call("get_memories", {"tags": ["bike"]})
    await call("retrieve_memories", {})
    await call("query_memory", {"query": "bicycle colour"})
    await call("whoami", {})
    await call("query_user", {"user_id": created["owner_id"], "prompt": "What colour is the bicycle?"})
    await call("batch_memories", {"operations": [{"op": "create", "data": {"text": "Alice rides on Sundays"}}]})
    out["memory"] = json.loads((await client.read_resource(f"memories://{memory_id}")).contents[0].text)
    out["user_page"] = json.loads((await client.read_resource(f"users://{created['owner_id']}/memories")).contents[0].text)
    await call("memory_history", {"memory_id": memory_id})
    await call("delete_memory", {"memory_id": memory_id})
    await call("restore_memory", {"memory_id": memory_id})
    out["calls"] = calls
    return out


def test_sdk_client_discovers_registers_authorizes_and_uses_every_tool(mcp_server, alice, bob):
    person = SignedInBrowser(mcp_server.url, alice.username)
    storage = MemoryTokenStorage()

    async def run(mode):
        async with httpx2.AsyncClient(auth=_provider(mcp_server.mcp_url, person, storage), timeout=30) as http:
            async with Client(streamable_http_client(mcp_server.mcp_url, http_client=http), mode=mode) as client:
                return await _use_everything(client, str(bob.pk))

    out = asyncio.run(run("legacy"))
    assert set(out["tools"]) == set(TOOLS)
    assert set(out["calls"]) == set(TOOLS)
    assert out["memory"]["text"] == "Alice's bicycle is dark green"
    assert out["memory"]["owner_id"] == str(alice.pk)
    assert out["user_page"]["user_id"] == str(alice.pk)

    # What the client did on its own: registered, asked for a token bound to /mcp.
    assert storage.client_info is not None and storage.client_info.client_id
    assert len(person.visited) == 1
    query = parse_qs(urlsplit(person.visited[0]).query)
    assert query["resource"] == [mcp_server.mcp_url]
    assert query["code_challenge_method"] == ["S256"]
    assert set(query["scope"][0].split()) == {"memories:read", "memories:write"}

    from oauth2_provider.models import get_access_token_model

    issued = get_access_token_model().objects.get(user=alice)
    assert issued.resource == [mcp_server.mcp_url]
    assert issued.application.client_id == storage.client_info.client_id

    # The stored token keeps working for a newer-protocol client, with no new authorization.
    out = asyncio.run(run("2026-07-28"))
    assert set(out["calls"]) == set(TOOLS)
    assert len(person.visited) == 1


def test_read_only_grant_steps_up_to_write_when_a_write_tool_is_called(mcp_server, make_token, alice):
    """A client holding a read-only token (from an earlier, narrower grant) calls a write tool:
    403 insufficient_scope → the SDK re-authorizes for read+write → the call succeeds."""
    from oauth2_provider.models import get_application_model

    registered = httpx.post(f"{mcp_server.url}/oauth/register", json={
        "client_name": "step-up client", "redirect_uris": [REDIRECT_URI], "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], "token_endpoint_auth_method": "none",
    })
    assert registered.status_code == 201, registered.text
    storage = MemoryTokenStorage()
    storage.client_info = OAuthClientInformationFull.model_validate({**registered.json(), "issuer": mcp_server.url})
    application = get_application_model().objects.get(client_id=storage.client_info.client_id)
    read_only = make_token(alice, scope="memories:read", application=application)
    storage.tokens = OAuthToken(access_token=read_only, token_type="Bearer", expires_in=3600, scope="memories:read")
    person = SignedInBrowser(mcp_server.url, alice.username)

    async def run():
        provider = _provider(mcp_server.mcp_url, person, storage)
        async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
            async with Client(streamable_http_client(mcp_server.mcp_url, http_client=http)) as client:
                listed = await client.call_tool("retrieve_memories", {})
                visits_before = len(person.visited)
                created = await client.call_tool("submit_memory", {"text": "written after step-up"})
                return listed, visits_before, created

    listed, visits_before, created = asyncio.run(run())
    assert listed.is_error is False
    assert visits_before == 0  # the read-only token was enough to connect and read
    assert created.is_error is False, created.content
    assert len(person.visited) == 1  # the person approved the wider grant once
    assert set(parse_qs(urlsplit(person.visited[0]).query)["scope"][0].split()) == {"memories:read", "memories:write"}
    assert set(storage.tokens.scope.split()) == {"memories:read", "memories:write"}


def test_registration_and_token_endpoints_answer_cors_for_browser_clients(mcp_server):
    origin = "http://localhost:6274"
    for path in ("/oauth/register", "/token", "/.well-known/oauth-authorization-server"):
        preflight = httpx.options(f"{mcp_server.url}{path}", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, mcp-protocol-version",
        })
        assert preflight.status_code in (200, 204), path
        assert preflight.headers.get("access-control-allow-origin") in (origin, "*"), path
        assert "mcp-protocol-version" in preflight.headers.get("access-control-allow-headers", "").lower(), path
    registered = httpx.post(f"{mcp_server.url}/oauth/register", headers={"Origin": origin}, json={
        "client_name": "Inspector", "redirect_uris": ["http://localhost:6274/oauth/callback"],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
    assert registered.status_code == 201, registered.text
    assert registered.headers.get("access-control-allow-origin") in (origin, "*")
