from io import StringIO

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
