"""Memory selectors: every read goes through here, and through ``Memory.objects.visible_to``.

A memory the actor may not see raises ``NotFound`` with the same message as one that does
not exist.
"""

from __future__ import annotations

import base64
import functools
import binascii
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from memories.embeddings import get_provider  # noqa: F401  (kept for callers patching it)
from memories.reembed import search_provider, search_state_forget
from memories.models import Memory, MemoryVersion
from memories.validation import clean_permission, clean_tags, clean_uuid, parse_iso_datetime
from picard import rowload
from picard.ttlcache import TimedCache
from picard.exceptions import NotFound, ValidationError

SORTS = {
    "newest": ("created_at", True),
    "oldest": ("created_at", False),
    "updated": ("updated_at", True),
}
EXPIRED_CHOICES = ("active", "expired", "all")


@dataclass(frozen=True)
class MemoryFilters:
    owner_id: uuid.UUID | None = None
    permission: str | None = None
    tags: tuple[str, ...] = ()  # a memory must carry all of them
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    expired: str = "active"  # active | expired (own only) | all (own expired + everything visible)

    @classmethod
    def from_input(cls, data: dict) -> "MemoryFilters":
        """Build from raw tool/query input (strings); raises ValidationError naming the field."""
        owner = data.get("user_id")
        expired = data.get("expired", data.get("expiration_status")) or "active"
        if expired not in EXPIRED_CHOICES:
            raise ValidationError.for_field("expired", f"must be one of {', '.join(EXPIRED_CHOICES)}.")
        return cls(
            owner_id=clean_uuid(owner, field="user_id") if owner else None,
            permission=clean_permission(data["permission"]) if data.get("permission") else None,
            tags=tuple(clean_tags(data.get("tags"))),
            created_after=parse_iso_datetime(data.get("created_after"), field="created_after"),
            created_before=parse_iso_datetime(data.get("created_before"), field="created_before"),
            updated_after=parse_iso_datetime(data.get("updated_after"), field="updated_after"),
            updated_before=parse_iso_datetime(data.get("updated_before"), field="updated_before"),
            expired=expired,
        )


@dataclass
class Page:
    items: list[Memory]
    next_cursor: str | None
    limit: int


@dataclass
class SearchHit:
    memory: Memory
    score: float
    sources: dict = field(default_factory=dict)


def _apply_filters(qs: QuerySet, filters: MemoryFilters) -> QuerySet:
    if filters.owner_id:
        qs = qs.filter(owner_id=filters.owner_id)
    if filters.permission:
        qs = qs.filter(permission=filters.permission)
    if filters.tags:
        qs = qs.filter(tags__contains=list(filters.tags))
    if filters.created_after:
        qs = qs.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        qs = qs.filter(created_at__lt=filters.created_before)
    if filters.updated_after:
        qs = qs.filter(updated_at__gte=filters.updated_after)
    if filters.updated_before:
        qs = qs.filter(updated_at__lt=filters.updated_before)
    return qs


def visible_parts(*, actor, filters: MemoryFilters) -> dict[str, QuerySet]:
    """The visible memories matching ``filters``, split into the three parts of the
    visibility rule (own / shared-with-me / others' public). Parts that cannot match the
    filters are left out."""
    return _visible_parts(actor=actor, filters=filters)[0]


