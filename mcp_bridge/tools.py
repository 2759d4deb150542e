"""The tool registry: one implementation of every tool, served by MCP (``server.py``),
``POST /api/tools`` (``apis.py``) and reused by the web views.

Each ``Tool`` has a pydantic input model (``extra="forbid"``: unknown fields are errors),
a three-line handler (validated input → service/selector → output dict), the scope it
needs and whether it only reads. Descriptions are prompts for a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from memories import selectors, services
from memories.activity import activity_client_names
from memories.serializers import iso, memory_as_dict, memory_version_as_dict
from personas.services import persona_answer
from picard import context
from picard.exceptions import ValidationError

READ = "memories:read"
WRITE = "memories:write"
ADMIN = "memories:admin"

PermissionName = Literal["private", "public", "shared"]
ScopeName = Literal["mine", "mine_and_shared", "all"]

SCOPE_DESCRIPTION = (
    "Whose memories: 'mine' (the user's own), 'mine_and_shared' (the default: own plus those other people shared "
    "with the user) or 'all' (also other people's public memories). A user_id naming another person means that "
    "person's memories the user may see."
)
NOT_MINE = (
    "Every memory carries 'owner' (id, username, display_name) and 'is_mine'. A memory with is_mine: false "
    "belongs to another person: never treat it as a fact about the user."
)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SharedWith(_Input):
    users: list[str] = Field(default_factory=list, description="User ids (UUID) or usernames to share with.")
    groups: list[str] = Field(default_factory=list, description="Group names to share with.")


class SubmitMemoryInput(_Input):
    text: str = Field(description="The memory itself: a short text, at most 10,000 characters.")
    permission: PermissionName | None = Field(
        default=None,
        description="Who may see it: 'private' (only the owner, the default), 'public' (any signed-in user and "
        "the owner's persona), 'shared' (the users/groups in shared_with).",
    )
    expiration_date: str | None = Field(default=None, description="Optional ISO 8601 time after which the memory is hidden, e.g. 2025-12-31T23:59:59Z.")
    tags: list[str] | None = Field(default=None, description="Optional tags for categorising, e.g. ['work', 'health'].")
    metadata: dict[str, Any] | None = Field(default=None, description="Optional free-form JSON object stored in clear (do not put secrets here).")
    shared_with: SharedWith | None = Field(default=None, description="Required with permission 'shared': the users and groups who may read it (at least one besides you).")


class UpdateMemoryInput(_Input):
    memory_id: str = Field(description="The memory's UUID.")
    text: str | None = Field(default=None, description="New text (re-embedded for search).")
    expiration_date: str | None = Field(default=None, description="New expiry (ISO 8601); null removes the expiry.")
    tags: list[str] | None = Field(default=None, description="Replaces all tags.")
    metadata: dict[str, Any] | None = Field(default=None, description="Replaces the metadata object.")
    expected_version: int | None = Field(default=None, description="Optional: the version you read; if the memory changed since, the update is refused with a conflict.")


class MemoryIdInput(_Input):
    memory_id: str = Field(description="The memory's UUID.")


class DeleteMemoryInput(_Input):
    memory_id: str = Field(description="The memory's UUID.")
    permanent: bool = Field(default=False, description="false (default): move it to the trash, restorable with restore_memory "
                            "until purge_at. true: delete it at once, with its history; it cannot be brought back.")


class ModifyPermissionsInput(_Input):
    memory_id: str = Field(description="The memory's UUID.")
    permission: PermissionName = Field(description="'private', 'public' or 'shared'.")
    shared_with: SharedWith | None = Field(default=None, description="With 'shared': users (UUID or username) and groups (name) who may read it, at least one besides you; replaces earlier grants (omit it to keep them).")


class ListFilters(_Input):
    scope: ScopeName | None = Field(default=None, description=SCOPE_DESCRIPTION)
    user_id: str | None = Field(default=None, description="Only memories of this user (UUID). Others' memories appear only if public or shared with you.")
    permission: PermissionName | None = Field(default=None, description="Only memories with this permission.")
    expired: Literal["active", "expired", "all"] | None = Field(default=None, description="'active' (default), 'expired' (your own expired memories) or 'all'.")
    tags: list[str] | None = Field(default=None, description="Only memories carrying all of these tags.")
    created_after: str | None = Field(default=None, description="ISO 8601 lower bound on creation time.")
    created_before: str | None = Field(default=None, description="ISO 8601 upper bound on creation time.")
    updated_after: str | None = Field(default=None, description="ISO 8601 lower bound on last update.")
    updated_before: str | None = Field(default=None, description="ISO 8601 upper bound on last update.")


class GetMemoriesInput(ListFilters):
    sort: Literal["newest", "oldest", "updated"] | None = Field(default=None, description="Order: newest first (default), oldest first, or recently updated.")
    limit: int | None = Field(default=None, description="Page size, 1–100 (default 20).")
    cursor: str | None = Field(default=None, description="next_cursor from the previous page.")


class RetrieveMemoriesInput(_Input):
    limit: int | None = Field(default=None, description="Page size, 1–100 (default 20).")
    cursor: str | None = Field(default=None, description="next_cursor from the previous page.")


class QueryMemoryInput(ListFilters):
    query: str = Field(description="What to look for: a question or words, in natural language.")
    limit: int | None = Field(default=None, description="How many results, 1–50 (default 10).")
    mode: Literal["hybrid", "semantic", "keyword"] | None = Field(
        default=None,
        description="How to search: 'hybrid' (default: meaning and exact words combined, best for most questions), "
        "'semantic' (by meaning only; score is cosine similarity) or 'keyword' (exact words, names and places, "
        "stemmed).",
    )
    min_score: float | None = Field(
        default=None,
        description="Leave out memories whose score (calibrated relevance, 0–1) is below this (default: the server's "
        "PICARD_SEARCH_MIN_SCORE). 0 returns every candidate, however weak.",
    )


class WhoamiInput(_Input):
    pass


class QueryUserInput(_Input):
    user_id: str = Field(description="The UUID of the user whose persona you are asking.")
    prompt: str = Field(description="Your question for that persona, in natural language (at most 4,000 characters).")
    limit: int | None = Field(default=None, description="Optional: at most this many memories to draw on, 1–50 (default: the persona's own setting).")


class BatchItem(_Input):
    op: Literal["create", "update", "delete"] = Field(description="create (fields of submit_memory), update (fields of update_memory), delete (memory_id).")
    data: dict[str, Any] = Field(description="The fields for that operation.")


class BatchInput(_Input):
    operations: list[BatchItem] = Field(description="Up to 100 operations; each succeeds or fails on its own.")


# --- outputs (the MCP outputSchema; handlers still return plain dicts) ------------------
# ``extra="allow"``: a door must never reject a field a newer handler adds; the schema lists
# what every client can rely on.


class _Output(BaseModel):
    model_config = ConfigDict(extra="allow")


class SharedWithOutput(_Output):
    users: list[str] = Field(description="User ids (UUID) the memory is shared with.")
    groups: list[str] = Field(description="Group names the memory is shared with.")


class OwnerOutput(_Output):
    id: str = Field(description="The owner's user id (UUID).")
    username: str = Field(description="The owner's username.")
    display_name: str = Field(description="The owner's name as they show it (their username when they set none).")


class MemoryOutput(_Output):
    id: str = Field(description="The memory's UUID.")
    text: str = Field(description="The memory's text.")
    permission: PermissionName = Field(description="'private', 'public' or 'shared'.")
    owner_id: str = Field(description="The owner's user id (UUID).")
    owner: OwnerOutput = Field(description="Whose memory this is.")
    is_mine: bool = Field(description="True when the memory belongs to the connected user. False: it belongs to another "
                          "person (shared with the user, or public) and is NOT a fact about the user.")
    tags: list[str] = Field(description="Tags.")
    metadata: dict[str, Any] | None = Field(default=None, description="Free-form JSON stored with the memory.")
    created_at: str = Field(description="ISO 8601 creation time (UTC).")
    updated_at: str = Field(description="ISO 8601 time of the last change (UTC).")
    expiration_date: str | None = Field(default=None, description="ISO 8601 expiry, or null.")
    version: int = Field(description="Increases with every change; pass it as expected_version to update_memory.")
    duplicate: bool | None = Field(default=None, description="submit_memory only: true when you already had this text (same words, "
                                   "ignoring case and spacing); nothing new was stored and this is the existing memory.")
    possible_duplicates: list[dict[str, Any]] | None = Field(
        default=None, description="submit_memory only: your other memories that say nearly the same ({id, score}: cosine "
        "similarity); the new memory was stored anyway. Consider update_memory on one of them instead.")
    embedding_status: Literal["ready", "pending"] = Field(description="Whether the memory is searchable by meaning yet.")
    score: float | None = Field(default=None, description="Search results only: calibrated relevance 0–1, the estimated "
                                "chance that the memory is relevant; the same scale for every query and mode.")
    scores: dict[str, float] | None = Field(default=None, description="Search results only: each channel's own score (semantic: cosine, keyword: BM25).")
    shared_with: SharedWithOutput | None = Field(default=None, description="Owner only, for shared memories: who may read it.")
    note: str | None = Field(default=None, description="restore_memory only: what came back differently from the version "
                             "asked for (a shared version whose people are all gone comes back private).")


class DeletedOutput(_Output):
    id: str = Field(description="The deleted memory's UUID.")
    deleted: bool = Field(description="Always true: the memory is gone from every read and search.")
    trashed: bool = Field(description="true: it is in the trash and restore_memory brings it back until purge_at; false: deleted for good (permanent).")
    purge_at: str | None = Field(default=None, description="ISO 8601 time the trash deletes it for good (null when permanent).")


class MemoryPageOutput(_Output):
    memories: list[MemoryOutput] = Field(description="This page of memories.")
    count: int = Field(description="How many memories are on this page.")
    next_cursor: str | None = Field(default=None, description="Pass as cursor to get the next page; null on the last page.")


class SearchOutput(_Output):
    memories: list[MemoryOutput] = Field(description="The best matches first, each with its score.")
    count: int = Field(description="How many memories were returned.")
    query: str = Field(description="The query that was searched.")
    mode: str | None = Field(default=None, description="How it was searched: hybrid, semantic or keyword.")
    scope: str | None = Field(default=None, description="Whose memories were searched: mine, mine_and_shared or all.")
    min_score: float | None = Field(default=None, description="The threshold applied: memories scoring below it were left out.")


class WhoamiOutput(_Output):
    user_id: str = Field(description="The connected user's id (UUID).")
    username: str = Field(description="The connected user's username.")
    display_name: str = Field(description="The connected user's name as they show it.")
    scopes: list[str] | None = Field(default=None, description="The scopes this token grants; null for a signed-in site session (all of the account's rights).")
    client_id: str | None = Field(default=None, description="The OAuth client (application) id of this connection, if any.")
    client_name: str | None = Field(default=None, description="The name of the application this connection was made with, if any.")


class CitationOutput(_Output):
    id: str = Field(description="The UUID of a memory the persona drew on.")
    score: float = Field(description="How relevant that memory was to the question (0–1).")
    label: str | None = Field(default=None, description="The label the answer cites it by, e.g. M1 for [M1].")


class QueryUserOutput(_Output):
    response: str = Field(description="The persona's answer.")
    memories: list[CitationOutput] = Field(description="The memories the answer drew on.")
    model: str | None = Field(default=None, description="The language model that wrote the answer; null in extractive mode.")
    mode: str = Field(description="'llm' (written by a model) or 'extractive' (quoted memories, no model).")
    cached: bool | None = Field(default=None, description="Whether this answer came from the cache.")
    usage: dict[str, Any] | None = Field(default=None, description="Token usage of the model call, when there was one.")


class ErrorOutput(_Output):
    code: str = Field(description="Machine-readable error code, e.g. not_found, invalid, forbidden.")
    message: str = Field(description="What went wrong, in words.")
    details: dict[str, Any] = Field(default_factory=dict, description="Extra facts, e.g. the field at fault.")


class BatchItemOutput(_Output):
    index: int = Field(description="Position of the operation in the request.")
    op: Literal["create", "update", "delete"] = Field(description="The operation.")
    status: Literal["success", "error"] = Field(description="Whether this operation succeeded.")
    id: str | None = Field(default=None, description="The memory's UUID (on success).")
    memory: MemoryOutput | None = Field(default=None, description="The memory after create/update.")
    error: ErrorOutput | None = Field(default=None, description="Why this operation failed.")


class BatchOutput(_Output):
    results: list[BatchItemOutput] = Field(description="One result per operation, in request order.")
    succeeded: int = Field(description="How many operations succeeded.")
    failed: int = Field(description="How many operations failed.")


# --- handlers ---------------------------------------------------------------------------


def _filters(data: ListFilters) -> selectors.MemoryFilters:
    return selectors.MemoryFilters.from_input(data.model_dump(include=set(ListFilters.model_fields), exclude_none=True))


def _page(actor, page: selectors.Page) -> dict:
    return {
        "memories": [memory_as_dict(m, actor=actor) for m in page.items],
        "count": len(page.items),
        "next_cursor": page.next_cursor,
    }


def _created_as_dict(memory, actor) -> dict:
    """A memory just submitted, with what duplicate detection found."""
    entry = memory_as_dict(memory, actor=actor, include_shares=True)
    entry["duplicate"] = memory.is_duplicate
    entry["possible_duplicates"] = memory.possible_duplicates
    return entry


def submit_memory(actor, data: SubmitMemoryInput) -> dict:
    memory = services.memory_create(
        actor=actor, text=data.text, permission=data.permission, expires_at=data.expiration_date,
        tags=data.tags, metadata=data.metadata,
        shared_with=data.shared_with.model_dump() if data.shared_with else None,
    )
    return _created_as_dict(memory, actor)


_UPDATE_FIELDS = {"text": "text", "expiration_date": "expires_at", "tags": "tags", "metadata": "metadata"}


def update_memory(actor, data: UpdateMemoryInput) -> dict:
    changes = {_UPDATE_FIELDS[k]: getattr(data, k) for k in data.model_fields_set if k in _UPDATE_FIELDS}
    memory = services.memory_update(actor=actor, memory_id=data.memory_id, expected_version=data.expected_version, **changes)
    return memory_as_dict(memory, actor=actor, include_shares=True)


def _deleted_as_dict(deleted: services.Deleted) -> dict:
    return {"id": str(deleted.id), "deleted": True, "trashed": deleted.trashed, "purge_at": iso(deleted.purge_at)}


def delete_memory(actor, data: DeleteMemoryInput) -> dict:
    return _deleted_as_dict(services.memory_delete(actor=actor, memory_id=data.memory_id, permanent=data.permanent))


def modify_permissions(actor, data: ModifyPermissionsInput) -> dict:
    memory = services.memory_set_permission(
        actor=actor, memory_id=data.memory_id, permission=data.permission,
        shared_with=data.shared_with.model_dump() if data.shared_with else None,
    )
    return memory_as_dict(memory, actor=actor, include_shares=True)


def get_memories(actor, data: GetMemoriesInput) -> dict:
    page = selectors.memory_list(actor=actor, filters=_filters(data), sort=data.sort or "newest", limit=data.limit, cursor=data.cursor)
    return _page(actor, page)


def retrieve_memories(actor, data: RetrieveMemoriesInput) -> dict:
    return _page(actor, selectors.memory_list_own(actor=actor, limit=data.limit, cursor=data.cursor))


def query_memory(actor, data: QueryMemoryInput) -> dict:
    filters = _filters(data)
    hits = services.memory_query(actor=actor, query=data.query, limit=data.limit, filters=filters, mode=data.mode, min_score=data.min_score)
    memories = []
    for hit in hits:
        entry = memory_as_dict(hit.memory, actor=actor, score=hit.score)
        entry["scores"] = {channel: round(value, 4) for channel, value in hit.sources.items()}
        memories.append(entry)
    return {"memories": memories, "count": len(hits), "query": data.query, "mode": hits.mode,
            "scope": filters.scope_for(actor), "min_score": hits.min_score}


def whoami(actor, data: WhoamiInput) -> dict:
    call = context.current()
    names = activity_client_names(client_ids=[call.client_id]) if call.client_id else {}
    return {
        "user_id": str(actor.pk), "username": actor.get_username(), "display_name": actor.display_name or actor.get_username(),
        "scopes": sorted(call.scopes) if call.scopes is not None else None,
        "client_id": call.client_id, "client_name": names.get(call.client_id),
    }


def query_user(actor, data: QueryUserInput) -> dict:
    return persona_answer(actor=actor, user_id=data.user_id, prompt=data.prompt, limit=data.limit)


_BATCH_FIELDS = {
    "create": SubmitMemoryInput,
    "update": UpdateMemoryInput,
    "delete": DeleteMemoryInput,
}


def batch_memories(actor, data: BatchInput) -> dict:
    operations: list[services.BatchOperation | ValidationError] = []
    for index, item in enumerate(data.operations):
        try:
            parsed = _BATCH_FIELDS[item.op].model_validate(item.data)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "data"
            operations.append(ValidationError(f"operations[{index}].data.{where}: {first['msg']}", details={"field": f"operations[{index}].data.{where}"}))
            continue
        if item.op == "create":
            kwargs = {
                "text": parsed.text, "permission": parsed.permission, "expires_at": parsed.expiration_date,
                "tags": parsed.tags, "metadata": parsed.metadata,
                "shared_with": parsed.shared_with.model_dump() if parsed.shared_with else None,
            }
        elif item.op == "update":
            kwargs = {_UPDATE_FIELDS[k]: getattr(parsed, k) for k in parsed.model_fields_set if k in _UPDATE_FIELDS}
            kwargs.update(memory_id=parsed.memory_id, expected_version=parsed.expected_version)
        else:
            kwargs = {"memory_id": parsed.memory_id, "permanent": parsed.permanent}
        operations.append(services.BatchOperation(op=item.op, data=kwargs))
    valid = [op for op in operations if isinstance(op, services.BatchOperation)]
    ran = iter(services.memory_batch(actor=actor, operations=valid) if valid else [])
    results = []
    for index, op in enumerate(operations):
        if isinstance(op, services.BatchOperation):
            result = next(ran)
            if result.ok:
                entry = {"index": index, "op": op.op, "status": "success", "id": str(result.memory_id)}
                if result.memory is not None and op.op == "create":
                    entry["memory"] = _created_as_dict(result.memory, actor)
                elif result.memory is not None:
                    entry["memory"] = memory_as_dict(result.memory, actor=actor)
                if result.deleted is not None:
                    entry.update(trashed=result.deleted.trashed, purge_at=iso(result.deleted.purge_at))
            else:
                entry = {"index": index, "op": op.op, "status": "error", "error": result.error.as_dict()}
        else:
            entry = {"index": index, "op": data.operations[index].op, "status": "error", "error": op.as_dict()}
        results.append(entry)
    succeeded = sum(1 for r in results if r["status"] == "success")
    return {"results": results, "succeeded": succeeded, "failed": len(results) - succeeded}


# --- the registry -----------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input: type[BaseModel]
    handler: Callable[[Any, BaseModel], dict]
    scope: str
    read_only: bool
    destructive: bool = False
    idempotent: bool = False
    title: str = ""
    # The shape of the handler's dict (MCP outputSchema / structuredContent); None: unstructured.
    output: type[BaseModel] | None = None


TOOLS: dict[str, Tool] = {}


def register(tool: Tool) -> Tool:
    TOOLS[tool.name] = tool
    return tool


register(Tool(
    name="submit_memory", output=MemoryOutput, title="Save a memory", input=SubmitMemoryInput, handler=submit_memory, scope=WRITE, read_only=False,
    description="Store a new memory for the user: a short fact, preference, note or event worth remembering later. "
    "Use it when the user tells you something they want kept, or asks you to remember something. Returns the memory with its id.",
))
register(Tool(
    name="update_memory", output=MemoryOutput, title="Change a memory", input=UpdateMemoryInput, handler=update_memory, scope=WRITE, read_only=False,
    idempotent=True,
    description="Change the text, expiry, tags or metadata of one of the user's own memories (by memory_id). "
    "Only the fields you send change. Use it to correct or extend something remembered earlier.",
))
register(Tool(
    name="delete_memory", output=DeletedOutput, title="Delete a memory", input=DeleteMemoryInput, handler=delete_memory, scope=WRITE, read_only=False,
    destructive=True, idempotent=False,
    description="Delete one of the user's own memories by memory_id. It moves to the trash: gone from every read and "
    "search at once, restorable with restore_memory until it is purged (purge_at; 30 days by default). "
    "permanent: true deletes it for good at once; only use that when the user clearly asks for it.",
))
register(Tool(
    name="modify_permissions", output=MemoryOutput, title="Change who can see a memory", input=ModifyPermissionsInput, handler=modify_permissions,
    scope=WRITE, read_only=False, idempotent=True,
    description="Set who may see one of the user's memories: 'private' (only them), 'public' (any signed-in user and "
    "their persona) or 'shared' with named users/groups (shared_with).",
))
register(Tool(
    name="get_memories", output=MemoryPageOutput, title="List memories", input=GetMemoriesInput, handler=get_memories, scope=READ, read_only=True,
    idempotent=True,
    description="List memories, newest first: by default the user's own and those shared with them (scope), with "
    "optional filters (owner user_id, permission, tags, date ranges, expired) and cursor pagination. Use query_memory "
    "instead to search by meaning. " + NOT_MINE,
))
register(Tool(
    name="retrieve_memories", output=MemoryPageOutput, title="List my memories", input=RetrieveMemoriesInput, handler=retrieve_memories, scope=READ,
    read_only=True, idempotent=True,
    description="List all of the user's own memories, newest first, a page at a time (pass next_cursor to continue).",
))
register(Tool(
    name="query_memory", output=SearchOutput, title="Search memories", input=QueryMemoryInput, handler=query_memory, scope=READ, read_only=True,
    idempotent=True,
    description="Search memories and return the relevant ones, best first: by default the user's own and those shared "
    "with them (scope 'all' adds other people's public memories). By default (mode 'hybrid') it matches both meaning "
    "and exact words such as names, places and rare terms. 'score' is a calibrated relevance in 0–1 (the same scale "
    "for every query); memories below min_score are left out, so count 0 means nothing relevant is remembered — say "
    "so rather than guess. 'scores' gives each channel's raw score (semantic: cosine, keyword: BM25). " + NOT_MINE + " "
    "Use it before answering questions about the user's life, preferences or past conversations.",
))
register(Tool(
    name="whoami", output=WhoamiOutput, title="Who am I connected as", input=WhoamiInput, handler=whoami, scope=READ,
    read_only=True, idempotent=True,
    description="Who this connection acts for: the user's id, username and display name, the token's scopes and the "
    "application's name. Use it to tell which memories are the user's own (their owner.id equals user_id) or when "
    "the user asks who you are connected as.",
))
register(Tool(
    name="query_user", output=QueryUserOutput, title="Ask a user's persona", input=QueryUserInput, handler=query_user, scope=READ, read_only=True,
    description="Ask another user's persona (or your own) a question. The persona answers from that user's memories "
    "only: their public memories when someone else asks, public and private ones when they ask themselves. Returns "
    "'response', 'memories' (the ids and similarity scores of the memories it drew on), 'model' (null when no language "
    "model is configured) and 'mode' ('llm' or 'extractive': quoted memories, no model). Use it to learn what someone "
    "has chosen to share, e.g. their preferences or background.",
))
register(Tool(
    name="batch_memories", output=BatchOutput, title="Create, change or delete many memories", input=BatchInput, handler=batch_memories,
    scope=WRITE, read_only=False, destructive=True,
    description="Run up to 100 create/update/delete operations in one call. Each operation succeeds or fails on its own "
    "(per-item results); a failed item leaves nothing behind.",
))


# --- history and trash (issue "Nothing is ever lost by accident") -------------------------


class RestoreMemoryInput(_Input):
    memory_id: str = Field(description="The memory's UUID (also one in the trash, e.g. the id delete_memory answered with).")
    version: int | None = Field(default=None, description="Optional: a version number from memory_history. Without it, the "
                                "memory comes back from the trash as it was; with it, that version's text, tags, metadata, "
                                "expiry and permission are written back as a new version.")


class MemoryHistoryInput(_Input):
    memory_id: str = Field(description="The memory's UUID.")


class VersionOutput(_Output):
    version: int = Field(description="The version number (1 = as first stored).")
    created_at: str = Field(description="ISO 8601 time this version was written.")
    change: str = Field(description="What made it: create, update, permission, restore, merge, or legacy (before history was kept).")
    surface: str = Field(description="The door it came through: web, api, mcp, command or internal.")
    client_id: str | None = Field(default=None, description="The OAuth client (UUID) that wrote it, when one did.")
    client_name: str | None = Field(default=None, description="That client's name, when known.")
    text: str = Field(description="The memory's text in this version.")
    tags: list[str] = Field(description="Its tags in this version.")
    permission: PermissionName = Field(description="Its permission in this version.")
    expiration_date: str | None = Field(default=None, description="Its expiry in this version.")
    metadata: dict[str, Any] | None = Field(default=None, description="Its metadata in this version.")


class MemoryHistoryOutput(_Output):
    memory_id: str = Field(description="The memory's UUID.")
    current_version: int = Field(description="The memory's version now.")
    versions: list[VersionOutput] = Field(description="Every version, newest first.")
    count: int = Field(description="How many versions.")


def restore_memory(actor, data: RestoreMemoryInput) -> dict:
    memory = services.memory_restore(actor=actor, memory_id=data.memory_id, version=data.version)
    entry = memory_as_dict(memory, actor=actor, include_shares=True)
    if memory.restore_note:
        entry["note"] = memory.restore_note
    return entry


def memory_history(actor, data: MemoryHistoryInput) -> dict:
    memory, versions = selectors.memory_history(actor=actor, memory_id=data.memory_id)
    names = activity_client_names(client_ids=[v.client_id for v in versions if v.client_id])
    entries = [memory_version_as_dict(v, actor=actor, client_name=names.get(v.client_id)) for v in versions]
    return {"memory_id": str(memory.id), "current_version": memory.version, "versions": entries, "count": len(entries)}


register(Tool(
    name="restore_memory", output=MemoryOutput, title="Restore a memory", input=RestoreMemoryInput, handler=restore_memory,
    scope=WRITE, read_only=False, idempotent=False,
    description="Undo a deletion or a change of one of the user's own memories. With only memory_id: bring a memory back "
    "from the trash. With version (a number from memory_history): make that earlier version current again; it is saved as "
    "a new version, so nothing in the history is lost. A shared version whose people and groups are all gone (deactivated, "
    "deleted) comes back private, and the answer's note says so.",
))
register(Tool(
    name="memory_history", output=MemoryHistoryOutput, title="A memory's history", input=MemoryHistoryInput, handler=memory_history,
    scope=READ, read_only=True, idempotent=True,
    description="List every version of a memory the user may see, newest first: version number, when, through which door "
    "and client it was changed, and the text (plus tags, permission, expiry) of that version. Use it before restore_memory "
    "with a version, or to see what a memory said earlier.",
))
