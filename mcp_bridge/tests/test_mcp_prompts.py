"""The prompts ``recall`` and ``remember`` through the SDK's own client, under both protocol
revisions; an unknown prompt or a missing argument is JSON-RPC -32602, with no traceback logged."""

from __future__ import annotations

import asyncio
import logging

import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


async def _session(url: str, token: str, mode: str, fn):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            return await fn(client)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_recall_and_remember_prompts_are_listed_and_rendered(mcp_server, make_token, alice, mode):
    token = make_token(alice)

    async def use(client):
        listed = (await client.list_prompts()).prompts
        recall = await client.get_prompt("recall", {"topic": "train journeys"})
        remember = await client.get_prompt("remember", {})
        focused = await client.get_prompt("remember", {"focus": "my garden"})
        return listed, recall, remember, focused

    listed, recall, remember, focused = asyncio.run(_session(mcp_server.mcp_url, token, mode, use))
    by_name = {p.name: p for p in listed}
    assert set(by_name) == {"recall", "remember"}
    assert [(a.name, a.required) for a in by_name["recall"].arguments] == [("topic", True)]
    assert [(a.name, a.required) for a in by_name["remember"].arguments] == [("focus", False)]
    text = recall.messages[0].content.text
    assert "train journeys" in text and "query_memory" in text and "[memory" in text
    assert "submit_memory" in remember.messages[0].content.text
    assert "my garden" in focused.messages[0].content.text


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_unknown_prompt_or_missing_argument_is_invalid_params_without_a_traceback(mcp_server, make_token, alice, mode, caplog):
    token = make_token(alice)

    async def use(client):
        errors = []
        for name, arguments in (("no-such-prompt", {}), ("recall", {})):
            try:
                await client.get_prompt(name, arguments)
            except MCPError as exc:
                errors.append(exc)
        return errors

    with caplog.at_level(logging.INFO):
        errors = asyncio.run(_session(mcp_server.mcp_url, token, mode, use))
    assert [e.error.code for e in errors] == [-32602, -32602]
    assert "Unknown prompt 'no-such-prompt'" in errors[0].error.message and "recall, remember" in errors[0].error.message
    assert "topic" in errors[1].error.message
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