def _visible_parts(*, actor, filters: MemoryFilters) -> tuple[dict[str, QuerySet], QuerySet]:
    """``visible_parts`` and the union of those parts as one queryset (an OR of their
    conditions), from one reading of the visibility rule."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {}, Memory.objects.none()
    include_own_expired = filters.expired in ("expired", "all")
    conditions = Memory.objects.visibility_parts(actor, include_own_expired=include_own_expired)
    parts: dict[str, QuerySet] = {}
    combined = Q(pk__in=[])
    for name, condition in conditions.items():
        if filters.expired == "expired" and name != "own":
            continue  # only the owner ever sees expired memories
        if filters.owner_id and (filters.owner_id == actor.pk) != (name == "own"):
            continue
        if filters.permission and name in ("shared", "public") and filters.permission != name:
            continue
        parts[name] = _filtered(Memory.objects.filter(condition), filters)
        combined |= condition
    if not parts:
        return {}, Memory.objects.none()
    return parts, _filtered(Memory.objects.filter(combined), filters)


def _filtered(qs: QuerySet, filters: MemoryFilters) -> QuerySet:
    if filters.expired == "expired":
        qs = qs.expired()
    return _apply_filters(qs, filters)


def memory_visible_qs(*, actor, filters: MemoryFilters | None = None) -> QuerySet:
    return _visible_parts(actor=actor, filters=filters or MemoryFilters())[1]


def memory_visible_exists(*, actor, memory_id) -> bool:
    return Memory.objects.visible_to(actor).filter(id=memory_id).exists()


def memory_get_for_actor(*, actor, memory_id, include_expired: bool = False) -> Memory:
    """One memory the actor may see. Invisible and missing look the same (NotFound)."""
    memory_id = clean_uuid(memory_id, field="memory_id")
    memory = (
        Memory.objects.visible_to(actor, include_own_expired=include_expired)
        .select_related("owner")
        .filter(id=memory_id)
        .first()
    )
    if memory is None:
        raise NotFound("Memory not found.")
    return memory


def memory_share_targets(*, memory: Memory) -> dict:
    """Who a shared memory is shared with (owner-facing)."""
    shares = memory.shares.select_related("user", "group")
    return {
        "users": [str(s.user.id) for s in shares if s.user_id],
        "groups": [s.group.name for s in shares if s.group_id],
    }


# --- lists with keyset (cursor) pagination --------------------------------------------------


def _encode_cursor(sort: str, value: datetime, memory_id: uuid.UUID) -> str:
    raw = json.dumps({"s": sort, "v": value.isoformat(), "id": str(memory_id)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data["s"] != sort:
            raise ValueError("sort changed")
        value = datetime.fromisoformat(data["v"])
        return value, uuid.UUID(data["id"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationError.for_field("cursor", "is not a cursor returned by this listing (with the same sort).")


def clean_limit(value, *, default: int, maximum: int, field: str = "limit") -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError.for_field(field, "must be an integer.")
    if value < 1 or value > maximum:
        raise ValidationError.for_field(field, f"must be between 1 and {maximum}.")
    return value


def memory_list(*, actor, filters: MemoryFilters | None = None, sort: str = "newest", limit: int | None = None, cursor: str | None = None) -> Page:
    """One page of the memories the actor may see, in ``sort`` order, after ``cursor``.

    Each part of the visibility rule (own / shared with me / others' public) takes its own
    first ``limit + 1`` in order from its own index, and one statement merges them: an OR of
    the three parts would collect and sort every visible memory (all public ones included)
    to show a page (200 ms with 100 000 memories, 2 ms this way). The page's rows are then
    loaded through the visibility rule again, so a memory made private between the two
    statements is not shown."""
    if sort not in SORTS:
        raise ValidationError.for_field("sort", f"must be one of {', '.join(SORTS)}.")
    limit = clean_limit(limit, default=settings.PICARD_LIST_DEFAULT_LIMIT, maximum=settings.PICARD_LIST_MAX_LIMIT)
    filters = filters or MemoryFilters()
    column, descending = SORTS[sort]
    after = None
    if cursor:
        value, last_id = _decode_cursor(cursor, sort)
        if descending:
            after = Q(**{f"{column}__lt": value}) | Q(**{column: value, "id__lt": last_id})
        else:
            after = Q(**{f"{column}__gt": value}) | Q(**{column: value, "id__gt": last_id})
    order = [f"-{column}", "-id"] if descending else [column, "id"]
    parts, visible = _visible_parts(actor=actor, filters=filters)
    firsts = []
    for qs in parts.values():
        if after is not None:
            qs = qs.filter(after)
        firsts.append(qs.order_by(*order).values_list("id", column)[: limit + 1])
    if not firsts:
        return Page(items=[], next_cursor=None, limit=limit)
    merged = firsts[0] if len(firsts) == 1 else firsts[0].union(*firsts[1:], all=True).order_by(*order)[: limit + 1]
    ids = [row[0] for row in merged]
    loaded = visible.select_related("owner").defer("embedding", "embedding_next").in_bulk(ids)
    rows = [loaded[memory_id] for memory_id in ids if memory_id in loaded]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode_cursor(sort, getattr(last, column), last.id)
    return Page(items=rows, next_cursor=next_cursor, limit=limit)


def memory_list_own(*, actor, limit: int | None = None, cursor: str | None = None) -> Page:
    """``retrieve_memories``: all of the caller's own (non-expired) memories, newest first."""
    return memory_list(actor=actor, filters=MemoryFilters(owner_id=actor.pk), limit=limit, cursor=cursor)


# --- search: semantic, keyword, hybrid ------------------------------------------------------
#
# Each channel ranks memory ids within the parts of the visibility rule (``visible_parts``,
# computed once per search); only the final top ``limit`` are loaded as Memory rows.

Scored = list[tuple[uuid.UUID, float]]
Piece = tuple[str, list]  # SQL and its parameters
SEARCH_MODES = ("semantic", "keyword", "hybrid")

# BM25 parameters: memories are short, so a term's second occurrence adds little (low k1)
# and length matters little (low b). Chosen on the LoCoMo development half, docs/search.md.
BM25_K1 = 0.6
BM25_B = 0.2

# Temporal query expansion: a question asking *when* looks for memories that say when.
# Such a query also matches (at a low weight) words that date an event in English.
_TEMPORAL_QUESTION = re.compile(r"^\W*(when|how long|what (date|time|year|month|day))\b", re.IGNORECASE)
TEMPORAL_TERMS = ("yesterday", "today", "tonight", "tomorrow", "ago", "last", "next", "week", "weekend", "month", "year", "recently")
TEMPORAL_WEIGHT = 0.2


def _top(scored: Scored, limit: int) -> Scored:
    return sorted(scored, key=lambda pair: (-pair[1], str(pair[0])))[:limit]


@functools.cache
def _hit_query() -> tuple[str, tuple, tuple]:
    """Loading search hits: the memories (without their vectors) and their owners."""
    user_model = get_user_model()
    memory_fields = rowload.fields_of(Memory, exclude=("embedding", "embedding_next"))
    owner_fields = rowload.fields_of(user_model)
    sql = (f"SELECT {rowload.columns('m', memory_fields)}, {rowload.columns('u', owner_fields)} "
           f'FROM memories_memory m JOIN "{user_model._meta.db_table}" u ON u."{user_model._meta.pk.column}" = m.owner_id '
           "WHERE m.id = ANY(%s)")
    return sql, memory_fields, owner_fields


def _hydrate(scored: Scored, *, channel: str | None) -> list[SearchHit]:
    """Memory rows (with their owners, without the vector columns) for ranked ids, in order."""
    if not scored:
        return []
    sql, memory_fields, owner_fields = _hit_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [[memory_id for memory_id, _ in scored]])
        found = cursor.fetchall()
    rows = {}
    for row in found:
        memory = rowload.instance(Memory, memory_fields, row[:len(memory_fields)])
        rowload.attach(memory, "owner", rowload.instance(get_user_model(), owner_fields, row[len(memory_fields):]))
        rows[memory.id] = memory
    return [
        SearchHit(memory=rows[memory_id], score=round(score, 6), sources={channel: round(score, 6)} if channel else {})
        for memory_id, score in scored
        if memory_id in rows
    ]


