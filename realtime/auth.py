"""Who is connecting: the access token from the handshake ``auth`` or the session cookie."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from starlette.requests import cookie_parser

from server.identity import ACCESS_COOKIE, InvalidToken, Principal, decode_access_token
from server.settings import Settings


def handshake_token(environ: Mapping[str, Any], auth: Any) -> str | None:
    """``auth.token`` when the client sent one, else the ``es_access`` cookie, else None.

    A present but non-string token is refused (``InvalidToken``) rather than ignored, so a
    client bug never silently downgrades a user to anonymous.
    """
    if isinstance(auth, Mapping) and auth.get("token") is not None:
        token = auth["token"]
        if not isinstance(token, str) or not token.strip():
            raise InvalidToken("token must be a non-empty string")
        return token.strip()
    cookie = cookie_parser(str(environ.get("HTTP_COOKIE", ""))).get(ACCESS_COOKIE)
    return cookie or None


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified access token: who, and until when (epoch seconds, the token's ``exp``)."""

    principal: Principal
    expires_at: float


def verify_token(settings: Settings, token: str) -> Identity:
    """Verify an access token (``InvalidToken`` when it is not valid now) and read its expiry."""
    principal = decode_access_token(settings, token)
    # Already verified above (signature, type, expiry); this only reads the expiry claim.
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    return Identity(principal=principal, expires_at=float(exp))


def authenticate_handshake(settings: Settings, environ: Mapping[str, Any], auth: Any) -> Identity | None:
    """The connecting user, or None for an anonymous connection; ``InvalidToken`` for a bad token."""
    token = handshake_token(environ, auth)
    return None if token is None else verify_token(settings, token)
