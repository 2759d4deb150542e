"""Load benchmark: N concurrent clients for D seconds against a real uvicorn server.

    .venv/bin/python bench/load.py                      # 100 000 memories, 32 clients, 60 s each
    .venv/bin/python bench/load.py --memories 5000 --duration 10 --no-write   # a quick look

What it does, reproducibly:
1. Uses a throwaway embedded PostgreSQL under ``var/bench-load`` (never your data) and the
   default local embedding model (the ``make run`` configuration), migrates it, and loads
   ``--memories`` memories (one user owns them; 10 % public), embedded in batches.
2. Starts ``uvicorn picard.asgi:application`` (``--workers``, default 1 = ``make run``)
   with MCP in stateless JSON mode, so any worker can serve any MCP request.
3. For each scenario runs ``--clients`` concurrent keep-alive clients for ``--duration``
   seconds: ``query_memory`` and ``submit_memory`` via ``POST /api/tools``,
   ``tools/call query_memory`` via ``/mcp``, and the memory list page (``/memories/``,
   signed in). Each client has its own OAuth token; the per-token rate limit is raised for
   the run (it is a product limit, not what is measured).
4. Prints requests/s, p50/p95/p99 latency and errors, and writes the table into
   docs/benchmarks.md between ``<!-- BEGIN load -->`` and ``<!-- END load -->``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = (
    "garden coffee train meeting sister birthday piano recipe flight doctor budget novel hiking "
    "camera invoice holiday bicycle keyboard lecture museum ocean passport river salad tennis "
    "umbrella violin window yoga zebra apple bridge castle dinner engine forest guitar harbor"
).split()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))).capitalize() + "."


def setup_database(args) -> dict:
    """Load memories and make tokens/sessions in the throwaway database."""
    os.environ["PICARD_DATA_DIR"] = str(args.data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "picard.settings.base")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from oauth2_provider.models import get_access_token_model, get_application_model

    from memories.embeddings import get_provider
    from memories.models import Memory

    call_command("migrate", verbosity=0)
    User = get_user_model()
    user, _ = User.objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})
    user.set_password("bench-password-123")
    user.save()
    have = Memory.objects.filter(owner=user).count()
    if have < args.memories:
        from memories.crypto import encrypt

        provider = get_provider()
        rng = random.Random(have)
        batch, started = 256, time.monotonic()
        for offset in range(have, args.memories, batch):
            texts = [_sentence(rng) for _ in range(min(batch, args.memories - offset))]
            vectors = provider.embed_documents(texts)
            now = datetime.now(timezone.utc)
            Memory.objects.bulk_create([
                Memory(owner=user, text_encrypted=encrypt(t), permission="public" if rng.random() < 0.1 else "private",
                       tags=[rng.choice(WORDS)], created_at=now, updated_at=now, embedding=v, embedding_model=provider.name)
                for t, v in zip(texts, vectors)
            ])
            done = offset + len(texts)
            if done % 10240 < batch:
                print(f"  loaded {done} memories ({done / (time.monotonic() - started):.0f}/s)", flush=True)

        call_command("migrate", verbosity=0)  # post_migrate makes sure the HNSW index exists
    application, _ = get_application_model().objects.get_or_create(
        name="bench", defaults={"client_type": "public", "authorization_grant_type": "authorization-code",
                                "redirect_uris": "http://127.0.0.1:9/cb"},
    )
    def make_tokens(resource: list[str]) -> list[str]:
        made = []
        for _ in range(args.clients):
            raw = secrets.token_urlsafe(32)
            get_access_token_model().objects.create(
                user=user, application=application, token=raw, scope="memories:read memories:write",
                expires=datetime.now(timezone.utc) + timedelta(hours=2), resource=resource,
            )
            made.append(raw)
        return made

    tokens = make_tokens([])  # REST
    mcp_tokens = make_tokens([settings.PICARD_MCP_RESOURCE])  # bound to /mcp (RFC 8707 audience)
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    return {"tokens": tokens, "mcp_tokens": mcp_tokens, "session": session.session_key, "session_cookie": settings.SESSION_COOKIE_NAME,
            "memories": Memory.objects.count(), "embedding": get_provider().name}


def start_server(args, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "PICARD_DATA_DIR": str(args.data_dir),
        "DJANGO_SETTINGS_MODULE": "picard.settings.base",
        "DEBUG": "false",
        "PORT": str(port),
        "PICARD_MCP_STATELESS": "true",
        "PICARD_MCP_JSON_RESPONSE": "true",
        "PICARD_RATE_TOOLS": "100000000/60",
        "PICARD_RATE_MCP": "100000000/60",
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "uvicorn", "picard.asgi:application", "--host", "127.0.0.1", "--port", str(port),
               "--no-access-log", "--no-server-header", "--workers", str(args.workers)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    import httpx

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the server did not start")


def scenarios(base: str, setup: dict):
    rng = random.Random(7)

    def query_rest(client, token):
        return client.post(f"{base}/api/tools", json={"tool": "query_memory", "data": {"query": _sentence(rng), "limit": 10}},
                           headers={"Authorization": f"Bearer {token}"})

    def submit_rest(client, token):
        return client.post(f"{base}/api/tools", json={"tool": "submit_memory", "data": {"text": _sentence(rng), "tags": ["bench"]}},
                           headers={"Authorization": f"Bearer {token}"})

    def query_mcp(client, token):
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "query_memory", "arguments": {"query": _sentence(rng), "limit": 10}}}
        return client.post(f"{base}/mcp", json=body, headers={
            "Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-06-18"})

    def list_page(client, token):
        return client.get(f"{base}/memories/", cookies={setup["session_cookie"]: setup["session"]})

    def ok_mcp(response):
        return response.status_code == 200 and "error" not in response.json() and not response.json()["result"].get("isError")

    def ok(response):
        return response.status_code == 200

    return [
        ("query_memory via POST /api/tools", query_rest, ok),
        ("submit_memory via POST /api/tools", submit_rest, ok),
        ("tools/call query_memory via /mcp", query_mcp, ok_mcp),
        ("memory list page /memories/", list_page, ok),
    ]


async def run_scenario(fn, ok, tokens: list[str], duration: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + duration

    async def client_loop(token):
        nonlocal errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    response = await fn(client, token)
                    good = ok(response)
                except Exception:  # noqa: BLE001 - counted as an error
                    good = False
                latencies.append(time.perf_counter() - started)
                errors += 0 if good else 1

    started = time.monotonic()
    await asyncio.gather(*(client_loop(t) for t in tokens))
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": pct(0.50), "p95": pct(0.95),
            "p99": pct(0.99), "errors": errors, "mean": statistics.fmean(latencies) * 1000 if latencies else float("nan")}


def write_results(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    begin, end = "<!-- BEGIN load -->", "<!-- END load -->"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{text}\n{end}"
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        current = head + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=100_000, help="memories to load (default 100 000)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--duration", type=float, default=60, help="seconds per scenario (default 60)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1, as make run)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "bench-load", help="throwaway data folder")
    parser.add_argument("--only", default="", help="run only scenarios whose name contains this text")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--setup-only", action="store_true", help="load the memories and stop (they are reused by later runs)")
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PICARD_DATA_DIR"] = str(args.data_dir)

    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    port = _free_port()
    os.environ["PORT"] = str(port)  # PICARD_PUBLIC_URL, hence the MCP resource the tokens are bound to
    print(f"setting up {args.memories} memories in {args.data_dir} …", flush=True)
    setup = setup_database(args)
    if args.setup_only:
        return
    from django.db import connections

    connections.close_all()
    server = start_server(args, port)
    rows = []
    try:
        for name, fn, ok in scenarios(f"http://127.0.0.1:{port}", setup):
            if args.only and args.only not in name:
                continue
            print(f"{name}: {args.clients} clients × {args.duration:.0f} s …", flush=True)
            tokens = setup["mcp_tokens"] if "/mcp" in name else setup["tokens"]
            result = asyncio.run(run_scenario(fn, ok, tokens, args.duration))
            print(f"  {result['rps']:.1f} req/s  p50 {result['p50']:.0f} ms  p95 {result['p95']:.0f} ms  "
                  f"p99 {result['p99']:.0f} ms  errors {result['errors']}/{result['requests']}", flush=True)
            rows.append((name, result))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)

    table = [
        f"Load: `{' '.join(['bench/load.py'] + sys.argv[1:])}` — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs ({platform.machine()}), {setup['memories']} memories, embedding `{setup['embedding']}`, "
        f"{args.clients} concurrent keep-alive clients × {args.duration:.0f} s per row, uvicorn workers: {args.workers}, "
        "load generator on the same machine.",
        "",
        "| scenario | requests | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        table.append(f"| {name} | {r['requests']} | {r['rps']:.1f} | {r['p50']:.0f} | {r['p95']:.0f} | {r['p99']:.0f} | {r['errors']} |")
    text = "\n".join(table)
    print(text)
    if not args.no_write:
        write_results(text)


if __name__ == "__main__":
    main()
