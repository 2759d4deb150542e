"""Bad input to every OAuth door is a 4xx, never a 500."""

from __future__ import annotations

import httpx

from oauth.testing import pkce_pair


def test_junk_never_causes_a_server_error(live_server, alice, browser_for, make_user, oauth_app):
    url = live_server.url
    admin = make_user("chief", is_staff=True)
    browser = browser_for(alice)
    staff = browser_for(admin)
    staff_csrf = {"X-CSRFToken": staff.client.cookies.get("csrftoken")}
    _, challenge = pkce_pair()
    checks = [
        browser.client.get("/authorize"),
        browser.client.get("/authorize?response_type=code&client_id=not-a-client&code_challenge=x&code_challenge_method=S256"),
        browser.client.get(f"/authorize?response_type=token&client_id={oauth_app.client_id}&redirect_uri=http://127.0.0.1:9/callback"),
        browser.client.get(f"/authorize?response_type=code&client_id={oauth_app.client_id}&redirect_uri=http://127.0.0.1:9/callback"
                           f"&code_challenge={challenge}&code_challenge_method=S256&resource=not%20a%20uri"),
        browser.client.post("/authorize", data={"client_id": "nope"}, headers={"X-CSRFToken": browser.client.cookies.get("csrftoken")}),
        httpx.post(f"{url}/token"),
        httpx.post(f"{url}/token", data={"grant_type": "password", "username": "alice", "password": "correct horse battery",
                                         "client_id": oauth_app.client_id}),
        httpx.post(f"{url}/token", data={"grant_type": "client_credentials"}, auth=(oauth_app.client_id, oauth_app.client_secret)),
        httpx.post(f"{url}/token", data={"grant_type": "authorization_code", "code": "x" * 5000}, auth=("a", "b")),
        httpx.post(f"{url}/token", content=b"\xff\xfe\x00garbage", headers={"Content-Type": "application/x-www-form-urlencoded"}),
        httpx.post(f"{url}/revoke", data={"token": "nope"}),
        httpx.post(f"{url}/introspect", data={"token": "nope"}, auth=(oauth_app.client_id, "wrong")),
        httpx.post(f"{url}/oauth/register", content=b"not json", headers={"Content-Type": "application/json"}),
        httpx.post(f"{url}/oauth/register", json=[1, 2]),
        httpx.post(f"{url}/oauth/register", json={"redirect_uris": [5], "token_endpoint_auth_method": "none"}),
        httpx.post(f"{url}/oauth/register", json={"redirect_uris": "https://a.example.com", "token_endpoint_auth_method": "none"}),
        httpx.get(f"{url}/oauth/register/{oauth_app.client_id}"),
        httpx.post(f"{url}/api/user-tokens/user-token", content=b"{", headers={"Content-Type": "application/json"}),
        httpx.post(f"{url}/api/user-tokens/user-token", json=[]),
        httpx.post(f"{url}/api/user-tokens/user-token", json={"client_id": 5, "client_secret": ["x"], "username": {}, "email": None}),
        staff.client.post("/api/admin/clients/nope/disable", headers=staff_csrf),
        staff.client.post("/api/admin/clients/register", json={"client_name": "x" * 300, "redirect_uris": ["https://a.example.com/cb"]}, headers=staff_csrf),
        staff.client.post("/api/admin/clients/register", json={"client_name": "A", "redirect_uris": "https://a.example.com/cb http://"}, headers=staff_csrf),
        staff.client.post("/api/admin/clients/register", json={"client_name": "A", "redirect_uris": [{"x": 1}]}, headers=staff_csrf),
        browser.client.delete("/api/connected-apps/%00", headers={"X-CSRFToken": browser.client.cookies.get("csrftoken")}),
    ]
    for index, response in enumerate(checks):
        if response.status_code == 302:  # an OAuth error sent back to a registered redirect URI
            assert "error=" in response.headers["location"] and "code=" not in response.headers["location"], index
            continue
        assert 400 <= response.status_code < 500, (index, response.status_code, response.text[:300])
