"""``make run`` serves http://127.0.0.1:8000, but people type http://localhost:8000/mcp. Locally,
localhost, 127.0.0.1 and [::1] on the same port are one origin: the MCP SDK's own client,
pointed at the localhost spelling of a real uvicorn server, discovers, registers, authorizes
and calls tools; tokens bound to one spelling work under the others. In production nothing
derives from the Host header."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_bridge.tests.test_mcp_oauth import MemoryTokenStorage, SignedInBrowser, _provider
from oauth.testing import call_tool


def _localhost(url: str) -> str:
    return url.replace("127.0.0.1", "localhost")


def test_sdk_client_connects_with_the_localhost_spelling_of_a_127_0_0_1_server(mcp_server, alice, settings):
    assert settings.PICARD_PUBLIC_URL.startswith("http://127.0.0.1:")
    local_mcp = _localhost(mcp_server.mcp_url)
    person = SignedInBrowser(mcp_server.url, alice.username)
    storage = MemoryTokenStorage()

    async def run():
        async with httpx2.AsyncClient(auth=_provider(local_mcp, person, storage), timeout=30) as http:
            async with Client(streamable_http_client(local_mcp, http_client=http)) as client:
                created = await client.call_tool("submit_memory", {"text": "typed localhost, it just worked"})
                listed = await client.call_tool("retrieve_memories", {})
                return created, listed

    created, listed = asyncio.run(run())
    assert created.is_error is False and listed.is_error is False, created.content
    query = parse_qs(urlsplit(person.visited[0]).query)
    assert query["resource"] == [local_mcp]
    token = storage.tokens.access_token
    # the same token under the other spellings of this origin
    for base in (mcp_server.url, _localhost(mcp_server.url)):
        response = httpx.post(f"{base}/mcp", headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
                              json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
        assert response.status_code != 401, (base, response.text)


def test_protected_resource_metadata_names_the_spelling_the_client_used(mcp_server, settings):
    port = mcp_server.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        meta = httpx.get(f"{mcp_server.url}/.well-known/oauth-protected-resource/mcp", headers={"Host": host}).json()
        assert meta["resource"] == f"http://{host}/mcp"
        assert meta["authorization_servers"] == [mcp_server.url]  # one issuer, never from the Host
        challenge = httpx.post(f"{mcp_server.url}/mcp", headers={"Host": host}, json={}).headers["www-authenticate"]
        assert f'resource_metadata="http://{host}/.well-known/oauth-protected-resource/mcp"' in challenge
    # another port is another server
    other = httpx.get(f"{mcp_server.url}/.well-known/oauth-protected-resource/mcp", headers={"Host": "localhost:1"}).json()
    assert other["resource"] == mcp_server.mcp_url


def test_in_production_nothing_derives_from_the_host_header(mcp_server, settings, make_token, alice):
    settings.PICARD_PRODUCTION = True
    port = mcp_server.url.rsplit(":", 1)[1]
    meta = httpx.get(f"{mcp_server.url}/.well-known/oauth-protected-resource/mcp", headers={"Host": f"localhost:{port}"}).json()
    assert meta["resource"] == mcp_server.mcp_url
    localhost_bound = make_token(alice, resource=[_localhost(mcp_server.mcp_url)])
    response = httpx.post(mcp_server.mcp_url, headers={"Authorization": f"Bearer {localhost_bound}"}, json={})
    assert response.status_code == 401


def test_a_personal_access_token_works_on_the_rest_api_under_every_loopback_spelling(mcp_server, alice):
    from oauth.services import personal_token_create

    raw = personal_token_create(user=alice, name="script", scopes=["memories:read"], expires_days=1).raw
    assert call_tool(mcp_server.url, raw, "retrieve_memories", {}).status_code == 200
    assert call_tool(_localhost(mcp_server.url), raw, "retrieve_memories", {}).status_code == 200
