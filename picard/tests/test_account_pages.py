import re

import pytest
from django.core import mail

pytestmark = pytest.mark.django_db


def test_sign_up_signs_the_person_in_and_opens_the_new_memory_page(client, django_user_model):
    response = client.post("/register", {
        "username": "dana", "email": "dana@example.com", "display_name": "Dana S.",
        "password1": "a long enough passphrase", "password2": "a long enough passphrase",
    })
    assert response.status_code == 302 and response["Location"] == "/memories/new"
    user = django_user_model.objects.get(username="dana")
    assert user.display_name == "Dana S." and user.email == "dana@example.com"
    page = client.get("/memories/new")
    assert page.status_code == 200 and "Welcome to Picard, Dana S." in page.content.decode()


def test_sign_up_errors_are_shown_next_to_the_fields(client, alice):
    response = client.post("/register", {"username": "alice", "email": "alice@example.com", "password1": "short", "password2": "other"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "A user with that username already exists" in html
    assert "An account with this e-mail already exists" in html
    assert "didn’t match" in html or "didn't match" in html
    assert 'id="field-username"' in html and "has-error" in html


def test_sign_in_and_sign_out(client, alice):
    bad = client.post("/login", {"username": "alice", "password": "wrong"})
    assert bad.status_code == 200 and "Please enter a correct username and password" in bad.content.decode()
    ok = client.post("/login", {"username": "alice", "password": "correct horse battery"})
    assert ok.status_code == 302
    assert client.get("/memories/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/memories/")["Location"].startswith("/login?next=")


def test_password_reset_mail_link_sets_a_new_password(client, alice):
    response = client.post("/password-reset", {"email": "alice@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://\S+/password-reset/\S+", mail.outbox[0].body).group(0)
    path = "/" + link.split("/", 3)[3]
    form_page = client.get(path, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": "brand new passphrase", "new_password2": "brand new passphrase"})
    assert done.status_code == 302
    assert client.login(username="alice", password="brand new passphrase")


def test_password_change_requires_the_old_password(client, alice):
    client.force_login(alice)
    response = client.post("/account/password", {"old_password": "nope", "new_password1": "another passphrase", "new_password2": "another passphrase"})
    assert response.status_code == 200 and "Your old password was entered incorrectly" in response.content.decode()
    response = client.post("/account/password", {"old_password": "correct horse battery", "new_password1": "another passphrase", "new_password2": "another passphrase"})
    assert response.status_code == 302


def test_settings_change_defaults_for_new_memories(client, alice):
    client.force_login(alice)
    bad = client.post("/account/settings", {"display_name": "Al", "email": "alice@example.com", "default_permission": "everyone", "default_expiry_days": "-3"})
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "Select a valid choice" in html and "greater than or equal to 1" in html
    ok = client.post("/account/settings", {"display_name": "Al", "email": "alice@example.com", "default_permission": "public", "default_expiry_days": "30"})
    assert ok.status_code == 302
    alice.refresh_from_db()
    assert (alice.display_name, alice.default_permission, alice.default_expiry_days) == ("Al", "public", 30)
    form = client.get("/memories/new").content.decode()
    assert 'value="public" id="id_permission_1" checked' in form or re.search(r'value="public"[^>]*checked', form)


def test_home_page_for_visitors_and_redirect_for_members(client, alice):
    page = client.get("/")
    assert page.status_code == 200 and "Create your account" in page.content.decode()
    client.force_login(alice)
    assert client.get("/")["Location"] == "/memories/"


def test_shared_is_not_offered_as_a_default_visibility(client, alice):
    """A default cannot say with whom to share, and "shared" with nobody is refused."""
    client.force_login(alice)
    assert 'name="default_permission" value="shared"' not in client.get("/account/settings").content.decode()
    response = client.post("/account/settings", {"display_name": "Al", "email": "alice@example.com", "default_permission": "shared"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
