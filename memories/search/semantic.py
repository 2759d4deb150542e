"""The semantic channel: cosine similarity of the query's embedding to each memory's, within
each part of the visibility rule, with the strategy that is exact for it (see vector_index)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from memories.search.parts import Piece, Ranked, hydrate, part_sql, rank_pieces
from memories.selectors import MemoryFilters
from memories.vector_index import index_name
from picard.ttlcache import TimedCache


def semantic_piece(part: Piece, *, model_name: str, dimensions: int, limit: int, use_index: bool) -> Piece:
    """Cosine top-``limit`` within one part (its candidate ids ``part``), against the query
    vector ``qv.v`` that ``rank_pieces`` sends once. ``use_index``: order by the expression the
    model's partial HNSW index is built on (others' public memories; PostgreSQL folds the
    candidate condition into the index scan's filter), else by the uncast column, which no
    index matches: an exact scan of the part's rows."""
    candidates, params = part
    if use_index:
        dims = int(dimensions)
        distance = f"m.embedding::vector({dims}) <=> (SELECT v FROM qv)::vector({dims})"
        where = "m.permission = 'public' AND m.embedding_model = %s"
    else:
        distance = "m.embedding <=> (SELECT v FROM qv)"
        where = "m.embedding_model = %s"
    sql = (f"SELECT m.id, 1 - ({distance}) AS score, 0 AS matched FROM memories_memory m "
           f"WHERE {where} AND m.id IN ({candidates}) ORDER BY {distance}, m.id LIMIT %s")
    return sql, [model_name, *params, limit]


def public_index_pays_off(*, model_name: str) -> bool:
    """Whether cross-user (public) search for ``model_name`` should go through its HNSW index.

    Yes once the model has more than ``PICARD_SEARCH_EXACT_MAX_ROWS`` public rows, judged by
    the partial index's own row count (``pg_class.reltuples``: set by CREATE INDEX, kept
    current by (auto)VACUUM and ANALYZE) — a catalog lookup, no scan. Below that an exact
    scan is fast and exact; an HNSW graph over few, or badly spread, vectors can leave rows
    unreachable (seen with the lexical test embedder). No index → exact."""
    threshold = settings.PICARD_SEARCH_EXACT_MAX_ROWS
    if threshold <= 0:
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s AND relkind = 'i'", [index_name(model_name)])
        row = cursor.fetchone()
    return row is not None and row[0] > threshold


index_choice = TimedCache()  # (model, threshold) -> public_index_pays_off, asked at most once a minute


def semantic_pieces(parts: dict[str, Piece], *, model_name: str, dimensions: int, limit: int,
                    filters: MemoryFilters) -> list[Piece]:
    """Each part of the visibility rule with its own strategy (see vector_index):

    - own / shared / one owner's public memories: exact (the btree on owner, or the shares,
      narrow the rows; recall 1.0);
    - others' public memories across users: exact up to ``PICARD_SEARCH_EXACT_MAX_ROWS``
      public rows, else the model's HNSW index with ``hnsw.iterative_scan`` (filters applied
      after the index never starve the result) and ``PICARD_SEARCH_HNSW_EF_SEARCH``
      candidates (measured in docs/benchmarks.md, section search).
    """
    pieces = []
    for name, part in parts.items():
        # The answer changes only as the public collection grows past the threshold.
        use_index = name == "public" and not filters.owner_id and index_choice.get(
            (model_name, settings.PICARD_SEARCH_EXACT_MAX_ROWS), lambda: public_index_pays_off(model_name=model_name), seconds=60.0,
        )
        pieces.append(semantic_piece(part, model_name=model_name, dimensions=dimensions, limit=limit, use_index=use_index))
    return pieces


def memory_semantic_search(*, actor, query_vector, model_name: str, dimensions: int, limit: int, filters: MemoryFilters) -> list:
    """Cosine top-``limit`` for a given query vector, ``score`` = the cosine itself (no
    calibration, no threshold): the vector-index benchmark (bench/search.py) measures the
    channel's recall with it."""
    parts = part_sql(actor=actor, filters=filters)
    pieces = semantic_pieces(parts, model_name=model_name, dimensions=dimensions, limit=limit, filters=filters)
    ranked = rank_pieces({"semantic": pieces}, limit=limit, vector=query_vector)[0]["semantic"]
    return hydrate([Ranked(memory_id=i, score=round(s, 6), sources={"semantic": round(s, 6)}) for i, s in ranked], parts=parts)
