"""OpenAI ``text-embedding-3-small`` or any OpenAI-compatible embeddings server
(Ollama, vLLM, llama.cpp server) by base URL, through the official ``openai`` client."""

from __future__ import annotations

import math
from collections.abc import Sequence

import openai

from memories.embeddings import EmbeddingUnavailable

_KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class OpenAIProvider:
    def __init__(self, *, model: str, api_key: str, base_url: str | None, dimensions: int | None, timeout: float):
        self.model = model
        self.name = f"openai:{model}" + (f"@{dimensions}" if dimensions and model.startswith("text-embedding-3") else "")
        self._request_dimensions = dimensions if dimensions and model.startswith("text-embedding-3") else None
        self.dimensions = dimensions or _KNOWN_DIMENSIONS.get(model, 0)
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=2)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        kwargs = {"model": self.model, "input": list(texts)}
        if self._request_dimensions:
            kwargs["dimensions"] = self._request_dimensions
        try:
            response = self._client.embeddings.create(**kwargs)
        except openai.OpenAIError as exc:
            raise EmbeddingUnavailable(f"The embedding service failed: {type(exc).__name__}.") from exc
        rows = sorted(response.data, key=lambda d: d.index)
        if len(rows) != len(texts):
            raise EmbeddingUnavailable("The embedding service returned the wrong number of vectors.")
        vectors = []
        for row in rows:
            vec = list(row.embedding)
            if not vec or (self.dimensions and len(vec) != self.dimensions):
                raise EmbeddingUnavailable("The embedding service returned vectors of an unexpected size.")
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            vectors.append([v / norm for v in vec])
        if not self.dimensions:
            self.dimensions = len(vectors[0])
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
