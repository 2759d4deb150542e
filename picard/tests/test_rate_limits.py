"""Rate limits (429 + Retry-After) on the auth endpoints (counted in PostgreSQL, shared by
every worker) and per verified token on the tools (counted in the worker); the login
back-off; random bearer values do not escape the limits (issue 18, finding 1)."""

from __future__ import annotations

import datetime as dt
import secrets

import httpx
import pytest
from oauth2_provider.models import get_access_token_model, get_application_model

from picard import ratelimit
from picard.exceptions import RateLimited
from picard.models import RateLimitCounter

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_limits(settings):
    settings.PICARD_RATE_LIMITS = {
        **settings.PICARD_RATE_LIMITS,
        "token": {"path": r"^/(o/|oauth/)?token/?$", "methods": ["POST"], "rate": "3/3600", "key": "ip"},
        "tools": {"path": r"^/api/tools/?$", "methods": ["POST"], "rate": "2/3600", "key": "token", "store": "local"},
        "mcp": {"path": r"^/mcp/?$", "methods": ["POST"], "rate": "2/3600", "key": "token", "store": "local"},
    }
    return settings


def _access_token(user, settings) -> str:
    """A verified bearer token, made as Picard's authorization server would."""
    application = get_application_model().objects.create(
        name="rate test client", client_type="public", authorization_grant_type="authorization-code",
        redirect_uris="http://127.0.0.1:9/callback", user=None,
    )
    raw = secrets.token_urlsafe(32)
    get_access_token_model().objects.create(
        user=user, application=application, token=raw, scope="memories:read memories:write",
        expires=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    return raw


def test_counter_refuses_past_the_limit_and_resets_with_the_next_window():
    for _ in range(3):
        ratelimit.hit("unit:a", limit=3, window=60, now=1_000_000.0)
    with pytest.raises(RateLimited) as exc:
        ratelimit.hit("unit:a", limit=3, window=60, now=1_000_010.0)
    assert exc.value.retry_after == 1_000_020 - 1_000_010  # the window started at 999_960
    assert ratelimit.hit("unit:a", limit=3, window=60, now=1_000_021.0) == 1


def test_token_endpoint_answers_429_with_retry_after(client, low_limits):
    statuses = [client.post("/token", {"grant_type": "refresh_token", "refresh_token": "x"}).status_code for _ in range(3)]
    assert 429 not in statuses
    response = client.post("/token", {"grant_type": "refresh_token", "refresh_token": "x"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 3600
    # An OAuth endpoint answers in OAuth's error shape (RFC 6749 §5.2), which OAuth clients read.
    assert response.json()["error"] == "slow_down"
    assert "Too many requests" in response.json()["error_description"]
    # another client address has its own budget
    assert client.post("/token", {"grant_type": "x"}, REMOTE_ADDR="10.0.0.9").status_code != 429


def test_tools_are_limited_per_verified_token_and_tokens_are_never_stored(client, low_limits, alice):
    first, second = _access_token(alice, low_limits), _access_token(alice, low_limits)
    call = {"tool": "get_memories", "data": {}}
    for _ in range(2):
        assert client.post("/api/tools", call, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {first}").status_code == 200
    limited = client.post("/api/tools", call, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {first}")
    assert limited.status_code == 429
    assert "Retry-After" in limited
    # another token of the same person, from the same address, has its own budget
    assert client.post("/api/tools", call, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {second}").status_code == 200
    keys = list(RateLimitCounter.objects.values_list("key", flat=True)) + list(ratelimit.local_counters._counts)
    assert keys and not any(first in k or second in k for k in keys)


@pytest.mark.django_db(transaction=True)
def test_mcp_is_limited_per_token_at_the_asgi_edge(edge_server, low_limits):
    headers = {"Authorization": "Bearer mcp-token-abc", "Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    with httpx.Client(base_url=edge_server, timeout=30) as http:
        statuses = [http.post("/mcp", json=body, headers=headers).status_code for _ in range(3)]
        assert statuses[:2].count(429) == 0 and statuses[2] == 429
        limited = http.post("/mcp", json=body, headers=headers)
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) >= 1


def test_login_backs_off_after_repeated_failures_then_recovers_on_success(client, make_user, settings):
    settings.PICARD_LOGIN_BACKOFF = {"failures_per_user": 3, "failures_per_ip": 100, "window": 900}
    user = make_user("mallory-target", is_staff=True)
    for _ in range(3):
        response = client.post("/admin/login/", {"username": user.username, "password": "wrong"})
        assert response.status_code == 200  # the form again, with an error
    blocked = client.post("/admin/login/", {"username": user.username, "password": "correct horse battery"})
    assert blocked.status_code == 429
    assert 1 <= int(blocked["Retry-After"]) <= 900
    assert "Too many failed sign-in attempts" in blocked.content.decode()
    # the same account from another address is not locked out by the attacker
    ok = client.post("/admin/login/", {"username": user.username, "password": "correct horse battery"}, REMOTE_ADDR="10.1.2.3")
    assert ok.status_code == 302


def test_login_ip_limit_covers_many_usernames(client, settings):
    settings.PICARD_LOGIN_BACKOFF = {"failures_per_user": 100, "failures_per_ip": 4, "window": 900}
    for n in range(4):
        client.post("/admin/login/", {"username": f"guess{n}", "password": "wrong"})
    assert client.post("/admin/login/", {"username": "guess-next", "password": "wrong"}).status_code == 429


def test_successful_login_clears_the_failure_count(client, make_user, settings):
    settings.PICARD_LOGIN_BACKOFF = {"failures_per_user": 3, "failures_per_ip": 100, "window": 900}
    user = make_user("forgetful", is_staff=True)
    for _ in range(2):
        client.post("/admin/login/", {"username": user.username, "password": "wrong"})
    assert client.post("/admin/login/", {"username": user.username, "password": "correct horse battery"}).status_code == 302
    client.logout()
    for _ in range(2):
        assert client.post("/admin/login/", {"username": user.username, "password": "wrong"}).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/api/tools", "/mcp"])
def test_random_bearer_values_are_limited_per_client_ip_and_leave_no_counters(edge_server, low_limits, path):
    """The red-team attack (issue 18, finding 1): a fresh random ``Authorization: Bearer`` on
    every request used to get a fresh budget (and a fresh counter row) each time."""
    counters_before = len(ratelimit.local_counters)
    rows_before = RateLimitCounter.objects.count()
    body = {"tool": "get_memories", "data": {}} if path == "/api/tools" else {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    statuses = []
    with httpx.Client(base_url=edge_server, timeout=30) as http:
        for _ in range(12):
            response = http.post(path, json=body, headers={
                "Authorization": f"Bearer {secrets.token_hex(20)}", "Accept": "application/json, text/event-stream",
            })
            statuses.append(response.status_code)
        assert statuses[:2] == [401, 401]
        assert set(statuses[2:]) == {429}
        assert int(response.headers["Retry-After"]) >= 1
    # one counter for the client address, none per garbage value
    assert len(ratelimit.local_counters) <= counters_before + 1
    assert RateLimitCounter.objects.count() == rows_before


@pytest.mark.django_db(transaction=True)
def test_a_verified_token_is_not_starved_by_garbage_from_another_address_budget(edge_server, low_limits, alice):
    """Per-token limits apply to tokens that verified: a good token's own budget is counted
    per token, not per address."""
    token = _access_token(alice, low_limits)
    with httpx.Client(base_url=edge_server, timeout=30) as http:
        good = [http.post("/api/tools", json={"tool": "get_memories", "data": {}}, headers={"Authorization": f"Bearer {token}"}).status_code
                for _ in range(3)]
    assert good == [200, 200, 429]
