"""Hostile input at the edge: every malformed request gets a clear 4xx JSON envelope (a
JSON-RPC error on ``/mcp``) before any application code runs, over real HTTP against the
real ASGI app."""

from __future__ import annotations

import json

import httpx
import pytest
from django.conf import settings


def _error(response: httpx.Response) -> dict:
    body = response.json()
    assert "Traceback" not in response.text
    if response.request.url.path == "/mcp" and "jsonrpc" in body:
        # /mcp speaks JSON-RPC: -32700 for what is not JSON, -32600 for the rest; Picard's
        # reason is in error.data.code.
        assert body["jsonrpc"] == "2.0" and body["id"] is None
        assert body["error"]["code"] in (-32700, -32600)
        return {"code": body["error"]["data"]["code"], "message": body["error"]["message"]}
    assert body["status"] == "error"
    assert set(body["error"]) == {"code", "message", "details"}
    assert "Traceback" not in response.text
    return body["error"]


@pytest.fixture
def http(edge_server):
    with httpx.Client(base_url=edge_server, timeout=30) as client:
        yield client


@pytest.mark.parametrize("path", ["/api/tools", "/mcp", "/token"])
def test_body_over_the_limit_is_413_before_it_is_read(http, path):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = b'{"tool": "submit_memory", "data": {"text": "' + b"a" * limit + b'"}}'
    response = http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    error = _error(response)
    assert error["code"] == "payload_too_large"
    assert str(limit) in error["message"]


def test_streamed_body_without_length_over_the_limit_is_413(http):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def chunks():
        yield b'{"text": "'
        for _ in range(limit // 65536 + 2):
            yield b"b" * 65536
        yield b'"}'

    response = http.post("/api/tools", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"


@pytest.mark.parametrize("path", ["/api/tools", "/mcp"])
def test_invalid_utf8_is_a_clear_400(http, path):
    response = http.post(path, content=b'{"tool": "submit_memory", "data": {"text": "caf\xe9"}}',
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_encoding"


@pytest.mark.parametrize("path", ["/api/tools", "/mcp"])
@pytest.mark.parametrize("depth", [65, 100_000])
def test_deeply_nested_json_is_refused(http, depth, path):
    body = '{"tool": "get_memories", "data": {"metadata": ' + "[" * depth + "]" * depth + "}}"
    response = http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert _error(response)["code"] == "too_deeply_nested"


@pytest.mark.parametrize("payload", [
    '{"tool": "submit_memory", "data": {"text": "a\\u0000b"}}',
    '{"tool": "submit_memory", "data": {"text": "ok", "metadata": {"k\\u0000": 1}}}',
    '{"tool": "submit_memory", "data": {"text": "lone \\ud800 surrogate"}}',
    '{"tool": "submit_memory", "data": {"text": "ok", "tags": ["\\udfff"]}}',
])
@pytest.mark.parametrize("path", ["/api/tools", "/mcp"])
def test_nul_characters_and_lone_surrogates_are_refused(http, payload, path):
    response = http.post(path, content=payload, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_characters"


def test_malformed_json_and_non_finite_numbers_are_refused(http):
    for body in ('{"tool": ', '{"n": NaN}', '{"n": Infinity}'):
        response = http.post("/mcp", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, body
        assert _error(response)["code"] == "malformed_json"


def test_nul_in_url_or_form_is_refused(http):
    assert _error(http.get("/healthz?q=a%00b"))["code"] == "invalid_characters"
    assert http.get("/memories/%00").status_code == 400
    response = http.post("/token", content=b"grant_type=refresh_token&refresh_token=ab%00cd",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_characters"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/octet-stream"])
def test_wrong_content_type_on_the_api_is_415(http, content_type):
    response = http.post("/api/tools", content=json.dumps({"tool": "get_memories", "data": {}}),
                         headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


@pytest.mark.django_db(transaction=True)
def test_well_formed_json_reaches_the_application(http):
    body = json.dumps({"text": "ünïcödé ✓ emoji 🎉", "nested": [[[{"a": None}]]]}, ensure_ascii=False)
    response = http.request("GET", "/healthz", content=body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
