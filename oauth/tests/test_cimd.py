"""Client ID metadata documents over real HTTP: advertised only when enabled; a document that
cannot be fetched (this test server has no route to the internet, and the .invalid domain
never resolves) answers invalid_client naming the URL and the reason, at /authorize and /token."""

from __future__ import annotations

import httpx

from oauth.testing import OAuthBrowser, pkce_pair

CLIENT_URL = "https://client.invalid/picard-test/client.json"


def test_a_document_that_cannot_be_fetched_answers_invalid_client_with_the_url_and_the_reason(live_server, alice):
    meta = httpx.get(f"{live_server.url}/.well-known/oauth-authorization-server").json()
    assert meta["client_id_metadata_document_supported"] is True
    browser = OAuthBrowser(live_server.url)
    browser.login(alice.username)
    _, challenge = pkce_pair()
    page = browser.client.get(browser.authorize_url(client_id=CLIENT_URL, challenge=challenge))
    assert page.status_code in (400, 401) and "location" not in page.headers
    assert "invalid_client" in page.text and CLIENT_URL in page.text
    assert "could not be resolved" in page.text and "PICARD_CIMD_ENABLED=false" in page.text
    token = httpx.post(f"{live_server.url}/token", data={"grant_type": "authorization_code", "code": "x", "client_id": CLIENT_URL,
                                                         "redirect_uri": "http://127.0.0.1:9/callback", "code_verifier": "v" * 50})
    assert token.status_code == 401, token.text
    body = token.json()
    assert body["error"] == "invalid_client" and CLIENT_URL in body["error_description"]
    assert "could not be resolved" in body["error_description"]
    browser.close()


def test_turned_off_it_is_not_advertised_and_says_so(live_server, alice, settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CIMD_ENABLED": False}
    meta = httpx.get(f"{live_server.url}/.well-known/oauth-authorization-server").json()
    assert meta.get("client_id_metadata_document_supported") in (False, None)
    browser = OAuthBrowser(live_server.url)
    browser.login(alice.username)
    _, challenge = pkce_pair()
    page = browser.client.get(browser.authorize_url(client_id=CLIENT_URL, challenge=challenge))
    assert "invalid_client" in page.text and "turned off on this server" in page.text and CLIENT_URL in page.text
    browser.close()


def test_an_ordinary_unknown_client_id_still_gets_the_plain_answer(live_server, alice):
    browser = OAuthBrowser(live_server.url)
    browser.login(alice.username)
    _, challenge = pkce_pair()
    page = browser.client.get(browser.authorize_url(client_id="0b7c4f52-2f3c-4d7e-9d7a-111111111111", challenge=challenge))
    assert page.status_code == 400 and "metadata document" not in page.text
    browser.close()