def _vector_literal(vector) -> str:
    """The query vector as pgvector text, made once per search (every semantic part uses it)."""
    return "[" + ",".join(map(repr, (float(x) for x in vector))) + "]"


def _semantic_piece(part: Piece, *, model_name: str, dimensions: int, limit: int, use_index: bool) -> Piece:
    """Cosine top-``limit`` within one part (its candidate ids ``part``), against the query
    vector ``qv.v`` that ``_rank`` sends once. ``use_index``: order by the expression the
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
    sql = (f"SELECT m.id, 1 - ({distance}) AS score FROM memories_memory m "
           f"WHERE {where} AND m.id IN ({candidates}) ORDER BY {distance}, m.id LIMIT %s")
    return sql, [model_name, *params, limit]


def public_index_pays_off(*, model_name: str) -> bool:
    """Whether cross-user (public) search for ``model_name`` should go through its HNSW index.

    Yes once the model has more than ``PICARD_SEARCH_EXACT_MAX_ROWS`` public rows, judged by
    the partial index's own row count (``pg_class.reltuples``: set by CREATE INDEX, kept
    current by (auto)VACUUM and ANALYZE) — a catalog lookup, no scan. Below that an exact
    scan is fast and exact; an HNSW graph over few, or badly spread, vectors can leave rows
    unreachable (seen with the lexical test embedder). No index → exact."""
    from memories.vector_index import index_name

    threshold = settings.PICARD_SEARCH_EXACT_MAX_ROWS
    if threshold <= 0:
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s AND relkind = 'i'", [index_name(model_name)])
        row = cursor.fetchone()
    return row is not None and row[0] > threshold


_index_choice = TimedCache()  # (model, threshold) -> public_index_pays_off, asked at most once a minute


def search_caches_clear() -> None:
    """Forget what searches cache per process (public keyword statistics, the index choice,
    the embedding state)."""
    _public_stats.clear()
    _index_choice.clear()
    search_state_forget()


def _semantic_pieces(parts: dict[str, Piece], *, model_name: str, dimensions: int, limit: int,
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
        use_index = name == "public" and not filters.owner_id and _index_choice.get(
            (model_name, settings.PICARD_SEARCH_EXACT_MAX_ROWS), lambda: public_index_pays_off(model_name=model_name), seconds=60.0,
        )
        pieces.append(_semantic_piece(part, model_name=model_name, dimensions=dimensions, limit=limit, use_index=use_index))
    return pieces


def _rank(pieces: dict[str, list[Piece]], *, limit: int, vector=None) -> dict[str, Scored]:
    """Run every channel's ranking of every part as ONE statement (one round trip), and give
    each channel's top ``limit`` over its parts. Each piece returns ``(id, score)``; the
    semantic pieces read the query ``vector`` from the statement's ``qv`` (sent once).

    ``hnsw.ef_search`` and ``hnsw.iterative_scan`` are set for this statement only: sent in
    one simple-protocol message, ``SET LOCAL`` and the query share PostgreSQL's implicit
    transaction (Django's psycopg cursor binds parameters on the client)."""
    selects, params = [], []
    for channel, channel_pieces in pieces.items():
        for sql, piece_params in channel_pieces:
            selects.append(f"SELECT %s::text, r.* FROM ({sql}) r")
            params += [channel, *piece_params]
    rankings: dict[str, Scored] = {channel: [] for channel in pieces}
    if not selects:
        return rankings
    query_vector = ""
    if vector is not None:
        query_vector, params = "WITH qv AS (SELECT %s::vector AS v) ", [_vector_literal(vector), *params]
    ef_search = max(settings.PICARD_SEARCH_HNSW_EF_SEARCH, 2 * limit)
    sql = (f"SET LOCAL hnsw.ef_search = {int(ef_search)}; SET LOCAL hnsw.iterative_scan = relaxed_order; "
           + query_vector + " UNION ALL ".join(selects))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        raw = cursor.cursor
        while raw.description is None and raw.nextset():
            pass
        rows = raw.fetchall()
    for channel, memory_id, score in rows:
        rankings[channel].append((memory_id, float(score)))
    return {channel: _top(scored, limit) for channel, scored in rankings.items()}


def _part_sql(*, actor, filters: MemoryFilters) -> dict[str, Piece]:
    """Each part of the visibility rule matching ``filters``, as SQL for its memory ids (made
    once per search, used by both channels). Without filters, the rule's SQL form
    (``visibility_parts_sql``); otherwise the ORM compiles it."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {}
    if filters == MemoryFilters():
        return Memory.objects.visibility_parts_sql(actor)
    return {name: qs.values("id").query.sql_with_params() for name, qs in visible_parts(actor=actor, filters=filters).items()}


def memory_semantic_search(*, actor, query_vector, model_name: str, dimensions: int, limit: int, filters: MemoryFilters) -> list[SearchHit]:
    """Cosine top-``limit`` among the memories ``actor`` may see, each part of the
    visibility rule searched with the strategy that is exact for it (see vector_index)."""
    parts = _part_sql(actor=actor, filters=filters)
    pieces = _semantic_pieces(parts, model_name=model_name, dimensions=dimensions, limit=limit, filters=filters)
    return _hydrate(_rank({"semantic": pieces}, limit=limit, vector=query_vector)["semantic"], channel="semantic")


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
           * post.tf * (%s + 1) / (post.tf + %s * (1 - %s + %s * post.length / greatest(stats.avgdl, 1)))) AS score
FROM post JOIN df USING (term_hash) JOIN q USING (term_hash) CROSS JOIN stats
GROUP BY post.memory_id
ORDER BY score DESC, post.memory_id
LIMIT %s
"""


# The public part at scale: the query terms' postings of others' public, unexpired memories,
# read from one partial covering index (each posting carries its memory's permission, expiry
# and document length: migration 0008), with the part's collection statistics (document
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
           * post.tf * (%s::float8 + 1) / (post.tf + %s::float8 * (1 - %s::float8 + %s::float8 * post.length / greatest(%s::float8, 1)))) AS score
