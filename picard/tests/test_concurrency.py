"""Concurrency, with real threads on real PostgreSQL connections.

The rule for two clients changing one memory (docs/security.md):
- with ``expected_version`` (the version the client read), the write is conditional: the
  row is locked (SELECT … FOR UPDATE), and a stale version is refused with 409 Conflict —
  exactly one of two racing writers wins, the other is told to re-read;
- without it, writes are serialized by the row lock and the last one to commit wins; the
  version still goes up once per write, so no write is lost silently from the history.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connections

from memories import services
from memories.models import Activity, Memory
from picard.exceptions import Conflict

pytestmark = pytest.mark.django_db(transaction=True)


def _race(n: int, fn):
    """Run ``fn(i)`` in ``n`` threads released at the same moment; return results/exceptions."""
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(timeout=30)
            return fn(i)
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_two_conditional_updates_of_one_memory_exactly_one_wins(alice):
    memory = services.memory_create(actor=alice, text="original")
    results = _race(2, lambda i: services.memory_update(actor=alice, memory_id=str(memory.id), text=f"edit {i}", expected_version=1))
    winners = [r for r in results if isinstance(r, Memory)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(conflicts) == 1, results
    assert conflicts[0].details == {"current_version": 2}
    stored = Memory.objects.get(id=memory.id)
    assert stored.version == 2
    assert stored.text == winners[0].text


def test_unconditional_updates_are_serialized_last_write_wins(alice):
    memory = services.memory_create(actor=alice, text="original")
    results = _race(4, lambda i: services.memory_update(actor=alice, memory_id=str(memory.id), text=f"edit {i}"))
    assert all(isinstance(r, Memory) for r in results), results
    stored = Memory.objects.get(id=memory.id)
    assert stored.version == 5  # 1 + one bump per write: none lost
    last = max(results, key=lambda m: m.version)
    assert stored.text == last.text
    assert Activity.objects.filter(action="memory.update", memory_ids__contains=[memory.id]).count() == 4


def test_parallel_batch_submits_store_every_item_exactly_once(alice):
    from mcp_bridge.tools import TOOLS

    tool = TOOLS["batch_memories"]

    def submit(i):
        data = tool.input.model_validate({"operations": [
            {"op": "create", "data": {"text": f"batch {i} item {j}", "tags": [f"b{i}"]}} for j in range(15)
        ]})
        return tool.handler(alice, data)

    results = _race(6, submit)
    assert all(isinstance(r, dict) and r["failed"] == 0 for r in results), results
    texts = sorted(m.text for m in Memory.objects.filter(owner=alice))
    assert texts == sorted(f"batch {i} item {j}" for i in range(6) for j in range(15))
    ids = [r["id"] for result in results for r in result["results"]]
    assert len(set(ids)) == 90


def test_the_same_refresh_token_used_twice_at_once_exactly_one_succeeds(live_server, token_for, oauth_app, alice, settings):
    # Without the grace window (with it, both succeed: oauth/tests/test_client_interop.py).
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0}
    tokens = token_for(alice)
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": oauth_app.client_id}

    def refresh(_):
        return httpx.post(f"{live_server.url}/token", data=data, auth=(oauth_app.client_id, oauth_app.client_secret), timeout=30)

    responses = _race(2, refresh)
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 200 and statuses[1] != 200, [(r.status_code, r.text[:200]) for r in responses]
    assert statuses[1] < 500
