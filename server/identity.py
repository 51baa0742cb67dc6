"""Identity at the edge: access tokens (short-lived JWTs), opaque token secrets and password
hashing. Used by the router, the rate limiter, the live layer and auth alike, so it sits
beside them rather than inside auth/."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.settings import Settings

ACCESS_COOKIE = "es_access"
REFRESH_COOKIE = "es_refresh"
CSRF_COOKIE = "es_csrf"
CSRF_HEADER = "x-csrf-token"
_ALGORITHM = "HS256"

# Argon2id with the library's RFC 9106 "low memory" defaults.
_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as proven by an access token."""

    id: uuid.UUID
    role: str
    # The sign-in (refresh-token family) the token was issued for; None in tokens issued
    # outside a sign-in (tests, tools).
    session_id: uuid.UUID | None = None


class InvalidToken(Exception):
    """The token is malformed, forged or expired."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_needs_rehash(password_hash: str) -> bool:
    """True when the stored hash used weaker parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Same work as a real check, so timing does not reveal unknown accounts.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_access_token(settings: Settings, user_id: uuid.UUID, role: str,
                       session_id: uuid.UUID | None = None) -> str:
    now = datetime.now(UTC)
    claims: dict[str, object] = {"sub": str(user_id), "role": role, "iat": now,
                                 "exp": now + timedelta(seconds=settings.access_token_ttl_seconds), "typ": "access"}
    if session_id is not None:
        claims["sid"] = str(session_id)
    return jwt.encode(claims, settings.secret_key, algorithm=_ALGORITHM)


class _VerifiedTokens:
    """Access tokens already verified, each with its expiry, so a client's next request with
    the same token skips the signature check and claim parsing. PyJWT 2.15 checks every
    character of every segment in Python: on the hold path that was the largest cost outside
    the database (docs/benchmarks.md). An entry answers only while its token has not expired
    (the same ``exp`` rule as PyJWT, no leeway); keyed by secret and token, so a token verified
    under one secret never passes under another. Bounded: the oldest entries go first.
    Revocation is not decided here: the router checks the principal's account and sign-in on
    every request whichever way the token was verified."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._entries: dict[tuple[str, str], tuple[Principal, float]] = {}

    def get(self, secret: str, token: str) -> Principal | None:
        hit = self._entries.get((secret, token))
        if hit is None:
            return None
        principal, expires = hit
        if expires <= time.time():
            del self._entries[(secret, token)]
            raise InvalidToken("token expired")
        return principal

    def put(self, secret: str, token: str, principal: Principal, expires: float) -> None:
        if len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[(secret, token)] = (principal, expires)


_verified = _VerifiedTokens()


def decode_access_token(settings: Settings, token: str) -> Principal:
    cached = _verified.get(settings.secret_key, token)
    if cached is not None:
        return cached
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=[_ALGORITHM],
                            options={"require": ["sub", "exp", "role"]})
        if claims.get("typ") != "access":
            raise InvalidToken("not an access token")
        sid = claims.get("sid")
        principal = Principal(id=uuid.UUID(claims["sub"]), role=str(claims["role"]),
                              session_id=uuid.UUID(sid) if sid else None)
        expires = float(claims["exp"])
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise InvalidToken("token invalid") from exc
    _verified.put(settings.secret_key, token, principal, expires)
    return principal


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def hash_opaque_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def email_verification_token(settings: Settings, verification_id: uuid.UUID) -> str:
    """The secret of an e-mail verification link, derived from its id with ``SECRET_KEY``.

    Derived rather than stored, so that only its hash is in the database and the e-mail task
    carries the link's id, never the secret (task arguments end up in Redis and dead letters)."""
    digest = hmac.new(settings.secret_key.encode(), b"email-verification:" + verification_id.bytes,
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
