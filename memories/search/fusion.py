"""Hybrid fusion orders: how the candidates of both channels are put in order.

``calibrated`` (the default, ``PICARD_SEARCH_FUSION``): by the calibrated score itself
(``memories.search.calibration``), so the list is best first *and* its scores fall with it.
``weighted`` and ``rrf`` are the earlier orders, kept as settings for comparison in the
bench: they order the candidates, and each hit still carries its calibrated score.
"""

from __future__ import annotations

import uuid

from memories.search.parts import Scored


def fuse_rankings(rankings: dict[str, Scored], *, limit: int, weights: dict[str, float], k: int) -> list[tuple[uuid.UUID, float, dict]]:
    """Weighted reciprocal rank fusion: ``sum(w / (k + rank))`` over the channels, scaled so
    that rank 1 in every channel scores 1.0. Returns ``(id, fused score, {channel: score})``."""
    totals: dict[uuid.UUID, float] = {}
    sources: dict[uuid.UUID, dict] = {}
    for channel, ranked in rankings.items():
        weight = weights.get(channel, 1.0)
        for rank, (memory_id, score) in enumerate(ranked, start=1):
            totals[memory_id] = totals.get(memory_id, 0.0) + weight / (k + rank)
            sources.setdefault(memory_id, {})[channel] = round(score, 6)
    best = sum(weights.get(channel, 1.0) for channel in rankings) / (k + 1) or 1.0
    ordered = sorted(totals, key=lambda memory_id: (-totals[memory_id], str(memory_id)))[:limit]
    return [(memory_id, totals[memory_id] / best, sources[memory_id]) for memory_id in ordered]


def fuse_scores(rankings: dict[str, Scored], *, limit: int, weights: dict[str, float]) -> list[tuple[uuid.UUID, float, dict]]:
    """Weighted sum of min-max normalised scores: within each channel's own candidate list
    its best score counts 1 and its last candidate's 0, so a cosine and a BM25 score can be
    added; a memory a channel did not return gets 0 from it. Scaled so that first in every
    channel scores 1.0. Unlike rank fusion it keeps *how much* better a candidate is."""
    totals: dict[uuid.UUID, float] = {}
    sources: dict[uuid.UUID, dict] = {}
    for channel, ranked in rankings.items():
        if not ranked:
            continue
        weight = weights.get(channel, 1.0)
        high = max(score for _, score in ranked)
        low = min(score for _, score in ranked)
        for memory_id, score in ranked:
            share = (score - low) / (high - low) if high > low else 1.0
            totals[memory_id] = totals.get(memory_id, 0.0) + weight * share
            sources.setdefault(memory_id, {})[channel] = round(score, 6)
    best = sum(weights.get(channel, 1.0) for channel in rankings) or 1.0
    ordered = sorted(totals, key=lambda memory_id: (-totals[memory_id], str(memory_id)))[:limit]
    return [(memory_id, totals[memory_id] / best, sources[memory_id]) for memory_id in ordered]


FUSIONS = ("calibrated", "weighted", "rrf")


def fuse(rankings: dict[str, Scored], *, limit: int, config: dict) -> list[tuple[uuid.UUID, float, dict]]:
    """The ``weighted`` or ``rrf`` order (``config`` = PICARD_SEARCH_HYBRID)."""
    weights = {"semantic": float(config["semantic_weight"]), "keyword": float(config["keyword_weight"])}
    if config.get("fusion", "rrf") == "weighted":
        return fuse_scores(rankings, limit=limit, weights=weights)
    return fuse_rankings(rankings, limit=limit, k=int(config["k"]), weights=weights)
