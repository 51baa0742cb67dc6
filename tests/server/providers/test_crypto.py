"""Token encryption at rest (Fernet key ring with rotation) and the .ics files' format."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from server.emails.ics import lesson_ics
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


def test_ics_lines_are_crlf_escaped_and_folded_at_75_octets() -> None:
    start = datetime(2027, 3, 15, 13, 0, tzinfo=UTC)
    ics = lesson_ics(booking_id=uuid.UUID(int=1), start=start, end=start + timedelta(hours=1),
                     summary="Lesson with Zoë; maths, algebra", description="é" * 100, url="https://x.test/b/1",
                     location=None, sequence=2, stamp=start).decode()
    lines = ics.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR" and lines[-1] == ""
    assert "SUMMARY:Lesson with Zoë\\; maths\\, algebra" in lines
    assert all(len(line.encode()) <= 75 for line in lines)
    unfolded = ics.replace("\r\n ", "")
    assert "DESCRIPTION:" + "é" * 100 in unfolded
    assert "DTSTART:20270315T130000Z" in lines and "SEQUENCE:2" in lines
