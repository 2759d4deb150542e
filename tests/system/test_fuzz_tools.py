"""Property-based fuzzing of every tool's input schema through POST /api/tools and /mcp.

Inputs are generated from each tool's own JSON schema (valid shapes with hostile values:
huge and negative numbers, NUL-free odd Unicode, far dates, non-UUIDs) plus mutations
(wrong types, unknown fields). Whatever comes in, the answer is a success or a clear 4xx
error envelope (an MCP tool error) — never a 500. Bounded to keep the suite fast; the
big runs are ``bench/fuzz.py``-style scripts (see docs/security.md).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from mcp_bridge.tools import TOOLS

ODD_STRINGS = st.one_of(
    st.text(max_size=40),
    st.sampled_from([
        "", " ", "00000000-0000-0000-0000-000000000000", "{8c3f0c5e-2b0a-4c1e-9d3f-1a2b3c4d5e6f}",
        "8C3F0C5E-2B0A-4C1E-9D3F-1A2B3C4D5E6F", "not-a-uuid", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
        "-999999-01-01", "2025-02-30T25:61:61Z", "' OR 1=1 --", "<script>alert(1)</script>", "%00", "\u202e\u200b",
        "a" * 5000, "🎉" * 100,
    ]),
)
ODD_INTS = st.one_of(st.integers(min_value=-10, max_value=200), st.sampled_from([-(2**63), 2**31, 2**63, 10**30]))
JSON_SCALARS = st.one_of(st.none(), st.booleans(), ODD_INTS, st.floats(allow_nan=False, allow_infinity=False), ODD_STRINGS)
ANY_JSON = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].split("/")[-1]]
    return schema


def from_schema(schema: dict, root: dict, depth: int = 0) -> st.SearchStrategy:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return st.one_of(*[from_schema(s, root, depth) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "string":
        return ODD_STRINGS
    if kind == "integer":
        return ODD_INTS
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), root, depth + 1), max_size=5)
    if kind == "object" and "properties" in schema and depth < 4:
        props = schema["properties"]
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: from_schema(v, root, depth + 1) for k, v in props.items() if k in required},
            optional={k: from_schema(v, root, depth + 1) for k, v in props.items() if k not in required},
        )
    return ANY_JSON


def tool_arguments(name: str) -> st.SearchStrategy:
    schema = TOOLS[name].input.model_json_schema()
    valid_shape = from_schema(schema, schema)
    mutated = st.one_of(
        ANY_JSON,
        valid_shape.flatmap(lambda d: st.dictionaries(st.text(max_size=6), ANY_JSON, max_size=2).map(lambda extra: {**d, **extra})),
    )
    return st.one_of(valid_shape, valid_shape, mutated)


FUZZ = hsettings(max_examples=25, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])


def _assert_clear(status: int, body: bytes, what: str) -> None:
    assert status < 500, f"{what} → {status}: {body[:300]!r}"
    if status >= 400:
        payload = json.loads(body)
        assert payload["status"] == "error" and payload["error"]["code"] and payload["error"]["message"], what


@pytest.fixture
def bearer(db, alice, make_token):
    from memories.services import memory_create

    memory_create(actor=alice, text="something to find", permission="public", tags=["x"])
    return make_token(alice, resource=[])


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(TOOLS))
def test_api_tools_never_answers_500_to_generated_input(client, bearer, name):
    client.raise_request_exception = False

    @FUZZ
    @given(data=tool_arguments(name))
    def run(data):
        body = json.dumps({"tool": name, "data": data})
        response = client.post("/api/tools", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {bearer}")
        _assert_clear(response.status_code, response.content, f"{name}({body[:200]})")

    run()


@pytest.mark.django_db(transaction=True)
def test_mcp_tools_call_never_fails_with_a_server_error_on_generated_input(mcp_server_factory, make_token, alice):
    import httpx

    server = mcp_server_factory(stateless=True, json_response=True)
    token = make_token(alice)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-06-18"}
    answered = []
    with httpx.Client(timeout=30) as http:

        def fuzz(name: str) -> None:
            @hsettings(max_examples=10, deadline=None, derandomize=True,
                       suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
            @given(arguments=tool_arguments(name))
            def run(arguments):
                request = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
                response = http.post(server.mcp_url, json=request, headers=headers)
                assert response.status_code < 500, f"{name}: {response.status_code} {response.text[:300]}"
                if response.status_code == 200:
                    payload = response.json()
                    answered.append(not payload.get("result", {}).get("isError", True))
                    assert "result" in payload or "error" in payload
                    if "result" in payload and payload["result"].get("isError"):
                        text = payload["result"]["content"][0]["text"]
                        assert "Error executing tool" not in text, f"{name}: a masked internal error: {text}"

            run()

        for name in sorted(TOOLS):
            fuzz(name)
    assert any(answered), "no generated call succeeded: the fuzzer never got past the door"