FROM post JOIN df USING (term_hash) JOIN q USING (term_hash)
GROUP BY post.memory_id
ORDER BY score DESC, post.memory_id
LIMIT %s
"""

_public_stats: dict[str, tuple[float, float, float]] = {}  # key id -> (valid until, n, avgdl)


def public_keyword_stats(*, key_id: str) -> tuple[float, float] | None:
    """(document count, average length) of every public, unexpired memory indexed under
    ``key_id`` — the keyword channel's collection statistics for others' public memories —
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


def _keyword_piece_public(*, actor, query_terms: dict[int, float], limit: int, stats: tuple[float, float]) -> Piece:
    """BM25 over others' public, unexpired memories (the ``public`` part of the visibility
    rule, unfiltered) from the postings' own copies of permission and expiry."""
    hashes = list(query_terms)
    n, avgdl = stats
    return _KEYWORD_SQL_PUBLIC, [hashes, [query_terms[h] for h in hashes], hashes, actor.pk, timezone.now(),
                                 n, BM25_K1, BM25_K1, BM25_B, BM25_B, avgdl, limit]


def keyword_query_terms(query: str) -> dict[int, float]:
    """The query's term hashes with their weights (term frequency), plus the temporal
    expansion for a *when* question."""
    from memories import keywords

    counts, _ = keywords.hashed_terms(query)
    weights = {term: float(tf) for term, tf in counts.items()}
    if weights and _TEMPORAL_QUESTION.match(query):
        for word in TEMPORAL_TERMS:
            for term in keywords.hashed_terms(word)[0]:
                weights.setdefault(term, TEMPORAL_WEIGHT)
    return weights


