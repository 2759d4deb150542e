from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def run(*args, **env_and_opts):
    out = StringIO()
    call_command("create_admin_user", *args, stdout=out)
    return out.getvalue()


def test_creates_superuser_from_environment_and_is_idempotent(monkeypatch):
    monkeypatch.setenv("PICARD_ADMIN_USERNAME", "root")
    monkeypatch.setenv("PICARD_ADMIN_EMAIL", "root@example.com")
    monkeypatch.setenv("PICARD_ADMIN_PASSWORD", "a sturdy passphrase 42")
    assert "Created superuser 'root'" in run()
    user = get_user_model().objects.get(username="root")
    assert user.is_superuser and user.is_staff and user.email == "root@example.com"
    assert user.check_password("a sturdy passphrase 42")
    monkeypatch.setenv("PICARD_ADMIN_PASSWORD", "another passphrase 43")
    output = run()
    assert "Updated superuser 'root'" in output and "Password unchanged" in output
    user.refresh_from_db()
    assert user.check_password("a sturdy passphrase 42")
    assert get_user_model().objects.filter(username="root").count() == 1


def test_generates_and_prints_a_password_once_when_none_is_given(monkeypatch):
    monkeypatch.delenv("PICARD_ADMIN_PASSWORD", raising=False)
    output = run("--username", "ops", "--email", "ops@example.com")
    generated = output.split("store it now): ")[1].split()[0]
    assert get_user_model().objects.get(username="ops").check_password(generated)
    assert generated not in run("--username", "ops")


def test_reset_password_and_promotes_existing_user(make_user, monkeypatch):
    user = make_user("dana")
    assert not user.is_superuser
    monkeypatch.setenv("NEWPASS", "fresh passphrase for dana 7")
    run("--username", "dana", "--reset-password", "--password-env", "NEWPASS")
    user.refresh_from_db()
    assert user.is_superuser and user.check_password("fresh passphrase for dana 7")


def test_weak_password_and_bad_username_are_operator_errors(monkeypatch):
    monkeypatch.setenv("PICARD_ADMIN_PASSWORD", "123")
    with pytest.raises(CommandError, match="password"):
        run("--username", "weak")
    assert not get_user_model().objects.filter(username="weak").exists()
    with pytest.raises(CommandError, match="username"):
        run("--username", "has space")
