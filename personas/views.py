"""Persona pages: the directory, editing your persona, and a chat-like page to ask one.

Pages need a signed-in user. The ask page works without JavaScript (a plain POST renders
the answer); with JavaScript, ``persona_ask_stream`` sends the answer as server-sent events
while the model writes it.
"""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from memories.markdown import render_markdown
from memories.models import Memory
from memories.selectors import user_get
from personas import selectors, services
from personas.forms import AskForm, PersonaForm
from personas.llm import llm_configured
from picard.context import CallContext, _current, call_context
from picard.errors import error_body, translate
from picard.exceptions import DomainError

DIRECTORY_PAGE = 50


def _owner_or_404(user_id):
    try:
        return user_get(user_id=user_id)
    except DomainError:
        raise Http404("No such persona.") from None


def _cited_memories(*, actor, answer: dict) -> list[dict]:
    """The cited memories with their text, read through the visibility rule."""
    ids = [m["id"] for m in answer.get("memories", [])]
    texts = {str(m.id): m for m in Memory.objects.visible_to(actor).filter(id__in=ids)}
    out = []
    for index, cited in enumerate(answer.get("memories", []), start=1):
        memory = texts.get(cited["id"])
        if memory is not None:
            out.append({"id": cited["id"], "score": cited["score"], "text": memory.text, "label": cited.get("label") or f"M{index}",
                        "permission": memory.permission})
    return out


@login_required
def persona_directory(request):
    query = (request.GET.get("q") or "").strip()[:100]
    try:
        page = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        page = 1
    entries, has_more = selectors.persona_directory(actor=request.user, query=query, limit=DIRECTORY_PAGE, offset=(page - 1) * DIRECTORY_PAGE)
    return render(request, "personas/directory.html", {
        "entries": entries, "query": query, "page": page, "has_more": has_more,
        "own_listed": selectors.persona_get_or_default(owner=request.user).listed,
    })


@login_required
@require_http_methods(["GET", "POST"])
def persona_edit(request):
    persona = selectors.persona_get_or_default(owner=request.user)
    if request.method == "POST":
        form = PersonaForm(request.POST)
        if form.is_valid():
            try:
                with call_context(surface="web"):
                    services.persona_update(actor=request.user, **form.cleaned_data)
            except DomainError as exc:
                field = exc.details.get("field")
                form.add_error(field if field in form.fields else None, exc.message)
            else:
                messages.success(request, "Your persona is saved.")
                return redirect("personas:edit")
    else:
        form = PersonaForm(initial={name: getattr(persona, name) for name in services.PERSONA_FIELDS})
    return render(request, "personas/edit.html", {"form": form, "persona": persona, "llm_configured": llm_configured()})


@login_required
@require_http_methods(["GET", "POST"])
def persona_ask(request, user_id):
    owner = _owner_or_404(user_id)
    persona = selectors.persona_get_or_default(owner=owner)
    is_owner = owner.pk == request.user.pk
    answer, error, question = None, None, ""
    if request.method == "POST":
        form = AskForm(request.POST)
        if form.is_valid():
            question = form.cleaned_data["prompt"]
            try:
                with call_context(surface="web"):
                    answer = services.persona_answer(actor=request.user, user_id=owner.pk, prompt=question)
            except DomainError as exc:
                error = exc
            else:
                answer["cited"] = _cited_memories(actor=request.user, answer=answer)
                form = AskForm()
    else:
        form = AskForm()
    status = error.http_status if error is not None and error.http_status < 500 else (503 if error else 200)
    return render(request, "personas/ask.html", {
        "owner": owner, "persona": persona, "is_owner": is_owner, "form": form, "question": question,
        "answer": answer, "error": error, "available": persona.enabled or is_owner, "llm_configured": llm_configured(),
    }, status=status)


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


_END = object()


async def _event_stream(events, *, actor, surface_context: CallContext):
    """Pull the (synchronous, database-touching) event iterator one step at a time in a
    worker thread, so the ASGI server sends each piece as soon as it exists."""
    _current.set(surface_context)
    step = sync_to_async(lambda: next(events, _END), thread_sensitive=True)
    while True:
        try:
            item = await step()
        except DomainError as exc:
            yield _sse("error", exc.as_dict())
            return
        if item is _END:
            return
        kind, data = item
        if kind == "done":  # the page shows the answer's Markdown rendered (and sanitised) like a memory's
            data = {**data, "cited": await sync_to_async(_cited_memories, thread_sensitive=True)(actor=actor, answer=data),
                    "html": str(render_markdown(data.get("response") or ""))}
        yield _sse(kind, data)


@require_POST
def persona_ask_stream(request, user_id):
    """POST prompt → ``text/event-stream``: ``meta`` (citations, mode, model), ``delta`` (text
    pieces), then ``done`` (the whole answer with cited memories) or ``error``."""
    if not request.user.is_authenticated:
        return JsonResponse(error_body("unauthorized", "Sign in to ask a persona."), status=401)
    prompt = request.POST.get("prompt", "")
    context = CallContext(surface="web")
    try:
        with call_context(surface="web"):
            events = services.persona_answer_stream(actor=request.user, user_id=user_id, prompt=prompt)
    except DomainError as exc:
        translation = translate(exc)
        response = JsonResponse(translation.body(), status=translation.status if translation.status < 500 else 503)
        for name, value in translation.headers.items():
            response[name] = value
        return response
    response = StreamingHttpResponse(_event_stream(events, actor=request.user, surface_context=context), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