def _keyword_piece(part: Piece, *, query_terms: dict[int, float], key_id: str, limit: int, owner_id=None) -> Piece:
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


def _keyword_pieces(parts: dict[str, Piece], *, actor, query: str, limit: int, filters: MemoryFilters) -> list[Piece]:
    from memories import keywords

    query_terms = keyword_query_terms(query)
    if not query_terms:
        return []
    key_id = keywords.key_id()
    pieces = []
    unfiltered = not (filters.owner_id or filters.tags or filters.created_after or filters.created_before
                      or filters.updated_after or filters.updated_before)
    for name, part in parts.items():
        stats = public_keyword_stats(key_id=key_id) if name == "public" and unfiltered else None
        if stats is not None:
            pieces.append(_keyword_piece_public(actor=actor, query_terms=query_terms, limit=limit, stats=stats))
            continue
        owner_id = actor.pk if name == "own" else filters.owner_id
        pieces.append(_keyword_piece(part, query_terms=query_terms, key_id=key_id, limit=limit, owner_id=owner_id))
    return pieces


def memory_keyword_search(*, actor, query: str, limit: int, filters: MemoryFilters) -> list[SearchHit]:
    """BM25 top-``limit`` among the memories ``actor`` may see, over keyed term hashes
    (memories.keywords). A query with no index terms (only stop words) finds nothing."""
    parts = _part_sql(actor=actor, filters=filters)
    pieces = _keyword_pieces(parts, actor=actor, query=query, limit=limit, filters=filters)
    return _hydrate(_rank({"keyword": pieces}, limit=limit)["keyword"], channel="keyword")


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


