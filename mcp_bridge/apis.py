"""``POST /api/tools`` — the seed-compatible REST door onto the tool registry.

Body ``{"tool": "<name>", "data": {...}}``; answer ``{"status": "success", "data": {...}}``.
Authentication: an OAuth bearer token (django-oauth-toolkit) — a personal access token is
one too (``oauth.models.PersonalAccessToken``) — or a signed-in browser session
(CSRF-checked by DRF's SessionAuthentication). Authorization at this door is the scope
only; who may see which memory is decided inside the services/selectors.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from pydantic import ValidationError as PydanticValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mcp_bridge.tools import TOOLS, Tool
from picard.context import call_context
from picard.exceptions import ValidationError
from picard.scopes import require_scope, token_client_id, token_scopes


def pydantic_error(exc: PydanticValidationError, *, prefix: str) -> ValidationError:
    """A 400 naming the first offending field; every problem is listed in ``details.errors``."""
    errors = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(part) for part in err["loc"])
        field = f"{prefix}.{where}" if where else prefix
        errors.append({"field": field, "message": err["msg"], "type": err["type"]})
    first = errors[0] if errors else {"field": prefix, "message": "is invalid"}
    return ValidationError(f"{first['field']}: {first['message']}", details={"field": first["field"], "errors": errors})


def tool_lookup(name: Any) -> Tool:
    known = sorted(TOOLS)
    if not isinstance(name, str) or not name:
        raise ValidationError("tool: must be the name of a tool.", details={"field": "tool", "known_tools": known})
    tool = TOOLS.get(name)
    if tool is None:
        raise ValidationError(
            f"Unknown tool {name[:80]!r}. Known tools: {', '.join(known)}.",
            details={"field": "tool", "known_tools": known},
            code="unknown_tool",
        )
    return tool


class ToolsApi(APIView):
    """Run one tool. The same handler serves MCP and the web site."""

    @extend_schema(
        operation_id="tools_call",
        summary="Call a tool",
        request=None,  # documented per tool by mcp_bridge.openapi.add_tool_schemas
        responses={
            200: OpenApiResponse(description='{"status": "success", "data": {...}}'),
            400: OpenApiResponse(description="Unknown tool, bad JSON or invalid data (the field is named)."),
            401: OpenApiResponse(description="Missing, expired or revoked token."),
            403: OpenApiResponse(description="insufficient_scope: the token lacks the tool's scope."),
            404: OpenApiResponse(description="The memory does not exist or is not yours to see."),
            409: OpenApiResponse(description="update_memory with a stale expected_version."),
            413: OpenApiResponse(description="A text or the metadata is over its limit."),
        },
        tags=["tools"],
    )
    def post(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise ValidationError('The body must be a JSON object: {"tool": "<name>", "data": {...}}.', details={"field": "body"})
        unknown = sorted(set(body) - {"tool", "data"})
        if unknown:
            raise ValidationError(f"{unknown[0]}: unknown field (send only tool and data).", details={"field": unknown[0]})
        tool = tool_lookup(body.get("tool"))
        data = body.get("data")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValidationError("data: must be a JSON object.", details={"field": "data"})
        require_scope(request, tool.scope)
        try:
            parsed = tool.input.model_validate(data)
        except PydanticValidationError as exc:
            raise pydantic_error(exc, prefix="data") from None
        scopes = token_scopes(request)
        with call_context(surface="api", client_id=token_client_id(request), scopes=scopes):
            result = tool.handler(request.user, parsed)
        return Response({"status": "success", "data": result})

