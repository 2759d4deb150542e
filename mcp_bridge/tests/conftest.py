"""Fixtures for the MCP door: a real uvicorn server on a free loopback port, serving the real
top-level ASGI app (``picard.asgi.build_application``), and OAuth access tokens."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from dataclasses import dataclass

import pytest
import uvicorn

from oauth.testing import browser_for, oauth_app, public_app, token_for  # noqa: F401 - fixtures
from picard.testing import free_port


@dataclass
class LiveServer:
    url: str  # e.g. http://127.0.0.1:54321
    app: object

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"


@pytest.fixture
def mcp_server_factory(transactional_db, settings):
    """Start ``build_application(...)`` under uvicorn; PICARD_PUBLIC_URL follows the port."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(*, stateless: bool = False, json_response: bool = False) -> LiveServer:
        from picard.asgi import build_application

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings.PICARD_PUBLIC_URL = url
        settings.PICARD_MCP_RESOURCE = f"{url}/mcp"
        settings.CSRF_TRUSTED_ORIGINS = [url]
        if "OIDC_ISS_ENDPOINT" in settings.OAUTH2_PROVIDER:
            settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": url}
        app = build_application(release_db_on_shutdown=False, stateless=stateless, json_response=json_response)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        servers.append((server, thread))
        return LiveServer(url=url, app=app)

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def mcp_server(mcp_server_factory):
    return mcp_server_factory()


@pytest.fixture
def make_token(db, settings):
    """An access token made directly in the database (as Picard's authorization server would)."""
    from oauth2_provider.models import get_access_token_model, get_application_model

    def _make(user, *, scope: str = "memories:read memories:write", resource: list[str] | None = None,
              expires_in: int = 3600, application=None) -> str:
        if application is None:
            application = get_application_model().objects.create(
                name="test MCP client",
                client_type="public",
                authorization_grant_type="authorization-code",
                redirect_uris="http://127.0.0.1:9/callback",
                user=None,
            )
        raw = secrets.token_urlsafe(32)
        get_access_token_model().objects.create(
            user=user,
            application=application,
            token=raw,
            scope=scope,
            expires=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in),
            resource=[settings.PICARD_MCP_RESOURCE] if resource is None else resource,
        )
        return raw

    return _make
