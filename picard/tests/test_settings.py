"""Settings: production fails fast with a clear message; development reuses local secrets."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parent.parent.parent
REQUIRED = ("SECRET_KEY", "PICARD_ENCRYPTION_KEYS", "PICARD_TERM_HASH_KEY", "DATABASE_URL")
GOOD = {
    "SECRET_KEY": "x" * 60,
    "PICARD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "PICARD_TERM_HASH_KEY": "y" * 40,
    "DATABASE_URL": "postgres://picard:pw@db.invalid:5432/picard",
    "EMAIL_URL": "smtp+tls://mailer:pw@mail.invalid:587",
}
LOAD = "import django; django.setup(); from django.conf import settings; print('LOADED', settings.DEBUG, settings.DATABASES['default']['HOST'])"


def _run(env_overrides: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED and not k.startswith(("PICARD_", "DJANGO_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "picard.settings.production", "PICARD_DATA_DIR": str(tmp_path / "data")})
    env.update(env_overrides)
    return subprocess.run([sys.executable, "-c", LOAD], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("missing", REQUIRED)
def test_production_refuses_to_start_without_each_required_setting(missing, tmp_path):
    result = _run({k: v for k, v in GOOD.items() if k != missing}, tmp_path)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line and f"{missing} is not set" in last_line
    # Nothing is generated in production: no local secrets file, no embedded database.
    assert not (tmp_path / "data").exists()


def test_production_starts_with_everything_set(tmp_path):
    result = _run(GOOD, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "LOADED False db.invalid"
    assert not (tmp_path / "data").exists()


def test_development_settings_read_the_local_secrets_file(settings):
    import json

    stored = json.loads((settings.PICARD_DATA_DIR / "local-secrets.json").read_text())
    if "SECRET_KEY" not in os.environ:
        assert settings.SECRET_KEY == stored["SECRET_KEY"]
    if "PICARD_ENCRYPTION_KEYS" not in os.environ:
        assert settings.PICARD_ENCRYPTION_KEYS == [k for k in stored["PICARD_ENCRYPTION_KEYS"].split(",") if k]
