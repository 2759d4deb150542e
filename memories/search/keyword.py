"""The keyword channel: BM25 over keyed hashes of stemmed terms (``memories.keywords``),
within each part of the visibility rule. See docs/search.md for what the index holds."""

from __future__ import annotations

import re
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from memories import keywords
from memories.search.parts import Piece
from memories.selectors import MemoryFilters

# BM25 parameters: memories are short, so a term's second occurrence adds little (low k1)
# and length matters little (low b). Chosen on the LoCoMo development half, docs/search.md.
BM25_K1 = 0.6
BM25_B = 0.2

# Temporal query expansion: a question asking *when* looks for memories that say when.
# Such a query also matches (at a low weight) words that date an event in English.
_TEMPORAL_QUESTION = re.compile(r"^\W*(when|how long|what (date|time|year|month|day))\b", re.IGNORECASE)
TEMPORAL_TERMS = ("yesterday", "today", "tonight", "tomorrow", "ago", "last", "next", "week", "weekend", "month", "year", "recently")
TEMPORAL_WEIGHT = 0.2

# Each piece returns (memory id, BM25 score, how many of the query's own terms it contains):
# expansion terms (weight < 1) count in the score, not in ``matched``.
_KEYWORD_SQL = """
WITH cand AS ({candidates}),
docs AS (
    SELECT d.memory_id, d.length FROM memories_keyworddocument d
    WHERE d.key_id = %s AND d.memory_id IN (SELECT id FROM cand) {doc_owner_condition}
),
stats AS MATERIALIZED (SELECT count(*)::float8 AS n, coalesce(avg(length), 0)::float8 AS avgdl FROM docs),
q AS (SELECT * FROM unnest(%s::bigint[], %s::float8[]) AS q(term_hash, qtf)),
post AS (
    SELECT p.memory_id, p.term_hash, p.tf, docs.length
    FROM memories_keywordposting p JOIN docs ON docs.memory_id = p.memory_id
    WHERE p.term_hash = ANY(%s::bigint[]) {owner_condition}
),
df AS (SELECT term_hash, count(*)::float8 AS df FROM post GROUP BY term_hash)
SELECT post.memory_id,
       sum(q.qtf * ln(1 + (stats.n - df.df + 0.5) / (df.df + 0.5))
           * post.tf * (%s + 1) / (post.tf + %s * (1 - %s + %s * post.length / greatest(stats.avgdl, 1)))) AS score,
       count(*) FILTER (WHERE q.qtf >= 1) AS matched
FROM post JOIN df USING (term_hash) JOIN q USING (term_hash) CROSS JOIN stats
GROUP BY post.memory_id
ORDER BY score DESC, post.memory_id
LIMIT %s
"""


# The public part at scale: the query terms' postings of others' public, unexpired memories,
# read from one partial covering index (each posting carries its memory's permission, expiry
# and document length: migration 0008; its ``public`` is false while the memory is in the
# trash: migration 0011), with the part's collection statistics (document
# count, average length) cached per process.
_KEYWORD_SQL_PUBLIC = """
WITH q AS (SELECT * FROM unnest(%s::bigint[], %s::float8[]) AS q(term_hash, qtf)),
post AS MATERIALIZED (
    SELECT p.memory_id, p.term_hash, p.tf, p.length
    FROM memories_keywordposting p
    WHERE p.public AND p.term_hash = ANY(%s::bigint[]) AND p.owner_id <> %s
      AND (p.expires_at IS NULL OR p.expires_at > %s)
),
df AS (SELECT term_hash, count(*)::float8 AS df FROM post GROUP BY term_hash)
SELECT post.memory_id,
       sum(q.qtf * ln(1 + (greatest(%s::float8, df.df) - df.df + 0.5) / (df.df + 0.5))
           * post.tf * (%s::float8 + 1) / (post.tf + %s::float8 * (1 - %s::float8 + %s::float8 * post.length / greatest(%s::float8, 1)))) AS score,
       count(*) FILTER (WHERE q.qtf >= 1) AS matched
FROM post JOIN df USING (term_hash) JOIN q USING (term_hash)
GROUP BY post.memory_id
ORDER BY score DESC, post.memory_id
LIMIT %s
"""

_public_stats: dict[str, tuple[float, float, float]] = {}  # key id -> (valid until, n, avgdl)


def public_stats_clear() -> None:
    _public_stats.clear()


