from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import get_application_model

from memories import services
from memories.activity import (
    activity_daily_counts,
    activity_purge,
    activity_timeline,
    activity_top_clients,
    activity_totals,
)
from memories.models import Activity
from picard.context import call_context
from picard.exceptions import ValidationError

pytestmark = pytest.mark.django_db


def test_every_write_and_search_is_logged_with_surface_and_client_but_no_text(alice):
    with call_context(surface="mcp", client_id="client-abc"):
        memory = services.memory_create(actor=alice, text="my secret garden is behind the oak")
        services.memory_update(actor=alice, memory_id=str(memory.id), text="my secret garden moved to the elm")
        services.memory_set_permission(actor=alice, memory_id=str(memory.id), permission="public")
        services.memory_query(actor=alice, query="secret garden", min_score=0.0)
        services.memory_delete(actor=alice, memory_id=str(memory.id))
    entries = list(Activity.objects.filter(actor=alice).order_by("created_at"))
    assert [e.action for e in entries] == [
        "memory.create", "memory.update", "memory.permission", "memory.search", "memory.trash",
    ]
    for entry in entries:
        assert entry.surface == "mcp"
        assert entry.client_id == "client-abc"
        assert entry.memory_ids == [memory.id]
        assert "garden" not in repr(entry.details)


def test_timeline_shows_only_the_users_own_entries_newest_first_with_cursor(alice, bob):
    for i in range(5):
        services.memory_create(actor=alice, text=f"alice note {i}")
    services.memory_create(actor=bob, text="bob note")
    first = activity_timeline(user=alice, limit=3)
    assert len(first.items) == 3 and first.next_cursor
    second = activity_timeline(user=alice, limit=3, cursor=first.next_cursor)
    assert len(second.items) == 2 and second.next_cursor is None
    items = first.items + second.items
    assert all(e.actor_id == alice.id for e in items)
    assert [e.created_at for e in items] == sorted((e.created_at for e in items), reverse=True)
    assert len({e.id for e in items}) == 5


def test_timeline_filters_by_action_prefix_and_surface(alice):
    with call_context(surface="web"):
        memory = services.memory_create(actor=alice, text="tea")
    with call_context(surface="api"):
        services.memory_query(actor=alice, query="tea")
        services.memory_delete(actor=alice, memory_id=str(memory.id))
    assert [e.action for e in activity_timeline(user=alice, action="memory.search").items] == ["memory.search"]
    assert len(activity_timeline(user=alice, action="memory.").items) == 3
    assert {e.action for e in activity_timeline(user=alice, surface="api").items} == {"memory.search", "memory.trash"}


def test_timeline_rejects_bad_input(alice):
    with pytest.raises(ValidationError):
        activity_timeline(user=alice, cursor="garbage!")
    with pytest.raises(ValidationError):
        activity_timeline(user=alice, limit=0)
    with pytest.raises(ValidationError):
        activity_timeline(user=alice, surface="telepathy")


def test_daily_counts_cover_every_day_and_break_down_by_surface(alice, bob):
    with call_context(surface="web"):
        services.memory_create(actor=alice, text="one")
    with call_context(surface="mcp"):
        services.memory_create(actor=bob, text="two")
    old = Activity.objects.create(actor=alice, action="memory.search", surface="api")
    Activity.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=2))
    days = activity_daily_counts(days=7, by="surface")
    assert len(days) == 7
    assert days[-1]["day"] == timezone.localdate()
    assert days[-1]["count"] == 2 and days[-1]["by"] == {"web": 1, "mcp": 1}
    assert days[-3]["count"] == 1 and days[-3]["by"] == {"api": 1}
    assert sum(d["count"] for d in days) == 3
    mine = activity_daily_counts(days=7, user=bob)
    assert sum(d["count"] for d in mine) == 1


def test_top_clients_names_registered_applications(alice, bob):
    app = get_application_model().objects.create(
        name="Claude Desktop", client_type="public", authorization_grant_type="authorization-code",
        redirect_uris="http://127.0.0.1/cb",
    )
    with call_context(surface="mcp", client_id=app.client_id):
        services.memory_create(actor=alice, text="a")
        services.memory_create(actor=bob, text="b")
        services.memory_create(actor=bob, text="c")
    with call_context(surface="web"):
        services.memory_create(actor=alice, text="d")
    top = activity_top_clients(days=1)
    assert top[0] == {"client_id": app.client_id, "name": "Claude Desktop", "count": 3, "users": 2}
    assert top[1] == {"client_id": None, "name": "(no client)", "count": 1, "users": 1}
    totals = activity_totals(days=1)
    assert totals["entries"] == 4 and totals["active_users"] == 2
    assert totals["by_surface"] == {"mcp": 3, "web": 1}


def test_purge_keeps_recent_entries_and_respects_retention_setting(alice, settings):
    services.memory_create(actor=alice, text="recent")
    stale = Activity.objects.create(actor=alice, action="memory.search")
    Activity.objects.filter(id=stale.id).update(created_at=timezone.now() - timedelta(days=100))
    settings.PICARD_ACTIVITY_RETENTION_DAYS = 0
    assert activity_purge() == 0
    settings.PICARD_ACTIVITY_RETENTION_DAYS = 90
    assert activity_purge() == 1
    assert list(Activity.objects.values_list("action", flat=True)) == ["memory.create"]
    with pytest.raises(ValidationError):
        activity_purge(older_than_days=-1)
