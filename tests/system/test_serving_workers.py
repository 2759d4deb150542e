"""Production serving: several uvicorn worker processes behind one port (docs/deployment.md).

A real ``uvicorn picard.asgi:application --workers 2`` on a free loopback port, pointed at
the test database, with MCP in stateless mode. Many concurrent requests without keep-alive
(so the kernel hands connections to either worker): REST tool calls and stateless MCP
exchanges (initialize, tools/list, tools/call) must all succeed, whichever worker serves
them, and both workers must have served.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from picard.testing import uvicorn_with_workers, uvicorn_workers_of

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _rpc_result(response: httpx.Response) -> dict:
    """The JSON-RPC message of a stateless MCP answer (plain JSON or one SSE event)."""
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        message = json.loads(data[-1])
    else:
        message = response.json()
    assert "error" not in message, message
    return message["result"]


@pytest.fixture
def two_workers(transactional_db):
    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "picard.settings.test",
        "DATABASE_URL": f"postgresql://{db['USER']}@/{db['NAME']}?host={db['HOST']}",
        "PICARD_MCP_STATELESS": "true",
        "PICARD_DB_POOL_SIZE": "4",
        "LOG_LEVEL": "WARNING",
    }
    with uvicorn_with_workers(env) as (process, url):
        # Both workers finished starting (each answers its own requests from now on).
        time.sleep(1.5)
        yield process, url


def _access_token(user, *, resource: list[str]) -> str:
    import datetime as dt
    import secrets

    from oauth2_provider.models import get_access_token_model, get_application_model

    application = get_application_model().objects.create(
        name="workers test", client_type="public", authorization_grant_type="authorization-code",
        redirect_uris="http://127.0.0.1:9/callback",
    )
    raw = secrets.token_urlsafe(32)
    get_access_token_model().objects.create(
        user=user, application=application, token=raw, scope="memories:read memories:write",
        expires=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), resource=resource,
    )
    return raw


def test_two_workers_serve_rest_and_stateless_mcp_requests_alike(two_workers, django_user_model):
    process, url = two_workers
    alice = django_user_model.objects.create_user(username="alice", password="pw-123456789")
    rest_token = _access_token(alice, resource=[])
    mcp_token = _access_token(alice, resource=[f"{url}/mcp"])
    workers = uvicorn_workers_of(process.pid)
    cpu_before = {pid: _cpu_seconds(pid) for pid in workers}

    def rest_round(i: int) -> str:
        with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {rest_token}"}) as http:
            stored = http.post("/api/tools", json={"tool": "submit_memory", "data": {"text": f"worker note {i}"}})
            assert stored.status_code == 200, stored.text
            found = http.post("/api/tools", json={"tool": "query_memory", "data": {"query": f"worker note {i}", "mode": "keyword"}})
            assert found.status_code == 200, found.text
            assert f"worker note {i}" in [m["text"] for m in found.json()["data"]["memories"]]
            return stored.json()["data"]["id"]

    def mcp_round(i: int) -> None:
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {mcp_token}"}
        with httpx.Client(base_url=url, timeout=30, headers=headers) as http:
            init = _rpc_result(http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "workers-test", "version": "1"}}}))
            assert init["serverInfo"]["name"] == "picard"
            tools = _rpc_result(http.post("/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
            assert "query_memory" in {tool["name"] for tool in tools["tools"]}
            called = _rpc_result(http.post("/mcp", json={"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
                "name": "query_memory", "arguments": {"query": f"worker note {i}", "mode": "keyword"}}}))
            assert not called.get("isError"), called

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(rest_round, range(24)))
        list(pool.map(mcp_round, range(24)))

    assert len(set(ids)) == 24
    from memories.models import Memory

    assert Memory.objects.filter(owner=alice).count() == 24
    busy = {pid: _cpu_seconds(pid) - cpu_before[pid] for pid in workers}
    assert all(seconds > 0.05 for seconds in busy.values()), f"a worker served nothing: CPU seconds {busy}"
