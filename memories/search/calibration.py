"""Calibrated relevance: every search hit's ``score`` is a relevance estimate in 0–1 that means
the same across queries and modes.

The channels' raw scores do not say that on their own: a cosine depends on the embedder and
the text lengths, BM25 is unbounded and depends on the collection, and the former min-max
normalisation made the best hit of every query score 1.0, whatever it was. So the score is
a logistic model over features that are absolute for one (query, memory) pair, never
normalised per query (``feature_values``):

- ``cosine``: the semantic channel's cosine similarity (and its square);
- ``log_bm25``: log1p of the keyword channel's BM25 (0 when no query term occurs);
- ``coverage``: the share of the query's own index terms the memory contains;
- ``unmatched``: how many of the query's own index terms the memory lacks (a question with
  one content word that the memory has, "Where do I live?", is a full match; a memory that
  shares one common word of a five-word question is not);
- ``cosine_coverage``, ``cosine_log_bm25``: the interactions (meaning and words agreeing).

The coefficients are fitted with ``python bench/locomo.py --fit-calibration`` on the LoCoMo
development half: in-domain candidates (each conversation's questions asked as its own
user; label 1 = an evidence turn) and out-of-domain candidates (one conversation's
questions asked as another conversation's user; every label 0, weighted
``OUT_OF_DOMAIN_WEIGHT`` times: "nothing relevant is stored" is the case a threshold must
catch). Never per question. One model per mode (hybrid uses all features, semantic the
cosine only, keyword the keyword features).

Prior: about one candidate in 90 is an evidence turn, so the fitted probabilities are tiny
(a clear match came out at 0.02). The bench adds log(weighted non-relevant / relevant
candidates of the hybrid fit) to every model's intercept: the score is the probability of
relevance had relevant and non-relevant candidates been equally common (class-balanced).
This is a monotone shift, the same for all modes, so it changes no order and no threshold's
meaning; a clear match scores ≳ 0.8. The coefficients belong to the default local embedder;
other embedders use the same curve (their cosines run on a different scale: re-fit with
``--embedder`` for them, docs/search.md). Figures: docs/benchmarks.md, section locomo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

OUT_OF_DOMAIN_WEIGHT = 5.0

# The features each mode's model uses, in the order of its weights.
MODE_FEATURES: dict[str, tuple[str, ...]] = {
    "hybrid": ("cosine", "log_bm25", "coverage", "unmatched", "cosine_coverage", "cosine_squared", "cosine_log_bm25"),
    "semantic": ("cosine",),
    "keyword": ("log_bm25", "coverage", "unmatched"),
}


def feature_values(*, cosine: float | None, bm25: float | None, coverage: float | None, unmatched: float | None) -> dict[str, float]:
    """Every model feature of one candidate from the channels' raw values (None: the channel
    did not run)."""
    cosine = cosine or 0.0
    coverage = coverage or 0.0
    log_bm25 = math.log1p(max(bm25 or 0.0, 0.0))
    return {"cosine": cosine, "log_bm25": log_bm25, "coverage": coverage, "unmatched": unmatched or 0.0,
            "cosine_coverage": cosine * coverage, "cosine_squared": cosine * cosine, "cosine_log_bm25": cosine * log_bm25}


@dataclass(frozen=True)
class Calibration:
    intercept: float
    weights: dict[str, float] = field(default_factory=dict)

    def score(self, values: dict[str, float]) -> float:
        z = self.intercept + sum(weight * values[name] for name, weight in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


# Fitted by ``bench/locomo.py --fit-calibration`` (default local embedder, LoCoMo dev half,
# 2026-12-03: 76,000 candidates per mode, 858 evidence turns in hybrid mode, prior shift
# +5.5787; run twice, the second time on the candidates the first fit ranks, since the top 50
# depend on the model); docs/benchmarks.md and docs/search.md have the threshold sweep.
CALIBRATIONS: dict[str, Calibration] = {
    "hybrid": Calibration(intercept=-7.7135, weights={
        "cosine": 23.1349, "log_bm25": 0.1783, "coverage": 5.7505, "unmatched": -0.4334, "cosine_coverage": -9.7896,
        "cosine_squared": -17.2083, "cosine_log_bm25": 3.3738}),
    "semantic": Calibration(intercept=-5.8518, weights={
        "cosine": 13.9383}),
    "keyword": Calibration(intercept=-5.1725, weights={
        "log_bm25": 2.5437, "coverage": 5.1147, "unmatched": -0.3011}),
}



def calibrated_score(*, channels: frozenset[str] | set[str], cosine: float | None, bm25: float | None, coverage: float | None,
                     unmatched: float | None) -> float:
    """The calibrated relevance of one candidate, from the channels that ran.

    Hybrid: the higher of the full model and the meaning-only model. In LoCoMo nearly every
    evidence turn shares a word with its question (the speaker's name opens every turn), so
    the full model learnt that a memory sharing no word is never relevant; a memory that
    answers a question in other words ("what do I like to drink?" / "I prefer green tea")
    must still count, as far as its cosine alone says it is relevant."""
    values = feature_values(cosine=cosine, bm25=bm25, coverage=coverage, unmatched=unmatched)
    if "semantic" in channels and "keyword" in channels:
        return max(CALIBRATIONS["hybrid"].score(values), CALIBRATIONS["semantic"].score(values))
    if "semantic" in channels:
        return CALIBRATIONS["semantic"].score(values)
    return CALIBRATIONS["keyword"].score(values)
