"""What the Connect page (``/connect/``) and docs/mcp-clients.md tell a person: how to
connect each common AI client to THIS server, every snippet carrying its real URLs."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class ClientInstructions:
    key: str  # anchor and test handle, e.g. "cursor"
    title: str
    steps: tuple[str, ...]
    code: str = ""  # a snippet to copy ("" when the steps say it all)
    note: str = ""


def connect_urls() -> dict[str, str]:
    """This server's MCP endpoint and REST door (from PICARD_PUBLIC_URL, never the request)."""
    return {"mcp": settings.PICARD_MCP_RESOURCE, "api": f"{settings.PICARD_PUBLIC_URL}/api/tools", "base": settings.PICARD_PUBLIC_URL}


def connect_instructions() -> list[ClientInstructions]:
    urls = connect_urls()
    mcp = urls["mcp"]
    public = mcp.startswith("https://")
    cloud_note = "" if public else (
        "This server's URL is not a public https address: Claude's and ChatGPT's servers cannot reach it. "
        "Use Claude Code, Cursor, VS Code or MCP Inspector on this machine, or deploy Picard behind https (docs/deployment.md)."
    )
    return [
        ClientInstructions(
            key="claude", title="Claude (claude.ai and Claude Desktop)",
            steps=("Open Settings → Connectors → Add custom connector.", f"Name it Picard and paste the URL {mcp}.",
                   "Press Add, then Connect: sign in to Picard and press Allow."),
            code=mcp, note=cloud_note,
        ),
        ClientInstructions(
            key="claude-code", title="Claude Code",
            steps=("Run this in a terminal, then type /mcp in Claude Code and choose picard → Authenticate.",),
            code=f"claude mcp add --transport http picard {mcp}",
        ),
        ClientInstructions(
            key="chatgpt", title="ChatGPT (developer mode connector)",
            steps=("Open Settings → Apps & Connectors → Advanced settings and turn on Developer mode.",
                   f"Press Create, name it Picard, paste the MCP server URL {mcp}, choose OAuth authentication.",
                   "Press Create, then sign in to Picard and press Allow."),
            code=mcp, note=cloud_note,
        ),
        ClientInstructions(
            key="cursor", title="Cursor",
            steps=("Put this in ~/.cursor/mcp.json (or .cursor/mcp.json in a project), then open Settings → MCP and press Connect/Login next to picard.",),
            code=json.dumps({"mcpServers": {"picard": {"url": mcp}}}, indent=2),
        ),
        ClientInstructions(
            key="vscode", title="VS Code (GitHub Copilot agent mode)",
            steps=("Put this in .vscode/mcp.json (or run “MCP: Add Server…” → HTTP), then press Start above the server and allow the sign-in.",),
            code=json.dumps({"servers": {"picard": {"type": "http", "url": mcp}}}, indent=2),
        ),
        ClientInstructions(
            key="inspector", title="MCP Inspector",
            steps=("Run this (Node.js 22 or newer); in the page it opens choose Transport Type “Streamable HTTP”, paste the URL and press Connect.",
                   "Inspector registers itself, sends you to Picard to sign in and allow, and then lists Picard's tools."),
            code=f"npx @modelcontextprotocol/inspector\n# URL: {mcp}",
        ),
        ClientInstructions(
            key="curl", title="curl and scripts (personal access token)",
            steps=(f"Create a personal access token at {urls['base']}/settings/tokens/ (it is shown once), then:",),
            code=(
                "export PICARD_TOKEN=picard_pat_…   # your token\n"
                f"curl -s {urls['api']} \\\n"
                "  -H \"Authorization: Bearer $PICARD_TOKEN\" -H 'Content-Type: application/json' \\\n"
                "  -d '{\"tool\": \"submit_memory\", \"data\": {\"text\": \"I prefer window seats\"}}'\n"
                f"curl -s {urls['api']} \\\n"
                "  -H \"Authorization: Bearer $PICARD_TOKEN\" -H 'Content-Type: application/json' \\\n"
                "  -d '{\"tool\": \"query_memory\", \"data\": {\"query\": \"seat preference\"}}'"
            ),
            note=f"The same token works as “Authorization: Bearer …” for MCP clients that take a header instead of signing in ({mcp}).",
        ),
    ]