FUSIONS = ("rrf", "weighted")


def fuse(rankings: dict[str, Scored], *, limit: int, config: dict) -> list[tuple[uuid.UUID, float, dict]]:
    """The hybrid fusion chosen by ``PICARD_SEARCH_FUSION`` (``config`` = PICARD_SEARCH_HYBRID)."""
    weights = {"semantic": float(config["semantic_weight"]), "keyword": float(config["keyword_weight"])}
    if config.get("fusion", "rrf") == "weighted":
        return fuse_scores(rankings, limit=limit, weights=weights)
    return fuse_rankings(rankings, limit=limit, k=int(config["k"]), weights=weights)


def clean_search_mode(value) -> str:
    if value is None:
        value = settings.PICARD_SEARCH_DEFAULT_MODE
    if value not in SEARCH_MODES:
        raise ValidationError.for_field("mode", f"must be one of {', '.join(SEARCH_MODES)}.")
    return value


def memory_search(
    *, actor, query: str, limit: int | None = None, filters: MemoryFilters | None = None, mode: str | None = None,
) -> list[SearchHit]:
    """``query_memory``: the most relevant memories the actor may see, best first.

    ``mode``: ``semantic`` (cosine similarity of embeddings; ``score`` is the cosine),
    ``keyword`` (BM25 over keyed term hashes; ``score`` is BM25), or ``hybrid`` (the
    default: both channels fused as ``PICARD_SEARCH_FUSION`` says; ``score`` in 0–1). Every
    hit's ``sources`` holds each channel's own score. If the embedding service is down,
    hybrid search still answers from the keyword channel."""
    from memories.activity import activity_record
    from memories.embeddings import EmbeddingUnavailable
    from memories.validation import clean_text

    query = clean_text(query, field="query")
    limit = clean_limit(limit, default=10, maximum=settings.PICARD_SEARCH_MAX_LIMIT)
    mode = clean_search_mode(mode)
    filters = filters or MemoryFilters()
    details: dict = {"mode": mode}
    if mode == "keyword":
        hits = memory_keyword_search(actor=actor, query=query, limit=limit, filters=filters)
    elif mode == "semantic":
        provider = search_provider()
        hits = memory_semantic_search(actor=actor, query_vector=provider.embed_query(query), model_name=provider.name,
                                      dimensions=provider.dimensions, limit=limit, filters=filters)
    else:
        parts = _part_sql(actor=actor, filters=filters)
        config = settings.PICARD_SEARCH_HYBRID
        depth = max(limit, int(config["depth"]))
        pieces = {"keyword": _keyword_pieces(parts, actor=actor, query=query, limit=depth, filters=filters)}
        provider = search_provider()
        vector = None
        try:
            vector = provider.embed_query(query)
        except EmbeddingUnavailable:
            details["degraded"] = "embedding_unavailable"
        else:
            pieces["semantic"] = _semantic_pieces(
                parts, model_name=provider.name, dimensions=provider.dimensions, limit=depth, filters=filters,
            )
        fused = fuse(_rank(pieces, limit=depth, vector=vector), limit=limit, config=config)
        hits = _hydrate([(memory_id, score) for memory_id, score, _ in fused], channel=None)
        for hit, (_, _, sources) in zip(hits, fused):
            hit.sources = sources
    details["results"] = len(hits)
    activity_record(actor=actor, action="memory.search", memory_ids=[h.memory.id for h in hits], details=details)
    return hits


def user_get(*, user_id) -> object:
    """An active user by UUID, or NotFound."""
    user_id = clean_uuid(user_id, field="user_id")
    user = get_user_model().objects.filter(id=user_id, is_active=True).first()
    if user is None:
        raise NotFound("User not found.")
    return user




