"""JSON-RPC errors on /mcp (issue 16, point 6): a body that is not JSON gets -32700, one that
is not a JSON-RPC message gets -32600 — both as JSON-RPC 2.0 error objects with ``jsonrpc``
and ``id``, never the REST envelope, under every protocol revision the server speaks.
Raw HTTP against the real server."""

from __future__ import annotations

import httpx
import pytest
from mcp_types.version import SUPPORTED_PROTOCOL_VERSIONS

ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

CASES = [
    # (body, JSON-RPC code, id in the answer)
    ('{"jsonrpc": "2.0", "id": 1, "method": ', -32700, None),
    ("not json at all", -32700, None),
    ("", -32700, None),
    ('{"jsonrpc": "2.0", "id": 7}', -32600, 7),
    ('{"id": "abc", "method": "tools/list"}', -32600, "abc"),
    ('{"jsonrpc": "2.0", "id": 5, "method": 42}', -32600, 5),
    ('{"jsonrpc": "2.0", "id": 6, "method": "tools/list", "params": "x"}', -32600, 6),
    ("[]", -32600, None),
    ("42", -32600, None),
    ('{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "a\\u0000b"}}', -32600, None),
]


@pytest.mark.parametrize("version", SUPPORTED_PROTOCOL_VERSIONS)
@pytest.mark.parametrize(("body", "code", "id_"), CASES)
def test_bad_bodies_get_jsonrpc_errors_under_every_protocol_revision(mcp_server, make_token, alice, version, body, code, id_):
    token = make_token(alice)
    response = httpx.post(mcp_server.mcp_url, content=body.encode(), headers={
        **ACCEPT, "Authorization": f"Bearer {token}", "MCP-Protocol-Version": version,
    })
    assert response.status_code == 400
    answer = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] == id_
    assert answer["error"]["code"] == code
    assert answer["error"]["message"]
    assert "status" not in answer and "Traceback" not in response.text


def test_a_good_request_after_a_bad_one_still_works(mcp_server, make_token, alice):
    token = make_token(alice)
    headers = {**ACCEPT, "Authorization": f"Bearer {token}"}
    assert httpx.post(mcp_server.mcp_url, content=b"{", headers=headers).json()["error"]["code"] == -32700
    ok = httpx.post(mcp_server.mcp_url, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": SUPPORTED_PROTOCOL_VERSIONS[-1], "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    assert ok.status_code == 200
