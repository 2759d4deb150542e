"""Measure the near-duplicate threshold (``PICARD_NEAR_DUPLICATE_THRESHOLD``) on LoCoMo.

    python bench/near_duplicates.py [--data PATH]      (or: make bench-near-duplicates)

A new memory is reported as a possible duplicate of one of its owner's memories when their
cosine similarity is at least the threshold. Too low and people are nagged about memories
that merely share a topic; too high and restatements slip through. Measured with the
default local model on the LoCoMo development half (``../shared/data/locomo/locomo-dev.json``,
CC BY-NC 4.0, never copied into this repository), one owner per conversation:

- *false alarms*: each turn submitted as if new, against every OTHER turn of the same
  conversation (the same owner's memories) — the share of turns that would be flagged;
- *caught*: restatements of a turn an assistant could plausibly store again (described in
  ``VARIANTS``), against the original turn — the share flagged.

The threshold chosen is the lowest one (0.01 steps) that flags at most 1 % of distinct
turns. Writes the table into docs/benchmarks.md (section ``near-duplicates``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "locomo" / "locomo-dev.json"
SESSION = re.compile(r"session_(\d+)")
MAX_FALSE_ALARMS = 0.01


def _drop_commas(text: str, rng: random.Random) -> str:
    return text.replace(",", "").replace("!", ".").replace("?", ".")


def _remember_prefix(text: str, rng: random.Random) -> str:
    return "Remember: " + text


def _third_person(text: str, rng: random.Random) -> str:
    speaker, _, said = text.partition(": ")
    return f"{speaker} said that {said[:1].lower()}{said[1:]}" if said else text


def _drop_a_word(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) < 6:
        return text + " indeed"
    del words[rng.randrange(2, len(words))]
    return " ".join(words)


def _first_sentence_only(text: str, rng: random.Random) -> str:
    parts = re.split(r"(?<=[.!?])\s+", text)
    return parts[0] if len(parts) > 1 else text


# name -> (what an assistant storing the same turn again might write, the function)
VARIANTS = {
    "punctuation": ("commas dropped, ! and ? turned into full stops", _drop_commas),
    "prefix": ("'Remember: ' in front", _remember_prefix),
    "reported": ("'<speaker> said that …' instead of '<speaker>: …'", _third_person),
    "one word dropped": ("one word (not among the first two) left out", _drop_a_word),
    "first sentence": ("only the first sentence of a multi-sentence turn", _first_sentence_only),
}


def turns(conversation: dict) -> list[str]:
    talk = conversation["conversation"]
    out = []
    for key in sorted((k for k in talk if SESSION.fullmatch(k)), key=lambda k: int(SESSION.fullmatch(k).group(1))):
        for turn in talk[key]:
            out.append(f"{turn['speaker']}: {turn['text']}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="LoCoMo JSON (default: the development half).")
    parser.add_argument("--no-write", action="store_true", help="Print only; leave docs/benchmarks.md alone.")
    args = parser.parse_args(argv)
    if not args.data.exists():
        parser.error(f"{args.data} not found (see ../shared/data/locomo/README.md).")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "picard.settings.base")
    os.environ["PICARD_EMBEDDING_PROVIDER"] = "local"
    import django

    django.setup()
    from memories.embeddings import get_provider
    from memories.keywords import normalise_text

    provider = get_provider()
    rng = random.Random(17)
    conversations = json.loads(args.data.read_text())
    best_other: list[float] = []  # per turn: highest cosine to another (different) turn of the same owner
    caught: dict[str, list[float]] = {name: [] for name in VARIANTS}
    total = 0
    for conversation in conversations:
        texts = turns(conversation)
        total += len(texts)
        vectors = np.array(provider.embed_documents(texts), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        similarity = vectors @ vectors.T
        normalised = [normalise_text(t) for t in texts]
        for i in range(len(texts)):
            others = [similarity[i, j] for j in range(len(texts)) if j != i and normalised[j] != normalised[i]]
            best_other.append(float(max(others)))
        for name, (_, make) in VARIANTS.items():
            pairs = [(i, make(t, rng)) for i, t in enumerate(texts)]
            pairs = [(i, v) for i, v in pairs if normalise_text(v) != normalised[i]]  # exact duplicates are another mechanism
            varied = np.array(provider.embed_documents([v for _, v in pairs]), dtype=np.float32)
            varied /= np.linalg.norm(varied, axis=1, keepdims=True)
            caught[name] += [float(varied[k] @ vectors[i]) for k, (i, _) in enumerate(pairs)]
    best = np.array(best_other)
    thresholds = [round(t, 2) for t in np.arange(0.70, 1.0, 0.01)]
    chosen = next(t for t in thresholds if (best >= t).mean() <= MAX_FALSE_ALARMS)
    rows = [t for t in (0.80, 0.85, chosen, 0.90, 0.95) if t in thresholds]
    rows = sorted(set(rows))
    lines = [
        "## Near-duplicate threshold (`make bench-near-duplicates`)",
        "",
        f"Model: {provider.name}. Data: LoCoMo development half, {len(conversations)} conversations, {total} turns "
        "(one owner per conversation). *False alarms*: share of turns whose most similar OTHER turn of the same owner "
        "reaches the threshold. *Caught*: share of restatements flagged against their original turn.",
        "",
        "| threshold | false alarms | " + " | ".join(f"caught: {name}" for name in VARIANTS) + " |",
        "|---|---|" + "---|" * len(VARIANTS),
    ]
    for t in rows:
        mark = f"**{t:.2f}** (chosen)" if t == chosen else f"{t:.2f}"
        lines.append(f"| {mark} | {(best >= t).mean():.1%} | " + " | ".join(f"{(np.array(caught[n]) >= t).mean():.1%}" for n in VARIANTS) + " |")
    lines += [
        "",
        "Restatements: " + "; ".join(f"*{name}*: {desc}" for name, (desc, _) in VARIANTS.items()) + ".",
        f"Chosen: the lowest threshold (0.01 steps) with at most {MAX_FALSE_ALARMS:.0%} false alarms; it is the default of "
        "`PICARD_NEAR_DUPLICATE_THRESHOLD`. Another embedding model needs its own figure (set the variable).",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        from bench.report import write_section

        write_section("near-duplicates", body)
    print(json.dumps({"threshold": chosen, "false_alarms": float((best >= chosen).mean())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