# --- history and trash ------------------------------------------------------------------------


def memory_history(*, actor, memory_id) -> tuple[Memory, list[MemoryVersion]]:
    """``memory_history``: a memory's versions, newest first, for whoever may see the memory
    now (a memory the actor may not see, or one in the trash, is NotFound). A memory written
    before history existed shows its current state as its one (``legacy``) version."""
    memory = memory_get_for_actor(actor=actor, memory_id=memory_id, include_expired=True)
    versions = list(MemoryVersion.objects.filter(memory=memory).select_related("actor").order_by("-version"))
    if not versions or versions[0].version != memory.version:
        versions.insert(0, MemoryVersion(
            memory=memory, version=memory.version, text_encrypted=memory.text_encrypted, permission=memory.permission,
            tags=list(memory.tags), metadata=memory.metadata, expires_at=memory.expires_at, created_at=memory.updated_at,
            change="legacy",
        ))
    return memory, versions


def memory_version_get(*, actor, memory_id, version: int) -> MemoryVersion:
    """One version of a memory the actor may see (NotFound otherwise)."""
    memory, versions = memory_history(actor=actor, memory_id=memory_id)
    for row in versions:
        if row.version == version:
            return row
    raise NotFound(f"This memory has no version {version}.", details={"field": "version"})


def memory_trash_list(*, actor, limit: int = 500) -> list[Memory]:
    """The actor's memories in the trash, most recently trashed first (only the owner ever
    sees a trashed memory, and only here)."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return []
    return list(Memory.objects.trashed().filter(owner=actor).defer("embedding", "embedding_next").order_by("-trashed_at", "id")[:limit])


def memory_trash_count(*, actor) -> int:
    return Memory.objects.trashed().filter(owner=actor).count()


def memory_near_duplicates(*, memory: Memory, limit: int = 5) -> list[dict]:
    """The owner's other active memories whose embedding (same model) has cosine similarity
    ≥ ``PICARD_NEAR_DUPLICATE_THRESHOLD`` with ``memory``'s: ``[{"id", "score"}]``, most
    similar first. Empty while ``memory``'s embedding is pending."""
    if memory.embedding is None or not memory.embedding_model or memory.trashed_at is not None:
        return []
    threshold = settings.PICARD_NEAR_DUPLICATE_THRESHOLD
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, 1 - (embedding <=> (SELECT embedding FROM memories_memory WHERE id = %s)) AS score "
            "FROM memories_memory WHERE owner_id = %s AND embedding_model = %s AND id <> %s AND trashed_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > now()) "
            "AND 1 - (embedding <=> (SELECT embedding FROM memories_memory WHERE id = %s)) >= %s "
            "ORDER BY score DESC, id LIMIT %s",
            [memory.id, memory.owner_id, memory.embedding_model, memory.id, memory.id, threshold, limit],
        )
        return [{"id": str(row[0]), "score": round(float(row[1]), 4)} for row in cursor.fetchall()]


def memory_trashed_get(*, actor, memory_id) -> Memory:
    """One of the actor's own memories, in the trash or not (the trash page's "delete
    forever"); anything else is NotFound."""
    memory_id = clean_uuid(memory_id, field="memory_id")
    memory = Memory.objects.filter(owner=actor, id=memory_id).first() if getattr(actor, "is_authenticated", False) else None
    if memory is None:
        raise NotFound("Memory not found.")
    return memory


def memory_own_matching_ids(*, actor, filters: MemoryFilters, limit: int = 20_000) -> list[uuid.UUID]:
    """Ids of the actor's own memories matching ``filters`` (every page of a list), for bulk
    actions on "all N matching"; at most ``limit``."""
    filters = MemoryFilters(**{**filters.__dict__, "owner_id": actor.pk})
    return list(memory_visible_qs(actor=actor, filters=filters).order_by("-created_at", "-id").values_list("id", flat=True)[:limit])


def memory_own_matching_count(*, actor, filters: MemoryFilters) -> int:
    filters = MemoryFilters(**{**filters.__dict__, "owner_id": actor.pk})
    return memory_visible_qs(actor=actor, filters=filters).count()
