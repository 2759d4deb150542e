"""memory_update / memory_delete / memory_set_permission beyond the basics."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from memories import selectors, services
from memories.models import Activity, Memory, MemoryShare
from picard.exceptions import Conflict, NotFound, PermissionDenied, ValidationError

pytestmark = pytest.mark.django_db


def test_update_each_field_alone_keeps_the_others(alice):
    memory = services.memory_create(actor=alice, text="base", tags=["a"], metadata={"k": 1},
                                    expires_at=timezone.now() + timedelta(days=2))
    embedding_before = list(memory.embedding)
    m = services.memory_update(actor=alice, memory_id=memory.id, tags=["b", "c"])
    assert (m.text, m.tags, m.metadata) == ("base", ["b", "c"], {"k": 1})
    assert list(m.embedding) == embedding_before  # no re-embed when the text is unchanged
    m = services.memory_update(actor=alice, memory_id=memory.id, metadata={"k": 2})
    assert m.metadata == {"k": 2} and m.tags == ["b", "c"]
    m = services.memory_update(actor=alice, memory_id=memory.id, expires_at=None)
    assert m.expires_at is None
    fresh = Memory.objects.get(id=memory.id)
    assert (fresh.text, fresh.tags, fresh.metadata, fresh.expires_at, fresh.version) == ("base", ["b", "c"], {"k": 2}, None, 4)
    assert fresh.updated_at > fresh.created_at
    assert Activity.objects.filter(action="memory.update").count() == 3


def test_update_with_nothing_to_change_is_refused(alice):
    memory = services.memory_create(actor=alice, text="x")
    with pytest.raises(ValidationError, match="Nothing to update"):
        services.memory_update(actor=alice, memory_id=memory.id)


def test_failed_update_changes_nothing(alice):
    memory = services.memory_create(actor=alice, text="original", tags=["keep"])
    with pytest.raises(ValidationError):
        services.memory_update(actor=alice, memory_id=memory.id, text="new text", tags=["bad;tag"])
    fresh = Memory.objects.get(id=memory.id)
    assert (fresh.text, fresh.tags, fresh.version) == ("original", ["keep"], 1)
    assert list(fresh.embedding) == list(memory.embedding)


def test_owner_can_update_an_expired_memory_to_revive_it(alice, bob):
    memory = services.memory_create(actor=alice, text="revive me", permission="public", expires_at=timezone.now() + timedelta(hours=1))
    Memory.objects.filter(id=memory.id).update(expires_at=timezone.now() - timedelta(hours=1))
    services.memory_update(actor=alice, memory_id=memory.id, expires_at=None)
    assert selectors.memory_get_for_actor(actor=bob, memory_id=memory.id).id == memory.id


def test_shared_user_can_read_but_not_change(alice, bob):
    memory = services.memory_create(actor=alice, text="read only for bob", permission="shared", shared_with=["bob"])
    with pytest.raises(PermissionDenied):
        services.memory_update(actor=bob, memory_id=memory.id, text="bob was here")
    with pytest.raises(PermissionDenied):
        services.memory_set_permission(actor=bob, memory_id=memory.id, permission="public")
    with pytest.raises(PermissionDenied):
        services.memory_delete(actor=bob, memory_id=memory.id)
    assert Memory.objects.get(id=memory.id).text == "read only for bob"


def test_permanent_delete_removes_the_memory_and_its_shares_and_records_it(alice, bob):
    memory = services.memory_create(actor=alice, text="bye", permission="shared", shared_with=["bob"])
    assert services.memory_delete(actor=alice, memory_id=str(memory.id), permanent=True).id == memory.id
    assert not Memory.objects.filter(id=memory.id).exists()
    assert not MemoryShare.objects.filter(memory_id=memory.id).exists()
    assert Activity.objects.filter(action="memory.delete", memory_ids__contains=[memory.id]).exists()
    with pytest.raises(NotFound):
        services.memory_delete(actor=alice, memory_id=str(memory.id))


def test_share_by_username_uuid_and_group_and_never_with_oneself(alice, bob, carol):
    Group.objects.create(name="crew")
    memory = services.memory_create(actor=alice, text="plan")
    m = services.memory_set_permission(
        actor=alice, memory_id=memory.id, permission="shared",
        shared_with={"users": ["bob", str(carol.pk).upper(), "alice", "bob"], "groups": ["crew", "crew"]},
    )
    assert m.permission == "shared" and m.version == 2
    targets = selectors.memory_share_targets(memory=m)
    assert sorted(targets["users"]) == sorted([str(bob.pk), str(carol.pk)])
    assert targets["groups"] == ["crew"]
    assert MemoryShare.objects.filter(memory=m).count() == 3


def test_reshare_without_a_list_keeps_the_existing_grants(alice, bob):
    memory = services.memory_create(actor=alice, text="x", permission="shared", shared_with=["bob"])
    services.memory_set_permission(actor=alice, memory_id=memory.id, permission="shared")
    assert selectors.memory_get_for_actor(actor=bob, memory_id=memory.id)
    with pytest.raises(ValidationError, match="at least one user or group"):  # an empty list would share with nobody
        services.memory_set_permission(actor=alice, memory_id=memory.id, permission="shared", shared_with=[])
    assert selectors.memory_get_for_actor(actor=bob, memory_id=memory.id)


@pytest.mark.parametrize(
    ("permission", "shared_with", "match"),
    [
        ("public", ["bob"], "only allowed with permission 'shared'"),
        ("shared", ["nobody-by-that-name"], "no user"),
        ("shared", {"groups": ["no-such-group"]}, "no group"),
        ("shared", {"people": ["bob"]}, "shared_with"),
        ("shared", {"users": "bob"}, "lists"),
        ("shared", [42], "user id or username"),
        ("shared", "bob", "shared_with"),
        ("secret", None, "permission"),
    ],
)
def test_bad_sharing_input(alice, bob, permission, shared_with, match):
    memory = services.memory_create(actor=alice, text="x")
    with pytest.raises(ValidationError, match=match):
        services.memory_set_permission(actor=alice, memory_id=memory.id, permission=permission, shared_with=shared_with)
    fresh = Memory.objects.get(id=memory.id)
    assert fresh.permission == "private" and fresh.version == 1
    assert not MemoryShare.objects.exists()


def test_share_limit(alice, settings, make_user):
    settings.PICARD_MEMORY_MAX_SHARES = 2
    users = [make_user().username for _ in range(3)]
    with pytest.raises(ValidationError, match="at most 2"):
        services.memory_create(actor=alice, text="x", permission="shared", shared_with=users)
    assert not Memory.objects.exists()


def test_inactive_users_cannot_be_shared_with(alice, make_user):
    make_user("ghost", is_active=False)
    with pytest.raises(ValidationError, match="no user"):
        services.memory_create(actor=alice, text="x", permission="shared", shared_with=["ghost"])


def test_permission_change_respects_expected_version(alice):
    memory = services.memory_create(actor=alice, text="x")
    with pytest.raises(Conflict) as exc:
        services.memory_set_permission(actor=alice, memory_id=memory.id, permission="public", expected_version=7)
    assert exc.value.details == {"current_version": 1}
    assert Memory.objects.get(id=memory.id).permission == "private"


@pytest.mark.parametrize("shared_with", [None, [], {"users": [], "groups": []}, ["alice"]], ids=["none", "empty-list", "empty-dict", "only-yourself"])
def test_shared_with_nobody_is_refused_on_create(alice, shared_with):
    with pytest.raises(ValidationError, match="at least one user or group") as exc:
        services.memory_create(actor=alice, text="x", permission="shared", shared_with=shared_with)
    assert exc.value.details["field"] == "shared_with"
    assert not Memory.objects.exists()


def test_making_a_private_memory_shared_needs_somebody(alice, bob):
    memory = services.memory_create(actor=alice, text="x")
    for shared_with in (None, [], ["alice"]):
        with pytest.raises(ValidationError, match="at least one user or group"):
            services.memory_set_permission(actor=alice, memory_id=memory.id, permission="shared", shared_with=shared_with)
    fresh = Memory.objects.get(id=memory.id)
    assert (fresh.permission, fresh.version) == ("private", 1)
    services.memory_set_permission(actor=alice, memory_id=memory.id, permission="shared", shared_with=["bob"])
    assert selectors.memory_get_for_actor(actor=bob, memory_id=memory.id)


def test_a_group_counts_as_somebody(alice, bob):
    team = Group.objects.create(name="team")
    bob.groups.add(team)
    memory = services.memory_create(actor=alice, text="x", permission="shared", shared_with={"groups": ["team"]})
    assert selectors.memory_get_for_actor(actor=bob, memory_id=memory.id)


def test_a_shared_default_visibility_makes_memories_without_a_share_list_private(alice, bob):
    """Set before "shared with nobody" was refused: it cannot say with whom, so a memory that
    names no permission and no one to share with is private, not refused."""
    alice.default_permission = "shared"
    alice.save()
    assert services.memory_create(actor=alice, text="x").permission == "private"
    assert services.memory_create(actor=alice, text="y", shared_with=["bob"]).permission == "shared"
