"""CPU per request: server (uvicorn) + PostgreSQL, one sequential keep-alive client.

    make bench-cpu                                         # the 100 000-memory load database
    .venv/bin/python bench/cpu.py --memories 20000 --users 200 --requests 200   # a quick look

Wall-clock throughput on a shared machine says little; CPU seconds spent per request do not
depend on who else uses the cores. This script reuses bench/load.py's database (same
``--memories``/``--users``, built on first use, reused after), starts the same ``make run``-style
server (``DEBUG=false``, one worker, MCP stateless JSON), and for each scenario sends
``--requests`` requests one after another on one keep-alive connection (after a warm-up),
reading from ``/proc`` the CPU time (user + system) of the server process and of every
PostgreSQL process of that data folder (the postmaster, its live children, and the children
it reaped) before and after. The figures go into docs/benchmarks.md between
``<!-- BEGIN cpu -->`` and ``<!-- END cpu -->``. ``--code-dir DIR`` serves another checkout
on the same data instead (before/after comparisons).

``query_memory`` is the default hybrid search restricted to the caller's own memories
(``user_id`` = the caller, ~100 memories each): the default scope of issue 15 is measured
once that lands.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench.load  # noqa: E402
from bench.load import KeepAliveClient, setup_database, start_server, stop_server  # noqa: E402
from bench.report import write_section  # noqa: E402
from picard.testing import free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")

TARGETS_MS = {  # issue 19: total (server + PostgreSQL) CPU per request
    "GET /healthz": 1.0,
    "get_memories (10) via POST /api/tools": 6.0,
    "query_memory (hybrid, own memories) via POST /api/tools": 10.0,
    "tools/call query_memory via /mcp": 14.0,
}
BEFORE_MS = {  # issue 19's measurement before this change: (server, PostgreSQL)
    "GET /healthz": (3.7, 0.1),
    "get_memories (10) via POST /api/tools": (21.7, 4.0),
    "query_memory (hybrid, own memories) via POST /api/tools": (23.8, 7.5),
    "tools/call query_memory via /mcp": (None, None),
}


NOTES = """What changed (issue 19): the Django middleware chain is all-synchronous and runs with the
view in ONE worker-thread call per request (`picard/edge/django.py`; before, each request
crossed between the event loop and threads several times: asgiref's `SyncToAsync` 29 %,
`AsyncToSync` 27 %, `MiddlewareMixin.__acall__` 17.5 % of the profile); the `/mcp` body is
read and parsed once at the edge; the `tools`/`mcp` rate limits are counted in the worker's
memory (no counter upsert per request); search activity rows are written in batches every
second instead of one INSERT + commit per search.

