"""POST /api/tools over real HTTP against a live server, with tokens from the real
authorization-code + PKCE flow."""

from __future__ import annotations

import httpx
import pytest

from mcp_bridge.tools import TOOLS
from memories.models import Memory
from oauth.testing import call_tool

READ_WRITE = "memories:read memories:write"


def tool_payloads(*, own_id: str, spare_id: str, user_id: str) -> dict[str, dict]:
    """One realistic call per tool. Every registered tool must appear here."""
    return {
        "submit_memory": {"text": "I climbed Mont Blanc in 2019", "permission": "private", "tags": ["travel"], "metadata": {"source": "test"}},
        "update_memory": {"memory_id": own_id, "text": "I climbed Mont Blanc in July 2019", "expiration_date": "2099-01-01T00:00:00Z"},
        "modify_permissions": {"memory_id": own_id, "permission": "public"},
        "get_memories": {"user_id": user_id, "limit": 10},
        "retrieve_memories": {},
        "query_memory": {"query": "mountain climbing", "limit": 5},
        "query_user": {"user_id": user_id, "prompt": "Which mountains has this person climbed?"},
        "whoami": {},
        "batch_memories": {"operations": [
            {"op": "create", "data": {"text": "Batch one"}},
            {"op": "update", "data": {"memory_id": own_id, "tags": ["alps"]}},
        ]},
        "memory_history": {"memory_id": own_id},
        "restore_memory": {"memory_id": own_id, "version": 1},
        "delete_memory": {"memory_id": spare_id},
    }


def test_full_authorization_code_flow_then_every_tool(live_server, alice, token_for):
    token = token_for(alice, scope=READ_WRITE)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    assert set(token["scope"].split()) == {"memories:read", "memories:write"}
    access = token["access_token"]

    created = call_tool(live_server.url, access, "submit_memory", {"text": "I love climbing in the Alps", "permission": "private"})
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["status"] == "success"
    memory = body["data"]
    assert set(memory) >= {"id", "text", "permission", "created_at", "updated_at", "expiration_date", "tags", "metadata", "owner_id"}
    assert memory["owner_id"] == str(alice.id) and memory["text"] == "I love climbing in the Alps"
    spare = call_tool(live_server.url, access, "submit_memory", {"text": "Delete me later"}).json()["data"]

    payloads = tool_payloads(own_id=memory["id"], spare_id=spare["id"], user_id=str(alice.id))
    missing = sorted(set(TOOLS) - set(payloads))
    assert not missing, f"add an /api/tools test payload for {missing}"
    order = [name for name in payloads if name in TOOLS and name != "delete_memory"] + ["delete_memory"]
    results = {}
    for name in order:
        response = call_tool(live_server.url, access, name, payloads[name])
        assert response.status_code == 200, f"{name}: {response.text}"
        assert response.json()["status"] == "success"
        results[name] = response.json()["data"]

    assert results["submit_memory"]["id"] and results["submit_memory"]["tags"] == ["travel"]
    assert results["update_memory"]["text"] == "I climbed Mont Blanc in July 2019"
    assert results["update_memory"]["expiration_date"] == "2099-01-01T00:00:00Z"
    assert results["modify_permissions"]["permission"] == "public"
    for listing in ("get_memories", "retrieve_memories", "query_memory"):
        for item in results[listing]["memories"]:
            assert {"id", "text", "permission", "created_at", "updated_at", "expiration_date"} <= set(item)
    assert memory["id"] in {m["id"] for m in results["retrieve_memories"]["memories"]}
    assert all("score" in m for m in results["query_memory"]["memories"])
    assert results["batch_memories"]["succeeded"] == 2
    if "query_user" in results:
        assert isinstance(results["query_user"]["response"], str)
    assert [v["version"] for v in results["memory_history"]["versions"]] == [4, 3, 2, 1]
    assert results["memory_history"]["versions"][-1]["text"] == "I love climbing in the Alps"
    assert results["restore_memory"]["text"] == "I love climbing in the Alps" and results["restore_memory"]["version"] == 5
    assert results["delete_memory"]["id"] == spare["id"] and results["delete_memory"]["trashed"] is True
    assert Memory.objects.get(id=spare["id"]).trashed_at is not None


@pytest.fixture
def access(live_server, alice, token_for):
    return token_for(alice, scope=READ_WRITE)["access_token"]


def _error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["error"]["code"] == code, body
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def test_unknown_tool_lists_the_known_ones(live_server, access):
    error = _error(call_tool(live_server.url, access, "make_coffee", {}), 400, "unknown_tool")
    assert error["details"]["known_tools"] == sorted(TOOLS)
    assert "submit_memory" in error["message"]


def test_bad_json_is_a_400(live_server, access):
    response = httpx.post(f"{live_server.url}/api/tools", content=b'{"tool": "submit_memory", "data": {', headers={
        "Authorization": f"Bearer {access}", "Content-Type": "application/json"})
    _error(response, 400, "malformed_json")


@pytest.mark.parametrize("body", [[], "submit_memory", {"data": {}}, {"tool": 5}, {"tool": "submit_memory", "data": []},
                                  {"tool": "retrieve_memories", "data": {}, "extra": 1}])
