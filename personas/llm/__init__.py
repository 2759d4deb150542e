"""Chat providers behind one small interface, and the prompt assembly for persona answers.

``get_chat_provider()`` returns the configured OpenAI-compatible provider, or ``None`` when
none is configured (the default, offline): the service then answers in extractive mode
(``personas.llm.extractive``), which never pretends to be a model.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings

from picard.exceptions import ServiceUnavailable, ValidationError


class LLMUnavailable(ServiceUnavailable):
    """The chat model could not produce an answer (down, slow, rate-limited, garbage)."""

    code = "llm_unavailable"
    default_message = "The language model is unavailable; try again shortly."


@dataclass
class ChatResult:
    text: str
    model: str
    usage: dict = field(default_factory=dict)  # prompt_tokens, completion_tokens, total_tokens


@dataclass
class ChatRequest:
    model: str
    messages: list[dict]
    temperature: float
    max_tokens: int


class ChatProvider(Protocol):
    name: str

    def complete(self, request: ChatRequest) -> ChatResult:
        """One answer. Raises LLMUnavailable on any provider failure."""

    def stream(self, request: ChatRequest) -> Iterator[str | ChatResult]:
        """Text chunks as they arrive, then one final ChatResult (full text + usage).
        Raises LLMUnavailable on any provider failure (before or during the stream)."""


def llm_settings() -> dict:
    return settings.PICARD_LLM


def llm_configured() -> bool:
    config = llm_settings()
    kind = (config.get("provider") or "").strip().lower()
    if kind == "extractive":
        return False
    if kind == "openai":
        return True
    return bool(config.get("base_url") or config.get("api_key"))


def allowed_models() -> list[str]:
    """The default model first, then the admin-allowed alternatives (no duplicates)."""
    config = llm_settings()
    models = [config.get("model") or ""] + [m.strip() for m in config.get("allowed_models") or []]
    seen: list[str] = []
    for m in models:
        if m and m not in seen:
            seen.append(m)
    return seen


def clean_chat_model(value, *, field: str = "chat_model") -> str:
    """'' (the server default) or one of ``allowed_models()``."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ValidationError.for_field(field, "must be a string.")
    value = value.strip()
    allowed = allowed_models()
    if value and value not in allowed:
        raise ValidationError(
            f"{field}: {value[:80]!r} is not an allowed model; choose one of: {', '.join(allowed) or '(none configured)'}.",
            details={"field": field, "allowed": allowed},
        )
    return value


def resolve_model(chat_model: str) -> str:
    """The model a persona's answer uses: its own choice if still allowed, else the default."""
    return chat_model if chat_model and chat_model in allowed_models() else (llm_settings().get("model") or "")


@functools.lru_cache(maxsize=8)
def _cached(frozen: tuple) -> ChatProvider:
    from personas.llm.openai_chat import OpenAICompatibleChat  # noqa: PLC0415 - cycle: openai_chat imports personas.llm (and it defers the openai client)

    config = dict(frozen)
    return OpenAICompatibleChat(
        base_url=config.get("base_url") or None,
        api_key=config.get("api_key") or "not-needed",
        timeout=float(config.get("timeout") or 30.0),
        connect_timeout=float(config.get("connect_timeout") or 5.0),
        max_retries=int(config.get("max_retries") or 0),
    )


def get_chat_provider() -> ChatProvider | None:
    if not llm_configured():
        return None
    config = llm_settings()
    keys = ("base_url", "api_key", "timeout", "connect_timeout", "max_retries")
    return _cached(tuple((k, config.get(k)) for k in keys))
