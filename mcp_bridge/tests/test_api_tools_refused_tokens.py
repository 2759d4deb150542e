"""A bearer token that is sent but refused (revoked, expired, unknown) is named as such on the
REST door — not "credentials were not provided", and not "CSRF Failed" when the browser also
sent its session cookie."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from oauth2_provider.models import get_access_token_model

from oauth.authentication import TOKEN_REFUSED_MESSAGE

pytestmark = pytest.mark.django_db

BODY = json.dumps({"tool": "retrieve_memories", "data": {}})


def _call(client: Client, token: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return client.post("/api/tools", BODY, content_type="application/json", **headers)


def _refused(response) -> str:
    assert response.status_code == 401, response.content
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")
    return error["message"]


def test_revoked_token_is_called_revoked_or_expired(alice, make_token):
    token = make_token(alice, resource=[])
    assert _call(Client(), token).status_code == 200
    get_access_token_model().objects.get(token=token).revoke()
    assert _refused(_call(Client(), token)) == TOKEN_REFUSED_MESSAGE
    assert TOKEN_REFUSED_MESSAGE.startswith("Token revoked or expired")


def test_revoked_token_with_a_session_cookie_is_not_a_csrf_failure(alice, make_token):
    token = make_token(alice, resource=[])
    get_access_token_model().objects.get(token=token).revoke()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert _refused(_call(browser, token)) == TOKEN_REFUSED_MESSAGE


def test_expired_and_unknown_tokens_are_called_revoked_or_expired(alice, make_token):
    expired = make_token(alice, resource=[], expires_in=-60)
    assert _refused(_call(Client(), expired)) == TOKEN_REFUSED_MESSAGE
    assert _refused(_call(Client(), "never-issued-token")) == TOKEN_REFUSED_MESSAGE


def test_missing_token_keeps_its_own_message(alice):
    assert _refused(_call(Client(), None)) == "Authentication credentials were not provided."
    assert _refused(_call(Client(), "")) == "Authentication credentials were not provided."


def test_token_for_another_resource_keeps_saying_so(alice, make_token):
    mcp_only = make_token(alice)  # bound to /mcp (RFC 8707): live, but not for this door
    assert _refused(_call(Client(), mcp_only)) == "The access token is not valid for this resource."
