"""Persona services: shape your persona, and ask someone's persona a question.

``persona_answer`` / ``persona_answer_stream`` share one preparation step:
validate → load the persona → pick the usable memories (``personas.selectors``) → fit them
to the token budget → build the prompt → look up the answer cache. Then either the
configured OpenAI-compatible chat model answers, or (with none configured) an extractive
answer quotes the most relevant memories. Usage (tokens, latency, mode, cache hit) goes to
the activity log — never any text.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.cache import caches
from django.db import IntegrityError, transaction
from django.utils import timezone

from memories.activity import activity_record
from memories.models import Memory
from memories.selectors import clean_limit, user_get
from memories.validation import clean_text, normalize_newlines
from personas import selectors
from personas.llm import (
    ChatRequest,
    ChatResult,
    LLMUnavailable,
    clean_chat_model,
    get_chat_provider,
    llm_settings,
    resolve_model,
)
from personas.llm.extractive import NOTHING_ON_THAT, extractive_answer
from personas.llm.prompt import ContextMemory, build_messages, fit_to_budget, max_tokens_for
from personas.models import AnswerLength, Persona
from picard import ratelimit
from picard.exceptions import Conflict, DomainError, PayloadTooLarge, PermissionDenied, ValidationError

MAX_PROMPT_CHARS = 4000
MAX_MEMORIES = 50

# --- shaping a persona ------------------------------------------------------------------


def _clean_str(value, *, field: str, max_length: int, required: bool = False) -> str:
    if not isinstance(value, str):
        raise ValidationError.for_field(field, "must be a string.")
    if "\x00" in value:
        raise ValidationError.for_field(field, "must not contain NUL characters.")
    value = normalize_newlines(value).strip()
    if required and not value:
        raise ValidationError.for_field(field, "must not be empty.")
    if len(value) > max_length:
        raise ValidationError(f"{field}: at most {max_length} characters (got {len(value)}).", details={"field": field, "limit": max_length})
    return value


def _clean_temperature(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError.for_field("temperature", "must be a number between 0 and 2.")
    value = float(value)
    if not 0.0 <= value <= 2.0:
        raise ValidationError.for_field("temperature", "must be between 0 and 2.")
    return value


def _clean_bool(value, *, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError.for_field(field, "must be true or false.")
    return value


def _clean_choice(value, *, field: str, choices) -> str:
    if value not in choices:
        raise ValidationError.for_field(field, f"must be one of {', '.join(choices)}.")
    return value


_CLEANERS = {
    "display_name": lambda v: _clean_str(v, field="display_name", max_length=100, required=True),
    "bio": lambda v: _clean_str(v, field="bio", max_length=500),
    "instructions": lambda v: _clean_str(v, field="instructions", max_length=4000),
    "chat_model": lambda v: clean_chat_model(v),
    "temperature": _clean_temperature,
    "max_memories": lambda v: clean_limit(v, default=8, maximum=MAX_MEMORIES, field="max_memories"),
    "answer_length": lambda v: _clean_choice(v, field="answer_length", choices=AnswerLength.values),
    "enabled": lambda v: _clean_bool(v, field="enabled"),
    "listed": lambda v: _clean_bool(v, field="listed"),
}
PERSONA_FIELDS = tuple(_CLEANERS)


@transaction.atomic
def persona_update(*, actor, expected_version: int | None = None, **changes) -> Persona:
    """Create or change the actor's persona. Only the given fields change; unknown fields
    are a ValidationError. ``expected_version`` (optional) refuses a stale edit (Conflict)."""
    unknown = set(changes) - set(_CLEANERS)
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationError.for_field(name, "is not a persona field.")
    cleaned = {name: _CLEANERS[name](value) for name, value in changes.items()}
    persona = Persona.objects.select_for_update().filter(owner=actor).first()
    created = persona is None
    if created:
        persona = selectors.persona_default(owner=actor)
    if expected_version is not None and expected_version != persona.version:
        raise Conflict("Your persona was changed elsewhere; reload it and try again.", details={"version": persona.version})
    for name, value in cleaned.items():
        setattr(persona, name, value)
    persona.version += 1
    persona.updated_at = timezone.now()
    try:
        with transaction.atomic():
            persona.save()
    except IntegrityError:  # a concurrent first save won the one-per-owner race
        raise Conflict("Your persona was created elsewhere at the same moment; reload it and try again.") from None
    activity_record(actor=actor, action="persona.create" if created else "persona.update",
                    details={"persona_id": str(persona.id), "fields": sorted(cleaned)})
    return persona


# --- asking a persona -------------------------------------------------------------------


@dataclass
class Prepared:
    persona: Persona
    owner: object
    asker: object
    question: str
    context: list[ContextMemory]
    mode: str  # "llm" | "extractive"
    model: str | None
    messages: list[dict]
    max_tokens: int
    cache_key: str
    started: float = field(default_factory=time.monotonic)


def _clean_prompt(prompt) -> str:
    prompt = clean_text(prompt, field="prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise PayloadTooLarge(f"prompt: at most {MAX_PROMPT_CHARS} characters (got {len(prompt)}).",
                              details={"field": "prompt", "limit": MAX_PROMPT_CHARS})
    return prompt.strip()


def _cache_key(*, persona: Persona, owner, asker_is_owner: bool, mode: str, model: str | None, question: str, context: list[ContextMemory], versions: dict) -> str:
    material = json.dumps({
        "persona": f"default:{owner.pk}" if persona._state.adding else str(persona.id),
        "persona_version": persona.version,
        "audience": "owner" if asker_is_owner else "others",
        "mode": mode,
        "model": model,
        "question": question,
        # the memory-set version: exactly which memories (and which edit of each) are in context
        "memories": [[m.id, versions.get(m.id), m.text if m.truncated else None] for m in context],
    }, sort_keys=True)
    return "picard:persona-answer:" + hashlib.sha256(material.encode()).hexdigest()


def _prepare(*, actor, user_id, prompt, limit) -> Prepared:
    question = _clean_prompt(prompt)
    owner = user_get(user_id=user_id)
    persona = selectors.persona_get_or_default(owner=owner)
    asker_is_owner = actor.pk == owner.pk
    if not persona.enabled and not asker_is_owner:
        raise PermissionDenied("This persona is switched off by its owner.", code="persona_disabled")
    limit = clean_limit(limit, default=persona.max_memories, maximum=MAX_MEMORIES)
    config = llm_settings()
    ranked = selectors.persona_usable_memories(asker=actor, owner=owner, prompt=question, limit=limit)
    context = fit_to_budget(ranked, budget=int(config.get("context_tokens") or 2000))
    versions = {str(i): v for i, v in Memory.objects.filter(id__in=[m.id for m in context]).values_list("id", "version")}
    provider = get_chat_provider()
    mode = "llm" if provider is not None else "extractive"
    model = resolve_model(persona.chat_model) if mode == "llm" else None
    messages = build_messages(
        display_name=persona.display_name, bio=persona.bio, instructions=persona.instructions,
        answer_length=persona.answer_length, asker_is_owner=asker_is_owner, question=question, memories=context,
    )
    return Prepared(
        persona=persona, owner=owner, asker=actor, question=question, context=context, mode=mode, model=model,
        messages=messages, max_tokens=max_tokens_for(persona.answer_length),
        cache_key=_cache_key(persona=persona, owner=owner, asker_is_owner=asker_is_owner, mode=mode, model=model,
                             question=question, context=context, versions=versions),
    )


def _cache():
    return caches[llm_settings().get("cache_alias") or "default"]


def _citations(memories: list[ContextMemory]) -> list[dict]:
    return [{"id": m.id, "score": m.score, "label": m.label} for m in memories]


_LABEL = re.compile(r"\[(M\d{1,3})\]")


def cited_by_model(text: str, context: list[ContextMemory]) -> list[ContextMemory]:
    """The context memories the model cited with ``[M<n>]`` labels, in context (rank) order;
    all of the context when it cited none (it still drew only on them)."""
    labels = set(_LABEL.findall(text))
    cited = [m for m in context if m.label in labels]
    return cited or list(context)


def _result(prep: Prepared, *, response: str, cited: list[ContextMemory], model: str | None, usage: dict) -> dict:
    return {
        "response": response,
        "memories": _citations(cited),
        "model": model,
        "mode": prep.mode,
        "usage": usage,
    }


def _record(prep: Prepared, answer: dict, *, cache_hit: bool, error: DomainError | None = None) -> None:
    details = {
        "persona_owner_id": str(prep.owner.pk),
        "persona_id": None if prep.persona._state.adding else str(prep.persona.pk),
        "mode": prep.mode,
        "model": (answer or {}).get("model") or prep.model,
        "cache_hit": cache_hit,
        "latency_ms": round((time.monotonic() - prep.started) * 1000),
        "memories_in_context": len(prep.context),
        "context_tokens": sum(m.tokens for m in prep.context),
    }
    if answer and not cache_hit:
        details.update({k: v for k, v in (answer.get("usage") or {}).items() if isinstance(v, int)})
    if error is not None:
        details["error"] = error.code
    ids = [m["id"] for m in answer["memories"]] if answer else []
    activity_record(actor=prep.asker, action="persona.query", memory_ids=[uuid.UUID(i) for i in ids], details=details)


def _answer_extractive(prep: Prepared) -> dict:
    text, quoted = extractive_answer(memories=prep.context, answer_length=prep.persona.answer_length)
    return _result(prep, response=text, cited=quoted, model=None, usage={})


def _answer_nothing(prep: Prepared) -> dict:
    """No memory reached the search threshold: the plain answer, without asking the model
    (it could only guess, or quote something unrelated)."""
    return _result(prep, response=NOTHING_ON_THAT, cited=[], model=None, usage={})


def _request(prep: Prepared) -> ChatRequest:
    return ChatRequest(model=prep.model or "", messages=prep.messages, temperature=prep.persona.temperature, max_tokens=prep.max_tokens)


def _charge_model_call(prep: Prepared) -> None:
    """Someone else's questions cost the owner's model budget: count each model call per
    asker (``PICARD_LLM["rate"]``, "N/SECONDS", shared by every worker) and refuse past it
    with 429 + Retry-After. The owner asking their own persona, cached answers and the
    extractive mode (no model) are not counted."""
    if prep.mode != "llm" or prep.asker.pk == prep.owner.pk:
        return
    rate = llm_settings().get("rate") or ""
    if rate:
        limit, window = ratelimit.parse_rate(rate)
        ratelimit.hit(f"persona-llm:u:{prep.asker.pk}", limit=limit, window=window)


def persona_answer(*, actor, user_id, prompt, limit: int | None = None) -> dict:
    """``query_user``: the persona's answer to ``prompt`` and the memories it drew on.

    Returns ``{response, memories: [{id, score, label}], model, mode, cached, usage}``; with a
    model, ``memories`` are those it cited as ``[M<n>]`` (all of its context if it cited none),
    in extractive mode the quoted ones. Only memories
    the asker may use are ever in the context (see ``personas.selectors``), so a private
    memory can reach neither the model nor the citations of another user's answer.
    """
    prep = _prepare(actor=actor, user_id=user_id, prompt=prompt, limit=limit)
    cache = _cache()
    cached = cache.get(prep.cache_key)
    if cached is not None:
        _record(prep, cached, cache_hit=True)
        return {**cached, "cached": True}
    if prep.mode == "extractive":
        answer = _answer_extractive(prep)
    elif not prep.context:
        answer = _answer_nothing(prep)
    else:
        _charge_model_call(prep)
        try:
            result = get_chat_provider().complete(_request(prep))
        except LLMUnavailable as exc:
            _record(prep, None, cache_hit=False, error=exc)
            raise
        answer = _result(prep, response=result.text, cited=cited_by_model(result.text, prep.context), model=result.model, usage=result.usage)
    cache.set(prep.cache_key, answer, int(llm_settings().get("cache_seconds") or 0) or None)
    _record(prep, answer, cache_hit=False)
    return {**answer, "cached": False}


def persona_answer_stream(*, actor, user_id, prompt, limit: int | None = None) -> Iterator[tuple[str, dict]]:
    """Like ``persona_answer`` but yields events as the answer is written:
    ``("meta", {memories, mode, model})``, ``("delta", {"text"})``…, then ``("done", answer)``
    or ``("error", {code, message})``. Validation errors are raised before the first event
    (so a door can answer them with a plain 4xx)."""
    prep = _prepare(actor=actor, user_id=user_id, prompt=prompt, limit=limit)
    cached = _cache().get(prep.cache_key)
    if cached is None and prep.context:
        _charge_model_call(prep)  # before the first event, so a door can answer 429 plainly
    return _stream(prep, cached)


def _stream(prep: Prepared, cached: dict | None) -> Iterator[tuple[str, dict]]:
    cache = _cache()
    if cached is not None:
        yield "meta", {"memories": cached["memories"], "mode": cached["mode"], "model": cached["model"], "cached": True}
        yield "delta", {"text": cached["response"]}
        _record(prep, cached, cache_hit=True)
        yield "done", {**cached, "cached": True}
        return
    if prep.mode == "extractive" or not prep.context:
        answer = _answer_extractive(prep) if prep.mode == "extractive" else _answer_nothing(prep)
        yield "meta", {"memories": answer["memories"], "mode": answer["mode"], "model": None, "cached": False}
        yield "delta", {"text": answer["response"]}
    else:
        yield "meta", {"memories": _citations(prep.context), "mode": prep.mode, "model": prep.model, "cached": False}
        provider = get_chat_provider()
        try:
            if llm_settings().get("stream", True):
                final: ChatResult | None = None
                for item in provider.stream(_request(prep)):
                    if isinstance(item, ChatResult):
                        final = item
                    else:
                        yield "delta", {"text": item}
            else:
                final = provider.complete(_request(prep))
                yield "delta", {"text": final.text}
        except LLMUnavailable as exc:
            _record(prep, None, cache_hit=False, error=exc)
            yield "error", exc.as_dict()
            return
        answer = _result(prep, response=final.text, cited=cited_by_model(final.text, prep.context), model=final.model, usage=final.usage)
    cache.set(prep.cache_key, answer, int(llm_settings().get("cache_seconds") or 0) or None)
    _record(prep, answer, cache_hit=False)
    yield "done", {**answer, "cached": False}
