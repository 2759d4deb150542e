"""Who may use /mcp: token checks (RFC 6750/8707/9728), per-tool scopes (step-up), isolation."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from mcp_bridge.tests.mcp_client import MODES, with_client

MISSING = "00000000-0000-4000-8000-000000000000"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
ACCEPT = {"Accept": "application/json, text/event-stream"}


def _post(server, token: str | None, body=INIT, **headers):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(server.mcp_url, json=body, headers={**ACCEPT, **headers}, timeout=30)


def _challenge(response) -> dict:
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer ")
    params = {}
    for part in header[len("Bearer "):].split(", "):
        key, _, value = part.partition("=")
        params[key] = value.strip('"')
    return params


def test_no_token_gets_401_pointing_at_resource_metadata_and_scopes(mcp_server):
    response = _post(mcp_server, None)
    assert response.status_code == 401
    challenge = _challenge(response)
    assert challenge["resource_metadata"] == f"{mcp_server.url}/.well-known/oauth-protected-resource/mcp"
    assert challenge["scope"] == "memories:read memories:write"
    assert "error" not in challenge  # RFC 6750 §3.1: no error code when no credentials were sent
    assert response.json()["error"] == "invalid_token"
    # GET (the SSE stream) and DELETE are guarded too.
    assert httpx.get(mcp_server.mcp_url, headers=ACCEPT).status_code == 401
    assert httpx.delete(mcp_server.mcp_url).status_code == 401


@pytest.mark.parametrize("case", ["garbage", "expired", "other_resource", "unbound", "revoked", "inactive_user", "disabled_client", "basic_auth"])
def test_invalid_tokens_are_refused_with_invalid_token(mcp_server, make_token, alice, case):
    from oauth2_provider.models import get_access_token_model

    if case == "garbage":
        token = "not-a-token"
    elif case == "expired":
        token = make_token(alice, expires_in=-5)
    elif case == "other_resource":
        token = make_token(alice, resource=["https://elsewhere.example/mcp"])
    elif case == "unbound":
        token = make_token(alice, resource=[])
    elif case == "revoked":
        token = make_token(alice)
        get_access_token_model().objects.get(user=alice).revoke()
    elif case == "inactive_user":
        token = make_token(alice)
        alice.is_active = False
        alice.save(update_fields=["is_active"])
    elif case == "disabled_client":  # the policy alone, without revoking the token
        from oauth.models import ClientPolicy

        token = make_token(alice)
        ClientPolicy.objects.create(application=get_access_token_model().objects.get(user=alice).application, disabled=True)
    if case == "basic_auth":
        response = httpx.post(mcp_server.mcp_url, json=INIT, headers={**ACCEPT, "Authorization": "Basic YWxpY2U6cHc="})
    else:
        response = _post(mcp_server, token)
    assert response.status_code == 401
    challenge = _challenge(response)
    assert challenge["error"] == "invalid_token"
    assert challenge["resource_metadata"].endswith("/.well-known/oauth-protected-resource/mcp")


def test_a_token_for_a_path_below_mcp_is_not_a_token_for_mcp(mcp_server, make_token, alice):
    token = make_token(alice, resource=[f"{mcp_server.url}/mcp/other"])
    assert _post(mcp_server, token).status_code == 401
    token = make_token(alice, resource=[mcp_server.url])  # the origin is not the resource
    assert _post(mcp_server, token).status_code == 401


def test_read_only_token_calling_a_write_tool_gets_403_insufficient_scope(mcp_server, make_token, alice):
    token = make_token(alice, scope="memories:read")
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "submit_memory", "arguments": {"text": "x"}}}
    response = _post(mcp_server, token, call, **{"Mcp-Protocol-Version": "2026-07-28"})
    assert response.status_code == 403
    challenge = _challenge(response)
    assert challenge["error"] == "insufficient_scope"
    assert challenge["scope"] == "memories:read memories:write"
    assert "submit_memory" in challenge["error_description"]
    assert response.json()["required_scopes"] == ["memories:write"]

    # The same token still reads, and the SDK client sees the refusal for the write.
    async def scenario(client):
        listed = await client.call_tool("retrieve_memories", {})
        try:
            await client.call_tool("delete_memory", {"memory_id": MISSING})
        except Exception as exc:  # the client would start a step-up authorization here
            return listed, exc
        return listed, None

    listed, refused = with_client(mcp_server.mcp_url, token, scenario)
    assert listed.is_error is False
    assert refused is not None
    from memories.models import Memory

    assert not Memory.objects.filter(owner=alice).exists()


def test_a_token_without_read_scope_cannot_read_resources(mcp_server, make_token, alice):
    token = make_token(alice, scope="memories:write")
    read = {"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": f"memories://{MISSING}"}}
    response = _post(mcp_server, token, read, **{"Mcp-Protocol-Version": "2026-07-28"})
    assert response.status_code == 403
    assert _challenge(response)["scope"] == "memories:read memories:write"


def test_scope_is_checked_inside_the_tool_too(alice, make_token, db, settings):
    """Where no HTTP challenge is possible (an in-process call), the tool answers isError naming the scope."""
    from mcp.client import Client

    from mcp_bridge import auth
    from mcp_bridge.server import build_server

    verified = auth.VerifiedToken(user_id=alice.pk, client_id="c", scopes=frozenset({"memories:read"}), expires_at=0, resource="r")

    async def scenario():
        marker = auth.set_current_token(verified)
        try:
            async with Client(build_server()) as client:
                return await client.call_tool("submit_memory", {"text": "x"})
        finally:
            auth.reset_current_token(marker)

    result = asyncio.run(scenario())
    assert result.is_error is True
    assert result.content[0].text.startswith("insufficient_scope: This action needs the scope memories:write.")


@pytest.mark.parametrize("mode", MODES)
def test_another_users_private_memory_is_not_found_in_every_tool_and_resource(mcp_server, make_token, alice, bob, mode):
    from memories import services

    secret = services.memory_create(actor=bob, text="Bob's secret plan about green tea", permission="private")
    public = services.memory_create(actor=bob, text="Bob's public note about green tea", permission="public")
    token = make_token(alice)

    async def scenario(client):
        out = {}
        for name, args in [
            ("update_memory", {"memory_id": str(secret.id), "text": "hijacked"}),
            ("delete_memory", {"memory_id": str(secret.id)}),
            ("modify_permissions", {"memory_id": str(secret.id), "permission": "public"}),
        ]:
            out.setdefault(name, []).append(await client.call_tool(name, args))
        # A memory Alice may see but not change: refused as forbidden (its existence is no secret).
        out["public_update"] = await client.call_tool("update_memory", {"memory_id": str(public.id), "text": "not mine"})
        out["missing"] = await client.call_tool("delete_memory", {"memory_id": MISSING})
        out["get"] = await client.call_tool("get_memories", {"user_id": str(bob.pk)})
        out["query"] = await client.call_tool("query_memory", {"query": "green tea secret plan"})
        out["persona"] = await client.call_tool("query_user", {"user_id": str(bob.pk), "prompt": "What is Bob's secret plan about green tea?"})
        out["batch"] = await client.call_tool("batch_memories", {"operations": [
            {"op": "update", "data": {"memory_id": str(secret.id), "text": "x"}},
            {"op": "delete", "data": {"memory_id": str(secret.id)}},
        ]})
        errors = {}
        for uri in (f"memories://{secret.id}", f"memories://{MISSING}"):
            try:
                await client.read_resource(uri)
            except Exception as exc:
                errors[uri] = exc
        out["errors"] = errors
        out["bob_page"] = await client.read_resource(f"users://{bob.pk}/memories")
        return out

    out = with_client(mcp_server.mcp_url, token, scenario, mode=mode)
    for name in ("update_memory", "delete_memory", "modify_permissions"):
        for result in out[name]:
            assert result.is_error is True
            assert result.content[0].text == out["missing"].content[0].text == "not_found: Memory not found."
    assert out["public_update"].is_error is True
    assert out["public_update"].content[0].text.startswith("forbidden:")
    assert [m["id"] for m in out["get"].structured_content["memories"]] == [str(public.id)]
    assert str(secret.id) not in [m["id"] for m in out["query"].structured_content["memories"]]
    assert str(secret.id) not in [m["id"] for m in out["persona"].structured_content["memories"]]
    assert "secret plan" not in out["persona"].structured_content["response"]
    assert [r["error"]["code"] for r in out["batch"].structured_content["results"]] == ["not_found", "not_found"]
    secret_error, missing_error = out["errors"][f"memories://{secret.id}"], out["errors"][f"memories://{MISSING}"]
    assert str(secret_error) == str(missing_error)
    assert getattr(secret_error, "error", None) is None or secret_error.error.code == missing_error.error.code == -32602
    bob_page = json.loads(out["bob_page"].contents[0].text)
    assert [m["id"] for m in bob_page["memories"]] == [str(public.id)]
    secret.refresh_from_db()
    assert secret.text == "Bob's secret plan about green tea" and secret.permission == "private"


def test_a_session_cannot_be_used_with_another_users_token(mcp_server, make_token, alice, bob):
    alice_token, bob_token = make_token(alice), make_token(bob)
    init = _post(mcp_server, alice_token)
    session = init.headers["mcp-session-id"]
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "retrieve_memories", "arguments": {}}}
    hijack = _post(mcp_server, bob_token, call, **{"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"})
    assert hijack.status_code == 404
