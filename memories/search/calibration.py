"""Calibrated relevance: every search hit's ``score`` is an estimate of the probability that
the memory is relevant to the query, in 0–1, meaning the same across queries and modes.

The channels' raw scores do not say that on their own: a cosine depends on the embedder and
the text lengths, BM25 is unbounded and depends on the collection, and the former min-max
normalisation made the best hit of every query score 1.0, whatever it was. So the score is
a logistic model over features that are absolute for one (query, memory) pair:

- ``cosine``: the semantic channel's cosine similarity;
- ``log1p(bm25)``: the keyword channel's BM25 (0 when no query term occurs);
- ``coverage``: the share of the query's own index terms the memory contains.

The coefficients were fitted once (``python bench/locomo.py --fit-calibration``) on the
LoCoMo development half: in-domain candidates (each conversation's questions asked as its
own user; label 1 = an evidence turn) and out-of-domain candidates (one conversation's
questions asked as another conversation's user; every label 0). Never per question. One
model per mode (hybrid uses all features, semantic the cosine only, keyword the keyword
features), each fitted on the same candidates, so a score of 0.3 means the same whichever
channels produced it. They belong to the default local embedder; other embedders use the
same curve (their cosines run on a different scale: re-fit with ``--embedder`` for them,
docs/search.md). Figures: docs/benchmarks.md, section locomo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    intercept: float
    cosine: float = 0.0
    keyword: float = 0.0  # weight on log1p(bm25)
    coverage: float = 0.0

    def score(self, *, cosine: float | None, bm25: float | None, coverage: float | None) -> float:
        z = self.intercept
        z += self.cosine * (cosine or 0.0)
        z += self.keyword * math.log1p(max(bm25 or 0.0, 0.0))
        z += self.coverage * (coverage or 0.0)
        return 1.0 / (1.0 + math.exp(-z))


# Fitted by ``bench/locomo.py --fit-calibration`` (default local embedder, LoCoMo dev half,
# 2026-12-03: 76,000 candidates per mode, 825 of them evidence turns in hybrid mode);
# docs/benchmarks.md, section locomo, has the threshold sweep.
CALIBRATIONS: dict[str, Calibration] = {
    "hybrid": Calibration(intercept=-11.5992, cosine=4.5445, keyword=1.9739, coverage=4.0834),
    "semantic": Calibration(intercept=-9.9363, cosine=11.4842),
    "keyword": Calibration(intercept=-11.0321, keyword=2.3684, coverage=5.5675),
}


def calibrated_score(*, channels: frozenset[str] | set[str], cosine: float | None, bm25: float | None, coverage: float | None) -> float:
    """The calibrated relevance of one candidate, from the channels that ran.

    Hybrid: the higher of the full model and the meaning-only model. In LoCoMo nearly every
    evidence turn shares a word with its question (the speaker's name opens every turn), so
    the full model learnt that a memory sharing no word is never relevant; a memory that
    answers a question in other words ("what do I like to drink?" / "I prefer green tea")
    must still count, as far as its cosine alone says it is relevant."""
    if "semantic" in channels and "keyword" in channels:
        return max(CALIBRATIONS["hybrid"].score(cosine=cosine, bm25=bm25, coverage=coverage),
                   CALIBRATIONS["semantic"].score(cosine=cosine, bm25=None, coverage=None))
    if "semantic" in channels:
        return CALIBRATIONS["semantic"].score(cosine=cosine, bm25=None, coverage=None)
    return CALIBRATIONS["keyword"].score(cosine=None, bm25=bm25, coverage=coverage)
