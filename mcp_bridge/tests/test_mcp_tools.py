"""Every tool and resource through a live /mcp, spoken to by the SDK's own client."""

from __future__ import annotations

import json

import httpx
import jsonschema
import pytest

from mcp_bridge.tests.mcp_client import MODES, with_client
from mcp_bridge.tools import TOOLS

MISSING = "00000000-0000-4000-8000-000000000000"


def _structured(result):
    assert result.is_error is False, result.content
    # The same JSON as text, for clients that ignore structuredContent.
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def test_tools_list_is_the_registry_with_schemas_annotations_and_descriptions(mcp_server, make_token, alice):
    token = make_token(alice)

    async def scenario(client):
        return (await client.list_tools()).tools

    tools = {t.name: t for t in with_client(mcp_server.mcp_url, token, scenario)}
    assert set(tools) == set(TOOLS)
    for name, spec in TOOLS.items():
        tool = tools[name]
        assert tool.description == spec.description
        assert tool.input_schema == spec.input.model_json_schema(by_alias=True)
        assert tool.input_schema["additionalProperties"] is False
        if spec.output is not None:
            assert tool.output_schema["type"] == "object"
            assert set(tool.output_schema["properties"]) >= set(spec.output.model_fields)
        assert tool.annotations.read_only_hint is spec.read_only
        assert tool.annotations.destructive_hint is spec.destructive
        assert tool.annotations.idempotent_hint is spec.idempotent
    assert tools["delete_memory"].annotations.destructive_hint is True
    assert tools["query_memory"].annotations.read_only_hint is True


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stateless,json_response", [(False, False), (True, True)], ids=["stateful-sse", "stateless-json"])
def test_every_tool_and_resource_works_and_matches_its_output_schema(mcp_server_factory, make_token, alice, bob, mode, stateless, json_response):
    server = mcp_server_factory(stateless=stateless, json_response=json_response)
    token = make_token(alice)

    async def scenario(client):
        schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
        seen = {}

        async def call(name, args):
            result = await client.call_tool(name, args)
            data = _structured(result)
            jsonschema.validate(data, schemas[name])
            seen[name] = data
            return data

        created = await call("submit_memory", {"text": "Alice drinks green tea every morning", "tags": ["drinks"], "permission": "private"})
        memory_id = created["id"]
        updated = await call("update_memory", {"memory_id": memory_id, "tags": ["drinks", "morning"], "expected_version": created["version"]})
        shared = await call("modify_permissions", {"memory_id": memory_id, "permission": "shared", "shared_with": {"users": [str(bob.pk)]}})
        listed = await call("get_memories", {"tags": ["morning"]})
        mine = await call("retrieve_memories", {"limit": 5})
        found = await call("query_memory", {"query": "green tea", "limit": 3})
        batch = await call("batch_memories", {"operations": [
            {"op": "create", "data": {"text": "Alice plays the cello"}},
            {"op": "delete", "data": {"memory_id": MISSING}},
        ]})
        me = await call("whoami", {})
        asked = await call("query_user", {"user_id": str(alice.pk), "prompt": "What does Alice drink in the morning?"})
        one = await client.read_resource(f"memories://{memory_id}")
        theirs = await client.read_resource(f"users://{alice.pk}/memories")
        templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        resources = [str(r.uri) for r in (await client.list_resources()).resources]
        history = await call("memory_history", {"memory_id": memory_id})
        deleted = await call("delete_memory", {"memory_id": memory_id})
        gone = await client.call_tool("memory_history", {"memory_id": memory_id})
        restored = await call("restore_memory", {"memory_id": memory_id})
        return locals()

    out = with_client(server.mcp_url, token, scenario, mode=mode)
    memory_id = out["memory_id"]
    assert out["created"]["text"] == "Alice drinks green tea every morning"
    assert out["created"]["owner_id"] == str(alice.pk)
    assert out["updated"]["tags"] == ["drinks", "morning"] and out["updated"]["version"] == 2
    assert out["shared"]["permission"] == "shared" and out["shared"]["shared_with"]["users"] == [str(bob.pk)]
    assert [m["id"] for m in out["listed"]["memories"]] == [memory_id]
    assert memory_id in [m["id"] for m in out["mine"]["memories"]]
    assert out["found"]["memories"][0]["id"] == memory_id and 0 < out["found"]["memories"][0]["score"] <= 1
    assert [r["status"] for r in out["batch"]["results"]] == ["success", "error"]
    assert out["batch"]["results"][1]["error"]["code"] == "not_found"
    assert out["batch"]["succeeded"] == 1 and out["batch"]["failed"] == 1
    assert json.loads(out["one"].contents[0].text)["id"] == memory_id
    assert out["one"].contents[0].mime_type == "application/json"
    page = json.loads(out["theirs"].contents[0].text)
    assert page["user_id"] == str(alice.pk) and memory_id in [m["id"] for m in page["memories"]]
    assert set(out["templates"]) == {"memories://{memory_id}", "users://{user_id}/memories"}
    assert f"memories://{memory_id}" in out["resources"]
    assert out["me"]["user_id"] == str(alice.pk) and out["me"]["client_name"] == "test MCP client"
    assert out["found"]["memories"][0]["is_mine"] is True and out["found"]["memories"][0]["owner"]["username"] == "alice"
    assert [v["version"] for v in out["history"]["versions"]] == [3, 2, 1]
    assert [v["change"] for v in out["history"]["versions"]] == ["permission", "update", "create"]
    assert {v["surface"] for v in out["history"]["versions"]} == {"mcp"}
    assert out["deleted"]["id"] == memory_id and out["deleted"]["deleted"] is True and out["deleted"]["trashed"] is True
    assert out["deleted"]["purge_at"]
    assert out["gone"].is_error  # in the trash: even its history is gone for now
    assert out["restored"]["id"] == memory_id and out["restored"]["version"] == 3
    assert memory_id in [m["id"] for m in out["asked"]["memories"]] and out["asked"]["response"]
    assert set(out["seen"]) == set(TOOLS)