What remains (py-spy on the server, `get_memories` one request at a time, worker thread,
samples waiting on PostgreSQL left out): ~70 % is `memories.selectors.memory_list` itself —
Django building the SQL of the visibility union (`_visible_parts`, `visibility_parts`:
`Query.build_filter`/`as_sql` ~33 %), `in_bulk` and loading/decrypting the rows; ~10 % is
DRF + django-oauth-toolkit authenticating the bearer token (oauthlib's `verify_request`);
the event loop's share (uvicorn, the edge, request id, sending) is a few per cent. For
`/healthz` the remaining ~2 ms is Django's ten middlewares, uvicorn, borrowing a pooled
connection (with its health-check round trip) and `SELECT 1`. Levers not taken here: a
pre-compiled (raw SQL) visibility query for `memory_list`/search — the selectors belong to
the recall work (issue 15) running in parallel; answering `/healthz` at the edge without
Django (it would lose the ALLOWED_HOSTS check and the security headers); per-thread
persistent connections instead of the pool's borrow + health check (the pool is what makes
an outage a fast 503)."""


def _stat(pid: int) -> tuple[int, float, float]:
    """(parent pid, own CPU seconds, reaped children's CPU seconds) of ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, (utime + stime) / TICK, (cutime + cstime) / TICK


def postgres_cpu(postmaster: int) -> float:
    """CPU seconds of the postmaster, its live children and the children it reaped."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid, own, reaped = _stat(int(entry))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(entry) == postmaster:
            total += own + reaped
        elif ppid == postmaster:
            total += own
    return total


def process_cpu(pid: int) -> float:
    _ppid, own, reaped = _stat(pid)
    return own + reaped


def postmaster_pid(data_dir: Path) -> int:
    for candidate in data_dir.rglob("postmaster.pid"):
        return int(candidate.read_text().split("\n", 1)[0])
    raise SystemExit(f"no running PostgreSQL under {data_dir}")


async def measure(port: int, request, count: int, server_pid: int, postmaster: int) -> dict:
    client = KeepAliveClient("127.0.0.1", port)
    try:
        for _ in range(max(10, count // 10)):  # warm-up: caches, connections, the embedding model
            response = await request(client)
        server0, pg0, wall0 = process_cpu(server_pid), postgres_cpu(postmaster), time.perf_counter()
        errors = 0
        for _ in range(count):
            response = await request(client)
            errors += response.status_code != 200 or b'"isError":true' in response.body or b'"error"' in response.body[:40]
        wall = time.perf_counter() - wall0
        server1, pg1 = process_cpu(server_pid), postgres_cpu(postmaster)
    finally:
        await client.close()
    return {"server_ms": (server1 - server0) * 1000 / count, "pg_ms": (pg1 - pg0) * 1000 / count,
            "wall_ms": wall * 1000 / count, "errors": errors}


def scenarios(setup: dict, user_ids: list[str]):
    token, mcp_token, own = setup["tokens"][0], setup["mcp_tokens"][0], user_ids[0]

    def post(client, path, payload, headers):
        return client.request("POST", path, body=json.dumps(payload).encode(), headers={"Content-Type": "application/json", **headers})

    questions = ["what did I plan for the garden", "when is my sister's birthday", "notes about the flight to Lisbon",
                 "recipe with coffee", "budget for the holiday"]
    counter = {"n": 0}

    def question() -> str:
        counter["n"] += 1
        return questions[counter["n"] % len(questions)]

    return [
        ("GET /healthz", lambda c: c.request("GET", "/healthz")),
        ("get_memories (10) via POST /api/tools",
         lambda c: post(c, "/api/tools", {"tool": "get_memories", "data": {"limit": 10}}, {"Authorization": f"Bearer {token}"})),
        ("query_memory (hybrid, own memories) via POST /api/tools",
         lambda c: post(c, "/api/tools", {"tool": "query_memory", "data": {"query": question(), "limit": 10, "user_id": own}},
                        {"Authorization": f"Bearer {token}"})),
        ("tools/call query_memory via /mcp",
         lambda c: post(c, "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
             "name": "query_memory", "arguments": {"query": question(), "limit": 10, "user_id": own}}},
             {"Authorization": f"Bearer {mcp_token}", "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"})),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--public", type=float, default=0.3)
    parser.add_argument("--shared", type=float, default=0.1)
    parser.add_argument("--real", type=int, default=4_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests", type=int, default=500, help="requests per scenario (default 500)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "bench-load", help="the load benchmark's data folder")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--code-dir", type=Path, default=None,
                        help="serve another checkout (e.g. `git archive <rev> | tar -x -C DIR`) on the same data, "
                             "to compare versions; implies --no-write")
    args = parser.parse_args()
    if args.code_dir is not None:
        bench.load.ROOT, args.no_write = args.code_dir.resolve(), True  # start_server runs uvicorn there
    args.clients, args.workers = 1, 1
    args.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PICARD_DATA_DIR"] = str(args.data_dir)
    port = free_port()
    os.environ["PORT"] = str(port)
    load_start = os.getloadavg()
    setup = setup_database(args)
    from django.contrib.auth import get_user_model
    from django.db import connections

    user_ids = [str(u.pk) for u in get_user_model().objects.filter(username__startswith="bench").order_by("username")[:1]]
    connections.close_all()
    server = start_server(args, port)
    rows = []
    try:
        postmaster = postmaster_pid(args.data_dir)
        for name, request in scenarios(setup, user_ids):
            result = asyncio.run(measure(port, request, args.requests, server.pid, postmaster))
            total = result["server_ms"] + result["pg_ms"]
            print(f"{name}: server {result['server_ms']:.2f} ms + PostgreSQL {result['pg_ms']:.2f} ms = {total:.2f} ms CPU "
                  f"(wall {result['wall_ms']:.2f} ms, errors {result['errors']})", flush=True)
            rows.append((name, result))
    finally:
        stop_server(server)
    load_end = os.getloadavg()
    lines = [
        "## CPU per request (`make bench-cpu`, bench/cpu.py)",
        "",
        f"Run `{' '.join(['bench/cpu.py'] + sys.argv[1:])}` — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs ({platform.machine()}), load average {load_start[0]:.1f} before and {load_end[0]:.1f} after. "
        f"{setup['memories']:,} memories over {setup['users']:,} users; one sequential keep-alive client, "
        f"{args.requests} requests per row after a warm-up; `DEBUG=false`, one uvicorn worker, MCP stateless JSON. "
        "CPU from /proc: the server process, and every PostgreSQL process of the data folder. "
        "`query_memory` searches the caller's own memories (`user_id` = the caller).",
        "",
        "| request | server CPU ms | PostgreSQL CPU ms | total ms | target ms | before: issue 19, 100k memories (server + PG) ms | wall ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        before = BEFORE_MS.get(name, (None, None))
        before_text = f"{before[0]} + {before[1]}" if before[0] is not None else "—"
        lines.append(f"| {name} | {r['server_ms']:.2f} | {r['pg_ms']:.2f} | {r['server_ms'] + r['pg_ms']:.2f} | "
                     f"{TARGETS_MS[name]:.1f} | {before_text} | {r['wall_ms']:.2f} | {r['errors']} |")
    text = "\n".join([*lines, "", NOTES])
    print(text)
    if not args.no_write:
        write_section("cpu", text)


if __name__ == "__main__":
    main()
