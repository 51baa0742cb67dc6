"""Who is connecting: the access token from the handshake ``auth`` or the session cookie."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def authenticate_handshake(settings: Settings, environ: Mapping[str, Any], auth: Any) -> Principal | None:
    """The connecting user, or None for an anonymous connection; ``InvalidToken`` for a bad token."""
    token = handshake_token(environ, auth)
    return None if token is None else decode_access_token(settings, token)
