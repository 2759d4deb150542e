"""``memory_search``: the one entry point of search (``query_memory``, the site's search,
personas). A read: it writes nothing (the "searched" activity row is written by the service
``memories.services.memory_query``, which the doors call).

Steps: clean the input → the visibility rule's parts within the filters and the scope
(``part_sql``) → every channel's top ``depth`` candidates in one statement
(``rank_pieces``) → each candidate's features and calibrated score → order, drop those
below ``min_score``, keep ``limit`` → load the rows, re-applying the rule (``hydrate``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.conf import settings

from memories.embeddings import EmbeddingUnavailable
from memories.reembed import search_provider
from memories.search import fusion
from memories.search.calibration import calibrated_score
from memories.search.keyword import keyword_pieces, keyword_query_terms
from memories.search.parts import Piece, Ranked, Scored, hydrate, part_sql, rank_pieces
from memories.search.semantic import semantic_pieces
from memories.selectors import MemoryFilters, clean_limit
from memories.validation import clean_text
from picard.exceptions import ValidationError

SEARCH_MODES = ("semantic", "keyword", "hybrid")


class SearchResults(list):
    """The hits (a list, best first) and how the search ran: ``mode``, ``min_score`` and
    ``degraded`` (``"embedding_unavailable"`` when hybrid answered from keywords only)."""

    def __init__(self, hits=(), *, mode: str, min_score: float, degraded: str | None = None):
        super().__init__(hits)
        self.mode = mode
        self.min_score = min_score
        self.degraded = degraded


def clean_search_mode(value) -> str:
    if value is None:
        value = settings.PICARD_SEARCH_DEFAULT_MODE
    if value not in SEARCH_MODES:
        raise ValidationError.for_field("mode", f"must be one of {', '.join(SEARCH_MODES)}.")
    return value


def clean_min_score(value) -> float:
    """``min_score``: a number in 0–1; None means ``PICARD_SEARCH_MIN_SCORE``."""
    if value is None:
        return float(settings.PICARD_SEARCH_MIN_SCORE)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValidationError.for_field("min_score", "must be a number between 0 and 1.")
    if not 0.0 <= value <= 1.0:
        raise ValidationError.for_field("min_score", "must be between 0 and 1.")
    return float(value)


@dataclass
class Candidate:
    memory_id: uuid.UUID
    features: dict = field(default_factory=dict)  # cosine, bm25, coverage, unmatched as scored
    sources: dict = field(default_factory=dict)  # each channel's own score, where it returned the memory


def _fill(ranked: Scored, *, depth: int) -> float:
    """A feature value for a candidate the channel did not return: below its last candidate
    when its list was full (the last one's score, an upper bound), else none (0)."""
    return ranked[-1][1] if len(ranked) >= depth and ranked else 0.0


def candidates_with_features(rankings: dict[str, Scored], matched: dict[uuid.UUID, int], *, query_terms: int, depth: int) -> list[Candidate]:
    """Every candidate of every channel with the features its calibrated score uses."""
    by_channel = {channel: dict(ranked) for channel, ranked in rankings.items()}
    ids = {memory_id for ranked in rankings.values() for memory_id, _ in ranked}
    candidates = []
    for memory_id in ids:
        features: dict = {}
        sources = {channel: round(scores[memory_id], 6) for channel, scores in by_channel.items() if memory_id in scores}
        if "semantic" in rankings:
            features["cosine"] = by_channel["semantic"].get(memory_id, _fill(rankings["semantic"], depth=depth))
        if "keyword" in rankings:
            features["bm25"] = by_channel["keyword"].get(memory_id, _fill(rankings["keyword"], depth=depth))
            features["coverage"] = min(1.0, matched.get(memory_id, 0) / query_terms) if query_terms else 0.0
            features["unmatched"] = max(0, query_terms - matched.get(memory_id, 0))
        candidates.append(Candidate(memory_id=memory_id, features=features, sources=sources))
    return candidates


def _order(candidates: list[Candidate], scores: dict[uuid.UUID, float], rankings: dict[str, Scored], *, depth: int) -> list[Candidate]:
    """Best first: by calibrated score, or by the ``weighted``/``rrf`` fusion when set (hybrid)."""
    config = settings.PICARD_SEARCH_HYBRID
    how = config.get("fusion", "calibrated")
    if how not in fusion.FUSIONS:
        raise ValueError(f"PICARD_SEARCH_FUSION must be one of {', '.join(fusion.FUSIONS)}")
    if how == "calibrated" or len(rankings) < 2:
        return sorted(candidates, key=lambda c: (-scores[c.memory_id], str(c.memory_id)))
    position = {memory_id: i for i, (memory_id, _, _) in enumerate(fusion.fuse(rankings, limit=depth * 2, config=config))}
    return sorted(candidates, key=lambda c: position.get(c.memory_id, len(position)))


def memory_search(
    *, actor, query: str, limit: int | None = None, filters: MemoryFilters | None = None, mode: str | None = None,
    min_score: float | None = None,
) -> SearchResults:
    """The most relevant memories the actor may see within ``filters`` (scope included:
    by default the actor's own and those shared with them), best first.

    ``mode``: ``semantic`` (embeddings' cosine), ``keyword`` (BM25 over keyed term hashes)
    or ``hybrid`` (the default: both). Every hit's ``score`` is its calibrated relevance in
    0–1 (``memories.search.calibration``); hits below ``min_score`` (default
    ``PICARD_SEARCH_MIN_SCORE``) are left out, so a question nothing answers gets an empty
    list. ``sources`` holds each channel's own score. If the embedding service is down,
    hybrid search still answers from the keyword channel."""
    query = clean_text(query, field="query")
    limit = clean_limit(limit, default=10, maximum=settings.PICARD_SEARCH_MAX_LIMIT)
    mode = clean_search_mode(mode)
    min_score = clean_min_score(min_score)
    filters = filters or MemoryFilters()
    depth = max(limit, int(settings.PICARD_SEARCH_HYBRID["depth"]))
    parts = part_sql(actor=actor, filters=filters)
    terms = keyword_query_terms(query)
    pieces: dict[str, list[Piece]] = {}
    degraded = None
    if mode in ("keyword", "hybrid"):
        pieces["keyword"] = keyword_pieces(parts, actor=actor, query_terms=terms, limit=depth, filters=filters)
    vector = None
    if mode in ("semantic", "hybrid"):
        provider = search_provider()
        try:
            vector = provider.embed_query(query)
        except EmbeddingUnavailable:
            if mode == "semantic":
                raise
            degraded = "embedding_unavailable"
        else:
            pieces["semantic"] = semantic_pieces(parts, model_name=provider.name, dimensions=provider.dimensions, limit=depth, filters=filters)
    rankings, matched = rank_pieces(pieces, limit=depth, vector=vector)
    own_terms = sum(1 for weight in terms.values() if weight >= 1)
    candidates = candidates_with_features(rankings, matched, query_terms=own_terms, depth=depth)
    channels = set(rankings)
    scores = {c.memory_id: calibrated_score(channels=channels, cosine=c.features.get("cosine"), bm25=c.features.get("bm25"),
                                            coverage=c.features.get("coverage"), unmatched=c.features.get("unmatched"))
              for c in candidates}
    kept = [c for c in _order(candidates, scores, rankings, depth=depth) if scores[c.memory_id] >= min_score][:limit]
    ranked = [Ranked(memory_id=c.memory_id, score=round(scores[c.memory_id], 6), sources=c.sources) for c in kept]
    hits = hydrate(ranked, parts=parts)
    features = {c.memory_id: c.features for c in kept}
    for hit in hits:
        hit.features = features[hit.memory.id]
    return SearchResults(hits, mode=mode, min_score=min_score, degraded=degraded)
