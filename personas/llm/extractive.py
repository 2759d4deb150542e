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


NOTHING_ON_THAT = "I haven't noted anything about that."


def extractive_answer(*, memories: list[ContextMemory], answer_length: str) -> tuple[str, list[ContextMemory]]:
    """The reply text and the memories it quotes (best first). ``memories`` are those whose
    calibrated search score reached the threshold (``personas.selectors``): none → the
    plain "nothing on that" answer, never a quote of something unrelated."""
    relevant = memories[: QUOTES.get(answer_length, 3)]
    if not relevant:
        return (f"{NOTHING_ON_THAT} "
                "(This is an automatic answer built from my saved memories; no language model is configured.)"), []
    lines = ["Here is what I have noted that seems related:"]
    lines += [f"- {_quote(m.text)}" for m in relevant]
    lines.append("(These are my saved memories, quoted as they are; no language model wrote this answer.)")
    return "\n".join(lines), relevant
