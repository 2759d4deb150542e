"""The MCP door: every ``Tool`` of the registry (``mcp_bridge.tools``) as an MCP tool, plus the
memory resources, on the official SDK's ``MCPServer``.

- Input schema = the tool's pydantic input model; output schema = its ``output`` model, so
  results carry ``structuredContent`` (and the same JSON as text for older clients).
- Annotations (readOnlyHint / destructiveHint / idempotentHint) come from the registry.
- Handlers are synchronous Django code: they run in worker threads (``picard.db.run_sync``,
  several at once) with database connections recycled around each call, inside
  ``call_context(surface="mcp", client_id=…, scopes=…)``.
- A ``DomainError`` becomes ``ToolError("code: message")`` (a result with ``isError: true``
  the model can read); anything unexpected is logged and answered with a generic message.
- Resources: ``memories://{memory_id}`` and ``users://{user_id}/memories``; a memory the
  caller may not see and a missing one give the same error.
- Prompts: ``recall`` (search memories about a topic, summarise with citations) and
  ``remember`` (save the lasting facts of the conversation); an unknown prompt is -32602.

Authentication happens before any of this, in ``mcp_bridge.http``; the scope check is
repeated in every tool and resource (defence in depth: an ``isError`` result naming the scope).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool as SdkTool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, INVALID_REQUEST, CallToolResult, Completion, TextContent, ToolAnnotations
from mcp_types import Resource as McpResource
from pydantic import Field, create_model
from pydantic import ValidationError as PydanticValidationError

from mcp_bridge import tools as registry
from mcp_bridge.auth import VerifiedToken, current_token
from memories.selectors import MemoryFilters, memory_get_for_actor, memory_list, memory_list_own, user_get
from memories.serializers import memory_as_dict
from picard.context import call_context
from picard.db import run_sync
from picard.errors import known
from picard.exceptions import DomainError, InsufficientScope, NotAuthenticated

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Picard keeps the user's memories: short texts they want remembered, each private, public or "
    "shared with named people. Search with query_memory before answering questions about the user; "
    "save new facts with submit_memory when the user asks you to remember something; never change "
    "or delete memories without being asked. Ids are UUIDs. Searches and lists cover the user's own memories "
    "and those shared with them unless you pass scope 'all'. Every memory says whose it is ('owner', 'is_mine'): "
    "a memory with is_mine: false belongs to another person and must never be treated as a fact about the user. "
    "A search returns only memories whose calibrated score reaches min_score; count 0 means nothing relevant is "
    "remembered, so say so instead of guessing. whoami tells you who you are connected as."
)


# --- running sync Django code from the async server ----------------------------------------


def _run_as(token: VerifiedToken, fn, *args):
    """``fn(actor, *args)`` as the token's user (checked active when the token was verified,
    in this same HTTP request)."""
    actor = token.user
    if actor is None:
        actor = get_user_model().objects.filter(pk=token.user_id, is_active=True).first()
    if actor is None:
        raise NotAuthenticated("The account behind this token no longer exists or is disabled.")
    with call_context(surface="mcp", client_id=token.client_id or None, scopes=token.scopes):
        return fn(actor, *args)


async def run_as(token: VerifiedToken, fn, *args):
    return await run_sync(_run_as, token, fn, *args)


def _require_token(scope: str) -> VerifiedToken:
    token = current_token()
    if token is None:
        raise NotAuthenticated("This MCP request carries no valid access token.")
    if not token.has_scope(scope):
        raise InsufficientScope(scope)
    return token


def _validation_message(exc: PydanticValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "arguments"
        parts.append(f"{where}: {error['msg']}")
    return "invalid: " + "; ".join(parts)


def _tool_error(exc: BaseException) -> ToolError | None:
    """The tool error the model reads (``<code>: <message>`` from ``picard.errors``), or
    ``None`` for a bug (answered with a generic message)."""
    translation = known(exc)
    if translation is None:
        return None
    message = f"{translation.code}: {translation.message}"
    if isinstance(exc, InsufficientScope):
        message += " Ask the user to reconnect Picard and grant it."
    return ToolError(message)


# --- tools ------------------------------------------------------------------------------------


class RegistryTool(SdkTool):
    """An SDK tool backed by one entry of Picard's tool registry."""

    spec: Any = Field(exclude=True)

    @classmethod
    def from_spec(cls, spec: registry.Tool) -> RegistryTool:
        # The SDK validates arguments through ``fn_metadata.arg_model``; ``run`` below validates
        # with the registry's own model instead (it keeps "which fields were sent").
        arg_model = create_model(f"{spec.name}Arguments", __base__=ArgModelBase)
        return cls(
            fn=spec.handler,
            name=spec.name,
            title=spec.title or None,
            description=spec.description,
            parameters=spec.input.model_json_schema(by_alias=True),
            fn_metadata=FuncMetadata(arg_model=arg_model, output_model=spec.output),
            is_async=True,
            annotations=ToolAnnotations(
                title=spec.title or None,
                read_only_hint=spec.read_only,
                destructive_hint=spec.destructive,
                idempotent_hint=spec.idempotent,
                open_world_hint=False,
            ),
            spec=spec,
        )

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        spec: registry.Tool = self.spec
        try:
            token = _require_token(spec.scope)
            try:
                data = spec.input.model_validate(arguments or {})
            except PydanticValidationError as exc:
                raise ToolError(_validation_message(exc)) from exc
            result = await run_as(token, spec.handler, data)
        except (ToolError, MCPError):
            raise
        except Exception as exc:
            if (error := _tool_error(exc)) is not None:  # a DomainError, the database away, …
                raise error from exc
            raise UnexpectedToolError(
                f"internal_error: {spec.name} failed unexpectedly; nothing was changed if it was a write. Try again later."
            ) from exc
        return self._to_result(result) if convert_result else result

    def _to_result(self, result: dict) -> CallToolResult:
        spec: registry.Tool = self.spec
        if spec.output is None:
            return CallToolResult(content=[TextContent(type="text", text=json.dumps(result, ensure_ascii=False, default=str))])
        try:
            structured = spec.output.model_validate(result).model_dump(mode="json", exclude_unset=True)
        except PydanticValidationError as exc:
            raise UnexpectedToolError(f"internal_error: {spec.name} produced an unexpected result.") from exc
        text = json.dumps(structured, ensure_ascii=False)
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


