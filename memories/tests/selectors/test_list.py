"""memory_list / memory_list_own: every filter, every sort, cursor pagination and bad input."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from memories import selectors, services
from memories.models import Memory
from memories.selectors import MemoryFilters
from picard.exceptions import NotFound, ValidationError

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at(memory: Memory, *, created: datetime, updated: datetime | None = None) -> Memory:
    Memory.objects.filter(id=memory.id).update(created_at=created, updated_at=updated or created)
    memory.refresh_from_db()
    return memory


def _texts(page) -> list[str]:
    return [m.text for m in page.items]


@pytest.fixture
def timeline(alice):
    """Five of alice's memories, one day apart, updated in the reverse order."""
    memories = []
    for i in range(5):
        m = services.memory_create(actor=alice, text=f"day {i}", tags=["even" if i % 2 == 0 else "odd", "all"])
        memories.append(_at(m, created=T0 + timedelta(days=i), updated=T0 + timedelta(days=10 - i)))
    return memories


def test_sorts(alice, timeline):
    assert _texts(selectors.memory_list(actor=alice, sort="newest")) == ["day 4", "day 3", "day 2", "day 1", "day 0"]
    assert _texts(selectors.memory_list(actor=alice, sort="oldest")) == ["day 0", "day 1", "day 2", "day 3", "day 4"]
    assert _texts(selectors.memory_list(actor=alice, sort="updated")) == ["day 0", "day 1", "day 2", "day 3", "day 4"]


