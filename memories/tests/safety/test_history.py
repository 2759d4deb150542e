"""Version history: every change keeps the previous version (encrypted), memory_history lists
them with the door that made each, restore_memory brings one back as a new version."""

from __future__ import annotations

import pytest
from django.db import connection

from mcp_bridge.tools import TOOLS
from memories import search, selectors, services
from memories.models import Activity, MemoryShare, MemoryVersion
from picard.context import call_context
from picard.exceptions import NotFound, PermissionDenied


def _call(tool: str, actor, data: dict) -> dict:
    entry = TOOLS[tool]
    return entry.handler(actor, entry.input.model_validate(data))


def test_every_change_keeps_the_previous_version_with_its_door(alice, bob):
    with call_context(surface="mcp", client_id="client-1"):
        memory = services.memory_create(actor=alice, text="I live in Lyon", tags=["home"])
    with call_context(surface="web"):
        services.memory_update(actor=alice, memory_id=memory.id, text="I live in Paris")
    with call_context(surface="api"):
        services.memory_update(actor=alice, memory_id=memory.id, tags=["home", "city"], expires_at="2099-01-01T00:00:00Z")
        services.memory_set_permission(actor=alice, memory_id=memory.id, permission="shared", shared_with=["bob"])
        services.memory_update(actor=alice, memory_id=memory.id, metadata={"source": "chat"})
    history = _call("memory_history", alice, {"memory_id": str(memory.id)})
    versions = history["versions"]
    assert history["current_version"] == 5 and history["count"] == 5
    assert [v["version"] for v in versions] == [5, 4, 3, 2, 1]
    assert [v["change"] for v in versions] == ["update", "permission", "update", "update", "create"]
    assert [v["surface"] for v in versions] == ["api", "api", "api", "web", "mcp"]
    assert versions[-1]["client_id"] == "client-1"
    assert [v["text"] for v in versions] == ["I live in Paris"] * 4 + ["I live in Lyon"]
    assert versions[2]["tags"] == ["home", "city"] and versions[2]["expiration_date"] == "2099-01-01T00:00:00Z"
    assert versions[1]["permission"] == "shared" and versions[1]["shared_with"] == {"users": [str(bob.id)], "groups": []}
    assert versions[0]["metadata"] == {"source": "chat"}


def test_old_texts_are_stored_encrypted(alice):
    memory = services.memory_create(actor=alice, text="my first secret")
    services.memory_update(actor=alice, memory_id=memory.id, text="my second secret")
    with connection.cursor() as cursor:
        cursor.execute("SELECT text_encrypted FROM memories_memoryversion WHERE memory_id = %s", [memory.id])
        stored = [row[0] for row in cursor.fetchall()]
    assert len(stored) == 2 and not any("secret" in token for token in stored)


def test_restore_a_version_writes_it_back_as_a_new_version_and_keeps_everything(alice, bob):
    memory = services.memory_create(actor=alice, text="tea with milk", tags=["drinks"], permission="shared", shared_with=["bob"])
    services.memory_update(actor=alice, memory_id=memory.id, text="tea without milk", tags=["drinks", "diet"])
    services.memory_set_permission(actor=alice, memory_id=memory.id, permission="private")
    restored = _call("restore_memory", alice, {"memory_id": str(memory.id), "version": 1})
    assert restored["text"] == "tea with milk" and restored["tags"] == ["drinks"] and restored["version"] == 4
    assert restored["permission"] == "shared" and restored["shared_with"]["users"] == [str(bob.id)]
    assert [h.memory.id for h in search.memory_search(actor=alice, query="milk", mode="keyword", min_score=0.0)] == [memory.id]
    _, versions = selectors.memory_history(actor=alice, memory_id=memory.id)
    assert [(v.version, v.change, v.text) for v in versions] == [
        (4, "restore", "tea with milk"), (3, "permission", "tea without milk"),
        (2, "update", "tea without milk"), (1, "create", "tea with milk"),
    ]
    with pytest.raises(NotFound, match="no version 9"):
        services.memory_restore(actor=alice, memory_id=memory.id, version=9)


