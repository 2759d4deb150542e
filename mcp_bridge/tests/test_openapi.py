"""/openapi.json documents every tool (data, result, one example each), the OAuth endpoints
and the user-token flow; /docs (Swagger UI) is served from this site, so it works offline."""

from __future__ import annotations

import re

import httpx

from mcp_bridge.tools import TOOLS


def test_openapi_documents_every_tool_and_the_oauth_endpoints(live_server):
    response = httpx.get(f"{live_server.url}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.oai.openapi+json") or \
        response.headers["content-type"].startswith("application/json")
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    body = schema["paths"]["/api/tools"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["examples"]) == set(TOOLS)
    for name, example in body["examples"].items():
        assert example["value"]["tool"] == name
        TOOLS[name].input.model_validate(example["value"]["data"])  # every example is valid input
    calls = {ref["$ref"].rsplit("/", 1)[1] for ref in body["schema"]["oneOf"]}
    components = schema["components"]["schemas"]
    for name in TOOLS:
        camel = "".join(part.title() for part in name.split("_"))
        assert f"{camel}Call" in calls
        assert components[f"{camel}Call"]["properties"]["tool"]["enum"] == [name]
        assert f"{camel}Result" in components
    assert set(components["SubmitMemoryData"]["required"]) == {"text"}
    for path in ("/authorize", "/token", "/revoke", "/introspect", "/oauth/register", "/oauth/register/{client_id}",
                 "/.well-known/oauth-authorization-server", "/api/user-tokens/user-token", "/api/admin/clients/register"):
        assert path in schema["paths"], path
    assert "S256" in schema["paths"]["/authorize"]["get"]["description"]


def test_swagger_ui_loads_its_assets_from_this_site(live_server):
    page = httpx.get(f"{live_server.url}/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    assert "cdn.jsdelivr" not in page.text and "unpkg.com" not in page.text
    assets = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text))
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    for asset in assets:
        assert httpx.get(f"{live_server.url}{asset}").status_code == 200, asset
    assert "/openapi.json" in page.text
