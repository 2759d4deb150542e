"""The outside red-team pass of issue 18 ("Hardening, round two"), each attack replayed
against the real ASGI app under uvicorn (``mcp_server_factory``: a free loopback port, the
lifespan on) and refused. docs/security.md's "Tested attacks" table lists them by finding.
"""

from __future__ import annotations

import re

import httpx
import pytest

from oauth.testing import AppCredentials, OAuthBrowser, call_tool, exchange_code, hidden_fields, pkce_pair, token_request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(mcp_server_factory):
    return mcp_server_factory()


def _signed_in(base: str, user) -> OAuthBrowser:
    browser = OAuthBrowser(base)
    browser.login(user.username)
    return browser


def _tokens(base: str, browser: OAuthBrowser, app: AppCredentials) -> tuple[str, dict]:
    """One authorization-code + PKCE flow: (the code, the /token answer)."""
    verifier, challenge = pkce_pair()
    params = browser.get_code(client_id=app.client_id, challenge=challenge)
    issued = exchange_code(base, app=app, code=params["code"], verifier=verifier)
    assert issued.status_code == 200, issued.text
    return params["code"], {**issued.json(), "_verifier": verifier}


def _refresh(base: str, app: AppCredentials, refresh_token: str) -> httpx.Response:
    return token_request(base, {"grant_type": "refresh_token", "refresh_token": refresh_token}, auth=(app.client_id, app.client_secret))


# --- 4: approval_prompt=auto ---------------------------------------------------------------------


def test_approval_prompt_auto_still_shows_the_consent_page_for_a_client_approved_before(server, alice, oauth_app):
    browser = _signed_in(server.url, alice)
    try:
        _tokens(server.url, browser, oauth_app)  # approved once: a live token exists
        _, challenge = pkce_pair()
        page = browser.client.get(browser.authorize_url(client_id=oauth_app.client_id, challenge=challenge) + "&approval_prompt=auto")
        assert page.status_code == 200, (page.status_code, page.headers.get("location"))
        assert hidden_fields(page.text)["client_id"] == oauth_app.client_id  # the consent form, not a code
    finally:
        browser.close()


# --- 5: /introspect --------------------------------------------------------------------------------


def test_introspect_refuses_a_public_client_id_without_a_secret(server, alice, oauth_app, public_app):
    browser = _signed_in(server.url, alice)
    try:
        _, tokens = _tokens(server.url, browser, oauth_app)
    finally:
        browser.close()
    answer = httpx.post(f"{server.url}/introspect", data={"token": tokens["access_token"], "client_id": public_app.client_id})
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    assert "username" not in answer.text and alice.username not in answer.text
    wrong = httpx.post(f"{server.url}/introspect", data={"token": tokens["access_token"]}, auth=(oauth_app.client_id, "not-the-secret"))
    assert wrong.status_code == 401


def test_introspect_answers_inactive_for_another_clients_token_and_active_for_its_own(server, alice, oauth_app):
    from oauth.services import client_register

    other = client_register(name="Other confidential client", redirect_uris=["http://127.0.0.1:9/callback"])
    browser = _signed_in(server.url, alice)
    try:
        _, tokens = _tokens(server.url, browser, oauth_app)
    finally:
        browser.close()
    foreign = httpx.post(f"{server.url}/introspect", data={"token": tokens["access_token"]}, auth=(other.client_id, other.client_secret))
    assert foreign.status_code == 200 and foreign.json() == {"active": False}
    in_body = httpx.post(f"{server.url}/introspect", data={
        "token": tokens["access_token"], "client_id": other.client_id, "client_secret": other.client_secret})
    assert in_body.json() == {"active": False}
    own = httpx.post(f"{server.url}/introspect", data={"token": tokens["access_token"]}, auth=(oauth_app.client_id, oauth_app.client_secret))
    assert own.status_code == 200
    assert own.json()["active"] is True and own.json()["username"] == "alice" and own.json()["client_id"] == oauth_app.client_id
    # a token in the URL is never accepted
    assert httpx.get(f"{server.url}/introspect", params={"token": tokens["access_token"]},
                     auth=(oauth_app.client_id, oauth_app.client_secret)).status_code == 405