def test_restoring_a_shared_version_whose_people_are_all_gone_brings_it_back_private_with_a_note(alice, bob, carol):
    """A shared version names users (and groups) that may have been deactivated since. With
    nobody left it would be "shared with nobody", which no door may write: it comes back
    private, the answer says why, and the history and activity record it."""
    memory = services.memory_create(actor=alice, text="the spare key is in the shed", permission="shared", shared_with=["bob"])
    services.memory_set_permission(actor=alice, memory_id=memory.id, permission="private")
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    restored = _call("restore_memory", alice, {"memory_id": str(memory.id), "version": 1})
    assert restored["permission"] == "private" and restored["version"] == 3
    assert "no longer there" in restored["note"] and "restored as private" in restored["note"]
    assert not restored.get("shared_with")
    assert not MemoryShare.objects.filter(memory_id=memory.id).exists()
    _, versions = selectors.memory_history(actor=alice, memory_id=memory.id)
    assert (versions[0].version, versions[0].change, versions[0].permission) == (3, "restore", "private")
    entry = Activity.objects.filter(action="memory.restore_version").get()
    assert entry.details == {"version": 1, "permission_fallback": "private"}
    # With somebody left, the version comes back shared with them, and there is no note.
    services.memory_set_permission(actor=alice, memory_id=memory.id, permission="shared", shared_with=["carol"])
    services.memory_set_permission(actor=alice, memory_id=memory.id, permission="private")
    again = _call("restore_memory", alice, {"memory_id": str(memory.id), "version": 4})
    assert again["permission"] == "shared" and again["shared_with"]["users"] == [str(carol.id)] and "note" not in again


def test_history_is_visible_to_whoever_may_see_the_memory_now_and_to_nobody_else(alice, bob, carol):
    memory = services.memory_create(actor=alice, text="draft plan", permission="private")
    with pytest.raises(NotFound) as hidden:
        _call("memory_history", bob, {"memory_id": str(memory.id)})
    with pytest.raises(NotFound) as missing:
        _call("memory_history", bob, {"memory_id": "550e8400-e29b-41d4-a716-446655440000"})
    assert hidden.value.message == missing.value.message
    services.memory_set_permission(actor=alice, memory_id=memory.id, permission="shared", shared_with=["bob"])
    seen = _call("memory_history", bob, {"memory_id": str(memory.id)})
    assert [v["text"] for v in seen["versions"]] == ["draft plan", "draft plan"]
    assert all("shared_with" not in v for v in seen["versions"])  # who it is shared with: owner only
    with pytest.raises(NotFound):
        _call("memory_history", carol, {"memory_id": str(memory.id)})
    with pytest.raises(PermissionDenied):  # others may read, never restore
        services.memory_restore(actor=bob, memory_id=memory.id, version=1)


def test_a_memory_from_before_history_shows_its_current_state_and_keeps_it_on_the_next_change(alice):
    memory = services.memory_create(actor=alice, text="written before history existed")
    MemoryVersion.objects.filter(memory=memory).delete()
    _, versions = selectors.memory_history(actor=alice, memory_id=memory.id)
    assert [(v.version, v.change, v.text) for v in versions] == [(1, "legacy", "written before history existed")]
    services.memory_update(actor=alice, memory_id=memory.id, text="changed after")
    _, versions = selectors.memory_history(actor=alice, memory_id=memory.id)
    assert [(v.version, v.change, v.text) for v in versions] == [(2, "update", "changed after"), (1, "legacy", "written before history existed")]


def test_update_keeps_its_expected_version_check(alice):
    memory = services.memory_create(actor=alice, text="v1")
    _call("update_memory", alice, {"memory_id": str(memory.id), "text": "v2", "expected_version": 1})
    from picard.exceptions import Conflict

    with pytest.raises(Conflict) as conflict:
        _call("update_memory", alice, {"memory_id": str(memory.id), "text": "v3", "expected_version": 1})
    assert conflict.value.details == {"current_version": 2}
