import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from memories import services
from memories.models import Activity, Memory

pytestmark = pytest.mark.django_db


def run(name, *args):
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def _expire(memory, days_ago):
    Memory.objects.filter(id=memory.id).update(expires_at=timezone.now() - timedelta(days=days_ago))


def test_purge_expired_deletes_only_expired_memories_and_logs_ids(alice, bob):
    keep = services.memory_create(actor=alice, text="still valid", expires_at=timezone.now() + timedelta(days=3))
    forever = services.memory_create(actor=bob, text="no expiry")
    old = services.memory_create(actor=alice, text="expired long ago")
    recent = services.memory_create(actor=bob, text="expired yesterday")
    _expire(old, 40)
    _expire(recent, 1)
    assert "2 expired memories would be deleted" in run("purge_expired", "--dry-run")
    assert Memory.objects.count() == 4
    assert "Deleted 1 expired" in run("purge_expired", "--older-than-days", "30")
    assert set(Memory.objects.values_list("id", flat=True)) == {keep.id, forever.id, recent.id}
    assert "Deleted 1 expired" in run("purge_expired")
    assert set(Memory.objects.values_list("id", flat=True)) == {keep.id, forever.id}
    entries = Activity.objects.filter(action="memory.purge_expired")
    assert {(e.actor_id, tuple(e.memory_ids), e.surface) for e in entries} == {
        (alice.id, (old.id,), "command"), (bob.id, (recent.id,), "command"),
    }
    with pytest.raises(CommandError):
        run("purge_expired", "--older-than-days", "-1")


def test_purge_activity_applies_retention(alice, settings):
    services.memory_create(actor=alice, text="x")
    stale = Activity.objects.create(actor=alice, action="memory.search")
    Activity.objects.filter(id=stale.id).update(created_at=timezone.now() - timedelta(days=200))
    settings.PICARD_ACTIVITY_RETENTION_DAYS = 0
    assert "nothing deleted" in run("purge_activity")
    settings.PICARD_ACTIVITY_RETENTION_DAYS = 90
    assert "Deleted 1 activity entries older than 90 days" in run("purge_activity")
    assert Activity.objects.count() == 1


def test_stats_reports_counts_as_text_and_json_without_memory_text(alice, bob):
    services.memory_create(actor=alice, text="zebra crossing secret", permission="public")
    services.memory_create(actor=bob, text="second")
    data = json.loads(run("stats", "--json"))
    assert data["users"]["total"] == 2
    assert data["memories"]["total"] == 2
    assert data["memories"]["by_permission"] == {"private": 1, "public": 1}
    assert data["memories"]["by_embedding_model"] == {"hash:256": 2}
    assert data["embedding"]["active_model"] == "hash:256"
    assert data["database"]["size_bytes"] > 0
    text = run("stats")
    assert "memories:" in text and "total: 2" in text
    assert "zebra" not in text


def test_cleartokens_removes_expired_oauth_tokens(alice):
    app = get_application_model().objects.create(
        name="c", client_type="public", authorization_grant_type="authorization-code", redirect_uris="http://127.0.0.1/cb",
    )
    AccessToken = get_access_token_model()
    AccessToken.objects.create(user=alice, application=app, token="expired-one", expires=timezone.now() - timedelta(days=1), scope="memories:read")
    AccessToken.objects.create(user=alice, application=app, token="live-one", expires=timezone.now() + timedelta(hours=1), scope="memories:read")
    call_command("cleartokens", stdout=StringIO())
    assert list(AccessToken.objects.values_list("token", flat=True)) == ["live-one"]