# --- resources --------------------------------------------------------------------------------


def _read_memory(actor, memory_id: str) -> str:
    memory = memory_get_for_actor(actor=actor, memory_id=memory_id)
    return json.dumps(memory_as_dict(memory, actor=actor, include_shares=True), ensure_ascii=False)


def _read_user_memories(actor, user_id: str) -> str:
    user = user_get(user_id=user_id)
    page = memory_list(actor=actor, filters=MemoryFilters(owner_id=user.pk), limit=settings.PICARD_LIST_MAX_LIMIT)
    data = {
        "user_id": str(user.pk),
        "memories": [memory_as_dict(m, actor=actor) for m in page.items],
        "count": len(page.items),
        "next_cursor": page.next_cursor,
    }
    return json.dumps(data, ensure_ascii=False)


def _recent_own_memories(actor) -> list[dict]:
    return [
        {"id": str(m.id), "text": m.text, "created_at": m.created_at, "permission": m.permission}
        for m in memory_list_own(actor=actor, limit=20).items
    ]


async def _read_resource(fn, value: str) -> str:
    try:
        token = _require_token(registry.READ)
        return await run_as(token, fn, value)
    except InsufficientScope as exc:
        raise MCPError(code=INVALID_REQUEST, message=f"{exc.code}: {exc.message}") from exc
    except DomainError as exc:
        # not_found, invalid id, forbidden: one answer, so nothing leaks about others' memories.
        raise ResourceNotFoundError(f"{exc.code}: {exc.message}") from exc


# --- prompts -----------------------------------------------------------------------------------

RECALL_PROMPT = (
    "Search my Picard memories about {topic} with the query_memory tool (try another phrasing or two "
    "if the first search finds little; get_memories filters by tag). Then summarise what I have recorded "
    "about it, citing every fact with the id of the memory it came from, like [memory 3f2a…]. Say which "
    "memories disagree, if any. If nothing relevant is found, say so instead of guessing."
)
REMEMBER_PROMPT = (
    "Look back over this conversation and pick the lasting facts about me worth remembering: preferences, "
    "decisions, people, plans, things I asked you to keep{focus}. Leave out small talk and anything already "
    "in my memories (check with query_memory first). Save each fact as its own short, self-contained "
    "memory with submit_memory — private unless I said otherwise, with a tag or two. Then list what you "
    "saved, with the memory ids."
)


