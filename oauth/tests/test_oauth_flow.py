"""The authorization server over real HTTP: metadata, consent, PKCE, codes, refresh rotation,
revocation, introspection, expiry, scopes and disabled clients."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from oauth import services
from oauth.testing import REDIRECT_URI, OAuthBrowser, call_tool, exchange_code, pkce_pair, token_request


@pytest.fixture
def issuer(live_server, settings):
    """Make the configured issuer this live server, as PICARD_PUBLIC_URL would in production."""
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": live_server.url}
    return live_server.url


def _query(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _refresh(base_url, app, refresh_token) -> httpx.Response:
    return token_request(base_url, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                         auth=(app.client_id, app.client_secret))


# --- metadata -------------------------------------------------------------------------------


def test_metadata_advertises_one_exact_issuer_s256_and_only_safe_grants(issuer):
    meta = httpx.get(f"{issuer}/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == issuer and not meta["issuer"].endswith("/")
    assert meta["authorization_endpoint"] == f"{issuer}/authorize"
    assert meta["token_endpoint"] == f"{issuer}/token"
    assert meta["revocation_endpoint"] == f"{issuer}/revoke"
    assert meta["introspection_endpoint"] == f"{issuer}/introspect"
    assert meta["registration_endpoint"] == f"{issuer}/oauth/register"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert meta["response_types_supported"] == ["code"]
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    assert set(meta["scopes_supported"]) == {"memories:read", "memories:write", "memories:admin"}
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["client_id_metadata_document_supported"] is True


def test_issuer_defaults_to_the_public_url_without_trailing_slash(settings):
    assert settings.OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"] == settings.PICARD_PUBLIC_URL
    assert not settings.PICARD_PUBLIC_URL.endswith("/")


# --- the happy path and the consent page ----------------------------------------------------


def test_authorize_sends_a_signed_out_person_to_login_first(live_server, oauth_app):
    browser = OAuthBrowser(live_server.url)
    _, challenge = pkce_pair()
    response = browser.client.get(browser.authorize_url(client_id=oauth_app.client_id, challenge=challenge))
    assert response.status_code == 302
    assert response.headers["location"].startswith("/login?next=/authorize")
    browser.close()


def test_consent_page_names_client_redirect_host_and_scopes_and_deny_works(live_server, alice, browser_for, oauth_app):
    browser = browser_for(alice)
    _, challenge = pkce_pair()
    page = browser.consent_page(browser.authorize_url(client_id=oauth_app.client_id, challenge=challenge, state="s1"))
    assert page.status_code == 200
    assert "Test Client" in page.text and "127.0.0.1:9" in page.text
    assert "memories:read" in page.text and "Read and search your memories" in page.text
    assert "memories:write" in page.text and "Create, change and delete your memories" in page.text
    denied = browser.decide(page, allow=False)
    assert denied.status_code == 302
    params = _query(denied.headers["location"])
    assert params["error"] == "access_denied" and params["state"] == "s1" and "code" not in params
    assert not Grant.objects.exists()


def test_code_flow_issues_tokens_with_iss_and_state_and_hashed_storage(issuer, alice, browser_for, oauth_app):
    browser = browser_for(alice)
    verifier, challenge = pkce_pair()
    params = browser.get_code(client_id=oauth_app.client_id, challenge=challenge, state="abc")
    assert params["state"] == "abc" and params["iss"] == issuer
    grant = Grant.objects.get()
    assert grant.expires <= timezone.now() + timedelta(seconds=301)
    token = exchange_code(issuer, app=oauth_app, code=params["code"], verifier=verifier).json()
    assert token["expires_in"] == 3600
    stored = AccessToken.objects.get()
    assert stored.token == "" and stored.token_checksum  # only a checksum at rest
    assert token["access_token"] not in str(list(RefreshToken.objects.values_list("token", flat=True)))
    assert call_tool(issuer, token["access_token"], "retrieve_memories", {}).status_code == 200
    assert uuid.UUID(oauth_app.client_id).version == 4
    assert oauth_app.application.client_secret.startswith(("pbkdf2_", "argon2", "bcrypt", "md5"))


def test_loopback_redirect_any_port_and_public_client_without_secret(live_server, alice, browser_for, public_app):
    browser = browser_for(alice)
    verifier, challenge = pkce_pair()
    redirect = "http://127.0.0.1:53123/callback"
    params = browser.get_code(client_id=public_app.client_id, challenge=challenge, redirect_uri=redirect)
    assert params["_location"].startswith(redirect)
    response = exchange_code(live_server.url, app=public_app, code=params["code"], verifier=verifier, redirect_uri=redirect)
    assert response.status_code == 200, response.text


def test_resource_indicator_is_bound_to_the_token(live_server, alice, token_for, oauth_app):
    resource = f"{live_server.url}/mcp"
    token = token_for(alice, resource=resource)
    assert AccessToken.objects.get().resource == [resource]
    intro = httpx.post(f"{live_server.url}/introspect", data={"token": token["access_token"]},
                       auth=(oauth_app.client_id, oauth_app.client_secret)).json()
    assert intro["active"] is True and intro["aud"] == [resource]
    refreshed = _refresh(live_server.url, oauth_app, token["refresh_token"]).json()
    assert AccessToken.objects.get(token_checksum=__import__("hashlib").sha256(refreshed["access_token"].encode()).hexdigest()).resource == [resource]


# --- PKCE ------------------------------------------------------------------------------------


def test_missing_challenge_is_refused_even_for_confidential_clients(live_server, alice, browser_for, oauth_app):
    browser = browser_for(alice)
    response = browser.consent_page(browser.authorize_url(client_id=oauth_app.client_id, challenge=None, state="s"))
    assert response.status_code == 302
    params = _query(response.headers["location"])
    assert params["error"] == "invalid_request" and "code" not in params


def test_plain_challenge_is_refused(live_server, alice, browser_for, oauth_app):
    browser = browser_for(alice)
    verifier, _ = pkce_pair()
    response = browser.consent_page(browser.authorize_url(client_id=oauth_app.client_id, challenge=verifier, method="plain"))
    assert response.status_code == 302
    assert _query(response.headers["location"])["error"] == "invalid_request"
    assert not Grant.objects.exists()


def test_missing_and_wrong_verifier_are_refused(live_server, alice, browser_for, oauth_app):
    browser = browser_for(alice)
    verifier, challenge = pkce_pair()
    code = browser.get_code(client_id=oauth_app.client_id, challenge=challenge)["code"]
    missing = exchange_code(live_server.url, app=oauth_app, code=code, verifier=None)
    assert missing.status_code == 400 and missing.json()["error"] in ("invalid_request", "invalid_grant")
    wrong = exchange_code(live_server.url, app=oauth_app, code=code, verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


# --- codes -----------------------------------------------------------------------------------


def test_code_is_single_use(live_server, alice, browser_for, oauth_app):
    browser = browser_for(alice)
    verifier, challenge = pkce_pair()
    code = browser.get_code(client_id=oauth_app.client_id, challenge=challenge)["code"]
    assert exchange_code(live_server.url, app=oauth_app, code=code, verifier=verifier).status_code == 200
    again = exchange_code(live_server.url, app=oauth_app, code=code, verifier=verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_expired_code_is_refused(live_server, alice, browser_for, oauth_app):
    browser = browser_for(alice)
    verifier, challenge = pkce_pair()
    code = browser.get_code(client_id=oauth_app.client_id, challenge=challenge)["code"]
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))
    response = exchange_code(live_server.url, app=oauth_app, code=code, verifier=verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_unregistered_redirect_uri_is_an_error_page_not_a_redirect(live_server, alice, browser_for, oauth_app):
    browser = browser_for(alice)
    _, challenge = pkce_pair()
    for bad in ("https://evil.example.com/cb", "http://127.0.0.1:9/other-path", "https://client.example.com/cb/extra"):
        response = browser.consent_page(browser.authorize_url(client_id=oauth_app.client_id, challenge=challenge, redirect_uri=bad))
        assert response.status_code == 400, bad
        assert "location" not in response.headers


def test_token_request_with_a_different_redirect_uri_is_refused(live_server, alice, browser_for, oauth_app):
    browser = browser_for(alice)
    verifier, challenge = pkce_pair()
    code = browser.get_code(client_id=oauth_app.client_id, challenge=challenge)["code"]
    response = exchange_code(live_server.url, app=oauth_app, code=code, verifier=verifier, redirect_uri="https://client.example.com/cb")
    assert response.status_code == 400 and response.json()["error"] in ("invalid_request", "invalid_grant")


def test_unknown_scope_is_refused(live_server, alice, browser_for, oauth_app):
    browser = browser_for(alice)
    _, challenge = pkce_pair()
    response = browser.consent_page(browser.authorize_url(client_id=oauth_app.client_id, challenge=challenge, scope="memories:everything"))
    assert response.status_code == 302
    assert _query(response.headers["location"])["error"] == "invalid_scope"


def test_client_limited_to_read_cannot_get_write(live_server, alice, browser_for):
    registered = services.client_register(name="Reader", redirect_uris=[REDIRECT_URI], allowed_scopes=["memories:read"])
    browser = browser_for(alice)
    _, challenge = pkce_pair()
    response = browser.consent_page(browser.authorize_url(client_id=registered.client_id, challenge=challenge, scope="memories:read memories:write"))
    assert response.status_code == 302 and _query(response.headers["location"])["error"] == "invalid_scope"


# --- refresh, revocation, expiry, disabled clients -------------------------------------------


def test_refresh_rotates_and_reuse_revokes_the_family(live_server, alice, token_for, oauth_app, settings):
    # No grace window here: a reuse revokes at once (the window: oauth/tests/test_client_interop.py).
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0}
    first = token_for(alice)
    second = _refresh(live_server.url, oauth_app, first["refresh_token"])
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert call_tool(live_server.url, first["access_token"], "retrieve_memories", {}).status_code == 401
    assert call_tool(live_server.url, second["access_token"], "retrieve_memories", {}).status_code == 200
    reuse = _refresh(live_server.url, oauth_app, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    # the whole family is gone: the newest tokens no longer work either
    assert call_tool(live_server.url, second["access_token"], "retrieve_memories", {}).status_code == 401
    assert _refresh(live_server.url, oauth_app, second["refresh_token"]).status_code == 400


def test_revoked_token_is_refused_and_introspects_inactive(live_server, alice, token_for, oauth_app):
    token = token_for(alice)
    auth = (oauth_app.client_id, oauth_app.client_secret)
    assert httpx.post(f"{live_server.url}/introspect", data={"token": token["access_token"]}, auth=auth).json()["active"] is True
    response = httpx.post(f"{live_server.url}/revoke", data={"token": token["access_token"], "token_type_hint": "access_token"}, auth=auth)
    assert response.status_code == 200
    assert call_tool(live_server.url, token["access_token"], "retrieve_memories", {}).status_code == 401
    assert httpx.post(f"{live_server.url}/introspect", data={"token": token["access_token"]}, auth=auth).json() == {"active": False}
    revoke_refresh = httpx.post(f"{live_server.url}/revoke", data={"token": token["refresh_token"], "token_type_hint": "refresh_token"}, auth=auth)
    assert revoke_refresh.status_code == 200
    assert _refresh(live_server.url, oauth_app, token["refresh_token"]).status_code == 400


def test_introspection_needs_client_credentials(live_server, alice, token_for):
    token = token_for(alice)
    response = httpx.post(f"{live_server.url}/introspect", data={"token": token["access_token"]})
    assert response.status_code in (401, 403)
    assert "active" not in response.text


def test_expired_token_is_refused(live_server, alice, token_for):
    token = token_for(alice)
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    response = call_tool(live_server.url, token["access_token"], "retrieve_memories", {})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_disabled_clients_tokens_stop_working_and_it_gets_no_new_ones(live_server, alice, token_for, browser_for, oauth_app):
    token = token_for(alice)
    assert services.client_disable(client_id=oauth_app.client_id) >= 2
    assert call_tool(live_server.url, token["access_token"], "retrieve_memories", {}).status_code == 401
    refresh = _refresh(live_server.url, oauth_app, token["refresh_token"])
    assert refresh.status_code in (400, 401)
    browser = browser_for(alice)
    _, challenge = pkce_pair()
    page = browser.consent_page(browser.authorize_url(client_id=oauth_app.client_id, challenge=challenge))
    assert page.status_code == 400 and "code=" not in page.headers.get("location", "")
    services.client_enable(client_id=oauth_app.client_id)
    assert token_for(alice)["access_token"]


def test_a_disabled_clients_token_is_refused_even_if_it_was_not_revoked(live_server, alice, token_for, oauth_app):
    """The policy alone stops a token (client_disable also revokes them: belt and braces).
    The token lookup reads the policy in the same query."""
    from oauth.models import ClientPolicy

    token = token_for(alice)
    assert call_tool(live_server.url, token["access_token"], "retrieve_memories", {}).status_code == 200
    ClientPolicy.objects.update_or_create(application=oauth_app.application, defaults={"disabled": True})
    assert call_tool(live_server.url, token["access_token"], "retrieve_memories", {}).status_code == 401
    ClientPolicy.objects.filter(application=oauth_app.application).update(disabled=False)
    assert call_tool(live_server.url, token["access_token"], "retrieve_memories", {}).status_code == 200


def test_inactive_users_tokens_are_refused(live_server, alice, token_for):
    token = token_for(alice)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert call_tool(live_server.url, token["access_token"], "retrieve_memories", {}).status_code == 401


def test_token_in_the_query_string_is_not_accepted(live_server, alice, token_for):
    token = token_for(alice)
    response = httpx.post(f"{live_server.url}/api/tools?access_token={token['access_token']}", json={"tool": "retrieve_memories", "data": {}})
    assert response.status_code == 401


def test_empty_scope_means_the_default_scopes(live_server, alice, browser_for, oauth_app):
    browser = browser_for(alice)
    _, challenge = pkce_pair()
    url = browser.authorize_url(client_id=oauth_app.client_id, challenge=challenge, scope="")
    response = browser.consent_page(url)
    assert response.status_code == 302 and "scope=" not in response.headers["location"]
    page = browser.consent_page(response.headers["location"])
    assert page.status_code == 200
    assert "memories:read" in page.text and "memories:write" in page.text and "memories:admin" not in page.text


def test_client_id_metadata_document_urls_on_this_machine_are_unknown_clients(live_server, alice, browser_for):
    """CIMD is on, behind DOT's SSRF-hardened fetcher: a client id URL on a loopback address
    (or plain http) is an unknown client, shown an error page, and no Application is created."""
    from oauth2_provider.models import Application

    browser = browser_for(alice)
    _, challenge = pkce_pair()
    for client_id in (f"https://127.0.0.1:{live_server.thread.port}/client.json", "https://localhost/client.json",
                      "http://example.com/client.json"):
        response = browser.consent_page(browser.authorize_url(client_id=client_id, challenge=challenge))
        assert response.status_code == 400, client_id
        assert "location" not in response.headers
    assert not Application.objects.exists()
