"""drf-spectacular postprocessing hook: document the OAuth 2.x endpoints, which are
django-oauth-toolkit views (not DRF views) and so are not discovered automatically."""

from __future__ import annotations

_FORM = "application/x-www-form-urlencoded"
_OAUTH_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}


def _form(properties: dict, required: list[str]) -> dict:
    return {"required": True, "content": {_FORM: {"schema": {"type": "object", "properties": properties, "required": required}}}}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _s(description: str, **extra) -> dict:
    return {"type": "string", "description": description, **extra}


OAUTH_PATHS = {
    "/.well-known/oauth-authorization-server": {"get": {
        "operationId": "oauth_metadata", "tags": ["oauth"], "security": [],
        "summary": "Authorization server metadata (RFC 8414)",
        "description": "issuer, endpoints, scopes_supported, code_challenge_methods_supported [\"S256\"], "
        "grant_types_supported [authorization_code, refresh_token], token_endpoint_auth_methods_supported (incl. none).",
        "responses": {"200": _json({"type": "object"}, "The metadata document.")},
    }},
    "/authorize": {"get": {
        "operationId": "oauth_authorize", "tags": ["oauth"], "security": [],
        "summary": "Authorization endpoint (code + PKCE S256)",
        "description": "Signs the person in if needed (/login), shows a consent page naming the client, its redirect host "
        "and each scope. Allow redirects to redirect_uri with `code`, `state` and `iss` (RFC 9207); Deny with "
        "`error=access_denied`. PKCE S256 is required for every client; `plain` is refused. Codes are single-use and "
        "expire after 5 minutes. Loopback redirect URIs (http://127.0.0.1, [::1], localhost) match on any port.",
        "parameters": [
            {"name": n, "in": "query", "required": r, "schema": {"type": "string"}, "description": d}
            for n, r, d in [
                ("response_type", True, "Always `code`."),
                ("client_id", True, "The client's UUID (or its client ID metadata document URL)."),
                ("redirect_uri", True, "Exactly one of the registered redirect URIs."),
                ("scope", False, "Space-separated: memories:read memories:write memories:admin (default: read + write)."),
                ("state", False, "Opaque value echoed back; use it against CSRF."),
                ("code_challenge", True, "BASE64URL(SHA256(code_verifier))."),
                ("code_challenge_method", True, "`S256`."),
                ("resource", False, "RFC 8707 resource indicator, e.g. https://host/mcp; the token is bound to it."),
            ]
        ],
        "responses": {"302": {"description": "To the login page, or back to the client with code/state/iss or an error."},
                      "400": {"description": "Unknown client or redirect URI mismatch (no redirect is made)."}},
    }},
    "/token": {"post": {
        "operationId": "oauth_token", "tags": ["oauth"], "security": [],
        "summary": "Token endpoint",
        "description": "authorization_code (with code_verifier) or refresh_token. Confidential clients authenticate with "
        "HTTP Basic (client_secret_basic) or client_secret_post; public clients send client_id only. Access tokens live "
        "1 hour; refresh tokens rotate on every use and reusing an old one revokes the whole family.",
        "requestBody": _form({
            "grant_type": _s("authorization_code | refresh_token", enum=["authorization_code", "refresh_token"]),
            "code": _s("The authorization code."), "redirect_uri": _s("The same redirect_uri as in /authorize."),
            "code_verifier": _s("The PKCE verifier."), "refresh_token": _s("For grant_type=refresh_token."),
            "client_id": _s("The client's UUID."), "client_secret": _s("client_secret_post only."),
            "resource": _s("RFC 8707: optional, narrows the audience."),
        }, ["grant_type"]),
        "responses": {"200": _json({"type": "object", "properties": {
            "access_token": {"type": "string"}, "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer", "example": 3600}, "refresh_token": {"type": "string"}, "scope": {"type": "string"}}},
            "Tokens."), "400": _json(_OAUTH_ERROR, "invalid_grant, invalid_request, …"), "401": _json(_OAUTH_ERROR, "invalid_client")},
    }},
    "/revoke": {"post": {
        "operationId": "oauth_revoke", "tags": ["oauth"], "security": [],
        "summary": "Token revocation (RFC 7009)",
        "requestBody": _form({"token": _s("An access or refresh token."), "token_type_hint": _s("access_token | refresh_token"),
                              "client_id": _s("Public clients: their client id.")}, ["token"]),
        "responses": {"200": {"description": "Revoked (also answered for unknown tokens)."}},
    }},
    "/introspect": {"post": {
        "operationId": "oauth_introspect", "tags": ["oauth"], "security": [],
        "summary": "Token introspection (RFC 7662)",
        "description": "Needs a confidential client's credentials (HTTP Basic).",
        "requestBody": _form({"token": _s("The token to inspect.")}, ["token"]),
        "responses": {"200": _json({"type": "object", "properties": {
            "active": {"type": "boolean"}, "scope": {"type": "string"}, "exp": {"type": "integer"},
            "client_id": {"type": "string"}, "username": {"type": "string"},
            "aud": {"type": "array", "items": {"type": "string"}}}}, "active: false for unknown, expired or revoked tokens.")},
    }},
    "/oauth/register": {"post": {
        "operationId": "oauth_dynamic_client_registration", "tags": ["oauth"], "security": [],
        "summary": "Dynamic client registration (RFC 7591)",
        "description": "Open by default for public PKCE clients (token_endpoint_auth_method `none`) whose redirect URIs are "
        "loopback (any port) or https. PICARD_DCR_MODE=token requires `Authorization: Bearer <initial access token>`; "
        "PICARD_DCR_MODE=closed turns it off.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "properties": {
            "client_name": {"type": "string"}, "redirect_uris": {"type": "array", "items": {"type": "string"}},
            "token_endpoint_auth_method": {"type": "string", "enum": ["none"]},
            "grant_types": {"type": "array", "items": {"type": "string", "enum": ["authorization_code", "refresh_token"]}},
            "response_types": {"type": "array", "items": {"type": "string", "enum": ["code"]}}}, "required": ["redirect_uris"]},
            "example": {"client_name": "My MCP client", "redirect_uris": ["http://127.0.0.1:33418/callback"],
                        "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]}}}},
        "responses": {"201": _json({"type": "object"}, "client_id (UUID), registration_access_token, registration_client_uri."),
                      "400": _json(_OAUTH_ERROR, "invalid_client_metadata or invalid_redirect_uri"),
                      "401": _json(_OAUTH_ERROR, "Registration needs an initial access token / is closed.")},
    }},
    "/oauth/register/{client_id}": {
        method: {
            "operationId": f"oauth_dynamic_client_{name}", "tags": ["oauth"], "security": [{"registrationAccessToken": []}],
            "parameters": [{"in": "path", "name": "client_id", "required": True, "schema": {"type": "string"}}],
            "summary": f"{summary} a dynamically registered client (RFC 7592)",
            "description": "Authenticated with the `registration_access_token` from the registration answer "
            "(`Authorization: Bearer …`); updates obey the same policy as registration.",
            **({"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "properties": {
                "client_name": {"type": "string"}, "redirect_uris": {"type": "array", "items": {"type": "string"}},
                "token_endpoint_auth_method": {"type": "string", "enum": ["none"]},
                "grant_types": {"type": "array", "items": {"type": "string", "enum": ["authorization_code", "refresh_token"]}},
                "response_types": {"type": "array", "items": {"type": "string", "enum": ["code"]}}}, "required": ["redirect_uris"]}}}}}
               if method == "put" else {}),
            "responses": {**responses, "401": _json(_OAUTH_ERROR, "Missing, wrong or expired registration access token.")},
        } for method, name, summary, responses in (
            ("get", "read", "Read", {"200": _json({"type": "object"}, "The client's current metadata.")}),
            ("put", "update", "Update", {"200": _json({"type": "object"}, "The updated metadata."),
                                         "400": _json(_OAUTH_ERROR, "invalid_client_metadata or invalid_redirect_uri")}),
            ("delete", "delete", "Delete", {"204": {"description": "The client and its tokens are gone."}}),
        )
    },
}


def add_oauth_paths(result, generator, request, public):
    paths = result.setdefault("paths", {})
    for path, operations in OAUTH_PATHS.items():
        paths.setdefault(path, operations)
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes.setdefault("registrationAccessToken", {"type": "http", "scheme": "bearer",
                                                   "description": "The registration_access_token of RFC 7591/7592."})
    return result
