from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from memories import selectors, services
from memories.models import Activity, Memory, MemoryShare
from picard.exceptions import Conflict, NotFound, PayloadTooLarge, PermissionDenied, ValidationError

pytestmark = pytest.mark.django_db


def test_created_memory_is_encrypted_at_rest_and_reads_back(alice):
    memory = services.memory_create(actor=alice, text="My bank PIN hint is the blue door", tags=["Finance"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT text_encrypted FROM memories_memory WHERE id = %s", [memory.id])
        stored = cursor.fetchone()[0]
    assert "blue door" not in stored
    fresh = Memory.objects.get(id=memory.id)
    assert fresh.text == "My bank PIN hint is the blue door"
    assert fresh.tags == ["finance"]
    assert fresh.permission == "private"
    assert fresh.embedding_model == "hash:256"
    assert Activity.objects.filter(action="memory.create", memory_ids__contains=[memory.id]).exists()


def test_update_changes_text_and_reembeds(alice):
    memory = services.memory_create(actor=alice, text="I like tea")
    before = list(memory.embedding)
    updated = services.memory_update(actor=alice, memory_id=str(memory.id), text="I like coffee very much")
    assert updated.text == "I like coffee very much"
    assert list(updated.embedding) != before
    assert updated.version == 2


def test_stale_version_is_a_conflict(alice):
    memory = services.memory_create(actor=alice, text="v1")
    services.memory_update(actor=alice, memory_id=str(memory.id), text="v2", expected_version=1)
    with pytest.raises(Conflict):
        services.memory_update(actor=alice, memory_id=str(memory.id), text="v3", expected_version=1)


def test_other_users_private_memory_is_not_found_for_update_and_delete(alice, bob):
    memory = services.memory_create(actor=alice, text="secret")
    with pytest.raises(NotFound) as missing_exc:
        services.memory_update(actor=bob, memory_id="00000000-0000-4000-8000-000000000000", text="x")
    with pytest.raises(NotFound) as private_exc:
        services.memory_update(actor=bob, memory_id=str(memory.id), text="x")
    assert str(missing_exc.value) == str(private_exc.value)
    with pytest.raises(NotFound):
        services.memory_delete(actor=bob, memory_id=str(memory.id))
    assert Memory.objects.get(id=memory.id).text == "secret"


def test_public_memory_of_another_user_cannot_be_changed(alice, bob):
    memory = services.memory_create(actor=alice, text="hello world", permission="public")
    with pytest.raises(PermissionDenied):
        services.memory_delete(actor=bob, memory_id=str(memory.id))


def test_input_limits(alice, settings):
    with pytest.raises(PayloadTooLarge):
        services.memory_create(actor=alice, text="x" * (settings.PICARD_MEMORY_MAX_TEXT + 1))
    with pytest.raises(ValidationError, match="text"):
        services.memory_create(actor=alice, text="   ")
    with pytest.raises(ValidationError, match="NUL"):
        services.memory_create(actor=alice, text="a\x00b")
    with pytest.raises(ValidationError, match="tags"):
        services.memory_create(actor=alice, text="ok", tags=[f"t{i}" for i in range(settings.PICARD_MEMORY_MAX_TAGS + 1)])
    with pytest.raises(ValidationError, match="expiration_date"):
        services.memory_create(actor=alice, text="ok", expires_at="2001-01-01T00:00:00Z")
    with pytest.raises(ValidationError, match="expiration_date"):
        services.memory_create(actor=alice, text="ok", expires_at="next tuesday")
    with pytest.raises(PayloadTooLarge, match="metadata"):
        services.memory_create(actor=alice, text="ok", metadata={"blob": "x" * (settings.PICARD_MEMORY_MAX_METADATA_BYTES + 1)})
    with pytest.raises(ValidationError, match="memory_id"):
        services.memory_delete(actor=alice, memory_id="{550e8400-e29b-41d4-a716-446655440000}")
    assert Memory.objects.count() == 0


def test_sharing_with_user_and_group(alice, bob, carol, make_user):
    team = Group.objects.create(name="team")
    dave = make_user("dave")
    dave.groups.add(team)
    memory = services.memory_create(actor=alice, text="offsite plan", permission="shared", shared_with={"users": ["bob"], "groups": ["team"]})
    assert MemoryShare.objects.filter(memory=memory).count() == 2
    assert selectors.memory_get_for_actor(actor=bob, memory_id=memory.id).id == memory.id
    assert selectors.memory_get_for_actor(actor=dave, memory_id=memory.id).id == memory.id
    with pytest.raises(NotFound):
        selectors.memory_get_for_actor(actor=carol, memory_id=memory.id)
    services.memory_set_permission(actor=alice, memory_id=memory.id, permission="private")
    assert not MemoryShare.objects.filter(memory=memory).exists()
    with pytest.raises(NotFound):
        selectors.memory_get_for_actor(actor=bob, memory_id=memory.id)


def test_batch_items_succeed_or_fail_on_their_own(alice, bob):
    others = services.memory_create(actor=bob, text="bob's")
    results = services.memory_batch(actor=alice, operations=[
        services.BatchOperation("create", {"text": "first"}),
        services.BatchOperation("create", {"text": ""}),
        services.BatchOperation("delete", {"memory_id": str(others.id)}),
        services.BatchOperation("create", {"text": "second", "tags": ["a"]}),
    ])
    assert [r.ok for r in results] == [True, False, False, True]
    assert isinstance(results[2].error, NotFound)
    assert sorted(m.text for m in Memory.objects.filter(owner=alice)) == ["first", "second"]
    assert Memory.objects.filter(id=others.id).exists()


def test_embedding_outage_stores_memory_as_pending_and_fills_it_later(alice, settings):
    settings.PICARD_EMBEDDINGS = {"provider": "openai", "model": "text-embedding-3-small", "api_key": "x",
                                  "base_url": "http://127.0.0.1:9/v1", "dimensions": 0, "timeout": 0.5}
    memory = services.memory_create(actor=alice, text="stored even when embeddings are down")
    assert memory.embedding is None and memory.embedding_model is None
    settings.PICARD_EMBEDDINGS = {"provider": "hash", "dimensions": 256}
    assert services.memory_embed_pending() == 1
    memory.refresh_from_db()
    assert memory.embedding_model == "hash:256"


def test_expired_memories_hidden_except_for_owner_asking(alice, bob):
    memory = services.memory_create(actor=alice, text="old news", permission="public", expires_at=timezone.now() + timedelta(seconds=1))
    Memory.objects.filter(id=memory.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(NotFound):
        selectors.memory_get_for_actor(actor=bob, memory_id=memory.id)
    with pytest.raises(NotFound):
        selectors.memory_get_for_actor(actor=alice, memory_id=memory.id)
    assert selectors.memory_get_for_actor(actor=alice, memory_id=memory.id, include_expired=True).id == memory.id
    own_expired = selectors.memory_list(actor=alice, filters=selectors.MemoryFilters(expired="expired"))
    assert [m.id for m in own_expired.items] == [memory.id]
    assert selectors.memory_list(actor=bob, filters=selectors.MemoryFilters(expired="expired")).items == []
