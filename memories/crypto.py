"""Encryption at rest for memory text: Fernet (AES-128-CBC + HMAC-SHA256) via MultiFernet.

``settings.PICARD_ENCRYPTION_KEYS`` is a list, newest first: new text is encrypted with the
first key; any listed key decrypts. ``rotate`` re-encrypts a token under the newest key.
A token that no configured key opens raises ``EncryptionKeyError`` — never garbage.
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from picard.exceptions import ConfigurationError


class EncryptionKeyError(ConfigurationError):
    code = "encryption_key_error"
    default_message = (
        "A memory could not be decrypted with the configured encryption keys. "
        "Check PICARD_ENCRYPTION_KEYS (the key that encrypted it must still be listed)."
    )


@functools.lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise EncryptionKeyError("PICARD_ENCRYPTION_KEYS is empty: set at least one Fernet key.")
    fernets = []
    for index, key in enumerate(keys):
        try:
            fernets.append(Fernet(key.encode() if isinstance(key, str) else key))
        except (ValueError, TypeError) as exc:
            raise EncryptionKeyError(
                f"PICARD_ENCRYPTION_KEYS entry #{index + 1} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes; generate one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)."
            ) from exc
    return MultiFernet(fernets)


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.PICARD_ENCRYPTION_KEYS))


def encrypt(text: str) -> str:
    return fernet().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise EncryptionKeyError() from exc


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the newest key (raises EncryptionKeyError if unreadable)."""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise EncryptionKeyError() from exc


def is_current(token: str) -> bool:
    """True when ``token`` opens with the newest key alone (no rotation needed)."""
    newest = _fernet_for((settings.PICARD_ENCRYPTION_KEYS[0],))
    try:
        newest.decrypt(token.encode("ascii"))
        return True
    except InvalidToken:
        return False
