"""The issue's hostile-input list, field by field, through both doors: POST /api/tools and
MCP ``tools/call`` (the SDK's own client) against the real ASGI app under uvicorn.

Each bad call gets a clear 4xx naming the field (an MCP tool error with ``isError``), and
afterwards not one row has changed: the memories (count, versions, texts, tags) and the
activity log of writes are exactly as before. The edge cases that never reach a tool
(bodies over the limit, nesting, invalid UTF-8, NUL, lone surrogates, wrong content
types) are in test_hostile_input.py, for /api/tools and /mcp alike.
"""

from __future__ import annotations

import json

import httpx
import pytest

from mcp_bridge.tests.mcp_client import with_client
from memories import services
from memories.models import Activity, Memory
from oauth.testing import call_tool

BRACED = "{%s}"
HUGE = [-1, 0, -(2**63), 2**63, 10**30, 5.5, "1e400", "-5"]


def bad_calls(own_id: str) -> list[tuple[str, dict, int, str]]:
    """(tool, data, REST status, field named in the error)."""
    calls = [
        ("submit_memory", {"text": "x", "tags": [f"t{i}" for i in range(10_000)]}, 400, "tags"),
        ("submit_memory", {"text": "x", "metadata": {"blob": "m" * 1_000_000}}, 413, "metadata"),
        ("submit_memory", {"text": "x", "metadata": {f"k{i}": i for i in range(60_000)}}, 413, "metadata"),
        ("submit_memory", {"text": "x", "expiration_date": "0001-01-01T00:00:00Z"}, 400, "expiration_date"),
        ("submit_memory", {"text": "x", "expiration_date": "9999-12-31T23:59:59Z"}, 400, "expiration_date"),
        ("submit_memory", {"text": "x", "expiration_date": "+275760-09-13T00:00:00Z"}, 400, "expiration_date"),
        ("submit_memory", {"text": "x", "expiration_date": "-000001-01-01T00:00:00Z"}, 400, "expiration_date"),
        ("update_memory", {"memory_id": BRACED % own_id, "text": "changed"}, 400, "memory_id"),
        ("update_memory", {"memory_id": f"urn:uuid:{own_id}", "text": "changed"}, 400, "memory_id"),
        ("update_memory", {"memory_id": own_id.replace("-", ""), "text": "changed"}, 400, "memory_id"),
        ("update_memory", {"memory_id": f" {own_id}", "text": "changed"}, 400, "memory_id"),
        ("update_memory", {"memory_id": own_id, "expiration_date": "0001-01-01T00:00:00Z"}, 400, "expiration_date"),
        ("delete_memory", {"memory_id": BRACED % own_id.upper()}, 400, "memory_id"),
        ("delete_memory", {"memory_id": "1"}, 400, "memory_id"),
        ("modify_permissions", {"memory_id": f"urn:uuid:{own_id}", "permission": "public"}, 400, "memory_id"),
        ("get_memories", {"created_after": "0001-01-01T00:00:00+14:00"}, 400, "created_after"),
        ("get_memories", {"created_before": "9999-12-31T23:59:59-12:00"}, 400, "created_before"),
        ("get_memories", {"created_after": "-999999-01-01"}, 400, "created_after"),
    ]
    for value in HUGE:
        calls.append(("get_memories", {"limit": value}, 400, "limit"))
        calls.append(("query_memory", {"query": "anything", "limit": value}, 400, "limit"))
    return calls


def _state():
    memories = sorted(Memory.objects.values_list("id", "version", "text_encrypted", "tags", "permission", "expires_at"))
    writes = Activity.objects.exclude(action__in=["memory.search", "memory.list", "memory.get"]).count()
    return memories, writes


@pytest.mark.django_db(transaction=True)
def test_every_hostile_field_is_a_clear_4xx_through_api_tools_and_mcp_and_nothing_changes(mcp_server_factory, make_token, alice):
    server = mcp_server_factory()
    own = services.memory_create(actor=alice, text="keep me exactly as I am", tags=["keep"])
    own_id = str(own.id)
    rest_token = make_token(alice, resource=[])
    mcp_token = make_token(alice)
    before = _state()

    for tool, data, status, field in bad_calls(own_id):
        response = call_tool(server.url, rest_token, tool, data)
        label = f"{tool} {str(data)[:120]}"
        assert response.status_code == status, (label, response.status_code, response.text[:300])
        body = response.json()
        assert body["status"] == "error" and set(body["error"]) == {"code", "message", "details"}, label
        assert field in (body["error"]["details"].get("field") or ""), (label, body["error"])
        assert "Traceback" not in response.text

    # a batch answers 200 and each item fails on its own, naming its field
    batch = {"operations": [{"op": "create", "data": {"text": "x", "tags": ["t"] * 10_000}},
                            {"op": "update", "data": {"memory_id": BRACED % own_id, "text": "changed"}}]}
    items = call_tool(server.url, rest_token, "batch_memories", batch).json()["data"]["results"]
    assert [(i["status"], i["error"]["details"]["field"]) for i in items] == [("error", "tags"), ("error", "memory_id")]

    calls = bad_calls(own_id)

    async def scenario(client):
        results = [await client.call_tool(tool, data) for tool, data, _, _ in calls]
        return results, await client.call_tool("batch_memories", batch)

    results, batch_result = with_client(server.mcp_url, mcp_token, scenario)
    assert [i["status"] for i in batch_result.structured_content["results"]] == ["error", "error"]
    for (tool, data, _, field), result in zip(calls, results, strict=False):
        label = f"{tool} {str(data)[:120]}"
        assert result.is_error is True, label
        text = result.content[0].text
        assert text.split(":")[0] in {"invalid", "payload_too_large"} and field in text, (label, text[:200])
        assert "Traceback" not in text

    assert _state() == before  # nothing stored, nothing changed, nothing half-written


@pytest.mark.django_db(transaction=True)
def test_uppercase_uuid_names_the_same_memory_on_both_doors(mcp_server_factory, make_token, alice):
    server = mcp_server_factory()
    own = services.memory_create(actor=alice, text="original")
    response = call_tool(server.url, make_token(alice, resource=[]), "update_memory", {"memory_id": str(own.id).upper(), "text": "via REST"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["id"] == str(own.id)

    async def scenario(client):
        return await client.call_tool("update_memory", {"memory_id": str(own.id).upper(), "text": "via MCP"})

    result = with_client(server.mcp_url, make_token(alice), scenario)
    assert result.is_error is False, result.content[0].text
    own = Memory.objects.get(id=own.id)
    assert own.text == "via MCP" and own.version == 3
    assert Memory.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_wrong_content_types_on_mcp_are_a_clear_4xx_and_store_nothing(mcp_server_factory, make_token, alice):
    server = mcp_server_factory()
    token = make_token(alice)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "submit_memory", "arguments": {"text": "sneaked in"}}})
    for content_type in ("text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data", None):
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
        if content_type:
            headers["Content-Type"] = content_type
        response = httpx.post(server.mcp_url, content=body, headers=headers, timeout=30)
        assert 400 <= response.status_code < 500, (content_type, response.status_code, response.text[:200])
        assert "Traceback" not in response.text
    assert not Memory.objects.exists()
