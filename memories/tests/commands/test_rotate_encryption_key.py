import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from memories import crypto, services
from memories.maintenance import memory_rotate_encryption_key
from memories.models import Memory

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def run(*args):
    out = StringIO()
    call_command("rotate_encryption_key", "--no-progress", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def memories_under_old_key(settings, alice, bob):
    settings.PICARD_ENCRYPTION_KEYS = [OLD]
    texts = {}
    for i in range(30):
        owner = alice if i % 2 else bob
        m = services.memory_create(actor=owner, text=f"memory number {i} — ünïcode ✓")
        texts[m.id] = m.text
    settings.PICARD_ENCRYPTION_KEYS = [NEW, OLD]
    return texts


def _plaintexts():
    return {m.id: crypto.decrypt(m.text_encrypted) for m in Memory.objects.all()}


def test_rotation_reencrypts_everything_under_the_newest_key(memories_under_old_key, settings):
    before = {m.id: (m.version, m.updated_at) for m in Memory.objects.all()}
    output = run("--batch-size", "7")
    assert "Re-encrypted 30 memories" in output and "decrypts with the newest key alone" in output
    assert "remove the 1 older key" in output
    settings.PICARD_ENCRYPTION_KEYS = [NEW]  # the old key is gone: everything must still read
    assert _plaintexts() == memories_under_old_key
    assert {m.id: (m.version, m.updated_at) for m in Memory.objects.all()} == before
    assert "Re-encrypted 0 memories; 30 were already" in run()


def test_interrupted_rotation_loses_nothing_and_resumes(memories_under_old_key, settings):
    calls = []

    def interrupt(n):
        calls.append(n)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        memory_rotate_encryption_key(batch_size=10, progress=interrupt)
    tokens = Memory.objects.values_list("text_encrypted", flat=True)
    assert sum(crypto.is_current(t) for t in tokens) == 20  # two committed batches
    assert _plaintexts() == memories_under_old_key  # both keys configured: all readable
    report = memory_rotate_encryption_key(batch_size=10)
    assert report.rotated == 10 and report.already_current == 20 and report.ok
    settings.PICARD_ENCRYPTION_KEYS = [NEW]
    assert _plaintexts() == memories_under_old_key


def test_unreadable_row_stops_rotation_before_any_change(memories_under_old_key, settings):
    stranger = Fernet(Fernet.generate_key()).encrypt(b"from another install").decode()
    victim = next(iter(memories_under_old_key))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE memories_memory SET text_encrypted = %s WHERE id = %s", [stranger, victim])
    snapshot = dict(Memory.objects.values_list("id", "text_encrypted"))
    with pytest.raises(CommandError, match="1 memories cannot be decrypted"):
        run()
    assert dict(Memory.objects.values_list("id", "text_encrypted")) == snapshot
    with pytest.raises(CommandError, match="cannot be decrypted"):
        run("--check")


def test_check_counts_rows_per_key_and_generate_key_prints_a_valid_key(memories_under_old_key):
    assert "30 memories: 0 under the newest key, 30 under an older key, 0 unreadable (2 key(s) configured)" in run("--check")
    key = run("--generate-key").splitlines()[0]
    Fernet(key.encode())


@pytest.mark.django_db(transaction=True)
def test_kill_minus_9_mid_rotation_leaves_whole_batches_and_a_rerun_finishes(settings, alice):
    """The real command in a subprocess is SIGKILLed while it waits inside a batch's
    transaction (the test holds a lock on a row in the third batch): the two batches before
    it are wholly re-encrypted, nothing of the third is, every memory still reads, and
    running the command again finishes the job."""
    settings.PICARD_ENCRYPTION_KEYS = [OLD]
    texts = {services.memory_create(actor=alice, text=f"rotation row {i} ✓").id: f"rotation row {i} ✓" for i in range(60)}
    before = {m.id: (m.version, m.updated_at) for m in Memory.objects.all()}
    settings.PICARD_ENCRYPTION_KEYS = [NEW, OLD]
    ids = sorted(texts)  # the command walks the table by id, 10 rows a transaction
    db = settings.DATABASES["default"]
    url = f"postgresql://{db['USER']}:{db['PASSWORD']}@/{db['NAME']}?host={db['HOST']}" if not db.get("PORT") else \
        f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "picard.settings.test",
           "PICARD_ENCRYPTION_KEYS": f"{NEW},{OLD}", "PYTHONUNBUFFERED": "1"}
    blocker = psycopg.connect(url, autocommit=False)
    try:
        blocker.execute("SELECT id FROM memories_memory WHERE id = %s FOR UPDATE", [ids[25]])
        proc = subprocess.Popen([sys.executable, "manage.py", "rotate_encryption_key", "--batch-size", "10", "--no-progress"],
                                cwd=Path(settings.BASE_DIR), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while True:  # until the command waits for the locked row, inside its third batch
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
                    if cursor.fetchone()[0]:
                        break
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "the rotation never reached the locked row"
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
    finally:
        blocker.rollback()
        blocker.close()
    with connection.cursor() as cursor:  # the dead command's server process goes too
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
    current = {m.id for m in Memory.objects.all() if crypto.is_current(m.text_encrypted)}
    assert current == set(ids[:20])  # two whole batches, nothing of the one in flight
    assert _plaintexts() == texts
    assert "Re-encrypted 40 memories; 20 were already" in run()
    settings.PICARD_ENCRYPTION_KEYS = [NEW]
    assert _plaintexts() == texts
    assert {m.id: (m.version, m.updated_at) for m in Memory.objects.all()} == before