def public_keyword_stats(*, key_id: str) -> tuple[float, float] | None:
    """(document count, average length) of every public, unexpired memory not in the trash
    indexed under ``key_id`` — the keyword channel's collection statistics for others' public memories —
    when there are more than ``PICARD_KEYWORD_STATS_CACHE_MIN_ROWS`` of them, else ``None``
    (small collections are counted exactly with each query).

    Cached per process for ``PICARD_KEYWORD_STATS_CACHE_SECONDS``: counting tens of
    thousands of rows for every query was most of a search's cost. Public memories are
    visible to every signed-in user, so these statistics reveal nothing the asker cannot
    see (the asker's own public memories are counted too: one user's share of a large
    public collection). Document frequencies are still counted exactly per query."""
    now = time.monotonic()
    cached = _public_stats.get(key_id)
    if cached is None or cached[0] <= now:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), coalesce(avg(d.length), 0) FROM memories_keyworddocument d "
                "JOIN memories_memory m ON m.id = d.memory_id "
                "WHERE d.key_id = %s AND m.permission = 'public' AND m.trashed_at IS NULL AND (m.expires_at IS NULL OR m.expires_at > now())",
                [key_id],
            )
            n, avgdl = cursor.fetchone()
        cached = (now + settings.PICARD_KEYWORD_STATS_CACHE_SECONDS, float(n), float(avgdl))
        if n > settings.PICARD_KEYWORD_STATS_CACHE_MIN_ROWS:
            _public_stats[key_id] = cached
        else:
            _public_stats.pop(key_id, None)
    if cached[1] <= settings.PICARD_KEYWORD_STATS_CACHE_MIN_ROWS:
        return None
    return cached[1], cached[2]


def keyword_piece_public(*, actor, query_terms: dict[int, float], limit: int, stats: tuple[float, float]) -> Piece:
    """BM25 over others' public, unexpired memories (the ``public`` part of the visibility
    rule, unfiltered) from the postings' own copies of permission and expiry."""
    hashes = list(query_terms)
    n, avgdl = stats
    return _KEYWORD_SQL_PUBLIC, [hashes, [query_terms[h] for h in hashes], hashes, actor.pk, timezone.now(),
                                 n, BM25_K1, BM25_K1, BM25_B, BM25_B, avgdl, limit]


def keyword_query_terms(query: str) -> dict[int, float]:
    """The query's term hashes with their weights (term frequency), plus the temporal
    expansion for a *when* question."""
    counts, _ = keywords.hashed_terms(query)
    weights = {term: float(tf) for term, tf in counts.items()}
    if weights and _TEMPORAL_QUESTION.match(query):
        for word in TEMPORAL_TERMS:
            for term in keywords.hashed_terms(word)[0]:
                weights.setdefault(term, TEMPORAL_WEIGHT)
    return weights


def keyword_piece(part: Piece, *, query_terms: dict[int, float], key_id: str, limit: int, owner_id=None) -> Piece:
    """BM25 over one part of the visibility rule (its candidate ids ``part``). Collection
    statistics (number of documents, average length, document frequencies) come from that
    part's own visible memories only, so a score never depends on memories the actor cannot
    see. The statistics are MATERIALIZED: inlined, PostgreSQL recomputed them for every
    posting (58 ms instead of 5 ms for one LoCoMo user among five)."""
    candidates, candidate_params = part
    sql = _KEYWORD_SQL.format(
        candidates=candidates,
        doc_owner_condition="AND d.owner_id = %s" if owner_id else "",
        owner_condition="AND p.owner_id = %s" if owner_id else "",
    )
    hashes = list(query_terms)
    params = [*candidate_params, key_id, *([owner_id] if owner_id else []), hashes, [query_terms[h] for h in hashes], hashes]
    if owner_id:
        params.append(owner_id)
    params += [BM25_K1, BM25_K1, BM25_B, BM25_B, limit]
    return sql, params


def keyword_pieces(parts: dict[str, Piece], *, actor, query_terms: dict[int, float], limit: int, filters: MemoryFilters) -> list[Piece]:
    if not query_terms:
        return []
    key_id = keywords.key_id()
    pieces = []
    unfiltered = not (filters.owner_id or filters.tags or filters.words or filters.created_after or filters.created_before
                      or filters.updated_after or filters.updated_before)
    for name, part in parts.items():
        stats = public_keyword_stats(key_id=key_id) if name == "public" and unfiltered else None
        if stats is not None:
            pieces.append(keyword_piece_public(actor=actor, query_terms=query_terms, limit=limit, stats=stats))
            continue
        owner_id = actor.pk if name == "own" else filters.owner_id
        pieces.append(keyword_piece(part, query_terms=query_terms, key_id=key_id, limit=limit, owner_id=owner_id))
    return pieces


