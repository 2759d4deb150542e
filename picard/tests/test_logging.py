import asyncio
import json
import logging

import pytest

from memories.activity import activity_record
from picard import context
from picard.edge.request_id import RequestIdMiddleware
from picard.logging import JsonFormatter, RedactSecretsFilter, RequestIdFilter, redact


def _call(app, headers=()):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/api/x", "query_string": b"code=SECRET", "headers": list(headers)}
    asyncio.run(app(scope, receive, send))
    return sent


def test_request_id_is_echoed_generated_and_visible_inside_the_request(caplog):
    seen = {}

    async def inner(scope, receive, send):
        seen["ctx"] = context.current().request_id
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = RequestIdMiddleware(inner)
    leaked = context._current.set(context.CallContext(surface="mcp", request_id="leaked-from-elsewhere"))
    try:
        with caplog.at_level(logging.INFO, logger="picard.request"):
            sent = _call(app, headers=[(b"x-request-id", b"proxy-id-12345")])
    finally:
        context._current.reset(leaked)
    assert dict(sent[0]["headers"])[b"x-request-id"] == b"proxy-id-12345"
    assert seen["ctx"] == "proxy-id-12345"
    line = caplog.records[-1]
    assert line.http_status == 204 and line.http_path == "/api/x"
    assert "SECRET" not in line.getMessage()  # the query string is never logged
    sent = _call(app, headers=[(b"x-request-id", b"bad id with spaces \n")])
    generated = dict(sent[0]["headers"])[b"x-request-id"].decode()
    assert generated != "bad id with spaces \n" and len(generated) == 16


@pytest.mark.django_db
def test_activity_entries_carry_the_request_id(alice):
    from memories.models import Activity
    from picard.logging import request_id_var

    token = request_id_var.set("trace-abcdef-1")
    try:
        with context.call_context(surface="api"):
            activity_record(actor=alice, action="memory.search")
    finally:
        request_id_var.reset(token)
    assert Activity.objects.get(action="memory.search").request_id == "trace-abcdef-1"


def test_json_formatter_emits_one_object_with_request_id_and_redacts_secrets():
    record = logging.LogRecord("picard.test", logging.WARNING, __file__, 1, "token refresh failed: %s", ("Bearer abcdefghijklmnopqrstuv",), None)
    record.http_status = 401
    RequestIdFilter().filter(record)
    RedactSecretsFilter().filter(record)
    data = json.loads(JsonFormatter().format(record))
    assert data["level"] == "WARNING" and data["logger"] == "picard.test" and data["http_status"] == 401
    assert data["message"] == "token refresh failed: Bearer [redacted]"
    assert "request_id" in data


def test_redaction_covers_codes_passwords_fernet_tokens_and_json_fields():
    assert redact("GET /authorize?code=abc123&state=ok") == "GET /authorize?code=[redacted]&state=ok"
    assert redact("password=hunter2 client_secret=xyz") == "password=[redacted] client_secret=[redacted]"
    assert redact('{"text": "my diary", "id": 1}') == '{"text": "[redacted]", "id": 1}'
    assert redact("{'code': 'abc', 'access_token': 'xyz', 'state': 'ok'}") == "{'code': '[redacted]', 'access_token': '[redacted]', 'state': 'ok'}"
    assert "[fernet-token]" in redact("token gAAAAABl" + "x" * 60)
    assert redact("key sk-proj-0123456789abcdefXYZ") == "key sk-[redacted]"


def test_the_asgi_application_is_wrapped():
    from picard import asgi

    assert isinstance(asgi.application, RequestIdMiddleware)
