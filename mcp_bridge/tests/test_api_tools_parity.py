"""Parity: every tool gives the same payload through POST /api/tools as through the registry
handler (the service layer) called directly."""

from __future__ import annotations

import pytest

from mcp_bridge.tools import TOOLS
from memories.services import memory_create, memory_delete, memory_update
from oauth.testing import call_tool
from picard.context import call_context

VOLATILE = {"id", "created_at", "updated_at", "memory_id", "cached", "usage", "elapsed_ms", "request_id", "purge_at"}


def normalize(value):
    """Drop the fields that differ between two otherwise identical writes."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def direct(tool: str, actor, data: dict) -> dict:
    entry = TOOLS[tool]
    return entry.handler(actor, entry.input.model_validate(data))


def test_every_tool_has_the_same_payload_over_rest_and_directly(live_server, alice, bob, token_for, oauth_app):
    issued = token_for(alice)
    token = issued["access_token"]
    memory_create(actor=bob, text="Bob likes sailing on the lake", permission="public")

    def pair(text: str):
        """Two memories with the same text, tags and version (the same text cannot be
        submitted twice: the twin is written under another text, then changed to it)."""
        first = memory_create(actor=alice, text=text, tags=["pair"])
        twin = memory_create(actor=alice, text=f"{text} (twin)", tags=["pair"])
        memory_update(actor=alice, memory_id=first.id, tags=["pair"])
        memory_update(actor=alice, memory_id=twin.id, text=text)
        return first, twin

    update_a, update_b = pair("I drink green tea")
    perm_a, perm_b = pair("My city is Lyon")
    delete_a, delete_b = pair("Temporary note")
    batch_a, batch_b = pair("Batch target")
    restore_a, restore_b = pair("Restore target")
    for twin in (restore_a, restore_b):  # version 3 changes the text; restoring version 2 brings it back
        memory_update(actor=alice, memory_id=twin.id, text=f"Changed {twin.id}")

    writes = {  # tool: (data for a target memory, the target for REST, the twin target for the direct call)
        "submit_memory": (lambda _: {"text": "Parity memory", "permission": "public", "tags": ["p"], "metadata": {"k": 1}}, None, None),
        "update_memory": (lambda m: {"memory_id": str(m.id), "text": "I drink black tea", "tags": ["tea"]}, update_a, update_b),
        "modify_permissions": (lambda m: {"memory_id": str(m.id), "permission": "public"}, perm_a, perm_b),
        "delete_memory": (lambda m: {"memory_id": str(m.id)}, delete_a, delete_b),
        "restore_memory": (lambda m: {"memory_id": str(m.id), "version": 2}, restore_a, restore_b),
        "batch_memories": (lambda m: {"operations": [{"op": "create", "data": {"text": "batched"}},
                                                      {"op": "update", "data": {"memory_id": str(m.id), "tags": ["b"]}}]},
                           batch_a, batch_b),
    }
    reads = {
        "get_memories": {"limit": 50},
        "retrieve_memories": {"limit": 50},
        "query_memory": {"query": "tea", "limit": 10},
        "whoami": {},
        "query_user": {"user_id": str(bob.id), "prompt": "What does Bob like to do?"},
        "memory_history": {"memory_id": str(restore_a.id)},
    }
    assert set(TOOLS) <= set(writes) | set(reads), f"add a parity case for {sorted(set(TOOLS) - set(writes) - set(reads))}"

    for name, (make, target_api, target_direct) in writes.items():
        if name not in TOOLS:
            continue
        api = call_tool(live_server.url, token, name, make(target_api))
        assert api.status_code == 200, f"{name}: {api.text}"
        created = [api.json()["data"]] if name == "submit_memory" else \
            [r for r in api.json()["data"].get("results", []) if r.get("op") == "create" and r.get("status") == "success"]
        for memory in created:  # the same text again would be answered as a duplicate
            memory_delete(actor=alice, memory_id=memory["id"], permanent=True)
        assert normalize(api.json()["data"]) == normalize(direct(name, alice, make(target_direct))), name

    # reads run on the same state, so the payloads must be identical (ids and times included)
    for name, data in reads.items():
        if name not in TOOLS:
            continue
        api = call_tool(live_server.url, token, name, data)
        assert api.status_code == 200, f"{name}: {api.text}"
        # whoami reports the connection itself: called directly, it runs as the same token would
        with call_context(surface="api", client_id=oauth_app.client_id, scopes=frozenset(issued["scope"].split())):
            via_service = direct(name, alice, data)
        if name == "query_user":  # a persona answer may carry per-call facts (cache flag, usage)
            assert normalize(api.json()["data"]) == normalize(via_service), name
        else:
            assert api.json()["data"] == via_service, name


def test_invalid_input_fails_through_rest_and_directly(live_server, alice, token_for):
    """The same invalid input is refused by both doors."""
    from pydantic import ValidationError as PydanticValidationError

    from picard.exceptions import DomainError

    token = token_for(alice)["access_token"]
    for name, tool in sorted(TOOLS.items()):
        bad = {"memory_id": "nope"} if "memory_id" in tool.input.model_fields else {"unexpected_field": 1}
        response = call_tool(live_server.url, token, name, bad)
        assert response.status_code == 400, (name, response.text)
        with pytest.raises((DomainError, PydanticValidationError)):
            direct(name, alice, bad)
