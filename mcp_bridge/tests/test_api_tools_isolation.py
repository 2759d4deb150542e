"""Cross-user isolation on every tool through POST /api/tools: bob can never read, change,
delete, search or persona-leak alice's private memories; shared ones reach only the named
users; another user's private memory looks exactly like a missing one."""

from __future__ import annotations

import uuid

import pytest

from mcp_bridge.tools import TOOLS
from memories.models import Memory
from memories.services import memory_create
from oauth.testing import call_tool

SECRET = "zebra passport number 88123 hidden in the piano"
SHARED = "zebra picnic plan shared with carol only"
PUBLIC = "zebra sightings are my favourite hobby"


@pytest.fixture
def world(live_server, alice, bob, carol, token_for):
    private = memory_create(actor=alice, text=SECRET, permission="private", tags=["zebra"])
    shared = memory_create(actor=alice, text=SHARED, permission="shared", tags=["zebra"], shared_with={"users": [str(carol.id)]})
    public = memory_create(actor=alice, text=PUBLIC, permission="public", tags=["zebra"])
    return {
        "url": live_server.url,
        "private": private, "shared": shared, "public": public,
        "bob": token_for(bob)["access_token"], "carol": token_for(carol)["access_token"],
    }


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.text
    return {m["id"] for m in response.json()["data"]["memories"]}


def test_reads_and_searches_never_show_private_and_shared_reaches_only_carol(world, alice):
    url, bob, carol = world["url"], world["bob"], world["carol"]
    private, shared, public = (str(world[k].id) for k in ("private", "shared", "public"))
    for data in ({}, {"user_id": str(alice.id)}, {"tags": ["zebra"]}, {"permission": "private"}, {"expired": "all"}):
        assert _ids(call_tool(url, bob, "get_memories", data)) <= {public}
    assert _ids(call_tool(url, bob, "get_memories", {"user_id": str(alice.id)})) == {public}
    assert _ids(call_tool(url, bob, "retrieve_memories", {})) == set()
    for query in (SECRET, SHARED, "zebra"):
        found = _ids(call_tool(url, bob, "query_memory", {"query": query, "limit": 50}))
        assert private not in found and shared not in found
    assert _ids(call_tool(url, carol, "get_memories", {"user_id": str(alice.id)})) == {shared, public}
    assert shared in _ids(call_tool(url, carol, "query_memory", {"query": SHARED}))
    assert private not in _ids(call_tool(url, carol, "query_memory", {"query": SECRET}))


def test_changes_to_others_memories_look_like_missing_ones(world):
    url, bob = world["url"], world["bob"]
    missing = str(uuid.uuid4())
    attempts = [
        ("update_memory", lambda mid: {"memory_id": mid, "text": "pwned"}),
        ("delete_memory", lambda mid: {"memory_id": mid}),
        ("modify_permissions", lambda mid: {"memory_id": mid, "permission": "public"}),
    ]
    for tool, data in attempts:
        expected = call_tool(url, bob, tool, data(missing))
        assert expected.status_code == 404
        for key in ("private", "shared"):
            response = call_tool(url, bob, tool, data(str(world[key].id)))
            assert response.status_code == 404, (tool, key, response.text)
            assert response.json() == expected.json(), (tool, key)
        # a public memory bob can already see: refused as not his (its existence is no secret)
        response = call_tool(url, bob, tool, data(str(world["public"].id)))
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden", (tool, response.text)
    batch = call_tool(url, bob, "batch_memories", {"operations": [
        {"op": "update", "data": {"memory_id": str(world["private"].id), "text": "pwned"}},
        {"op": "delete", "data": {"memory_id": str(world["shared"].id)}},
        {"op": "delete", "data": {"memory_id": str(world["public"].id)}},
    ]}).json()["data"]
    assert [r["error"]["code"] for r in batch["results"]] == ["not_found", "not_found", "forbidden"]
    for key, text, permission in (("private", SECRET, "private"), ("shared", SHARED, "shared"), ("public", PUBLIC, "public")):
        memory = Memory.objects.get(id=world[key].id)
        assert (memory.text, memory.permission, memory.version) == (text, permission, 1)


def test_bob_cannot_submit_memories_for_alice(world, alice):
    response = call_tool(world["url"], world["bob"], "submit_memory", {"text": "mine", "owner_id": str(alice.id)})
    assert response.status_code == 400
    created = call_tool(world["url"], world["bob"], "submit_memory", {"text": "mine"}).json()["data"]
    assert created["owner_id"] != str(alice.id)


def test_persona_never_leaks_private_or_shared_memories(world, alice):
    if "query_user" not in TOOLS:  # the persona tool is registered by the personas app
        pytest.fail("query_user is not registered")
    response = call_tool(world["url"], world["bob"], "query_user", {"user_id": str(alice.id), "prompt": "Tell me about the zebra passport and picnic plan"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert "88123" not in data["response"] and "piano" not in data["response"] and "picnic" not in data["response"]
    used = {m["id"] for m in data.get("memories", [])}
    assert used <= {str(world["public"].id)}
