"""Any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp server).

Retries with exponential backoff (429, 5xx, timeouts, connection errors) come from the
``openai`` client itself (``max_retries``); every failure that is left becomes an
``LLMUnavailable`` with a code that says what went wrong — never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import openai

from personas.llm import ChatRequest, ChatResult, LLMUnavailable

logger = logging.getLogger(__name__)


def _usage(usage) -> dict:
    if usage is None:
        return {}
    out = {}
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = getattr(usage, key, None)
        if isinstance(value, int):
            out[key] = value
    return out


def _translate(exc: Exception) -> LLMUnavailable:
    if isinstance(exc, LLMUnavailable):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return LLMUnavailable("The language model did not answer in time; try again shortly.", code="llm_timeout")
    if isinstance(exc, openai.RateLimitError):
        return LLMUnavailable("The language model is rate-limited right now; try again in a minute.", code="llm_rate_limited")
    if isinstance(exc, openai.APIConnectionError):
        return LLMUnavailable("The language model could not be reached; try again shortly.", code="llm_unavailable")
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        logger.error("the chat endpoint refused our credentials: %s", exc)
        return LLMUnavailable("The language model refused this server's credentials; tell the administrator.", code="llm_misconfigured")
    if isinstance(exc, openai.NotFoundError):
        logger.error("the chat endpoint does not know the model or path: %s", exc)
        return LLMUnavailable("The configured language model was not found on the provider; tell the administrator.", code="llm_misconfigured")
    if isinstance(exc, openai.APIStatusError):
        return LLMUnavailable(f"The language model failed (HTTP {exc.status_code}); try again shortly.", code="llm_unavailable")
    logger.warning("unusable answer from the chat endpoint: %r", exc)
    return LLMUnavailable("The language model returned an answer Picard could not read; try again shortly.", code="llm_bad_response")


class OpenAICompatibleChat:
    name = "openai"

    def __init__(self, *, base_url: str | None, api_key: str, timeout: float, connect_timeout: float, max_retries: int):
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key,
            timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)),
            max_retries=max_retries,
        )

    def _kwargs(self, request: ChatRequest) -> dict:
        return {
            "model": request.model,
            "messages": request.messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }

    def complete(self, request: ChatRequest) -> ChatResult:
        try:
            response = self.client.chat.completions.create(**self._kwargs(request))
            choice = response.choices[0]
            text = choice.message.content
            if not isinstance(text, str) or not text.strip():
                raise LLMUnavailable("The language model returned an empty answer; try again shortly.", code="llm_bad_response")
            return ChatResult(text=text.strip(), model=getattr(response, "model", None) or request.model, usage=_usage(getattr(response, "usage", None)))
        except Exception as exc:  # noqa: BLE001 - every provider failure becomes one clear error
            raise _translate(exc) from exc

    def stream(self, request: ChatRequest) -> Iterator[str | ChatResult]:
        parts: list[str] = []
        usage: dict = {}
        model = request.model
        try:
            stream = self.client.chat.completions.create(
                **self._kwargs(request), stream=True, stream_options={"include_usage": True}
            )
            for chunk in stream:
                if getattr(chunk, "usage", None):
                    usage = _usage(chunk.usage)
                if getattr(chunk, "model", None):
                    model = chunk.model
                for choice in chunk.choices or []:
                    delta = getattr(choice.delta, "content", None)
                    if delta:
                        parts.append(delta)
                        yield delta
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc
        text = "".join(parts).strip()
        if not text:
            raise LLMUnavailable("The language model returned an empty answer; try again shortly.", code="llm_bad_response")
        yield ChatResult(text=text, model=model, usage=usage)
