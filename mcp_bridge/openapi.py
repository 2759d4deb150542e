"""OpenAPI examples for ``POST /api/tools``: one per tool, taken from the seed README where it
has one. A tool without a hand-written example gets a minimal one built from its input model,
so every registered tool is documented."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

from mcp_bridge.tools import TOOLS

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
    examples = []
    for name in sorted(TOOLS):
        tool = TOOLS[name]
        data = SEED_EXAMPLES.get(name, _minimal(tool))
        examples.append(OpenApiExample(
            name, summary=tool.title or name, description=f"{tool.description} Scope: {tool.scope}.",
            value={"tool": name, "data": data}, request_only=True,
        ))
    return examples


def _hoist(schema: dict, components: dict) -> dict:
    """Move pydantic's ``$defs`` into the OpenAPI components (refs already point there)."""
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    return schema


def add_tool_schemas(result, generator, request, public):
    """drf-spectacular postprocessing hook: document every tool's ``data`` and result.

    Each tool gets ``<Tool>Call`` ({"tool": "<name>", "data": <input>}) and
    ``<Tool>Result`` ({"status": "success", "data": <output>}) components; ``POST
    /api/tools`` takes oneOf the calls (discriminated by ``tool``) and answers oneOf the
    results. The examples (one per tool) come from ``tool_examples``."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    ref = "#/components/schemas/{model}"
    calls, results, mapping = [], [], {}
    for name in sorted(TOOLS):
        tool = TOOLS[name]
        camel = "".join(part.title() for part in name.split("_"))
        input_schema = _hoist(tool.input.model_json_schema(ref_template=ref), components)
        input_name = f"{camel}Data"
        components[input_name] = input_schema
        components[f"{camel}Call"] = {
            "type": "object",
            "description": f"{tool.description}\n\nScope: `{tool.scope}`.",
            "properties": {"tool": {"type": "string", "enum": [name]}, "data": {"$ref": ref.format(model=input_name)}},
            "required": ["tool"],
            "additionalProperties": False,
        }
        calls.append({"$ref": ref.format(model=f"{camel}Call")})
        mapping[name] = ref.format(model=f"{camel}Call")
        output = getattr(tool, "output", None)
        data_schema = {"type": "object"}
        if output is not None:
            output_name = f"{camel}Output"
            components[output_name] = _hoist(output.model_json_schema(ref_template=ref, mode="serialization"), components)
            data_schema = {"$ref": ref.format(model=output_name)}
        components[f"{camel}Result"] = {
            "type": "object",
            "description": f"Result of {name}.",
            "properties": {"status": {"type": "string", "enum": ["success"]}, "data": data_schema},
            "required": ["status", "data"],
        }
        results.append({"$ref": ref.format(model=f"{camel}Result")})
    components["ToolError"] = {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["error"]},
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "Machine-readable, e.g. invalid, unknown_tool, insufficient_scope, not_found."},
                    "message": {"type": "string", "description": "What went wrong, naming the field."},
                    "details": {"type": "object", "description": "e.g. field, known_tools, required_scopes, limit."},
                },
                "required": ["code", "message", "details"],
            },
        },
        "required": ["status", "error"],
    }
    operation = result.get("paths", {}).get("/api/tools", {}).get("post")
    if operation is None:
        return result
    content = operation.setdefault("requestBody", {"required": True, "content": {}}).setdefault("content", {})
    body = content.setdefault("application/json", {})
    body["schema"] = {"oneOf": calls, "discriminator": {"propertyName": "tool", "mapping": mapping}}
    body["examples"] = {
        example.name: {"summary": example.summary, "description": example.description, "value": example.value}
        for example in tool_examples()
    }
    for other in [k for k in content if k != "application/json"]:
        del content[other]
    responses = operation.setdefault("responses", {})
    success = responses.setdefault("200", {"description": "The tool's result."})
    success["content"] = {"application/json": {"schema": {"oneOf": results}}}
    for status, response in responses.items():
        if status != "200":
            response["content"] = {"application/json": {"schema": {"$ref": ref.format(model="ToolError")}}}
    return result
