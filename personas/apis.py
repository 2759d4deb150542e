"""REST endpoints for personas (DRF, the ``picard.drf`` error envelope).

- ``GET /api/personas/`` — the directory (``?q=``, ``?offset=``).
- ``GET /api/personas/me`` / ``PATCH /api/personas/me`` — read / change your persona.
- ``GET /api/personas/<user_id>`` — someone's persona (public fields).
- ``POST /api/personas/<user_id>/ask`` — ``{"prompt", "limit"?}`` → the ``query_user`` answer.

Scopes: reads and asking need ``memories:read``; changing your persona needs
``memories:write``. Session-authenticated calls (the site) have every scope.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from memories.selectors import user_get
from personas import selectors, services
from personas.llm import allowed_models, llm_configured
from personas.models import Persona
from picard.context import call_context
from picard.exceptions import ValidationError
from picard.scopes import require_scope, token_client_id, token_scopes

READ, WRITE = "memories:read", "memories:write"


def _door(request: Request, scope: str):
    """Check the token's scope (session calls pass) and return the call context."""
    require_scope(request, scope)
    return call_context(surface="api", client_id=token_client_id(request), scopes=token_scopes(request))


_PUBLIC_FIELDS = {
    "user_id": serializers.UUIDField(),
    "username": serializers.CharField(),
    "display_name": serializers.CharField(),
    "bio": serializers.CharField(),
    "enabled": serializers.BooleanField(),
}
_OWN_FIELDS = {
    **_PUBLIC_FIELDS,
    "id": serializers.UUIDField(allow_null=True, help_text="null until the persona is first saved"),
    "instructions": serializers.CharField(),
    "chat_model": serializers.CharField(help_text="empty = the server default"),
    "temperature": serializers.FloatField(),
    "max_memories": serializers.IntegerField(),
    "answer_length": serializers.ChoiceField(choices=["short", "medium", "long"]),
    "listed": serializers.BooleanField(help_text="shown in the persona directory (opt-in)"),
    "version": serializers.IntegerField(),
    "llm_configured": serializers.BooleanField(),
    "allowed_models": serializers.ListField(child=serializers.CharField()),
}
PersonaPublicSchema = inline_serializer("PersonaPublic", fields=_PUBLIC_FIELDS)
PersonaOwnSchema = inline_serializer("PersonaOwn", fields=_OWN_FIELDS)
PersonaUpdateSchema = inline_serializer("PersonaUpdate", fields={
    "display_name": serializers.CharField(required=False, max_length=100),
    "bio": serializers.CharField(required=False, max_length=500),
    "instructions": serializers.CharField(required=False, max_length=4000),
    "chat_model": serializers.CharField(required=False, help_text="'' or one of allowed_models"),
    "temperature": serializers.FloatField(required=False, min_value=0, max_value=2),
    "max_memories": serializers.IntegerField(required=False, min_value=1, max_value=50),
    "answer_length": serializers.ChoiceField(required=False, choices=["short", "medium", "long"]),
    "enabled": serializers.BooleanField(required=False),
    "listed": serializers.BooleanField(required=False, help_text="list the persona in the directory"),
    "expected_version": serializers.IntegerField(required=False, help_text="refuse the change (409) if the persona changed since"),
})
AskSchema = inline_serializer("PersonaAsk", fields={
    "prompt": serializers.CharField(max_length=4000),
    "limit": serializers.IntegerField(required=False, min_value=1, max_value=50),
})
AnswerSchema = inline_serializer("PersonaAnswer", fields={
    "response": serializers.CharField(),
    "memories": inline_serializer("PersonaCitation", fields={
        "id": serializers.UUIDField(), "score": serializers.FloatField(), "label": serializers.CharField(),
    }, many=True),
    "model": serializers.CharField(allow_null=True, help_text="null in extractive mode"),
    "mode": serializers.ChoiceField(choices=["llm", "extractive"]),
    "cached": serializers.BooleanField(),
    "usage": serializers.DictField(),
})
_ERRORS = {
    400: OpenApiResponse(description="Invalid input; the field is named in error.details.field."),
    401: OpenApiResponse(description="Not signed in / no valid token."),
    403: OpenApiResponse(description="insufficient_scope, or persona_disabled."),
}


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
            "listed": persona.listed,
            "version": persona.version,
            "llm_configured": llm_configured(),
            "allowed_models": allowed_models() if llm_configured() else [],
        })
    return data


def _body(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError("The request body must be a JSON object.")
    return dict(request.data)


@extend_schema(operation_id="personas_list", summary="The persona directory", tags=["personas"],
               parameters=[OpenApiParameter("q", str, description="Filter by name"), OpenApiParameter("offset", int)],
               responses={200: inline_serializer("PersonaDirectory", fields={
                   "personas": PersonaPublicSchema.__class__(many=True), "next_offset": serializers.IntegerField(allow_null=True)}), **_ERRORS})
@api_view(["GET"])
def persona_list(request: Request) -> Response:
    with _door(request, READ):
        query = str(request.query_params.get("q") or "")[:100]
        try:
            offset = max(0, int(request.query_params.get("offset") or 0))
        except ValueError:
            raise ValidationError.for_field("offset", "must be a non-negative integer.") from None
        entries, has_more = selectors.persona_directory(actor=request.user, query=query, limit=50, offset=offset)
        return Response({
            "personas": [persona_as_dict(e.persona, owner=e.user, include_private_fields=False) for e in entries],
            "next_offset": offset + len(entries) if has_more else None,
        })


@extend_schema(methods=["GET"], operation_id="personas_me", summary="Your persona", tags=["personas"],
               responses={200: PersonaOwnSchema, **_ERRORS})
@extend_schema(methods=["PATCH"], operation_id="personas_me_update", summary="Change your persona (only the fields sent)",
               tags=["personas"], request=PersonaUpdateSchema,
               responses={200: PersonaOwnSchema, 409: OpenApiResponse(description="expected_version is stale."), **_ERRORS})
@extend_schema(methods=["PUT"], operation_id="personas_me_put", summary="Change your persona (same as PATCH)",
               tags=["personas"], request=PersonaUpdateSchema,
               responses={200: PersonaOwnSchema, 409: OpenApiResponse(description="expected_version is stale."), **_ERRORS})
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


@extend_schema(operation_id="personas_detail", summary="Someone's persona", tags=["personas"],
               responses={200: PersonaPublicSchema, 404: OpenApiResponse(description="No such user."), **_ERRORS})
@api_view(["GET"])
def persona_detail(request: Request, user_id) -> Response:
    with _door(request, READ):
        owner = user_get(user_id=user_id)
        persona = selectors.persona_get_or_default(owner=owner)
        is_owner = owner.pk == request.user.pk
        return Response(persona_as_dict(persona, owner=owner, include_private_fields=is_owner))


@extend_schema(operation_id="personas_ask", summary="Ask a persona (the query_user tool)", tags=["personas"],
               request=AskSchema,
               responses={200: AnswerSchema, 404: OpenApiResponse(description="No such user."),
                          503: OpenApiResponse(description="The language model is down, slow, rate-limited or returned garbage (llm_* codes)."),
                          **_ERRORS})
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