@pytest.mark.parametrize("sort", ["newest", "oldest", "updated"])
def test_cursor_pages_cover_everything_once_in_every_sort(alice, timeline, sort):
    expected = _texts(selectors.memory_list(actor=alice, sort=sort, limit=100))
    seen, cursor = [], None
    while True:
        page = selectors.memory_list(actor=alice, sort=sort, limit=2, cursor=cursor)
        assert len(page.items) <= 2
        seen += _texts(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected


def test_cursor_is_stable_when_timestamps_tie(alice):
    for i in range(7):
        _at(services.memory_create(actor=alice, text=f"same second {i}"), created=T0)
    seen, cursor = [], None
    for _ in range(10):
        page = selectors.memory_list(actor=alice, limit=3, cursor=cursor)
        seen += [m.id for m in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(seen) == 7 and len(set(seen)) == 7


def test_exact_multiple_of_the_limit_has_no_empty_last_page(alice, timeline):
    page = selectors.memory_list(actor=alice, limit=5)
    assert len(page.items) == 5 and page.next_cursor is None


def test_new_memories_do_not_shift_a_page_in_progress(alice, timeline):
    first = selectors.memory_list(actor=alice, limit=2)
    services.memory_create(actor=alice, text="written while paging")  # newest of all
    second = selectors.memory_list(actor=alice, limit=2, cursor=first.next_cursor)
    assert _texts(first) == ["day 4", "day 3"]
    assert _texts(second) == ["day 2", "day 1"]


@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor", "", "eyJzIjoibmV3ZXN0In0", "e30", "!!!!", "eyJzIjogIm5ld2VzdCIsICJ2IjogInRvZGF5IiwgImlkIjogIngifQ"],
)
def test_bad_cursor_is_a_validation_error(alice, timeline, cursor):
    if cursor == "":
        # An empty cursor means "first page".
        assert len(selectors.memory_list(actor=alice, cursor=cursor).items) == 5
        return
    with pytest.raises(ValidationError, match="cursor"):
        selectors.memory_list(actor=alice, cursor=cursor)


def test_cursor_from_another_sort_is_refused(alice, timeline):
    page = selectors.memory_list(actor=alice, sort="newest", limit=2)
    with pytest.raises(ValidationError, match="cursor"):
        selectors.memory_list(actor=alice, sort="oldest", cursor=page.next_cursor)


@pytest.mark.parametrize("limit", [0, -1, 101, "5", 2.5, True])
def test_bad_limit_is_a_validation_error(alice, limit):
    with pytest.raises(ValidationError, match="limit"):
        selectors.memory_list(actor=alice, limit=limit)


def test_unknown_sort_is_a_validation_error(alice):
    with pytest.raises(ValidationError, match="sort"):
        selectors.memory_list(actor=alice, sort="random")


def test_default_limit(alice, settings):
    for i in range(settings.PICARD_LIST_DEFAULT_LIMIT + 1):
        services.memory_create(actor=alice, text=f"m{i}")
    page = selectors.memory_list(actor=alice)
    assert len(page.items) == settings.PICARD_LIST_DEFAULT_LIMIT and page.next_cursor


def test_tag_filter_needs_every_tag(alice, timeline):
    f = MemoryFilters(tags=("even",))
    assert _texts(selectors.memory_list(actor=alice, filters=f, sort="oldest")) == ["day 0", "day 2", "day 4"]
    f = MemoryFilters(tags=("even", "all"))
    assert len(selectors.memory_list(actor=alice, filters=f).items) == 3
    f = MemoryFilters(tags=("even", "odd"))
    assert selectors.memory_list(actor=alice, filters=f).items == []


def test_date_range_filters(alice, timeline):
    f = MemoryFilters(created_after=T0 + timedelta(days=1), created_before=T0 + timedelta(days=3))
    assert _texts(selectors.memory_list(actor=alice, filters=f, sort="oldest")) == ["day 1", "day 2"]
    f = MemoryFilters(updated_after=T0 + timedelta(days=9))
    assert _texts(selectors.memory_list(actor=alice, filters=f, sort="oldest")) == ["day 0", "day 1"]
    f = MemoryFilters(updated_before=T0 + timedelta(days=7))
    assert _texts(selectors.memory_list(actor=alice, filters=f, sort="oldest")) == ["day 4"]


def test_permission_and_owner_filters(alice, bob):
    services.memory_create(actor=alice, text="a private")
    services.memory_create(actor=alice, text="a public", permission="public")
    services.memory_create(actor=bob, text="b public", permission="public")
    services.memory_create(actor=bob, text="b shared", permission="shared", shared_with=["alice"])
    services.memory_create(actor=bob, text="b private")

    def texts(**kw):
        return sorted(_texts(selectors.memory_list(actor=alice, filters=MemoryFilters(**kw))))

    assert texts(scope="all") == ["a private", "a public", "b public", "b shared"]
    assert texts() == ["a private", "a public", "b shared"]  # default scope: no one else's public memories
    assert texts(scope="mine") == ["a private", "a public"]
    assert texts(permission="public", scope="all") == ["a public", "b public"]
    assert texts(permission="public") == ["a public"]
    assert texts(permission="private") == ["a private"]
    assert texts(permission="shared") == ["b shared"]
    assert texts(owner_id=alice.pk) == ["a private", "a public"]
    assert texts(owner_id=bob.pk) == ["b public", "b shared"]
    assert texts(owner_id=bob.pk, permission="private") == []


@pytest.mark.parametrize("sort", ["newest", "oldest", "updated"])
def test_pages_interleave_own_shared_and_public_in_order(alice, bob, make_user, sort):
    """Each part of the visibility rule is read in order on its own and the parts are
    merged: paging through a mix of own, shared-with-me and others' public memories (dates
    interleaved, some tied) shows each visible memory once, in order, and nothing else."""
    carol = make_user("carol")
    kinds = [
        (alice, "private", None), (bob, "public", None), (bob, "shared", ["alice"]), (carol, "public", None),
        (bob, "private", None), (carol, "shared", ["bob"]),  # the last two are invisible to alice
    ]
    expected = []
    for i in range(18):
        owner, permission, shared_with = kinds[i % len(kinds)]
        memory = services.memory_create(actor=owner, text=f"{owner.username} {permission} {i}", permission=permission, shared_with=shared_with)
        _at(memory, created=T0 + timedelta(hours=i // 2), updated=T0 + timedelta(hours=(37 * i) % 18))
        if i % len(kinds) < 4:
            expected.append(memory)
    column, descending = selectors.SORTS[sort]
    expected.sort(key=lambda m: (getattr(Memory.objects.get(id=m.id), column), m.id), reverse=descending)
    seen, cursor = [], None
    while True:
        page = selectors.memory_list(actor=alice, sort=sort, limit=4, cursor=cursor, filters=MemoryFilters(scope="all"))
        assert len(page.items) <= 4
        seen += [m.id for m in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [m.id for m in expected]


def test_filters_from_raw_input(alice):
    f = MemoryFilters.from_input({
        "user_id": str(alice.pk).upper(), "permission": "public", "tags": ["Work"],
        "created_after": "2026-01-01T00:00:00Z", "updated_before": "2026-02-01T00:00:00+01:00", "expiration_status": "all",
    })
    assert f.owner_id == alice.pk
    assert f.tags == ("work",)
    assert f.created_after == T0
    assert f.updated_before == datetime(2026, 1, 31, 23, tzinfo=UTC)
    assert f.expired == "all"
    assert f.scope is None and f.scope_for(alice) == "mine_and_shared"  # user_id names the caller
    assert MemoryFilters.from_input({"scope": "mine"}).scope == "mine"
    with pytest.raises(ValidationError, match="scope"):
        MemoryFilters.from_input({"scope": "everyone"})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"user_id": "alice"}, "user_id"),
        ({"permission": "secret"}, "permission"),
        ({"expired": "maybe"}, "expired"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"updated_before": 12}, "updated_before"),
        ({"tags": "work"}, "tags"),
    ],
)
def test_bad_filter_input_names_the_field(data, field):
    with pytest.raises(ValidationError) as exc:
        MemoryFilters.from_input(data)
    assert exc.value.details["field"] == field


def test_list_own_returns_only_own_active_memories(alice, bob):
    mine = services.memory_create(actor=alice, text="mine")
    services.memory_create(actor=bob, text="bob public", permission="public")
    old = services.memory_create(actor=alice, text="old", expires_at=timezone.now() + timedelta(hours=1))
    Memory.objects.filter(id=old.id).update(expires_at=timezone.now() - timedelta(hours=1))
    page = selectors.memory_list_own(actor=alice)
    assert [m.id for m in page.items] == [mine.id]


def test_user_get(alice, make_user):
    assert selectors.user_get(user_id=str(alice.pk)) == alice
    gone = make_user("gone", is_active=False)
    with pytest.raises(NotFound):
        selectors.user_get(user_id=gone.pk)
    with pytest.raises(NotFound):
        selectors.user_get(user_id="7d0f4a52-2a7c-4a4c-9d55-1f2b3c4d5e6f")
    with pytest.raises(ValidationError):
        selectors.user_get(user_id="not-a-uuid")


def test_share_targets_are_listed_for_the_owner(alice, bob):
    from django.contrib.auth.models import Group

    Group.objects.create(name="crew")
    memory = services.memory_create(actor=alice, text="x", permission="shared", shared_with={"users": [str(bob.pk)], "groups": ["crew"]})
    assert selectors.memory_share_targets(memory=memory) == {"users": [str(bob.pk)], "groups": ["crew"]}
