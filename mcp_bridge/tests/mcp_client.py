"""Helpers to speak to a live ``/mcp`` with the SDK's own client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

# "legacy" = the initialize handshake (the SDK offers 2025-11-25); "2026-07-28" = the
# stateless per-request envelope.
MODES = ("legacy", "2026-07-28")


async def _session(url: str, token: str | None, mode: str, fn: Callable[[Client], Awaitable[Any]]) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            return await fn(client)


def with_client(url: str, token: str | None, fn: Callable[[Client], Awaitable[Any]], *, mode: str = "legacy") -> Any:
    """Connect, run ``fn(client)``, disconnect — from synchronous test code."""
    return asyncio.run(_session(url, token, mode, fn))
