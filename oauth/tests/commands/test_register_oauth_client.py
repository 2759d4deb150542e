import stat
from io import StringIO

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command
from oauth2_provider.models import get_application_model

from oauth.models import ClientPolicy

pytestmark = pytest.mark.django_db
Application = get_application_model()


def run(*args):
    out = StringIO()
    call_command("register_oauth_client", *args, stdout=out)
    return out.getvalue()


def _value(output, label):
    return next(line.split(":", 1)[1].strip() for line in output.splitlines() if line.startswith(label + ":"))


def test_confidential_client_secret_is_printed_once_and_stored_hashed(tmp_path):
    env_file = tmp_path / "client.env"
    env_file.write_text("# my app\nOTHER=keep\nPICARD_OAUTH_CLIENT_ID=old\n")
    output = run("--name", "Nightly sync", "--redirect-uri", "https://app.example.com/cb",
                 "--scope", "memories:read", "--user-token-flow", "--env-file", str(env_file))
    client_id, secret = _value(output, "client_id"), _value(output, "client_secret")
    app = Application.objects.get(client_id=client_id)
    assert app.name == "Nightly sync" and app.client_type == "confidential"
    assert app.client_secret != secret and check_password(secret, app.client_secret)
    policy = ClientPolicy.objects.get(application=app)
    assert policy.allow_user_token_flow and policy.allowed_scopes == "memories:read"
    text = env_file.read_text()
    assert "# my app" in text and "OTHER=keep" in text and "=old" not in text
    assert f"PICARD_OAUTH_CLIENT_ID={client_id}" in text and f"PICARD_OAUTH_CLIENT_SECRET={secret}" in text
    assert "PICARD_OAUTH_TOKEN_URL=" in text
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_public_client_has_no_secret():
    output = run("--name", "Desktop app", "--public", "--redirect-uri", "http://127.0.0.1:33418/callback")
    assert "client_secret" not in output
    assert Application.objects.get(client_id=_value(output, "client_id")).client_type == "public"


def test_operator_mistakes_are_clear_errors_and_register_nothing(tmp_path):
    with pytest.raises(CommandError, match="redirect"):
        run("--name", "No redirect")
    with pytest.raises(CommandError, match="unknown scope"):
        run("--name", "x", "--redirect-uri", "https://a.example/cb", "--scope", "everything")
    with pytest.raises(CommandError, match="only confidential"):
        run("--name", "x", "--public", "--user-token-flow", "--redirect-uri", "https://a.example/cb")
    with pytest.raises(CommandError, match="does not exist"):
        run("--name", "x", "--redirect-uri", "https://a.example/cb", "--env-file", str(tmp_path / "nope" / "f.env"))
    with pytest.raises(CommandError, match="no user"):
        run("--name", "x", "--redirect-uri", "https://a.example/cb", "--owner", "ghost")
    assert not Application.objects.exists()