def _recall(topic: str) -> str:
    return RECALL_PROMPT.format(topic=topic.strip() or "this topic")


def _remember(focus: str = "") -> str:
    return REMEMBER_PROMPT.format(focus=f" (especially about {focus.strip()})" if focus and focus.strip() else "")


class PicardMCPServer(MCPServer):
    """``MCPServer`` whose resource list is the caller's recent memories, and whose unknown
    or incomplete prompt requests are JSON-RPC ``-32602`` errors (the SDK would answer an
    internal error and log a traceback)."""

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None):
        prompt = self._prompt_manager.get_prompt(name)
        if prompt is None:
            known = ", ".join(p.name for p in self._prompt_manager.list_prompts())
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt {name[:80]!r}. Known prompts: {known}.")
        missing = [a.name for a in (prompt.arguments or []) if a.required and not (arguments or {}).get(a.name)]
        if missing:
            raise MCPError(code=INVALID_PARAMS, message=f"The prompt {name} needs the argument(s): {', '.join(missing)}.")
        return await super().get_prompt(name, arguments, context)

    async def list_resources(self) -> list[McpResource]:
        resources = await super().list_resources()
        token = current_token()
        if token is None or not token.has_scope(registry.READ):
            return resources
        try:
            rows = await run_as(token, _recent_own_memories)
        except DomainError:
            return resources
        for row in rows:
            excerpt = row["text"] if len(row["text"]) <= 80 else row["text"][:79] + "…"
            resources.append(McpResource(
                uri=f"memories://{row['id']}",
                name=f"memory-{row['id']}",
                title=excerpt,
                description=f"Your {row['permission']} memory from {row['created_at']:%Y-%m-%d}.",
                mime_type="application/json",
            ))
        return resources


def build_server() -> PicardMCPServer:
    """A fresh MCP server with every registry tool and the memory resources."""
    server = PicardMCPServer(
        name="picard",
        title="Picard",
        description="Memories for people and their AI assistants.",
        instructions=INSTRUCTIONS,
        website_url=settings.PICARD_PUBLIC_URL,
        version="0.1.0",
        tools=[RegistryTool.from_spec(spec) for spec in registry.TOOLS.values()],
    )

    @server.resource(
        "memories://{memory_id}",
        name="memory",
        title="A memory",
        description="One memory by its UUID, as JSON (id, text, permission, owner, is_mine, tags, metadata, dates). "
        "Only memories you may see; others look exactly like missing ones.",
        mime_type="application/json",
    )
    async def memory_resource(memory_id: str) -> str:
        return await _read_resource(_read_memory, memory_id)

    @server.resource(
        "users://{user_id}/memories",
        name="user-memories",
        title="A user's memories",
        description="The newest memories (up to 100) of the user with this UUID that you may see: all of your "
        "own, others' public ones and those shared with you, as JSON.",
        mime_type="application/json",
    )
    async def user_memories_resource(user_id: str) -> str:
        return await _read_resource(_read_user_memories, user_id)

    server.prompt(name="recall", title="Recall what I know about…",
                  description="Search your memories about a topic and summarise them, citing each memory it used.")(_recall)
    server.prompt(name="remember", title="Remember this conversation",
                  description="Save the lasting facts of this conversation as memories (optionally focused on one subject).")(_remember)

    @server.completion()
    async def complete(ref, argument, context) -> Completion | None:
        """Autocomplete resource URIs: your own memory ids, your own user id."""
        token = current_token()
        if token is None or not token.has_scope(registry.READ) or getattr(ref, "type", None) != "ref/resource":
            return None
        prefix = (argument.value or "").strip().lower()
        if ref.uri == "memories://{memory_id}" and argument.name == "memory_id":
            ids = [row["id"] for row in await run_as(token, _recent_own_memories)]
            return Completion(values=[i for i in ids if i.startswith(prefix)][:100])
        if ref.uri == "users://{user_id}/memories" and argument.name == "user_id":
            own = str(token.user_id)
            return Completion(values=[own] if own.startswith(prefix) else [])
        return None

    return server
