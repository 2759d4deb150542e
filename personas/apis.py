"""REST endpoints for personas (DRF, the ``picard.drf`` error envelope).

- ``GET /api/personas/`` — the directory (``?q=``, ``?offset=``).
- ``GET /api/personas/me`` / ``PATCH /api/personas/me`` — read / change your persona.
- ``GET /api/personas/<user_id>`` — someone's persona (public fields).
- ``POST /api/personas/<user_id>/ask`` — ``{"prompt", "limit"?}`` → the ``query_user`` answer.

Scopes: reads and asking need ``memories:read``; changing your persona needs
``memories:write``. Session-authenticated calls (the site) have every scope.
"""

from __future__ import annotations

from oauth2_provider.models import AbstractAccessToken
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from personas import selectors, services
from personas.llm import allowed_models, llm_configured
from personas.models import Persona
from picard.context import call_context
from picard.exceptions import InsufficientScope, ValidationError

READ, WRITE = "memories:read", "memories:write"


def _door(request: Request, scope: str):
    """Check the token's scope (session calls pass) and return the call context."""
    token = request.auth
    if isinstance(token, AbstractAccessToken):
        if not token.allow_scopes([scope]):
            raise InsufficientScope(scope)
        return call_context(surface="api", client_id=str(token.application.client_id) if token.application_id else None,
                            scopes=frozenset(token.scope.split()))
    return call_context(surface="api")


def persona_as_dict(persona: Persona, *, owner, include_private_fields: bool) -> dict:
    data = {
        "user_id": str(owner.pk),
        "username": owner.get_username(),
        "display_name": persona.display_name,
        "bio": persona.bio,
        "enabled": persona.enabled,
    }
    if include_private_fields:
        data.update({
            "id": None if persona._state.adding else str(persona.id),
            "instructions": persona.instructions,
            "chat_model": persona.chat_model,
            "temperature": persona.temperature,
            "max_memories": persona.max_memories,
            "answer_length": persona.answer_length,
            "version": persona.version,
            "llm_configured": llm_configured(),
            "allowed_models": allowed_models() if llm_configured() else [],
        })
    return data


def _body(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError("The request body must be a JSON object.")
    return dict(request.data)


@api_view(["GET"])
def persona_list(request: Request) -> Response:
    with _door(request, READ):
        query = str(request.query_params.get("q") or "")[:100]
        try:
            offset = max(0, int(request.query_params.get("offset") or 0))
        except ValueError:
            raise ValidationError.for_field("offset", "must be a non-negative integer.")
        entries, has_more = selectors.persona_directory(actor=request.user, query=query, limit=50, offset=offset)
        return Response({
            "personas": [persona_as_dict(e.persona, owner=e.user, include_private_fields=False) for e in entries],
            "next_offset": offset + len(entries) if has_more else None,
        })


@api_view(["GET", "PATCH", "PUT"])
def persona_me(request: Request) -> Response:
    if request.method == "GET":
        with _door(request, READ):
            persona = selectors.persona_get_or_default(owner=request.user)
            return Response(persona_as_dict(persona, owner=request.user, include_private_fields=True))
    with _door(request, WRITE):
        body = _body(request)
        expected_version = body.pop("expected_version", None)
        if expected_version is not None and (isinstance(expected_version, bool) or not isinstance(expected_version, int)):
            raise ValidationError.for_field("expected_version", "must be an integer.")
        persona = services.persona_update(actor=request.user, expected_version=expected_version, **body)
        return Response(persona_as_dict(persona, owner=request.user, include_private_fields=True))


@api_view(["GET"])
def persona_detail(request: Request, user_id) -> Response:
    from memories.selectors import user_get

    with _door(request, READ):
        owner = user_get(user_id=user_id)
        persona = selectors.persona_get_or_default(owner=owner)
        is_owner = owner.pk == request.user.pk
        return Response(persona_as_dict(persona, owner=owner, include_private_fields=is_owner))


@api_view(["POST"])
def persona_ask(request: Request, user_id) -> Response:
    with _door(request, READ):
        body = _body(request)
        unknown = set(body) - {"prompt", "limit"}
        if unknown:
            raise ValidationError.for_field(sorted(unknown)[0], "is not a field of this request.")
        if "prompt" not in body:
            raise ValidationError.for_field("prompt", "is required.")
        answer = services.persona_answer(actor=request.user, user_id=user_id, prompt=body["prompt"], limit=body.get("limit"))
        return Response(answer)
