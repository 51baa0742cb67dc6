"""Encryption of provider tokens at rest (Fernet: AES-128-CBC + HMAC-SHA256, with a timestamp).

Keys come from ``INTEGRATIONS_ENCRYPTION_KEYS`` (comma-separated Fernet keys, made with
``python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'``).
The first key encrypts; every key decrypts, so a key is rotated by putting the new one first
and dropping the old one once :func:`rotate` has re-encrypted what it protected. Without the
setting (development and tests) one key is derived from ``SECRET_KEY``; production refuses to
start that way when Google is configured.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from server.settings import Settings


class TokenDecryptionFailed(Exception):
    """The ciphertext was made with a key that is no longer configured (or was altered)."""


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        derived = base64.urlsafe_b64encode(hashlib.sha256(b"edustream-integrations:" + secret_key.encode()).digest())
        return MultiFernet([Fernet(derived)])
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet(settings: Settings) -> MultiFernet:
    """The configured key ring."""
    return _fernet(tuple(settings.integrations_encryption_keys), settings.secret_key)


def encrypt(settings: Settings, plaintext: str) -> str:
    """Encrypt ``plaintext`` with the first key; returns URL-safe text."""
    return fernet(settings).encrypt(plaintext.encode()).decode()


def decrypt(settings: Settings, ciphertext: str) -> str:
    """Decrypt with any configured key; :class:`TokenDecryptionFailed` otherwise."""
    try:
        return fernet(settings).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise TokenDecryptionFailed("the token cannot be decrypted with the configured keys") from exc


def rotate(settings: Settings, ciphertext: str) -> str:
    """Re-encrypt ``ciphertext`` under the current first key."""
    try:
        return fernet(settings).rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise TokenDecryptionFailed("the token cannot be decrypted with the configured keys") from exc
