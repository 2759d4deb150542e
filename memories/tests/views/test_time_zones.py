"""Times on the site are shown in the browser's time zone (the picard_tz cookie set by
picard.js, picard.timezones) and the expiry is entered as local time in that zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memories import services
from memories.models import Memory

pytestmark = pytest.mark.django_db


def _form(**overrides):
    return {"text": "Dentist", "tags": "", "permission": "private", "share_users": "", "metadata": "", **overrides}


def test_expiry_typed_in_tokyo_is_stored_as_the_same_moment_in_utc(client, alice):
    client.force_login(alice)
    client.cookies["picard_tz"] = "Asia/Tokyo"
    page = client.get("/memories/new").content.decode()
    assert "Expires (Asia/Tokyo time)" in page and 'name="time_zone" value="Asia/Tokyo"' in page
    response = client.post("/memories/new", _form(expires_at="2031-01-01T09:00", time_zone="Asia/Tokyo"))
    assert response.status_code == 302
    memory = Memory.objects.get(owner=alice)
    assert memory.expires_at == datetime(2031, 1, 1, 0, 0, tzinfo=UTC)
    detail = client.get(response["Location"]).content.decode()
    assert "Jan 1, 2031, 09:00 JST" in detail
    edit = client.get(f"/memories/{memory.id}/edit").content.decode()
    assert 'value="2031-01-01T09:00"' in edit  # shown back in local time, not as 00:00


def test_the_zone_the_form_was_shown_in_wins_over_a_changed_cookie(client, alice):
    """A form rendered in UTC (first page, before picard.js set the cookie) is read in UTC."""
    client.force_login(alice)
    client.cookies["picard_tz"] = "Asia/Tokyo"
    client.post("/memories/new", _form(expires_at="2031-01-01T09:00", time_zone="UTC"))
    assert Memory.objects.get(owner=alice).expires_at == datetime(2031, 1, 1, 9, 0, tzinfo=UTC)


def test_without_a_zone_times_stay_utc_and_say_so(client, alice):
    memory = services.memory_create(actor=alice, text="x", expires_at="2031-01-01T00:00:00Z")
    client.force_login(alice)
    assert "Jan 1, 2031, 00:00 UTC" in client.get(f"/memories/{memory.id}/").content.decode()
    client.cookies["picard_tz"] = "Not/AZone"
    assert "Jan 1, 2031, 00:00 UTC" in client.get(f"/memories/{memory.id}/").content.decode()
    assert "Expires (UTC time)" in client.get("/memories/new").content.decode()
