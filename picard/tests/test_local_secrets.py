"""Local secrets are generated once and reused; a newer Picard only adds missing keys."""

import json
import stat

from cryptography.fernet import Fernet

from picard.local_secrets import load_or_create


def test_first_call_creates_a_private_file_and_later_calls_reuse_it(tmp_path):
    path = tmp_path / "nested" / "local-secrets.json"
    first = load_or_create(path)
    assert set(first) == {"SECRET_KEY", "PICARD_ENCRYPTION_KEYS", "PICARD_TERM_HASH_KEY"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    Fernet(first["PICARD_ENCRYPTION_KEYS"].encode())  # a valid Fernet key
    assert len(first["SECRET_KEY"]) >= 50
    mtime = path.stat().st_mtime_ns
    for _ in range(3):
        assert load_or_create(path) == first
    assert path.stat().st_mtime_ns == mtime  # never rewritten


def test_missing_keys_are_added_and_existing_ones_never_replaced(tmp_path):
    path = tmp_path / "local-secrets.json"
    path.write_text(json.dumps({"SECRET_KEY": "kept-as-is", "PICARD_ENCRYPTION_KEYS": "k1,k2"}))
    secrets = load_or_create(path)
    assert secrets["SECRET_KEY"] == "kept-as-is"
    assert secrets["PICARD_ENCRYPTION_KEYS"] == "k1,k2"
    assert secrets["PICARD_TERM_HASH_KEY"]
    assert json.loads(path.read_text()) == secrets
    assert not (tmp_path / "local-secrets.tmp").exists()


def test_two_data_dirs_get_different_secrets(tmp_path):
    assert load_or_create(tmp_path / "a.json") != load_or_create(tmp_path / "b.json")
