"""Encryption at rest: round trip, key rotation, and clear errors for missing/wrong keys."""

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from memories import crypto, selectors, services
from memories.crypto import EncryptionKeyError
from memories.models import Memory

K1 = Fernet.generate_key().decode()
K2 = Fernet.generate_key().decode()
K3 = Fernet.generate_key().decode()


@pytest.fixture
def keys(settings):
    def use(*keys):
        settings.PICARD_ENCRYPTION_KEYS = list(keys)

    use(K1)
    return use


@pytest.mark.parametrize("text", ["hello", "Grüße aus Köln ☕️ 🖖", "x" * 10_000, "line\nbreaks\tand tabs", " "])
def test_round_trip(keys, text):
    token = crypto.encrypt(text)
    assert text not in token or text.strip() == ""
    assert token.isascii()
    assert crypto.decrypt(token) == text


def test_same_text_encrypts_differently_each_time(keys):
    assert crypto.encrypt("same") != crypto.encrypt("same")


def test_prepending_a_new_key_keeps_old_rows_readable_and_rotate_moves_them(keys):
    old = crypto.encrypt("written under K1")
    keys(K2, K1)
    assert crypto.decrypt(old) == "written under K1"
    assert not crypto.is_current(old)
    new = crypto.encrypt("written under K2")
    assert crypto.is_current(new)
    rotated = crypto.rotate(old)
    assert crypto.is_current(rotated)
    keys(K2)  # K1 retired after rotation
    assert crypto.decrypt(rotated) == "written under K1"
    assert crypto.decrypt(new) == "written under K2"
    with pytest.raises(EncryptionKeyError):
        crypto.decrypt(old)


def test_rotate_of_an_unreadable_token_is_a_clear_error(keys):
    token = crypto.encrypt("x")
    keys(K2)
    with pytest.raises(EncryptionKeyError, match="PICARD_ENCRYPTION_KEYS"):
        crypto.rotate(token)


def test_wrong_key_is_a_clear_error_never_garbage(keys):
    token = crypto.encrypt("top secret")
    keys(K3)
    with pytest.raises(EncryptionKeyError) as exc:
        crypto.decrypt(token)
    assert "PICARD_ENCRYPTION_KEYS" in exc.value.message
    assert exc.value.code == "encryption_key_error"
    assert "top secret" not in exc.value.message


def test_missing_keys_are_a_clear_error(keys):
    keys()
    with pytest.raises(EncryptionKeyError, match="empty"):
        crypto.encrypt("x")


@pytest.mark.parametrize("bad", ["not-a-key", "", "a" * 44])
def test_malformed_key_names_the_entry(keys, bad):
    keys(K1, bad)
    with pytest.raises(EncryptionKeyError, match="entry #2 is not a valid Fernet key"):
        crypto.encrypt("x")


def test_tampered_token_is_refused(keys):
    token = crypto.encrypt("integrity")
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(EncryptionKeyError):
        crypto.decrypt(tampered)


@pytest.mark.django_db
def test_stored_memories_survive_key_rotation_end_to_end(keys, alice):
    memory = services.memory_create(actor=alice, text="my grandmother's recipe")
    keys(K2, K1)
    assert Memory.objects.get(id=memory.id).text == "my grandmother's recipe"
    # What a rotation command does: re-encrypt each row under the newest key.
    for row in Memory.objects.all():
        Memory.objects.filter(id=row.id).update(text_encrypted=crypto.rotate(row.text_encrypted))
    keys(K2)
    assert selectors.memory_get_for_actor(actor=alice, memory_id=memory.id).text == "my grandmother's recipe"
    with connection.cursor() as cursor:
        cursor.execute("SELECT text_encrypted FROM memories_memory")
        assert all("grandmother" not in row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_reading_a_memory_with_the_wrong_key_raises_not_garbage(keys, alice):
    memory = services.memory_create(actor=alice, text="readable only with K1")
    keys(K3)
    fresh = Memory.objects.get(id=memory.id)
    with pytest.raises(EncryptionKeyError):
        _ = fresh.text