def test_introspect_is_rate_limited_per_ip(server, settings, oauth_app):
    settings.PICARD_RATE_LIMITS = {**settings.PICARD_RATE_LIMITS, "introspect": {**settings.PICARD_RATE_LIMITS["introspect"], "rate": "5/60"}}
    answers = [httpx.post(f"{server.url}/introspect", data={"token": f"guess-{i}"}, auth=(oauth_app.client_id, oauth_app.client_secret))
               for i in range(7)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
    assert answers[-1].headers["Retry-After"]
    assert answers[-1].json()["error"] == "slow_down"  # an OAuth endpoint: OAuth's error shape (issue 19)


def test_server_metadata_says_introspection_needs_a_client_secret(server):
    metadata = httpx.get(f"{server.url}/.well-known/oauth-authorization-server").json()
    assert metadata["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]


# --- 9: a replayed authorization code -----------------------------------------------------------------


def test_a_replayed_authorization_code_revokes_the_tokens_of_its_first_use(server, alice, oauth_app):
    browser = _signed_in(server.url, alice)
    try:
        code, tokens = _tokens(server.url, browser, oauth_app)
    finally:
        browser.close()
    assert call_tool(server.url, tokens["access_token"], "get_memories", {}).status_code == 200
    refreshed = _refresh(server.url, oauth_app, tokens["refresh_token"])  # the family grows before the replay
    assert refreshed.status_code == 200

    replay = exchange_code(server.url, app=oauth_app, code=code, verifier=tokens["_verifier"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"

    assert call_tool(server.url, refreshed.json()["access_token"], "get_memories", {}).status_code == 401
    assert _refresh(server.url, oauth_app, refreshed.json()["refresh_token"]).status_code == 400
    from oauth2_provider.models import AccessToken

    assert not AccessToken.objects.filter(user=alice).exists()
    from memories.models import Activity

    assert Activity.objects.filter(actor=alice, action="oauth.code.replay").exists()  # on alice's timeline


# --- 10: deactivation ---------------------------------------------------------------------------------


def test_deactivating_a_user_in_the_admin_revokes_every_grant(server, make_user, alice, oauth_app):
    from oauth.services import personal_token_create

    admin = make_user("root", is_staff=True, is_superuser=True)
    browser = _signed_in(server.url, alice)
    try:
        _, tokens = _tokens(server.url, browser, oauth_app)
    finally:
        browser.close()
    personal = personal_token_create(user=alice, name="script", scopes=["memories:read"], expires_days=30)
    assert call_tool(server.url, personal.raw, "get_memories", {}).status_code == 200
    staff = _signed_in(server.url, admin)
    try:
        changelist = staff.client.get("/admin/picard/user/")
        assert changelist.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', changelist.text).group(1)
        done = staff.client.post("/admin/picard/user/", data={
            "csrfmiddlewaretoken": token, "action": "deactivate_users", "_selected_action": str(alice.pk), "index": "0"},
            headers={"Referer": f"{server.url}/admin/picard/user/"})
        assert done.status_code == 302, done.text[:500]
    finally:
        staff.close()
    alice.refresh_from_db()
    assert not alice.is_active
    assert call_tool(server.url, tokens["access_token"], "get_memories", {}).status_code == 401
    refused = _refresh(server.url, oauth_app, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert call_tool(server.url, personal.raw, "get_memories", {}).status_code == 401
    personal.token.refresh_from_db()
    assert personal.token.revoked_at is not None  # shown as revoked on the tokens page


def test_a_refresh_for_an_inactive_user_is_refused_even_with_a_live_refresh_token(server, alice, oauth_app):
    browser = _signed_in(server.url, alice)
    try:
        _, tokens = _tokens(server.url, browser, oauth_app)
    finally:
        browser.close()
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)  # behind Picard's back: no revocation ran
    refused = _refresh(server.url, oauth_app, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


# --- 6: import reveals whether a memory id exists ------------------------------------------------------


def _csrf(browser: OAuthBrowser, path: str) -> str:
    page = browser.client.get(path)
    assert page.status_code == 200, page.status_code
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def _import_over_http(base: str, browser: OAuthBrowser, rows: list[dict]) -> dict:
    """Upload ``rows`` as JSON on the import page, start the job, return its final status."""
    import json
    import time

    token = _csrf(browser, "/memories/import")
    uploaded = browser.client.post("/memories/import", data={"csrfmiddlewaretoken": token, "format": ""},
                                   files={"file": ("rows.json", json.dumps(rows).encode(), "application/json")},
                                   headers={"Referer": f"{base}/memories/import"})
    assert uploaded.status_code == 302, uploaded.text[:500]
    job_path = uploaded.headers["location"]
    started = browser.client.post(f"{job_path}/start", data={"csrfmiddlewaretoken": token}, headers={"Referer": base + job_path})
    assert started.status_code == 302
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = browser.client.get(f"{job_path}/status").json()
        if status["status"] == "done":
            return status
        time.sleep(0.2)
    raise AssertionError(f"the import did not finish: {status}")


def _exported_ids(browser: OAuthBrowser) -> dict[str, str]:
    import json

    export = browser.client.get("/memories/export", params={"format": "jsonl"})
    assert export.status_code == 200
    return {record["text"]: record["id"] for record in map(json.loads, export.text.splitlines()) if record}


def test_import_never_tells_whether_a_memory_id_exists(server, alice, bob):
    from memories import services

    secret = services.memory_create(actor=bob, text="bob's private diary")
    free_id = "11111111-2222-4333-8444-555555555555"
    browser = _signed_in(server.url, alice)
    try:
        status = _import_over_http(server.url, browser, [
            {"id": str(secret.id), "text": "probe for a taken id"},
            {"id": free_id, "text": "probe for a free id"},
        ])
        assert (status["created"], status["skipped"], status["failed"]) == (2, 0, 0)
        ids = _exported_ids(browser)
    finally:
        browser.close()
    # both probes got fresh ids: the taken and the free id look the same to the importer
    assert ids["probe for a taken id"] not in (str(secret.id), free_id)
    assert ids["probe for a free id"] not in (str(secret.id), free_id)


def test_restoring_your_own_export_after_deleting_keeps_the_ids(server, alice):
    browser = _signed_in(server.url, alice)
    try:
        from memories import services
        from memories.models import Memory

        mine = services.memory_create(actor=alice, text="my own note")
        before = _exported_ids(browser)
        Memory.objects.filter(pk=mine.pk).delete()
        status = _import_over_http(server.url, browser, [{"id": str(mine.id), "text": "my own note"}])
        assert status["created"] == 1
        assert _exported_ids(browser) == before == {"my own note": str(mine.id)}
    finally:
        browser.close()


# --- 7: password-reset links in the server log ------------------------------------------------------
# (the request and access logs: picard/tests/test_log_secrets.py opens a reset link and
# finds its token in no log line)


def _production_env(**extra) -> dict:
    import os

    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PICARD_", "DJANGO_", "DATABASE_", "EMAIL_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="picard.settings.production", SECRET_KEY="s" * 60, PICARD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        PICARD_TERM_HASH_KEY="term-hash-test-key", DATABASE_URL="postgres://nobody:nothing@127.0.0.1:1/picard",
        PICARD_PUBLIC_URL="https://picard.example.com", ALLOWED_HOSTS="picard.example.com", **extra,
    )
    return env


def test_production_refuses_to_start_with_the_console_email_backend():
    import subprocess
    import sys

    from django.conf import settings as django_settings

    from picard.testing import free_port

    serve = [sys.executable, "-m", "uvicorn", "picard.asgi:application", "--host", "127.0.0.1", "--port", str(free_port())]
    refused = subprocess.run(serve, cwd=django_settings.BASE_DIR, env=_production_env(), capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert "EMAIL_URL" in refused.stderr and "PICARD_ALLOW_CONSOLE_EMAIL" in refused.stderr, refused.stderr[-2000:]
    load = "import django; django.setup(); from django.conf import settings; print(settings.EMAIL_BACKEND)"
    allowed = subprocess.run([sys.executable, "-c", load], cwd=django_settings.BASE_DIR, env=_production_env(PICARD_ALLOW_CONSOLE_EMAIL="true"),
                             capture_output=True, text=True, timeout=120)
    assert allowed.returncode == 0 and allowed.stdout.strip() == "django.core.mail.backends.console.EmailBackend", allowed.stderr[-2000:]
    smtp = subprocess.run([sys.executable, "-c", load], cwd=django_settings.BASE_DIR, env=_production_env(EMAIL_URL="smtp+tls://u:p@mail.example.com:587"),
                          capture_output=True, text=True, timeout=120)
    assert smtp.returncode == 0 and smtp.stdout.strip() == "django.core.mail.backends.smtp.EmailBackend", smtp.stderr[-2000:]


# --- 8: /password-reset mail-bombing ------------------------------------------------------------------


def _ask_reset(base: str, email: str) -> httpx.Response:
    with httpx.Client(base_url=base, timeout=30) as browser:
        page = browser.get("/password-reset")
        return browser.post("/password-reset", data={**hidden_fields(page.text), "email": email})


def test_password_reset_is_limited_per_address_and_sends_no_more_mail(server, alice):
    from django.core import mail

    answers = [_ask_reset(server.url, "Alice@Example.com" if i % 2 else alice.email) for i in range(5)]
    assert [a.status_code for a in answers] == [302, 302, 302, 429, 429]  # 3 per hour per address, any spelling
    assert answers[-1].headers["Retry-After"]
    assert len([m for m in mail.outbox if alice.email in m.to]) == 3
    assert _ask_reset(server.url, "someone.else@example.com").status_code == 302  # other addresses still work


def test_password_reset_is_limited_per_ip(server, settings):
    settings.PICARD_RATE_LIMITS = {**settings.PICARD_RATE_LIMITS, "password_reset": {**settings.PICARD_RATE_LIMITS["password_reset"], "rate": "4/3600"}}
    answers = [_ask_reset(server.url, f"nobody{i}@example.com") for i in range(6)]
    assert [a.status_code for a in answers] == [302] * 4 + [429] * 2


# --- 12: MCP sessions per token and per user ---------------------------------------------------------

_MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _open_session(server, token: str) -> str:
    answer = httpx.post(server.mcp_url, headers={**_MCP_HEADERS, "Authorization": f"Bearer {token}"}, json={
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "session-pinner", "version": "1"}}})
    assert answer.status_code == 200, answer.text
    return answer.headers["mcp-session-id"]


def _session_answers(server, token: str, session_id: str) -> int:
    """The status of a ping in ``session_id``: 200 while it is open, 404 once closed."""
    answer = httpx.post(server.mcp_url, headers={**_MCP_HEADERS, "Authorization": f"Bearer {token}", "Mcp-Session-Id": session_id},
                        json={"jsonrpc": "2.0", "id": 2, "method": "ping"})
    return answer.status_code


def test_mcp_sessions_are_capped_per_token_and_the_least_recently_used_is_closed(mcp_server_factory, settings, alice, make_token):
    settings.PICARD_MCP_MAX_SESSIONS_PER_TOKEN = 3
    server = mcp_server_factory()
    token = make_token(alice)
    first, second, third = (_open_session(server, token) for _ in range(3))
    assert _session_answers(server, token, first) == 200  # `first` is used again: `second` is now the oldest idle
    fourth = _open_session(server, token)
    assert _session_answers(server, token, second) == 404
    assert [_session_answers(server, token, sid) for sid in (first, third, fourth)] == [200, 200, 200]
    for _ in range(20):  # pinning many more still leaves three open
        _open_session(server, token)
    assert len(server.app.mcp.session_caps.open_sessions(token=token)) == 3


def test_mcp_sessions_are_capped_per_user_across_tokens(mcp_server_factory, settings, alice, bob, make_token):
    settings.PICARD_MCP_MAX_SESSIONS_PER_TOKEN = 3
    settings.PICARD_MCP_MAX_SESSIONS_PER_USER = 4
    server = mcp_server_factory()
    one, two, bobs = make_token(alice), make_token(alice), make_token(bob)
    bob_session = _open_session(server, bobs)
    alice_first = _open_session(server, one)
    for _ in range(2):
        _open_session(server, one)
    for _ in range(2):
        _open_session(server, two)  # alice's fifth session: her oldest goes
    assert _session_answers(server, one, alice_first) == 404
    assert len(server.app.mcp.session_caps.open_sessions(user_id=alice.pk)) == 4
    assert _session_answers(server, bobs, bob_session) == 200  # another person's sessions are not touched


# --- 13: an interrupted import resumes at start-up ------------------------------------------------------


def test_an_interrupted_import_resumes_when_the_server_starts_without_anyone_opening_its_page(mcp_server_factory, settings, alice):
    import json
    import time
    from datetime import timedelta

    from django.utils import timezone

    from memories import importexport
    from memories.models import ImportJob, Memory

    rows = [{"text": f"imported note {i}"} for i in range(12)]
    job, _ = importexport.import_job_create(actor=alice, filename="notes.json", raw=json.dumps(rows).encode())
    importexport.import_job_start(actor=alice, job_id=job.id)
    # its worker died (kill -9 / a restart) after claiming it: the lease is long stale
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.RUNNING, worker="dead-worker",
                                               heartbeat_at=timezone.now() - timedelta(hours=1))
    settings.PICARD_IMPORT_RESUME_ON_START = True
    mcp_server_factory()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and ImportJob.objects.get(id=job.id).status != ImportJob.Status.DONE:
        time.sleep(0.2)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.created_count == 12
    assert sorted(m.text for m in Memory.objects.filter(owner=alice)) == sorted(r["text"] for r in rows)


# --- informational: private pages are never cached -------------------------------------------------------


def test_signed_in_pages_and_credentialed_answers_say_no_store(server, alice, make_token):
    from memories import services

    services.memory_create(actor=alice, text="what a shared computer's browser cache must not keep")
    browser = _signed_in(server.url, alice)
    try:
        for path in ("/memories/", "/account/settings", "/connected-apps"):
            page = browser.client.get(path)
            assert page.status_code == 200, path
            assert "no-store" in page.headers.get("cache-control", ""), (path, page.headers.get("cache-control"))
    finally:
        browser.close()
    api = call_tool(server.url, make_token(alice, resource=[]), "get_memories", {})
    assert api.status_code == 200 and "no-store" in api.headers.get("cache-control", "")
    public = httpx.get(f"{server.url}/")
    assert "no-store" not in public.headers.get("cache-control", "")  # anonymous pages are not private


# --- informational: the partner user-token flow never acts for staff ---------------------------------------


@pytest.mark.parametrize("kind", ["staff", "superuser"])
def test_the_user_token_flow_refuses_staff_and_superuser_accounts(server, make_user, kind):
    from oauth.services import client_register

    partner = client_register(name="Partner", redirect_uris=["https://partner.example.com/cb"], allow_user_token_flow=True)
    target = make_user(f"boss-{kind}", is_staff=True, is_superuser=kind == "superuser")
    answer = httpx.post(f"{server.url}/api/user-tokens/user-token", json={
        "client_id": partner.client_id, "client_secret": partner.client_secret, "username": target.username, "email": target.email})
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden", answer.text
    assert "access_token" not in answer.text
