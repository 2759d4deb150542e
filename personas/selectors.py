"""Persona reads: the persona of a user, the directory, and the memories a persona may use.

Memory visibility is not re-implemented here: the usable memories come from
``memories.search.memory_search`` with the asker as the actor and filters that narrow them to the persona owner's memories — public ones only when
someone else asks. A final check re-asserts the rule on every row before it can reach a
prompt (defence in depth).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q

from memories.models import Permission
from memories.search import memory_search
from memories.selectors import MemoryFilters
from personas.llm.prompt import ContextMemory
from personas.models import AnswerLength, Persona


def persona_default(*, owner) -> Persona:
    """The (unsaved) persona a user has before they shape their own: enabled, their name."""
    name = (getattr(owner, "display_name", "") or "").strip() or owner.get_username()
    return Persona(owner=owner, display_name=name[:100], answer_length=AnswerLength.MEDIUM, version=0)


def persona_get_or_default(*, owner) -> Persona:
    persona = Persona.objects.filter(owner=owner).first()
    return persona if persona is not None else persona_default(owner=owner)


@dataclass
class DirectoryEntry:
    user: object
    persona: Persona


def persona_directory(*, actor, query: str = "", limit: int = 50, offset: int = 0) -> tuple[list[DirectoryEntry], bool]:
    """Active users whose persona is listed (opt-in: ``Persona.listed``) and not switched off,
    ordered by username. Returns (entries, has_more)."""
    User = get_user_model()
    listed = Persona.objects.filter(owner=OuterRef("pk"), listed=True, enabled=True)
    users = User.objects.filter(is_active=True).filter(Exists(listed))
    if query:
        users = users.filter(
            Q(username__icontains=query) | Q(display_name__icontains=query) | Q(personas__display_name__icontains=query)
        ).distinct()
    rows = list(users.order_by("username", "id")[offset: offset + limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    personas = {p.owner_id: p for p in Persona.objects.filter(owner__in=rows)}
    entries = [DirectoryEntry(user=u, persona=personas.get(u.pk) or persona_default(owner=u)) for u in rows]
    return entries, has_more


def _filters_for(*, asker, owner) -> MemoryFilters:
    if asker.pk == owner.pk:
        return MemoryFilters(owner_id=owner.pk)  # all own, non-expired
    return MemoryFilters(owner_id=owner.pk, permission=Permission.PUBLIC)


def _allowed(memory, *, asker, owner) -> bool:
    if memory.owner_id != owner.pk or memory.is_expired:
        return False
    return asker.pk == owner.pk or memory.permission == Permission.PUBLIC


def persona_usable_memories(*, asker, owner, prompt: str, limit: int) -> list[ContextMemory]:
    """The owner's memories the persona may use for ``asker`` that are relevant to
    ``prompt``: the top ``limit`` whose calibrated search score reaches
    ``PICARD_SEARCH_MIN_SCORE`` (``memories.search``). None when nothing is relevant enough,
    so the persona says it has nothing on the question instead of quoting something else.
    The search is a read: the question is recorded once, as the persona query."""
    filters = _filters_for(asker=asker, owner=owner)
    hits = memory_search(actor=asker, query=prompt, limit=min(limit, settings.PICARD_SEARCH_MAX_LIMIT), filters=filters)
    return [
        ContextMemory(id=str(h.memory.id), text=h.memory.text, score=round(float(h.score), 4), sources=dict(h.sources or {}))
        for h in hits
        if _allowed(h.memory, asker=asker, owner=owner)
    ][:limit]
