"""post_migrate: make sure the configured embedding model has its vector index.

Cheap when it exists (IF NOT EXISTS); on a fresh database the table is empty so creation is
instant. Switching models (``manage.py reembed``) creates the new model's index itself.
"""

from __future__ import annotations

import logging

from django.db import connections

from memories.embeddings import get_provider
from memories.vector_index import ensure_vector_index

logger = logging.getLogger(__name__)


def ensure_index_after_migrate(sender, using="default", **kwargs) -> None:
    if "memories_memory" not in connections[using].introspection.table_names():
        return
    provider = get_provider()
    if provider.dimensions:
        ensure_vector_index(model_name=provider.name, dimensions=provider.dimensions)
