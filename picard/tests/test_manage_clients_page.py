import pytest
from oauth2_provider.models import get_application_model

pytestmark = pytest.mark.django_db


def test_admin_registers_a_client_and_sees_the_secret_once(client, make_user, alice):
    client.force_login(alice)
    assert client.get("/manage/clients").status_code == 403
    admin = make_user("root", is_staff=True)
    client.force_login(admin)
    bad = client.post("/manage/clients", {"name": "", "client_type": "confidential", "redirect_uris": "not a url"})
    assert bad.status_code == 400 and "This field is required" in bad.content.decode()
    no_uri = client.post("/manage/clients", {"name": "Notes app", "client_type": "confidential", "redirect_uris": ""})
    assert no_uri.status_code == 400 and "redirect URI" in no_uri.content.decode()
    response = client.post("/manage/clients", {
        "name": "Notes app", "client_type": "confidential", "redirect_uris": "https://notes.example.com/cb", "scopes": ["memories:read"],
    })
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    html = response.content.decode()
    app = get_application_model().objects.get(name="Notes app")
    secret = html.split("data-client-secret>", 1)[1].split("<", 1)[0]
    assert len(secret) >= 30 and app.client_secret != secret  # stored hashed
    assert str(app.client_id) in html and "will not be shown again" in html
    again = client.get("/manage/clients").content.decode()
    assert secret not in again and "Notes app" in again
    client.post(f"/manage/clients/{app.client_id}/disable")
    assert app.picard_policy.__class__.objects.get(application=app).disabled
    page = client.get("/manage/clients").content.decode()
    assert "disabled" in page
    assert client.post("/manage/clients/nope/enable", follow=True).status_code == 200