def test_malformed_envelopes_are_400(live_server, access, body):
    response = httpx.post(f"{live_server.url}/api/tools", json=body, headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 400, response.text
    assert response.json()["status"] == "error"


@pytest.mark.parametrize(("tool", "data", "field"), [
    ("submit_memory", {}, "data.text"),
    ("submit_memory", {"text": 42}, "data.text"),
    ("submit_memory", {"text": "x", "colour": "red"}, "data.colour"),
    ("submit_memory", {"text": "x", "permission": "everyone"}, "data.permission"),
    ("submit_memory", {"text": "x", "tags": "work"}, "data.tags"),
    ("submit_memory", {"text": "x", "expiration_date": "next tuesday"}, "expiration_date"),
    ("update_memory", {"memory_id": "not-a-uuid", "text": "x"}, "memory_id"),
    ("get_memories", {"created_after": "2024-13-45"}, "created_after"),
    ("get_memories", {"limit": 1000}, "limit"),
    ("query_memory", {"limit": 5}, "data.query"),
])
def test_invalid_data_names_the_field(live_server, access, tool, data, field):
    error = _error(call_tool(live_server.url, access, tool, data), 400, "invalid")
    assert error["details"]["field"] == field, error
    assert field.split(".")[-1] in error["message"]


def test_text_over_the_limit_is_413_and_nothing_is_written(live_server, access, alice):
    error = _error(call_tool(live_server.url, access, "submit_memory", {"text": "x" * 10_001}), 413, "payload_too_large")
    assert error["details"]["field"] == "text"
    assert not Memory.objects.filter(owner=alice).exists()


def test_too_many_batch_items_is_400(live_server, access, alice):
    operations = [{"op": "create", "data": {"text": f"m{i}"}} for i in range(101)]
    error = _error(call_tool(live_server.url, access, "batch_memories", {"operations": operations}), 400, "invalid")
    assert error["details"]["field"] == "operations"
    assert not Memory.objects.filter(owner=alice).exists()


def test_batch_items_fail_on_their_own(live_server, access, alice):
    response = call_tool(live_server.url, access, "batch_memories", {"operations": [
        {"op": "create", "data": {"text": "good"}},
        {"op": "create", "data": {"text": ""}},
        {"op": "delete", "data": {"memory_id": "550e8400-e29b-41d4-a716-446655440000"}},
    ]})
    data = response.json()["data"]
    assert [r["status"] for r in data["results"]] == ["success", "error", "error"]
    assert data["results"][2]["error"]["code"] == "not_found"
    assert Memory.objects.filter(owner=alice).count() == 1


def test_missing_memory_is_404(live_server, access):
    _error(call_tool(live_server.url, access, "delete_memory", {"memory_id": "550e8400-e29b-41d4-a716-446655440000"}), 404, "not_found")


def test_stale_version_is_409(live_server, access):
    memory = call_tool(live_server.url, access, "submit_memory", {"text": "v1"}).json()["data"]
    call_tool(live_server.url, access, "update_memory", {"memory_id": memory["id"], "text": "v2"})
    _error(call_tool(live_server.url, access, "update_memory", {"memory_id": memory["id"], "text": "v3", "expected_version": 1}), 409, "conflict")


def test_no_token_and_bad_token_are_401(live_server):
    response = call_tool(live_server.url, None, "retrieve_memories", {})
    _error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    _error(call_tool(live_server.url, "not-a-real-token", "retrieve_memories", {}), 401, "unauthorized")


def test_read_only_token_cannot_write(live_server, alice, token_for):
    token = token_for(alice, scope="memories:read")["access_token"]
    assert call_tool(live_server.url, token, "retrieve_memories", {}).status_code == 200
    for tool in ("submit_memory", "batch_memories"):
        error = _error(call_tool(live_server.url, token, tool, {"text": "nope"}), 403, "insufficient_scope")
        assert error["details"]["required_scopes"] == ["memories:write"]
        assert "memories:write" in error["message"]
    assert not Memory.objects.filter(owner=alice).exists()


def test_write_only_token_cannot_read(live_server, alice, token_for):
    token = token_for(alice, scope="memories:write")["access_token"]
    error = _error(call_tool(live_server.url, token, "query_memory", {"query": "x"}), 403, "insufficient_scope")
    assert error["details"]["required_scopes"] == ["memories:read"]


def test_pagination_with_cursor(live_server, access):
    for i in range(5):
        call_tool(live_server.url, access, "submit_memory", {"text": f"memory {i}"})
    seen, cursor = [], None
    while True:
        data = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = call_tool(live_server.url, access, "retrieve_memories", data).json()["data"]
        seen += [m["text"] for m in page["memories"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"memory {i}" for i in reversed(range(5))]


def test_signed_in_session_works_with_csrf_and_fails_without(live_server, alice, browser_for):
    browser = browser_for(alice)
    client = browser.client
    no_csrf = client.post("/api/tools", json={"tool": "submit_memory", "data": {"text": "from the site"}})
    _error(no_csrf, 403, "forbidden")
    assert "CSRF" in no_csrf.json()["error"]["message"]
    csrf = client.cookies.get("csrftoken")
    ok = client.post("/api/tools", json={"tool": "submit_memory", "data": {"text": "from the site"}},
                     headers={"X-CSRFToken": csrf, "Referer": live_server.url + "/"})
    assert ok.status_code == 200, ok.text
    assert Memory.objects.get(owner=alice).text == "from the site"


def test_activity_records_the_api_surface_and_client(live_server, access, alice, oauth_app):
    from memories.models import Activity

    call_tool(live_server.url, access, "submit_memory", {"text": "audited"})
    activity = Activity.objects.get(actor=alice, action="memory.create")
    assert activity.surface == "api"
    assert activity.client_id == oauth_app.client_id


def test_get_is_not_allowed(live_server, access):
    response = httpx.get(f"{live_server.url}/api/tools", headers={"Authorization": f"Bearer {access}"})
    _error(response, 405, "method_not_allowed")
