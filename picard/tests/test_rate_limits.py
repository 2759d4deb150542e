"""Rate limits (429 + Retry-After) on the auth endpoints and per token on the tools, counted
in PostgreSQL so that every worker process shares them; and the login back-off."""

from __future__ import annotations

import httpx
import pytest

from picard import ratelimit
from picard.exceptions import RateLimited
from picard.models import RateLimitCounter

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_limits(settings):
    settings.PICARD_RATE_LIMITS = {
        **settings.PICARD_RATE_LIMITS,
        "token": {"path": r"^/(o/|oauth/)?token/?$", "methods": ["POST"], "rate": "3/3600", "key": "ip"},
        "tools": {"path": r"^/api/tools/?$", "methods": ["POST"], "rate": "2/3600", "key": "token"},
        "mcp": {"path": r"^/mcp/?$", "methods": ["POST"], "rate": "2/3600", "key": "token"},
    }
    return settings


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
    assert response.json()["error"]["code"] == "rate_limited"
    # another client address has its own budget
    assert client.post("/token", {"grant_type": "x"}, REMOTE_ADDR="10.0.0.9").status_code != 429


def test_tools_are_limited_per_token_and_tokens_are_never_stored(client, low_limits):
    first, second = "first-token-0123456789abcdef", "second-token-0123456789abcdef"
    for _ in range(2):
        assert client.post("/api/tools", {}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {first}").status_code != 429
    limited = client.post("/api/tools", {}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {first}")
    assert limited.status_code == 429
    assert "Retry-After" in limited
    assert client.post("/api/tools", {}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {second}").status_code != 429
    keys = list(RateLimitCounter.objects.values_list("key", flat=True))
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
