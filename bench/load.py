"""Load benchmark: N concurrent clients for D seconds against a real uvicorn server.

    make bench-load                                   # 100 000 memories, 32 clients, 60 s each
    .venv/bin/python bench/load.py --memories 20000 --users 200 --duration 10 --no-write   # a quick look
    .venv/bin/python bench/load.py --workers 2        # the production layout (docs/deployment.md)

What it does, reproducibly:
1. Uses a throwaway embedded PostgreSQL under ``var/bench-load`` (never your data) and the
   default local embedding model (the ``make run`` configuration). It loads ``--memories``
   memories spread over ``--users`` owners (default 100 000 over 1 000: 100 each), 30 %
   public, 10 % shared with three users, the rest private — the layout of bench/search.py.
   Loading is bulk ``COPY`` (encryption and the keyword index included), a few minutes for
   100 000: ``--real`` texts (default 4 000) are embedded with the real model; every other
   row copies the vector of a random real row plus Gaussian noise (sigma 0.032 per dimension,
   L2-normalised) — the real model's geometry without embedding 100 000 texts for real
   (documented in docs/benchmarks.md, section search). The HNSW index over public rows is
   built after the load. A later run with the same ``--memories``/``--users`` reuses the data
   (after deleting what earlier runs added and the activity log).
2. Starts ``uvicorn picard.asgi:application`` (``--workers``, default 1 = ``make run``)
   with MCP in stateless JSON mode, so any worker can serve any MCP request.
3. For each scenario runs ``--clients`` concurrent keep-alive clients for ``--duration``
   seconds: ``query_memory`` and ``submit_memory`` via ``POST /api/tools``,
   ``tools/call query_memory`` via ``/mcp``, and the memory list page (``/memories/``,
   signed in). Client *i* acts as user *i*: its own OAuth tokens (one for REST, one bound to
   ``/mcp``) and web session; queries are questions generated like bench/search.py's. The
   per-token rate limit is raised for the run (it is a product limit, not what is measured).
4. Prints requests/s, p50/p95/p99 latency and errors (with the first error's answer), and
   writes the table into docs/benchmarks.md between ``<!-- BEGIN load -->`` and
   ``<!-- END load -->``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402 - after the path is set
from picard.testing import free_port  # noqa: E402

WORDS = (  # tags
    "garden coffee train meeting sister birthday piano recipe flight doctor budget novel hiking "
    "camera invoice holiday bicycle keyboard lecture museum ocean passport river salad tennis "
    "umbrella violin window yoga zebra apple bridge castle dinner engine forest guitar harbor"
).split()


NOTES = """\
What one `query_memory` costs now (hybrid, the default): the token check (one query, the
client's policy included), the user's groups, the query embedding (local ONNX model, ~3 ms),
ONE ranking statement (keyword BM25 and cosine over own, shared-with-me and others' public
memories; others' public memories through the HNSW index with `ef_search` 200 and, for
keywords, through a partial covering index of public postings), loading the 10 hits,
decrypting them, queuing the activity row (written in batches since issue 19; the per-token
rate counter is counted in the worker's memory). Measured before issue 19, one request at a
time on this data (`/proc` CPU of the server and of PostgreSQL): about 17 ms of Python and
22 ms of PostgreSQL CPU per hybrid request through either door (31 + 51 ms at the start of
the 2026-11-24 sessions); most of PostgreSQL's share is planning and running the ranking
statement (13.5 ms on average over the bench's questions, 24 ms at p90). Under 32 concurrent clients both grow by about a third and the two
cores are saturated; `--workers 2` gives the same figures.

The reference rows are the same server doing less, and show its ceiling on this machine:
one uvicorn process (`make run`) uses at most one core for Python, and an empty `GET
/healthz` already costs ~3 ms of it (Django, the middleware, uvicorn), hence ~250 req/s;
MCP `tools/list` (the token check and the MCP SDK, no search) ~110 req/s; `get_memories`
(token, 10 rows) ~50 req/s. The issue's targets (query_memory ≥ 200 req/s via REST, ≥ 100
via MCP) are four times what this server gives a REST request that checks a token and
searches nothing, and within 10 % of an MCP request that does no work; 200 req/s on 2
cores leaves 10 ms of CPU per request for Python and PostgreSQL together, less than the
ranking statement plus the query embedding alone. The load generator is a
minimal keep-alive HTTP/1.1 client (about 0.3 ms of CPU per request, measured). Earlier
figures: 2026-11-24 01:04 UTC (httpx load generator) query_memory 23.8 req/s via REST and
22.8 via MCP, submit_memory 52.4, list page 15.5; 2026-11-23 (39,426 memories of one user,
load average ~15) query_memory 9.6 and 2.5, submit_memory 34.7, list page 13.7."""


def _load_memories(args, users: list) -> None:
    """COPY ``args.memories`` memories, their keyword index and shares into the throwaway
    database (see the module docstring for how the vectors are made)."""
    import uuid

    import numpy as np
    from django.db import connection
    from pgvector.psycopg import register_vector

    from bench.search import TEMPLATES, fill
    from memories import crypto, keywords
    from memories.embeddings import get_provider
    from memories.vector_index import ensure_vector_index, index_name

    rng = random.Random(args.seed)
    provider = get_provider()
    model, dims = provider.name, provider.dimensions
    n = args.memories
    texts = [fill(rng.choice(TEMPLATES), rng) for _ in range(n)]
    n_real = min(args.real, n)
    started = time.monotonic()
    real = np.asarray(provider.embed_documents(texts[:n_real]), dtype=np.float32)
    print(f"  embedded {n_real} texts with {model} in {time.monotonic() - started:.0f} s", flush=True)
    nprng = np.random.default_rng(args.seed)
    vectors = np.empty((n, dims), dtype=np.float32)
    vectors[:n_real] = real
    if n > n_real:
        parents = nprng.integers(0, n_real, size=n - n_real)
        noisy = real[parents] + nprng.normal(0, 0.032, size=(n - n_real, dims)).astype(np.float32)
        vectors[n_real:] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)

    user_ids = [u.pk for u in users]
    owners = [user_ids[i % len(user_ids)] for i in range(n)]
    rng.shuffle(owners)
    rolls = [rng.random() for _ in range(n)]
    permissions = ["public" if r < args.public else "shared" if r < args.public + args.shared else "private" for r in rolls]
    ids = [uuid.uuid4() for _ in range(n)]
    now = datetime.now(UTC)
    key_id = keywords.key_id()
    term_cache: dict[str, tuple[dict[int, int], int]] = {}
    started = time.monotonic()
    raw = connection.connection
    register_vector(raw)
    columns = "(id, owner_id, text_encrypted, permission, tags, metadata, created_at, updated_at, version, embedding, embedding_model)"
    with raw.cursor() as cur:
        cur.execute(f"DROP INDEX IF EXISTS {index_name(model)}")  # built once, after the load
        with cur.copy(f"COPY memories_memory {columns} FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "uuid", "text", "varchar", "varchar[]", "jsonb", "timestamptz", "timestamptz", "int4", "vector", "varchar"])
            for i in range(n):
                created = now - timedelta(seconds=rng.randint(60, 365 * 86400))
                copy.write_row((ids[i], owners[i], crypto.encrypt(texts[i]), permissions[i], [rng.choice(WORDS)],
                                {"bench": True}, created, created, 1, vectors[i], model))
        with cur.copy("COPY memories_memoryshare (memory_id, user_id) FROM STDIN") as copy:
            for i in range(n):
                if permissions[i] == "shared":
                    for target in rng.sample(user_ids, 3):
                        if target != owners[i]:
                            copy.write_row((ids[i], target))
        terms = []
        for i in range(n):
            if texts[i] not in term_cache:
                term_cache[texts[i]] = keywords.hashed_terms(texts[i])
            terms.append(term_cache[texts[i]])
        with cur.copy("COPY memories_keyworddocument (memory_id, owner_id, length, key_id) FROM STDIN") as copy:
            for i in range(n):
                copy.write_row((ids[i], owners[i], terms[i][1], key_id))
        with cur.copy("COPY memories_keywordposting (memory_id, owner_id, term_hash, tf, length) FROM STDIN") as copy:
            for i in range(n):
                for term_hash, tf in terms[i][0].items():
                    copy.write_row((ids[i], owners[i], term_hash, tf, terms[i][1]))
    raw.commit()
    print(f"  copied {n} memories with their keyword index in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        ensure_vector_index(model_name=model, dimensions=dims)
        cursor.execute("RESET maintenance_work_mem")
        for table in ("memories_memory", "memories_memoryshare", "memories_keyworddocument", "memories_keywordposting"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"  built the HNSW index over public rows and analysed in {time.monotonic() - started:.0f} s", flush=True)


def setup_database(args) -> dict:
    """Load the memories once (reused by later runs with the same size) and make one user,
    token pair and web session per client."""
    os.environ["PICARD_DATA_DIR"] = str(args.data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "picard.settings.base")
    os.environ["PICARD_EMBEDDING_PROVIDER"] = "local"
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection
    from oauth2_provider.models import get_access_token_model, get_application_model

    from memories.embeddings import get_provider
    from memories.models import Activity, Memory

    call_command("migrate", verbosity=0)
    User = get_user_model()
    seeded = Memory.objects.filter(metadata__bench=True).count()
    users_have = User.objects.filter(username__startswith="bench").count()
    if seeded != args.memories or users_have != args.users:
        print(f"  loading {args.memories} memories over {args.users} users …", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE memories_memory, memories_activity, oauth2_provider_accesstoken, django_session CASCADE")
        User.objects.all().delete()
        users = [User(username=f"bench{i:05d}", email=f"bench{i}@example.com", password="!") for i in range(args.users)]
        User.objects.bulk_create(users, batch_size=1000)
        _load_memories(args, users)
    else:
        # Leftovers of earlier runs: what submit_memory stored, the activity log, old tokens.
        Memory.objects.exclude(metadata__has_key="bench").delete()
        Activity.objects.all().delete()
        get_access_token_model().objects.all().delete()
    clients = list(User.objects.filter(username__startswith="bench").order_by("username")[: args.clients])
    application, _ = get_application_model().objects.get_or_create(
        name="bench", defaults={"client_type": "public", "authorization_grant_type": "authorization-code",
                                "redirect_uris": "http://127.0.0.1:9/cb"},
    )

    def make_tokens(resource: list[str]) -> list[str]:
        made = []
        for user in clients:
            raw = secrets.token_urlsafe(32)
            get_access_token_model().objects.create(
                user=user, application=application, token=raw, scope="memories:read memories:write",
                expires=datetime.now(UTC) + timedelta(hours=2), resource=resource,
            )
            made.append(raw)
        return made

    def make_session(user) -> str:
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        return session.session_key

    return {
        "tokens": make_tokens([]),  # REST
        "mcp_tokens": make_tokens([settings.PICARD_MCP_RESOURCE]),  # bound to /mcp (RFC 8707 audience)
        "sessions": [make_session(user) for user in clients],
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "memories": Memory.objects.count(),
        "public": Memory.objects.filter(permission="public").count(),
        "users": User.objects.count(),
        "embedding": get_provider().name,
    }


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM to uvicorn's main process only: with ``--workers`` it stops its workers
    itself, and a worker that got a second SIGTERM (from a signal to the whole process
    group) would exit at once, skipping the shutdown that releases the embedded database."""
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


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


class Response:
    def __init__(self, status: int, body: bytes):
        self.status_code, self.body = status, body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


class KeepAliveClient:
    """A minimal HTTP/1.1 keep-alive client over asyncio streams: one connection, one request
    at a time. httpx cost about 1.5 ms of CPU per request, which the load generator takes
    from the same 2 cores as the server; this costs a tenth of that."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, method: str, path: str, *, body: bytes = b"", headers: dict | None = None) -> Response:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, chunked, close = None, False, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.lower() == "close":
                close = True
        if chunked:
            data = b""
            while (size := int((await self.reader.readline()).split(b";")[0], 16)) > 0:
                data += await self.reader.readexactly(size + 2)
                data = data[:-2]
            await self.reader.readline()
        else:
            data = await self.reader.readexactly(length or 0)
        if close:
            await self.close()
        return Response(status, data)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


def scenarios(setup: dict):
    rng = random.Random(7)

    from bench.search import QUESTIONS, TEMPLATES, fill

    def question() -> str:
        return fill(rng.choice(QUESTIONS), rng)

    def post_json(client, path, payload, headers):
        return client.request("POST", path, body=json.dumps(payload).encode(),
                              headers={"Content-Type": "application/json", **headers})

    def query_rest(client, token):
        return post_json(client, "/api/tools", {"tool": "query_memory", "data": {"query": question(), "limit": 10}},
                         {"Authorization": f"Bearer {token}"})

    def submit_rest(client, token):
        return post_json(client, "/api/tools", {"tool": "submit_memory", "data": {"text": fill(rng.choice(TEMPLATES), rng), "tags": ["bench"]}},
                         {"Authorization": f"Bearer {token}"})

    def query_mcp(client, token):
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "query_memory", "arguments": {"query": question(), "limit": 10}}}
        return post_json(client, "/mcp", body, {
            "Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-06-18"})

    def list_rest(client, token):
        return post_json(client, "/api/tools", {"tool": "get_memories", "data": {"limit": 10}}, {"Authorization": f"Bearer {token}"})

    def tools_list_mcp(client, token):
        return post_json(client, "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {
            "Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-06-18"})

    def healthz(client, token):
        return client.request("GET", "/healthz")

    def list_page(client, session):
        return client.request("GET", "/memories/", headers={"Cookie": f"{setup['session_cookie']}={session}"})

    def ok_mcp(response):
        return response.status_code == 200 and "error" not in response.json() and not response.json()["result"].get("isError")

    def ok(response):
        return response.status_code == 200

    return [
        ("query_memory via POST /api/tools", query_rest, ok),
        ("submit_memory via POST /api/tools", submit_rest, ok),
        ("tools/call query_memory via /mcp", query_mcp, ok_mcp),
        ("memory list page /memories/", list_page, ok),
        # Reference rows: the same server doing less, to show where its ceiling is.
        ("reference: get_memories (10 newest visible) via POST /api/tools", list_rest, ok),
        ("reference: tools/list via /mcp (token check, no search)", tools_list_mcp, ok_mcp),
        ("reference: GET /healthz (no token, one SELECT 1)", healthz, ok),
    ]


async def run_scenario(fn, ok, tokens: list[str], duration: float, port: int) -> dict:
    latencies: list[float] = []
    errors = 0
    first_error: list[str] = []
    stop_at = time.monotonic() + duration

    async def client_loop(token):
        nonlocal errors
        client = KeepAliveClient("127.0.0.1", port)
        try:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    response = await asyncio.wait_for(fn(client, token), timeout=30)
                    good = ok(response)
                    if not good and not first_error:
                        first_error.append(f"HTTP {response.status_code}: {response.text[:300]}")
                except Exception as exc:  # noqa: BLE001 - counted as an error
                    good = False
                    await client.close()
                    if not first_error:
                        first_error.append(repr(exc)[:300])
                latencies.append(time.perf_counter() - started)
                errors += 0 if good else 1
        finally:
            await client.close()

    started = time.monotonic()
    await asyncio.gather(*(client_loop(t) for t in tokens))
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": pct(0.50), "p95": pct(0.95),
            "p99": pct(0.99), "errors": errors, "first_error": first_error[0] if first_error else "", "mean": statistics.fmean(latencies) * 1000 if latencies else float("nan")}


def _run(coroutine):
    """The load generator's event loop: uvloop (installed with uvicorn[standard]) is cheaper."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=100_000, help="memories to load (default 100 000)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--users", type=int, default=1_000, help="owners the memories are spread over (default 1 000)")
    parser.add_argument("--public", type=float, default=0.3, help="share of public memories (default 0.3)")
    parser.add_argument("--shared", type=float, default=0.1, help="share of memories shared with 3 users (default 0.1)")
    parser.add_argument("--real", type=int, default=4_000, help="texts embedded with the real model (rest: synthetic stand-in)")
    parser.add_argument("--seed", type=int, default=7)
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
    load_start = os.getloadavg()
    port = free_port()
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
        for name, fn, ok in scenarios(setup):
            if args.only and args.only not in name:
                continue
            print(f"{name}: {args.clients} clients × {args.duration:.0f} s …", flush=True)
            tokens = setup["mcp_tokens"] if "/mcp" in name else setup["sessions"] if "page" in name else setup["tokens"]
            result = _run(run_scenario(fn, ok, tokens, args.duration, port))
            print(f"  {result['rps']:.1f} req/s  p50 {result['p50']:.0f} ms  p95 {result['p95']:.0f} ms  "
                  f"p99 {result['p99']:.0f} ms  errors {result['errors']}/{result['requests']}", flush=True)
            if result["first_error"]:
                print(f"  first error: {result['first_error']}", flush=True)
            rows.append((name, result))
    finally:
        stop_server(server)

    load_end = os.getloadavg()
    table = [
        "## Load (`make bench-load`, bench/load.py)",
        "",
        f"Run `{' '.join(['bench/load.py'] + sys.argv[1:])}` — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs ({platform.machine()}), load average {load_start[0]:.1f} before and {load_end[0]:.1f} after "
        f"(1-minute; anything above ~2 means other jobs shared the cores). {setup['memories']:,} memories over "
        f"{setup['users']:,} users ({setup['public']:,} public), embedding `{setup['embedding']}`; {args.clients} concurrent "
        f"keep-alive clients × {args.duration:.0f} s per row, each client a different user; uvicorn workers: {args.workers}; "
        "the load generator runs on the same machine.",
        "",
        "| scenario | requests | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        table.append(f"| {name} | {r['requests']} | {r['rps']:.1f} | {r['p50']:.0f} | {r['p95']:.0f} | {r['p99']:.0f} | {r['errors']} |")
    table += ["", NOTES]
    text = "\n".join(table)
    print(text)
    if not args.no_write:
        write_section("load", text)


if __name__ == "__main__":
    main()
