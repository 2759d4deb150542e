"""No secret and no memory text ever reaches a log line.

The whole life of a client runs against the real ASGI app under uvicorn with Picard's own
logging configuration at its most verbose (LOG_LEVEL=DEBUG, JSON lines, plus uvicorn's
access log, which the default configuration keeps quiet): an admin registers a confidential
client (secret shown once), a person mistypes the password and then signs in, authorizes
with PKCE, the code is exchanged (and replayed), the refresh token is rotated, a wrong
client secret is tried, the user-token flow issues tokens, and tools are called through
/api/tools and /mcp with private memory text (one call is refused, one body is malformed).
Every line written is then searched for each secret.

What this found and fixed (picard/logging.py): at DEBUG oauthlib logs authorization codes
and access/refresh tokens, and mcp / sse_starlette log whole JSON-RPC messages and SSE
chunks (memory text) — those loggers are now held at INFO whatever LOG_LEVEL says, and the
redaction filter also masks Python-repr dicts (``'access_token': '…'``).

``django.db.backends`` stays as production runs it: Django logs SQL only with DEBUG=True
(never in production), and DOT stores authorization codes in clear, so SQL logs would
show them — docs/security.md says so.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import secrets

import httpx
import pytest
from django.conf import settings as django_settings

from mcp_bridge.tests.mcp_client import with_client
from oauth.testing import REDIRECT_URI, OAuthBrowser, call_tool, exchange_code, pkce_pair, token_request
from picard.logging import logging_config

PASSWORD = "correct horse battery"  # conftest.make_user's password
WRONG_PASSWORD = "Tr0ub4dor&3-wrong-" + secrets.token_hex(4)


@pytest.fixture
def written_log():
    """``install()`` applies Picard's own logging configuration at LOG_LEVEL=DEBUG (JSON
    lines, request-id and redaction filters) with uvicorn's access log switched on too, and
    returns the buffer the one console handler writes to. Call it once the server runs
    (starting it configures logging)."""
    buffer = io.StringIO()

    def install() -> io.StringIO:
        logging.config.dictConfig(logging_config(fmt="json", level="DEBUG"))
        logging.getLogger("uvicorn.access").setLevel(logging.DEBUG)
        (console,) = logging.getLogger().handlers
        console.setStream(buffer)
        return buffer

    yield install
    logging.config.dictConfig(django_settings.LOGGING)


@pytest.mark.django_db(transaction=True)
def test_no_secret_token_code_password_verifier_or_memory_text_is_ever_logged(mcp_server_factory, make_user, make_token, written_log):
    server = mcp_server_factory()
    base = server.url
    log = written_log()
    admin = make_user("logadmin", is_staff=True)
    admin_token = make_token(admin, scope="memories:admin", resource=[])
    alice = make_user("alice")
    secrets_seen: dict[str, str] = {"password": PASSWORD, "wrong password": WRONG_PASSWORD, "admin token": admin_token}

    # an administrator registers a confidential client
    registered = httpx.post(f"{base}/api/admin/clients/register", headers={"Authorization": f"Bearer {admin_token}"}, json={
        "client_name": "Log test client", "redirect_uris": [REDIRECT_URI], "allow_user_token_flow": True,
    })
    assert registered.status_code == 201, registered.text
    client_id, client_secret = registered.json()["data"]["client_id"], registered.json()["data"]["client_secret"]
    secrets_seen["client secret"] = client_secret

    # a person mistypes the password, then signs in
    browser = OAuthBrowser(base)
    try:
        page = browser.client.get("/login")
        wrong = browser.client.post("/login", data={**_hidden(page.text), "username": "alice", "password": WRONG_PASSWORD})
        assert wrong.status_code == 200  # the form again, with an error
        browser.login("alice", PASSWORD)
        from oauth.testing import AppCredentials

        app = AppCredentials(client_id, client_secret)
        tokens = {}
        for resource in (None, server.mcp_url):  # one token for the REST API, one bound to /mcp
            verifier, challenge = pkce_pair()
            params = browser.get_code(client_id=client_id, challenge=challenge, resource=resource)
            secrets_seen[f"code {resource}"] = params["code"]
            secrets_seen[f"verifier {resource}"] = verifier
            issued = exchange_code(base, app=app, code=params["code"], verifier=verifier, **({"resource": resource} if resource else {}))
            assert issued.status_code == 200, issued.text
            tokens[resource] = issued.json()
        # replaying a used code is refused (and logged as a failure); it revokes that code's
        # tokens, so it is a third code, not one of the two whose tokens are used below
        verifier, challenge = pkce_pair()
        params = browser.get_code(client_id=client_id, challenge=challenge)
        secrets_seen["replayed code"], secrets_seen["replayed verifier"] = params["code"], verifier
        issued = exchange_code(base, app=app, code=params["code"], verifier=verifier)
        assert issued.status_code == 200, issued.text
        secrets_seen["replayed code's access"] = issued.json()["access_token"]
        assert exchange_code(base, app=app, code=params["code"], verifier=verifier).status_code == 400
    finally:
        browser.close()
    for resource, token in tokens.items():
        secrets_seen[f"access {resource}"] = token["access_token"]
        secrets_seen[f"refresh {resource}"] = token["refresh_token"]

    refreshed = token_request(base, {"grant_type": "refresh_token", "refresh_token": tokens[None]["refresh_token"]}, auth=(client_id, client_secret))
    assert refreshed.status_code == 200, refreshed.text
    secrets_seen["refreshed access"] = refreshed.json()["access_token"]
    secrets_seen["refreshed refresh"] = refreshed.json()["refresh_token"]
    # a wrong client secret on /token
    bad_secret = "wrong-secret-" + secrets.token_hex(8)
    secrets_seen["wrong client secret"] = bad_secret
    assert token_request(base, {"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"]},
                         auth=(client_id, bad_secret)).status_code == 401

    user_token = httpx.post(f"{base}/api/user-tokens/user-token", json={
        "client_id": client_id, "client_secret": client_secret, "username": "partneruser",
        "email": "partneruser@example.com", "create_if_missing": True})
    assert user_token.status_code == 200, user_token.text
    secrets_seen["user-token access"] = user_token.json()["data"]["access_token"]
    secrets_seen["user-token refresh"] = user_token.json()["data"]["refresh_token"]

    # a password reset: the e-mail's link is an account-takeover token, opened in a browser
    reset_link, new_password = _password_reset(base, alice)
    secrets_seen["reset link token"] = reset_link.rstrip("/").rsplit("/", 1)[-1]
    secrets_seen["new password"] = new_password

    # tools with private memory text, through both doors
    access = refreshed.json()["access_token"]
    diary = "my diary: the surprise party for Marguerite is on the 14th " + secrets.token_hex(6)
    other = "the locker code is " + secrets.token_hex(6)
    secrets_seen["memory text"], secrets_seen["other memory text"] = diary, other
    saved = call_tool(base, access, "submit_memory", {"text": diary, "tags": ["private"]})
    assert saved.status_code == 200, saved.text
    assert call_tool(base, access, "query_memory", {"query": diary}).status_code == 200
    refused = call_tool(base, access, "submit_memory", {"text": diary + " \u0000", "permission": "nope"})
    assert refused.status_code == 400
    broken = httpx.post(f"{base}/api/tools", content=b'{"tool": "submit_memory", "data": {"text": "' + diary.encode() + b'"',
                        headers={"Authorization": f"Bearer {access}", "Content-Type": "application/json"})
    assert broken.status_code == 400
    assert call_tool(base, secrets_seen["user-token access"], "submit_memory", {"text": other}).status_code == 200

    async def use_mcp(client):
        await client.call_tool("submit_memory", {"text": other + " via mcp"})
        await client.call_tool("query_memory", {"query": diary})
        await client.call_tool("update_memory", {"memory_id": "not-a-uuid", "text": diary})

    with_client(server.mcp_url, tokens[server.mcp_url]["access_token"], use_mcp)
    from memories.models import Memory

    assert Memory.objects.filter(owner=alice).count() == 2  # the diary and the MCP one; the refused call stored nothing

    texts = log.getvalue().splitlines()
    assert len(texts) > 50, "the capture saw too little to mean anything"
    loggers = {json.loads(text)["logger"] for text in texts}
    assert {"picard.request", "django.request", "uvicorn.access"} <= loggers, loggers
    leaks = {name: [text[:400] for text in texts if value in text] for name, value in secrets_seen.items()}
    leaks = {name: found for name, found in leaks.items() if found}
    assert not leaks, "\n".join(f"{name}: {found}" for name, found in leaks.items())


def _hidden(html: str) -> dict:
    from oauth.testing import hidden_fields

    return hidden_fields(html)


def _password_reset(base: str, user) -> tuple[str, str]:
    """Ask for a reset on /password-reset, open the e-mailed link, set a new password.
    Returns (the link, the new password)."""
    import re

    from django.core import mail

    new_password = "Fresh-" + secrets.token_hex(8) + "-horse"
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as browser:
        page = browser.get("/password-reset")
        sent = browser.post("/password-reset", data={**_hidden(page.text), "email": user.email})
        assert sent.status_code == 302, sent.text[:300]
        (message,) = [m for m in mail.outbox if user.email in m.to]
        link = re.search(r"https?://\S+/password-reset/\S+", message.body).group(0)
        opened = browser.get(link.split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
        assert opened.status_code == 302, opened.status_code  # to …/set-password, the token now in the session
        form = browser.get(opened.headers["location"])
        done = browser.post(opened.headers["location"], data={**_hidden(form.text), "new_password1": new_password, "new_password2": new_password})
        assert done.status_code == 302 and done.headers["location"].endswith("/password-reset/done"), done.text[:300]
    return link, new_password
