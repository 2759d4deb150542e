"""OpenAPI examples for ``POST /api/tools``: one per tool, taken from the seed README where it
has one. A tool without a hand-written example gets a minimal one built from its input model,
so every registered tool is documented."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

EXAMPLE_ID = "550e8400-e29b-41d4-a716-446655440000"

SEED_EXAMPLES: dict[str, dict] = {
    "submit_memory": {"text": "This is my memory content", "permission": "private"},
    "update_memory": {"memory_id": EXAMPLE_ID, "text": "Updated memory content", "expiration_date": "2026-01-01T00:00:00Z"},
    "delete_memory": {"memory_id": EXAMPLE_ID},
    "modify_permissions": {"memory_id": EXAMPLE_ID, "permission": "public"},
    "get_memories": {"user_id": EXAMPLE_ID, "permission": "private"},
    "retrieve_memories": {},
    "query_memory": {"query": "What do I like to eat?", "limit": 5},
    "query_user": {"user_id": EXAMPLE_ID, "prompt": "What are your thoughts on artificial intelligence?"},
    "batch_memories": {
        "operations": [
            {"op": "create", "data": {"text": "I prefer tea to coffee", "tags": ["food"]}},
            {"op": "update", "data": {"memory_id": EXAMPLE_ID, "tags": ["work"]}},
            {"op": "delete", "data": {"memory_id": EXAMPLE_ID}},
        ]
    },
}


def _minimal(tool) -> dict:
    data = {}
    for name, field in tool.input.model_fields.items():
        if field.is_required():
            data[name] = EXAMPLE_ID if name.endswith("_id") else "…"
    return data


def tool_examples() -> list[OpenApiExample]:
    from mcp_bridge.tools import TOOLS

    examples = []
    for name in sorted(TOOLS):
        tool = TOOLS[name]
        data = SEED_EXAMPLES.get(name, _minimal(tool))
        examples.append(OpenApiExample(
            name, summary=tool.title or name, description=f"{tool.description} Scope: {tool.scope}.",
            value={"tool": name, "data": data}, request_only=True,
        ))
    return examples
