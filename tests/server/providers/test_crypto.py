"""Token encryption at rest (Fernet key ring with rotation)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from server.providers import crypto
from server.settings import Settings


def test_tokens_are_encrypted_and_decrypt_with_the_same_keys() -> None:
    settings = Settings(integrations_encryption_keys=Fernet.generate_key().decode())
    ciphertext = crypto.encrypt(settings, "1//refresh-token")
    assert "refresh" not in ciphertext
    assert crypto.decrypt(settings, ciphertext) == "1//refresh-token"


def test_a_rotated_key_ring_still_decrypts_old_tokens_and_re_encrypts_them() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = Settings(integrations_encryption_keys=old)
    after = Settings(integrations_encryption_keys=f"{new},{old}")
    ciphertext = crypto.encrypt(before, "secret")
    assert crypto.decrypt(after, ciphertext) == "secret"
    rotated = crypto.rotate(after, ciphertext)
    assert crypto.decrypt(Settings(integrations_encryption_keys=new), rotated) == "secret"


def test_a_token_from_an_unknown_key_is_refused() -> None:
    ciphertext = crypto.encrypt(Settings(integrations_encryption_keys=Fernet.generate_key().decode()), "secret")
    with pytest.raises(crypto.TokenDecryptionFailed):
        crypto.decrypt(Settings(integrations_encryption_keys=Fernet.generate_key().decode()), ciphertext)


def test_without_keys_a_key_is_derived_from_the_secret_key() -> None:
    a, b = Settings(secret_key="a" * 40), Settings(secret_key="b" * 40)
    assert crypto.decrypt(a, crypto.encrypt(a, "x")) == "x"
    with pytest.raises(crypto.TokenDecryptionFailed):
        crypto.decrypt(b, crypto.encrypt(a, "x"))


def test_production_refuses_google_without_encryption_keys() -> None:
    with pytest.raises(ValueError, match="INTEGRATIONS_ENCRYPTION_KEYS"):
        Settings(environment="production", secret_key="s" * 40, database_url="postgresql://x/y",
                 redis_url="redis://x", stripe_secret_key="sk", stripe_webhook_secret="wh",
                 google_client_id="id", google_client_secret="secret")
