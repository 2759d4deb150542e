"""Read activity is buffered and written in batches (issue 19, point 3); writes stay
durable at once."""

from __future__ import annotations

import time

import pytest

from memories import services
from memories.activity import activity_flush, read_buffer
from memories.models import Activity

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def buffered(settings):
    settings.PICARD_ACTIVITY_BUFFER = True
    yield settings
    activity_flush()


def test_searches_are_written_in_a_batch_and_writes_at_once(buffered, alice):
    services.memory_create(actor=alice, text="The harbour ferry leaves at nine.", permission="private")
    assert Activity.objects.filter(action="memory.create").count() == 1  # a write: durable at once
    for _ in range(3):
        services.memory_query(actor=alice, query="ferry", mode="keyword")
    assert Activity.objects.filter(action="memory.search").count() + len(read_buffer) == 3
    activity_flush()
    assert Activity.objects.filter(action="memory.search", actor=alice).count() == 3
    assert len(read_buffer) == 0


def test_the_background_writer_flushes_within_a_few_seconds(buffered, alice):
    services.memory_query(actor=alice, query="anything", mode="keyword")
    deadline = time.monotonic() + 10
    while not Activity.objects.filter(action="memory.search").exists():
        assert time.monotonic() < deadline, "buffered read activity was never written"
        time.sleep(0.1)
