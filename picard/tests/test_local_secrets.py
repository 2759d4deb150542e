"""Local secrets are generated once and reused; a newer Picard only adds missing keys."""

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

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


def test_processes_starting_together_all_use_the_one_set_of_keys_written(tmp_path):
    """`uvicorn --workers N` on a fresh data folder: every worker creates the file at the same
    moment. They must all end up with the keys in the file (a worker encrypting with keys
    another one overwrote would write memories nobody can read again)."""
    path = tmp_path / "data" / "local-secrets.json"
    go = tmp_path / "go"
    script = (
        "import json, sys, time; from pathlib import Path; from picard.local_secrets import load_or_create\n"
        "while not Path(sys.argv[2]).exists(): time.sleep(0.0002)\n"
        "print(json.dumps(load_or_create(Path(sys.argv[1]))))"
    )
    root = Path(__file__).resolve().parents[2]
    children = [subprocess.Popen([sys.executable, "-c", script, str(path), str(go)], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(16)]
    time.sleep(1.5)  # all started and waiting
    go.touch()
    results = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err.decode()
        results.append(json.loads(out))
    on_disk = json.loads(path.read_text())
    assert all(result == on_disk for result in results)