def test_protocol_2025_06_18_client_over_plain_http(mcp_server, make_token, alice):
    """An older client: initialize with 2025-06-18, then call a tool, answered as JSON or SSE."""
    token = make_token(alice)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    with httpx.Client(base_url=mcp_server.url, headers=headers, timeout=30) as http:
        init = http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "old", "version": "1"}}})
        assert init.status_code == 200
        session = init.headers["mcp-session-id"]
        body = _sse_or_json(init)
        assert body["result"]["protocolVersion"] == "2025-06-18"
        assert body["result"]["serverInfo"]["name"] == "picard"
        more = {"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-06-18"}
        assert http.post("/mcp", headers=more, json={"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202
        call = http.post("/mcp", headers=more, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "submit_memory", "arguments": {"text": "from an older client"}}})
        result = _sse_or_json(call)["result"]
        assert result["isError"] is False
        assert result["structuredContent"]["text"] == "from an older client"
        assert http.delete("/mcp", headers=more).status_code == 200


def _sse_or_json(response) -> dict:
    if response.headers["content-type"].startswith("application/json"):
        return response.json()
    data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
    return json.loads(data[-1])


def test_bad_input_and_domain_errors_are_tool_errors_a_model_can_read(mcp_server, make_token, alice):
    token = make_token(alice)

    async def scenario(client):
        return {
            "unknown_field": await client.call_tool("submit_memory", {"text": "x", "colour": "red"}),
            "missing_field": await client.call_tool("submit_memory", {}),
            "bad_id": await client.call_tool("delete_memory", {"memory_id": "not-a-uuid"}),
            "missing": await client.call_tool("update_memory", {"memory_id": MISSING, "text": "y"}),
            "empty_text": await client.call_tool("submit_memory", {"text": "   "}),
        }

    out = with_client(mcp_server.mcp_url, token, scenario)
    for name, result in out.items():
        assert result.is_error is True, name
        assert "Traceback" not in result.content[0].text
    assert out["unknown_field"].content[0].text.startswith("invalid: colour:")
    assert out["missing_field"].content[0].text.startswith("invalid: text:")
    assert out["bad_id"].content[0].text.startswith("invalid: memory_id")
    assert out["missing"].content[0].text == "not_found: Memory not found."
    assert out["empty_text"].content[0].text.startswith("invalid:")


def test_calls_are_recorded_as_mcp_activity_with_the_client_id(mcp_server, make_token, alice):
    from oauth2_provider.models import get_access_token_model

    from memories.models import Activity

    token = make_token(alice)
    client_id = get_access_token_model().objects.get(user=alice).application.client_id

    async def scenario(client):
        return await client.call_tool("submit_memory", {"text": "audited"})

    with_client(mcp_server.mcp_url, token, scenario)
    activity = Activity.objects.filter(actor=alice).order_by("-created_at").first()
    assert activity.surface == "mcp"
    assert activity.client_id == client_id


def test_resource_uris_autocomplete_to_the_callers_own_memories(mcp_server, make_token, alice, bob):
    from mcp_types import ResourceTemplateReference

    from memories import services

    mine = services.memory_create(actor=alice, text="mine")
    services.memory_create(actor=bob, text="not mine", permission="public")
    token = make_token(alice)

    async def scenario(client):
        memory_ref = ResourceTemplateReference(uri="memories://{memory_id}")
        user_ref = ResourceTemplateReference(uri="users://{user_id}/memories")
        return (
            await client.complete(memory_ref, {"name": "memory_id", "value": str(mine.id)[:4]}),
            await client.complete(user_ref, {"name": "user_id", "value": ""}),
        )

    memories, users = with_client(mcp_server.mcp_url, token, scenario)
    assert memories.completion.values == [str(mine.id)]
    assert users.completion.values == [str(alice.pk)]


def test_a_client_in_auto_mode_discovers_the_2026_07_28_protocol(mcp_server, make_token, alice):
    """``server/discover`` answers, so an SDK client in its default mode speaks 2026-07-28."""
    token = make_token(alice)

    async def scenario(client):
        result = await client.call_tool("retrieve_memories", {})
        return client.protocol_version, result

    version, result = with_client(mcp_server.mcp_url, token, scenario, mode="auto")
    assert version == "2026-07-28"
    assert result.is_error is False
