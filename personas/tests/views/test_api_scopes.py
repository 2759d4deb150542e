"""The REST door checks OAuth scopes: reading/asking needs memories:read, changing your
persona needs memories:write."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model


@pytest.fixture
def bearer(alice):
    def _token(scope: str) -> dict:
        app = get_application_model().objects.create(
            name="test app", user=alice, client_type="confidential", authorization_grant_type="authorization-code",
            redirect_uris="http://127.0.0.1/cb",
        )
        token = get_access_token_model().objects.create(
            user=alice, application=app, token=f"tok-{scope}-{app.pk}", scope=scope,
            expires=timezone.now() + timedelta(hours=1),
        )
        return {"HTTP_AUTHORIZATION": f"Bearer {token.token}"}
    return _token


def test_read_scope_may_read_and_ask_but_not_change(client, extractive, alice, bearer):
    headers = bearer("memories:read")
    assert client.get("/api/personas/me", **headers).status_code == 200
    assert client.post(f"/api/personas/{alice.id}/ask", {"prompt": "hi"}, content_type="application/json", **headers).status_code == 200
    response = client.patch("/api/personas/me", {"bio": "x"}, content_type="application/json", **headers)
    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"


def test_write_scope_alone_may_change_but_not_ask(client, extractive, alice, bearer):
    headers = bearer("memories:write")
    assert client.patch("/api/personas/me", {"bio": "x"}, content_type="application/json", **headers).status_code == 200
    response = client.post(f"/api/personas/{alice.id}/ask", {"prompt": "hi"}, content_type="application/json", **headers)
    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"


def test_persona_endpoints_are_documented_in_openapi(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/personas/", "/api/personas/me", "/api/personas/{user_id}", "/api/personas/{user_id}/ask"} <= set(paths)
    ask = paths["/api/personas/{user_id}/ask"]["post"]
    assert "503" in ask["responses"] and ask["requestBody"]


def test_asking_past_the_model_call_limit_is_a_clear_429(client, llm, settings, alice, bob, bearer):
    settings.PICARD_LLM = {**settings.PICARD_LLM, "rate": "1/3600"}
    from memories.services import memory_create

    memory_create(actor=bob, text="Bob plays the cello.", permission="public")
    headers = bearer("memories:read")  # alice asks bob's persona
    url = f"/api/personas/{bob.id}/ask"
    assert client.post(url, {"prompt": "cello?"}, content_type="application/json", **headers).status_code == 200
    refused = client.post(url, {"prompt": "music?"}, content_type="application/json", **headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited" and int(refused["Retry-After"]) > 0
