"""Key rotation and re-embedding lose nothing, even when killed halfway (``kill -9``).

On a throwaway database of the embedded PostgreSQL server (never your data):

1. creates N memories (default 3,000) for 10 users under key K1, embedded with the fast
   ``hash:256`` test model, and remembers a SHA-256 of every text;
2. rotation: configures [K2, K1] and starts ``rotate_encryption_key``'s service in a child
   process, ``kill -9``s it once about half the rows are under K2, checks that every row
   still decrypts to its original text, resumes in this process, then checks every row
   with K2 *alone*;
3. re-embedding: starts a switch ``hash:256`` → the real local model
   (``local:paraphrase-MiniLM-L3-v2``) in a child process, kills it halfway; meanwhile
   searches (which must keep answering from the old vectors) and writes (which must get
   both vectors); resumes, completes the switch, and checks that every memory has exactly
   the vector the new model gives its text.

The children pause briefly between batches so that the kill lands mid-run on a fast
machine (``--pause``). Prints a Markdown table (pasted into docs/deployment.md).

    .venv/bin/python bench/rotation_reembed.py [--memories 3000]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "picard_bench_rotation"
TARGET = {"provider": "local"}


def setup_django(*, child: bool = False) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "picard.settings.base")
    os.environ["PICARD_EMBEDDING_PROVIDER"] = "hash"
    os.environ["PICARD_EMBEDDING_DIMENSIONS"] = "256"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.conf import settings

    if child:
        settings.DATABASES["default"]["NAME"] = BENCH_DATABASE
    settings.DATABASES["default"]["TEST"] = {"NAME": BENCH_DATABASE}
    django.setup()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- children ---------------------------------------------------------------------------------


def child(kind: str, keys: str, pause: float) -> None:
    os.environ["PICARD_ENCRYPTION_KEYS"] = keys
    setup_django(child=True)
    from django.conf import settings

    settings.PICARD_ENCRYPTION_KEYS = keys.split(",")

    def slow(_n):
        time.sleep(pause)

    if kind == "rotate":
        from memories.maintenance import memory_rotate_encryption_key

        memory_rotate_encryption_key(batch_size=100, progress=slow)
    else:
        from memories import reembed

        reembed.embedding_switch_begin(target_config=TARGET)
        reembed.embedding_switch_fill(batch_size=64, progress=slow)
    print("child finished without being killed", flush=True)


def spawn(kind: str, keys: str, pause: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--child", kind, "--keys", keys, "--pause", str(pause)],
        cwd=ROOT, env={**os.environ, "PICARD_ENCRYPTION_KEYS": keys},
    )


def kill_when(proc: subprocess.Popen, done_fraction, *, at: float = 0.5, timeout: float = 600) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        fraction = done_fraction()
        if fraction >= at or proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return done_fraction()


# --- the run ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memories", type=int, default=3000)
    parser.add_argument("--pause", type=float, default=0.15, help="seconds children wait between batches")
    parser.add_argument("--child", choices=["rotate", "reembed"], help=argparse.SUPPRESS)
    parser.add_argument("--keys", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.keys, args.pause)
        return

    from cryptography.fernet import Fernet

    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    os.environ["PICARD_ENCRYPTION_KEYS"] = k1
    setup_django()
    from django.conf import settings
    from django.db import connection

    settings.PICARD_ENCRYPTION_KEYS = [k1]
    original_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    try:
        rows = run(args, k1, k2)
    finally:
        connection.close()
        connection.creation.destroy_test_db(original_name, verbosity=0)
    print("\n| step | figure |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


def run(args, k1: str, k2: str) -> list[tuple[str, str]]:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from memories import crypto, reembed, search, services
    from memories.embeddings import build_provider
    from memories.maintenance import memory_rotate_encryption_key
    from memories.models import Memory
    from memories.selectors import MemoryFilters
    from picard.context import call_context

    results: list[tuple[str, str]] = []
    users = [get_user_model().objects.create_user(username=f"bench{i}", password="x") for i in range(10)]
    words = "harbour ferry lantern orchard violin glacier copper meadow puzzle saffron tundra ember".split()
    started = time.perf_counter()
    with call_context(surface="command"):
        for i in range(args.memories):
            text = f"Memory {i}: {words[i % 12]} {words[(i * 7) % 12]} {words[(i * 5) % 12]} — note #{i * 31 % 997} ✓"
            services.memory_create(actor=users[i % 10], text=text, permission="public" if i % 3 == 0 else "private", tags=[words[i % 12]])
    truth = {m.id: digest(m.text) for m in Memory.objects.all()}
    results.append(("memories created (10 users, key K1, hash:256)", f"{len(truth)} in {time.perf_counter() - started:.1f} s"))

    def check_texts(keys: list[str]) -> int:
        settings.PICARD_ENCRYPTION_KEYS = keys
        bad = 0
        seen = set()
        for memory_id, token in Memory.objects.values_list("id", "text_encrypted"):
            seen.add(memory_id)
            try:
                if digest(crypto.decrypt(token)) != truth.get(memory_id):
                    bad += 1
            except crypto.EncryptionKeyError:
                bad += 1
        return bad + len(set(truth) - seen)

    # --- rotation, killed halfway ---------------------------------------------------------
    settings.PICARD_ENCRYPTION_KEYS = [k2, k1]
    total = len(truth)

    def rotated_fraction() -> float:
        return sum(crypto.is_current(t) for t in Memory.objects.values_list("text_encrypted", flat=True)) / total

    proc = spawn("rotate", f"{k2},{k1}", args.pause)
    at_kill = kill_when(proc, rotated_fraction)
    lost_after_kill = check_texts([k2, k1])
    results.append(("rotation: child killed (SIGKILL) at", f"{at_kill:.0%} of rows under K2 (exit {proc.returncode})"))
    results.append(("rotation: rows unreadable or changed after the kill", str(lost_after_kill)))
    settings.PICARD_ENCRYPTION_KEYS = [k2, k1]
    started = time.perf_counter()
    report = memory_rotate_encryption_key(batch_size=500)
    results.append(("rotation: resume", f"{report.rotated} re-encrypted, {report.already_current} skipped (already K2) in {time.perf_counter() - started:.2f} s"))
    results.append(("rotation: rows not readable with K2 alone / changed", str(check_texts([k2]))))
    settings.PICARD_ENCRYPTION_KEYS = [k2, k1]

    # --- re-embedding, killed halfway ------------------------------------------------------
    target = build_provider({**settings.PICARD_EMBEDDINGS, **TARGET})

    def embedded_fraction() -> float:
        return Memory.objects.filter(embedding_next_model=target.name).count() / max(1, Memory.objects.count())

    searcher = users[0]
    before = [h.memory.id for h in search.memory_search(actor=searcher, query="harbour ferry", limit=10, mode="semantic", filters=MemoryFilters(scope="all"), min_score=0.0)]
    proc = spawn("reembed", f"{k2},{k1}", args.pause)
    # While the child works: searches keep answering from the old vectors; writes get both.
    deadline = time.time() + 120
    while time.time() < deadline and not (reembed.embedding_state() and reembed.embedding_state().target_model):
        time.sleep(0.1)  # wait for the child to record the switch
    searches_ok = 0
    for _ in range(20):
        hits = [h.memory.id for h in search.memory_search(actor=searcher, query="harbour ferry", limit=10, mode="semantic", filters=MemoryFilters(scope="all"), min_score=0.0)]
        searches_ok += hits == before
    with call_context(surface="command"):
        during = [services.memory_create(actor=users[1], text=f"written during the switch {i} lantern", permission="public") for i in range(20)]
        for memory in during[:10]:
            services.memory_update(actor=users[1], memory_id=str(memory.id), text=f"edited during the switch {memory.id}")
    dual = Memory.objects.filter(id__in=[m.id for m in during], embedding_model="hash:256", embedding_next_model=target.name).count()
    for memory in Memory.objects.filter(id__in=[m.id for m in during]):
        truth[memory.id] = digest(memory.text)
    at_kill = kill_when(proc, embedded_fraction)
    results.append(("re-embed: searches during the switch answering from the old vectors", f"{searches_ok}/20 identical to before"))
    results.append(("re-embed: writes during the switch with both vectors", f"{dual}/20"))
    results.append(("re-embed: child killed (SIGKILL) at", f"{at_kill:.0%} of rows embedded for {target.name} (exit {proc.returncode})"))
    started = time.perf_counter()
    state = reembed.embedding_switch_begin(target_config=TARGET)
    written = reembed.embedding_switch_fill(batch_size=64)
    fill_seconds = time.perf_counter() - started
    reembed.embedding_switch_complete()
    results.append(("re-embed: resume", f"{written} embedded (the rest were kept from before the kill) in {fill_seconds:.1f} s, then switched"))
    assert state.target_model == target.name
    # Every memory: present, same text, one vector of the new model equal to a fresh embedding.
    rows = list(Memory.objects.all())
    wrong = 0
    for start in range(0, len(rows), 64):
        chunk = rows[start : start + 64]
        fresh = target.embed_documents([m.text for m in chunk])
        for memory, vector in zip(chunk, fresh, strict=False):
            stored = list(memory.embedding)
            cos = sum(a * b for a, b in zip(stored, vector, strict=False)) / (math.sqrt(sum(a * a for a in stored)) * math.sqrt(sum(b * b for b in vector)))
            if memory.embedding_model != target.name or len(stored) != len(vector) or cos < 0.9999 or memory.embedding_next is not None:
                wrong += 1
    missing = len(set(truth) - {m.id for m in rows})
    changed = sum(digest(m.text) != truth[m.id] for m in rows)
    results.append(("re-embed: memories missing / text changed / wrong or stale vector", f"{missing} / {changed} / {wrong} (of {len(rows)})"))
    hits = search.memory_search(actor=searcher, query="harbour ferry", limit=5, mode="semantic", filters=MemoryFilters(scope="all"), min_score=0.0)
    results.append(("re-embed: search after the switch", f"{len(hits)} hits, model {reembed.active_provider().name}"))
    return results


if __name__ == "__main__":
    main()
