"""The top-level ASGI app: /mcp and the protected resource metadata beside Django, CORS,
Host/Origin checks."""

from __future__ import annotations

import httpx

ACCEPT = {"Accept": "application/json, text/event-stream"}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


def test_protected_resource_metadata_at_both_well_known_urls(mcp_server):
    root = httpx.get(f"{mcp_server.url}/.well-known/oauth-protected-resource")
    inserted = httpx.get(f"{mcp_server.url}/.well-known/oauth-protected-resource/mcp")
    assert root.status_code == inserted.status_code == 200
    assert root.json() == inserted.json()
    document = inserted.json()
    assert document["resource"] == f"{mcp_server.url}/mcp"
    assert document["authorization_servers"] == [mcp_server.url]
    assert document["scopes_supported"] == ["memories:read", "memories:write"]
    assert document["bearer_methods_supported"] == ["header"]
    assert inserted.headers["access-control-allow-origin"] == "*"


def test_mcp_is_served_in_place_and_everything_else_by_django(mcp_server):
    response = httpx.post(mcp_server.mcp_url, json=INIT, headers=ACCEPT, follow_redirects=False)
    assert response.status_code == 401  # the MCP door answered: no 307 to /mcp/
    assert httpx.get(f"{mcp_server.url}/healthz").status_code == 200


def test_browser_clients_get_cors_on_mcp(mcp_server, make_token, alice):
    origin = "http://localhost:6274"  # MCP Inspector's web UI
    preflight = httpx.options(mcp_server.mcp_url, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version",
    })
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "mcp-protocol-version", "mcp-session-id", "mcp-method", "mcp-name", "last-event-id"} <= allowed
    assert "mcp-session-id" in preflight.headers["access-control-expose-headers"].lower()

    unauthenticated = httpx.post(mcp_server.mcp_url, json=INIT, headers={**ACCEPT, "Origin": origin})
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["access-control-allow-origin"] == origin
    assert "www-authenticate" in unauthenticated.headers["access-control-expose-headers"].lower()

    token = make_token(alice)
    ok = httpx.post(mcp_server.mcp_url, json=INIT, headers={**ACCEPT, "Origin": origin, "Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == origin
    assert "mcp-session-id" in ok.headers["access-control-expose-headers"].lower()


def test_foreign_origins_and_hosts_are_refused(mcp_server, make_token, alice, settings):
    token = make_token(alice)
    auth = {**ACCEPT, "Authorization": f"Bearer {token}"}
    evil = httpx.post(mcp_server.mcp_url, json=INIT, headers={**auth, "Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert "access-control-allow-origin" not in evil.headers
    rebound = httpx.post(mcp_server.mcp_url, json=INIT, headers={**auth, "Host": "evil.example"})
    assert rebound.status_code == 421

    # Behind a reverse proxy: the public host is allowed by configuration.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "picard.example.com"]
    settings.PICARD_MCP_ALLOWED_ORIGINS = [*settings.PICARD_MCP_ALLOWED_ORIGINS, "https://picard.example.com"]
    proxied = httpx.post(mcp_server.mcp_url, json=INIT, headers={**auth, "Host": "picard.example.com", "Origin": "https://picard.example.com"})
    assert proxied.status_code == 200
