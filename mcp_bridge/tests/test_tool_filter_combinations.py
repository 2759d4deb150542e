"""get_memories and query_memory with their filters in combination, on data with every kind
of memory: each combination answers (a result or a clear domain error, never a crash), and
every memory returned is one the caller may see and matches every filter."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from mcp_bridge.tools import TOOLS, GetMemoriesInput, QueryMemoryInput
from memories.models import Memory
from memories.services import memory_create
from picard.exceptions import DomainError

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(alice, bob, carol):
    crew = Group.objects.create(name="crew")
    alice.groups.add(crew)
    memory_create(actor=alice, text="garden plan, private", tags=["garden"])
    memory_create(actor=alice, text="garden tip, public", permission="public", tags=["garden", "tips"])
    memory_create(actor=alice, text="garden party, shared", permission="shared", shared_with={"users": [str(bob.pk)]})
    old = memory_create(actor=alice, text="garden reminder, expired", expires_at=timezone.now() + timedelta(hours=1))
    Memory.objects.filter(id=old.id).update(expires_at=timezone.now() - timedelta(hours=1))
    memory_create(actor=bob, text="garden diary, bob public", permission="public", tags=["garden"])
    memory_create(actor=bob, text="garden keys, bob shares with alice", permission="shared", shared_with=["alice"])
    memory_create(actor=bob, text="garden secret, bob private", tags=["garden"])
    memory_create(actor=carol, text="garden for the crew, carol", permission="shared", shared_with={"groups": ["crew"]})
    return {"alice": alice, "bob": bob, "carol": carol}


def _visible_to_alice(memory: dict, alice) -> bool:
    return memory["owner_id"] == str(alice.pk) or memory["permission"] in ("public", "shared")


def _check(result: dict, *, data: dict, alice) -> None:
    now = timezone.now().isoformat()
    for memory in result["memories"]:
        assert "bob private" not in memory["text"]
        assert _visible_to_alice(memory, alice), memory
        if data.get("user_id"):
            assert memory["owner_id"] == data["user_id"]
        if data.get("permission"):
            assert memory["permission"] == data["permission"]
        for tag in data.get("tags") or ():
            assert tag in memory["tags"]
        expired = bool(memory.get("expiration_date")) and memory["expiration_date"] <= now
        if data.get("expired") in (None, "active"):
            assert not expired, memory
        elif data["expired"] == "expired":
            assert expired and memory["owner_id"] == str(alice.pk), memory


@pytest.mark.parametrize("tool_name", ["get_memories", "query_memory"])
def test_filters_in_combination(world, tool_name):
    alice, bob = world["alice"], world["bob"]
    tool = TOOLS[tool_name]
    answered = returned = 0
    for user_id, permission, expired, tags in itertools.product(
        [None, str(alice.pk), str(bob.pk)], [None, "private", "shared", "public"], [None, "active", "expired", "all"], [None, ["garden"]],
    ):
        data = {"user_id": user_id, "permission": permission, "expired": expired, "tags": tags}
        data = {k: v for k, v in data.items() if v is not None}
        variants = [{"sort": sort} for sort in ("newest", "oldest", "updated")] if tool_name == "get_memories" else \
            [{"query": "garden", "mode": mode} for mode in (None, "semantic", "keyword", "hybrid")]
        for extra in variants:
            call = {**data, **{k: v for k, v in extra.items() if v is not None}}
            parsed = (GetMemoriesInput if tool_name == "get_memories" else QueryMemoryInput).model_validate(call)
            try:
                result = tool.handler(alice, parsed)
            except DomainError as exc:  # a clear refusal is an answer too
                assert exc.code in ("validation_error", "not_found"), (call, exc.code)
                continue
            _check(result, data=call, alice=alice)
            answered += 1
            returned += len(result["memories"])
    assert answered >= 80  # most combinations are valid questions, not refusals
    assert returned >= 100, returned  # and they find things
