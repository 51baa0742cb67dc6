"""The cache of verified access tokens never lets through what PyJWT would refuse."""

from __future__ import annotations

import time
import uuid

import pytest

from server.identity import InvalidToken, decode_access_token, issue_access_token
from server.settings import Settings


def _settings(secret: str = "s" * 40, ttl: int = 900) -> Settings:
    return Settings(secret_key=secret, access_token_ttl_seconds=ttl)


def test_a_token_decodes_the_same_from_the_cache() -> None:
    settings = _settings()
    user = uuid.uuid4()
    token = issue_access_token(settings, user, "student", session_id=uuid.uuid4())
    first = decode_access_token(settings, token)
    assert decode_access_token(settings, token) == first
    assert first.id == user and first.role == "student"


def test_a_token_verified_under_one_secret_is_refused_under_another() -> None:
    token = issue_access_token(_settings("a" * 40), uuid.uuid4(), "tutor")
    decode_access_token(_settings("a" * 40), token)
    with pytest.raises(InvalidToken, match="invalid"):
        decode_access_token(_settings("b" * 40), token)


def test_a_cached_token_expires_on_time() -> None:
    settings = _settings(ttl=2)
    token = issue_access_token(settings, uuid.uuid4(), "student")
    decode_access_token(settings, token)  # now cached
    deadline = time.monotonic() + 30
    while True:  # PyJWT's rule: expired once exp <= now (whole seconds)
        try:
            decode_access_token(settings, token)
        except InvalidToken as exc:
            assert "expired" in str(exc)
            break
        assert time.monotonic() < deadline, "the cached token never expired"
        time.sleep(0.05)
    with pytest.raises(InvalidToken, match="expired"):
        decode_access_token(settings, token)


def test_a_tampered_token_is_refused_even_after_the_genuine_one_was_cached() -> None:
    settings = _settings()
    token = issue_access_token(settings, uuid.uuid4(), "student")
    decode_access_token(settings, token)
    header, payload, signature = token.split(".")
    forged = ".".join([header, payload, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")])
    with pytest.raises(InvalidToken):
        decode_access_token(settings, forged)
