"""The visibility rule from every angle, for every read path (list, get, search).

One small world: alice owns a memory of each kind; bob is named on one share, dave is in the
group named on another, carol is just another signed-in user. Every memory mentions
"zebra" so the (lexical) test embedder ranks all of them for the query "zebra".
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.utils import timezone

from memories import search, selectors, services
from memories.models import Memory
from picard.exceptions import NotFound

pytestmark = pytest.mark.django_db


def _expire(memory: Memory) -> None:
    Memory.objects.filter(id=memory.id).update(expires_at=timezone.now() - timedelta(minutes=1))


@pytest.fixture
def world(alice, bob, carol, make_user):
    team = Group.objects.create(name="team")
    dave = make_user("dave")
    dave.groups.add(team)
    soon = timezone.now() + timedelta(days=1)
    m = {
        "private": services.memory_create(actor=alice, text="zebra private note"),
        "public": services.memory_create(actor=alice, text="zebra public note", permission="public"),
        "shared_bob": services.memory_create(
            actor=alice, text="zebra shared with bob", permission="shared", shared_with={"users": ["bob"]}
        ),
        "shared_team": services.memory_create(
            actor=alice, text="zebra shared with team", permission="shared", shared_with={"groups": ["team"]}
        ),
        "expired_private": services.memory_create(actor=alice, text="zebra expired private", expires_at=soon),
        "expired_public": services.memory_create(actor=alice, text="zebra expired public", permission="public", expires_at=soon),
        "expired_shared": services.memory_create(
            actor=alice, text="zebra expired shared", permission="shared", shared_with={"users": ["bob"], "groups": ["team"]},
            expires_at=soon,
        ),
    }
    for name in ("expired_private", "expired_public", "expired_shared"):
        _expire(m[name])
    return {"memories": m, "alice": alice, "bob": bob, "carol": carol, "dave": dave}


EXPECTED = {
    "alice": {"private", "public", "shared_bob", "shared_team"},
    "bob": {"public", "shared_bob"},
    "dave": {"public", "shared_team"},
    "carol": {"public"},
}
# The default scope (mine_and_shared): others' public memories only when asked for.
EXPECTED_BY_DEFAULT = {
    "alice": EXPECTED["alice"],
    "bob": {"shared_bob"},
    "dave": {"shared_team"},
    "carol": set(),
}
ALL = selectors.MemoryFilters(scope="all")


def _names(world, ids) -> set[str]:
    by_id = {m.id: name for name, m in world["memories"].items()}
    return {by_id[i] for i in ids if i in by_id}


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_list_shows_exactly_what_the_rule_allows(world, who):
    page = selectors.memory_list(actor=world[who], limit=100, filters=ALL)
    assert _names(world, [m.id for m in page.items]) == EXPECTED[who]
    by_default = selectors.memory_list(actor=world[who], limit=100)
    assert _names(world, [m.id for m in by_default.items]) == EXPECTED_BY_DEFAULT[who]


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_get_allows_visible_and_hides_the_rest_as_not_found(world, who):
    for name, memory in world["memories"].items():
        if name in EXPECTED[who]:
            assert selectors.memory_get_for_actor(actor=world[who], memory_id=memory.id).id == memory.id
        else:
            with pytest.raises(NotFound) as exc:
                selectors.memory_get_for_actor(actor=world[who], memory_id=memory.id)
            assert exc.value.message == "Memory not found."


@pytest.mark.parametrize("mode", ["semantic", "keyword", "hybrid"])
@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_search_finds_exactly_what_the_rule_allows(world, who, mode):
    hits = search.memory_search(actor=world[who], query="zebra", limit=50, mode=mode, filters=ALL, min_score=0.0)
    assert _names(world, [h.memory.id for h in hits]) == EXPECTED[who]
    by_default = search.memory_search(actor=world[who], query="zebra", limit=50, mode=mode, min_score=0.0)
    assert _names(world, [h.memory.id for h in by_default]) == EXPECTED_BY_DEFAULT[who]
    mine = search.memory_search(actor=world[who], query="zebra", limit=50, mode=mode, min_score=0.0, filters=selectors.MemoryFilters(scope="mine"))
    assert {h.memory.owner_id for h in mine} <= {world[who].pk}


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_the_rules_sql_form_selects_the_same_memories_part_by_part(world, who):
    """Search's plain SQL form of the rule (``visibility_parts_sql``) and the Q form agree
    on every part, for the owner, a user named on a share, a group member and a stranger."""
    from django.db import connection

    actor = world[who]
    now = timezone.now()
    conditions = Memory.objects.visibility_parts(actor, now=now)
    everything = set()
    for name, (sql, params) in Memory.objects.visibility_parts_sql(actor, now=now).items():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            ids = {row[0] for row in cursor.fetchall()}
        assert ids == set(Memory.objects.filter(conditions[name]).values_list("id", flat=True)), name
        everything |= ids
    assert _names(world, everything) == EXPECTED[who]


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_visible_to_queryset_is_the_same_rule(world, who):
    ids = Memory.objects.visible_to(world[who]).values_list("id", flat=True)
    assert _names(world, ids) == EXPECTED[who]


def test_private_memory_of_another_user_is_indistinguishable_from_a_missing_one(world):
    with pytest.raises(NotFound) as private:
        selectors.memory_get_for_actor(actor=world["carol"], memory_id=world["memories"]["private"].id)
    with pytest.raises(NotFound) as missing:
        selectors.memory_get_for_actor(actor=world["carol"], memory_id="7d0f4a52-2a7c-4a4c-9d55-1f2b3c4d5e6f")
    assert private.value.as_dict() == missing.value.as_dict()


def test_anonymous_actor_sees_nothing(world):
    anonymous = AnonymousUser()
    assert selectors.memory_list(actor=anonymous).items == []
    assert not Memory.objects.visible_to(anonymous).exists()
    assert not Memory.objects.visible_to(None).exists()
    with pytest.raises(NotFound):
        selectors.memory_get_for_actor(actor=anonymous, memory_id=world["memories"]["public"].id)


def test_only_the_owner_sees_expired_memories_and_only_when_asking(world):
    alice, bob = world["alice"], world["bob"]
    expired = {"expired_private", "expired_public", "expired_shared"}
    only_expired = selectors.memory_list(actor=alice, filters=selectors.MemoryFilters(expired="expired"), limit=100)
    assert _names(world, [m.id for m in only_expired.items]) == expired
    everything = selectors.memory_list(actor=alice, filters=selectors.MemoryFilters(expired="all"), limit=100)
    assert _names(world, [m.id for m in everything.items]) == EXPECTED["alice"] | expired
    for name in expired:
        memory = world["memories"][name]
        assert selectors.memory_get_for_actor(actor=alice, memory_id=memory.id, include_expired=True).id == memory.id
        with pytest.raises(NotFound):
            selectors.memory_get_for_actor(actor=bob, memory_id=memory.id, include_expired=True)
    # Others asking for expired memories get none, and "all" adds nothing expired for them.
    assert selectors.memory_list(actor=bob, filters=selectors.MemoryFilters(expired="expired")).items == []
    bob_all = selectors.memory_list(actor=bob, filters=selectors.MemoryFilters(expired="all", scope="all"), limit=100)
    assert _names(world, [m.id for m in bob_all.items]) == EXPECTED["bob"]
    # Search never returns expired memories, even to the owner.
    for mode in ("semantic", "keyword", "hybrid"):
        hits = search.memory_search(actor=alice, query="zebra expired", limit=50, mode=mode, min_score=0.0)
        assert not _names(world, [h.memory.id for h in hits]) & expired


def test_leaving_the_group_or_being_unshared_revokes_access(world):
    dave, bob, alice = world["dave"], world["bob"], world["alice"]
    team_memory, bob_memory = world["memories"]["shared_team"], world["memories"]["shared_bob"]
    dave.groups.clear()
    with pytest.raises(NotFound):
        selectors.memory_get_for_actor(actor=dave, memory_id=team_memory.id)
    services.memory_set_permission(actor=alice, memory_id=bob_memory.id, permission="shared", shared_with={"users": ["carol"]})
    with pytest.raises(NotFound):
        selectors.memory_get_for_actor(actor=bob, memory_id=bob_memory.id)
    assert selectors.memory_get_for_actor(actor=world["carol"], memory_id=bob_memory.id).id == bob_memory.id


def test_making_a_memory_private_hides_it_from_search_of_others(world):
    carol, alice = world["carol"], world["alice"]
    public = world["memories"]["public"]
    assert public.id in [h.memory.id for h in search.memory_search(actor=carol, query="zebra public", limit=5, filters=ALL, min_score=0.0)]
    services.memory_set_permission(actor=alice, memory_id=public.id, permission="private")
    for mode in ("semantic", "keyword", "hybrid"):
        hits = search.memory_search(actor=carol, query="zebra public", limit=5, mode=mode, filters=ALL, min_score=0.0)
        assert public.id not in [h.memory.id for h in hits]


def test_user_id_filter_respects_visibility(world):
    carol, alice = world["carol"], world["alice"]
    page = selectors.memory_list(actor=carol, filters=selectors.MemoryFilters(owner_id=alice.pk), limit=100)
    assert _names(world, [m.id for m in page.items]) == {"public"}
    # Asking for alice's private memories as carol yields nothing, not an error.
    page = selectors.memory_list(actor=carol, filters=selectors.MemoryFilters(owner_id=alice.pk, permission="private"))
    assert page.items == []
