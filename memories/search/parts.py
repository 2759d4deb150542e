"""What every search channel shares: the visibility rule's parts as SQL, the one ranking
statement, and loading the hits.

Each channel ranks memory ids within the parts of the visibility rule (own / shared with
me / others' public, narrowed by the filters and the scope: ``part_sql``), computed once
per search; only the final top ``limit`` are loaded as Memory rows (``hydrate``), and the
loading statement applies the same parts again, so a memory that stopped being visible
between ranking and loading (made private, deleted, trashed) is never returned.
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from memories.models import Memory
from memories.selectors import SCOPE_PARTS, MemoryFilters, visible_parts
from picard import rowload

Scored = list[tuple[uuid.UUID, float]]
Piece = tuple[str, list]  # SQL and its parameters


@dataclass
class SearchHit:
    memory: Memory
    score: float  # calibrated relevance, 0-1 (memories.search.calibration)
    sources: dict = field(default_factory=dict)  # each channel's own score: {"semantic": cosine, "keyword": bm25}
    features: dict = field(default_factory=dict)  # what the score was computed from (cosine, bm25, coverage)


@dataclass(frozen=True)
class Ranked:
    """One candidate after scoring, before its row is loaded."""

    memory_id: uuid.UUID
    score: float
    sources: dict


def top(scored: Scored, limit: int) -> Scored:
    return sorted(scored, key=lambda pair: (-pair[1], str(pair[0])))[:limit]


def part_sql(*, actor, filters: MemoryFilters) -> dict[str, Piece]:
    """Each part of the visibility rule within ``filters`` (scope included), as SQL for its
    memory ids (made once per search, used by every channel and by ``hydrate``). Without
    other filters, the rule's SQL form (``visibility_parts_sql``); otherwise the ORM
    compiles it."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {}
    if dataclasses.replace(filters, scope=None) == MemoryFilters():
        in_scope = SCOPE_PARTS[filters.scope_for(actor)]
        return {name: piece for name, piece in Memory.objects.visibility_parts_sql(actor).items() if name in in_scope}
    return {name: qs.values("id").query.sql_with_params() for name, qs in visible_parts(actor=actor, filters=filters).items()}


def vector_literal(vector) -> str:
    """The query vector as pgvector text, made once per search (every semantic part uses it)."""
    return "[" + ",".join(map(repr, (float(x) for x in vector))) + "]"


def rank_pieces(pieces: dict[str, list[Piece]], *, limit: int, vector=None) -> tuple[dict[str, Scored], dict[uuid.UUID, int]]:
    """Run every channel's ranking of every part as ONE statement (one round trip), and give
    each channel's top ``limit`` over its parts, plus, for the keyword channel, how many of
    the query's own terms each memory contains. Each piece returns ``(id, score, matched)``;
    the semantic pieces read the query ``vector`` from the statement's ``qv`` (sent once).

    ``hnsw.ef_search`` and ``hnsw.iterative_scan`` are set for this statement only: sent in
    one simple-protocol message, ``SET LOCAL`` and the query share PostgreSQL's implicit
    transaction (Django's psycopg cursor binds parameters on the client)."""
    selects, params = [], []
    for channel, channel_pieces in pieces.items():
        for sql, piece_params in channel_pieces:
            selects.append(f"SELECT %s::text, r.* FROM ({sql}) r")
            params += [channel, *piece_params]
    rankings: dict[str, Scored] = {channel: [] for channel in pieces}
    matched: dict[uuid.UUID, int] = {}
    if not selects:
        return rankings, matched
    query_vector = ""
    if vector is not None:
        query_vector, params = "WITH qv AS (SELECT %s::vector AS v) ", [vector_literal(vector), *params]
    ef_search = max(settings.PICARD_SEARCH_HNSW_EF_SEARCH, 2 * limit)
    sql = (f"SET LOCAL hnsw.ef_search = {int(ef_search)}; SET LOCAL hnsw.iterative_scan = relaxed_order; "
           + query_vector + " UNION ALL ".join(selects))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        raw = cursor.cursor
        while raw.description is None and raw.nextset():
            pass
        rows = raw.fetchall()
    for channel, memory_id, score, terms in rows:
        rankings[channel].append((memory_id, float(score)))
        if channel == "keyword":
            matched[memory_id] = int(terms)
    return {channel: top(scored, limit) for channel, scored in rankings.items()}, matched


@functools.cache
def _hit_query() -> tuple[str, tuple, tuple]:
    """Loading search hits: the memories (without their vectors) and their owners."""
    user_model = get_user_model()
    memory_fields = rowload.fields_of(Memory, exclude=("embedding", "embedding_next"))
    owner_fields = rowload.fields_of(user_model)
    sql = (f"SELECT {rowload.columns('m', memory_fields)}, {rowload.columns('u', owner_fields)} "
           f'FROM memories_memory m JOIN "{user_model._meta.db_table}" u ON u."{user_model._meta.pk.column}" = m.owner_id '
           "WHERE m.id = ANY(%s) AND ({visible})")
    return sql, memory_fields, owner_fields


def hydrate(ranked: list[Ranked], *, parts: dict[str, Piece]) -> list[SearchHit]:
    """Memory rows (with their owners, without the vector columns) for ranked ids, in order,
    each hit with its OWN score and sources (looked up by id, never by position: a memory
    that vanished between ranking and loading must not shift the others' scores).

    The statement re-applies the visibility rule (``parts``, the same SQL the channels
    ranked within), so a memory made invisible meanwhile is left out rather than shown."""
    if not ranked or not parts:
        return []
    sql, memory_fields, owner_fields = _hit_query()
    visible = " OR ".join(f"m.id IN ({piece_sql})" for piece_sql, _ in parts.values())
    params = [[r.memory_id for r in ranked]]
    for _, piece_params in parts.values():
        params += piece_params
    with connection.cursor() as cursor:
        cursor.execute(sql.replace("{visible}", visible), params)
        found = cursor.fetchall()
    rows = {}
    for row in found:
        memory = rowload.instance(Memory, memory_fields, row[:len(memory_fields)])
        rowload.attach(memory, "owner", rowload.instance(get_user_model(), owner_fields, row[len(memory_fields):]))
        rows[memory.id] = memory
    return [SearchHit(memory=rows[r.memory_id], score=r.score, sources=r.sources) for r in ranked if r.memory_id in rows]
