"""Extractive answers: no language model, just the most relevant memories quoted back in a
short first-person reply. Labelled ``mode: "extractive"`` and worded so that it never
pretends to be a model's answer."""

from __future__ import annotations

from personas.llm.prompt import ContextMemory

QUOTES = {"short": 2, "medium": 3, "long": 5}
_MAX_QUOTE_CHARS = 400


def _quote(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _MAX_QUOTE_CHARS:
        text = text[: _MAX_QUOTE_CHARS - 1].rstrip() + "…"
    return f"“{text}”"


# A memory that is only semantically related must come within this fraction of the best
# semantic match: "What instrument do you play?" quotes the cello memory (0.63), not the
# ramen one (0.15), which is not about the question at all.
RELATIVE_CUT = 0.5


def is_relevant(memory: ContextMemory, *, min_score: float, best_semantic: float = 0.0) -> bool:
    """A memory answers the question if it shares a search term with it (keyword channel) or
    its meaning is close enough (semantic cosine at least ``min_score`` and not far below the
    best match). The ranking score alone cannot say this: hybrid scores are rank-based, so
    the best of many unrelated memories still scores high."""
    sources = memory.sources or {}
    if sources.get("keyword", 0) > 0:
        return True
    if "semantic" in sources:
        return sources["semantic"] >= max(min_score, best_semantic * RELATIVE_CUT)
    return not sources and memory.score >= min_score


def extractive_answer(*, memories: list[ContextMemory], min_score: float, answer_length: str) -> tuple[str, list[ContextMemory]]:
    """The reply text and the memories it quotes (best first)."""
    best = max((m.sources.get("semantic", 0.0) for m in memories), default=0.0)
    relevant = [m for m in memories if is_relevant(m, min_score=min_score, best_semantic=best)][: QUOTES.get(answer_length, 3)]
    if not relevant:
        if memories:
            return ("I haven't noted anything that answers that. "
                    "(This is an automatic answer built from my saved memories; no language model is configured.)"), []
        return ("I don't have any memories I can share yet, so I can't answer that. "
                "(This is an automatic answer built from my saved memories; no language model is configured.)"), []
    lines = ["Here is what I have noted that seems related:"]
    lines += [f"- {_quote(m.text)}" for m in relevant]
    lines.append("(These are my saved memories, quoted as they are; no language model wrote this answer.)")
    return "\n".join(lines), relevant
