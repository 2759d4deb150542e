"""Per-model vector indexes on the untyped ``embedding`` column.

Each embedding model gets a partial HNSW expression index over its *public* rows:
``((embedding::vector(d))) vector_cosine_ops WHERE embedding_model = '<model>' AND
permission = 'public'``. Only cross-user searches (others' public memories) use it, with
``hnsw.iterative_scan`` so filters never starve the result. Queries scoped to one owner
order by the *uncast* column, which no index matches: PostgreSQL then reads that owner's
rows through the btree on ``owner_id`` and ranks them exactly (recall 1.0).
"""

from __future__ import annotations

import hashlib
import logging

from django.db import connection

logger = logging.getLogger(__name__)

HNSW_MAX_DIMENSIONS = 2000


def index_name(model_name: str) -> str:
    return "memory_hnsw_" + hashlib.sha1(model_name.encode()).hexdigest()[:12]


def ensure_vector_index(*, model_name: str, dimensions: int, concurrently: bool = False) -> bool:
    """Create the model's HNSW index if missing. Returns True when the index exists/was made."""
    if not dimensions or dimensions > HNSW_MAX_DIMENSIONS:
        logger.warning("no HNSW index for %s (%s dimensions): searches use exact scans", model_name, dimensions)
        return False
    name = index_name(model_name)
    literal = model_name.replace("'", "''")
    sql = (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS {name} ON memories_memory "
        f"USING hnsw ((embedding::vector({int(dimensions)})) vector_cosine_ops) "
        f"WHERE embedding_model = '{literal}' AND permission = 'public'"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
    return True
