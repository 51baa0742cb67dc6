"""Google OpenID Connect: the authlib client, the provider's discovery document, and signing in.

The browser flow (server/integrations/routes.py) uses authlib's Starlette client: discovery
from ``GOOGLE_DISCOVERY_URL``, ``state`` and ``nonce`` kept in the signed session cookie, PKCE
(S256). Its result, the verified ID token's claims, comes here:

* a user already linked to that Google account (``users.google_sub``) is signed in;
* otherwise a user with the same email is linked, but only when Google says the address is
  verified (anyone can create a Google account with an unverified copy of someone's address);
* otherwise a new account is created with the role picked on the login link (default student).

Google accounts with an unverified address are refused outright: such an account could not
be linked later either, and its address might belong to someone else.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from authlib.integrations.starlette_client import OAuth
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from models.user import User
from server.auth import service as auth
from server.db import Session
from server.errors import AppError, Conflict
from server.providers import http
from server.settings import Settings

PROVIDER = "google"
SIGN_IN_SCOPE = "openid email profile"
_METADATA_TTL_SECONDS = 3600.0


class GoogleSignInError(AppError):
    """A sign-in that cannot go ahead; shown to the person on an HTML page."""

    status = 400
    code = "google_sign_in_failed"
    message = "Signing in with Google did not work."


class GoogleNotConfigured(GoogleSignInError):
    status = 404
    code = "google_not_configured"
    message = "Google sign-in is not configured on this server."


class UnverifiedGoogleEmail(GoogleSignInError):
    status = 403
    code = "google_email_unverified"
    message = ("Google has not verified the email address of this Google account, so it cannot be used to "
               "sign in. Verify the address with Google, or sign in with your password.")


class GoogleAccountConflict(Conflict):
    code = "google_account_conflict"
    message = ("The account with this email address is already linked to a different Google account. "
               "Sign in with that Google account or with your password.")


@dataclass(frozen=True, slots=True)
class GoogleIdentity:
    """The claims we use from a verified ID token."""

    sub: str
    email: str
    email_verified: bool
    name: str

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> GoogleIdentity:
        sub, email = str(claims.get("sub") or ""), str(claims.get("email") or "")
        if not sub or not email:
            raise GoogleSignInError("Google did not tell us the account's id and email address.")
        verified = claims.get("email_verified")
        name = str(claims.get("name") or claims.get("given_name") or email.split("@", 1)[0])
        return cls(sub=sub, email=email, email_verified=verified is True or verified == "true", name=name[:200])


_registries: dict[tuple[str, str, str], OAuth] = {}


def oauth_client(settings: Settings) -> Any:
    """authlib's Starlette OAuth app for Google (one per configuration, so metadata is cached)."""
    if not settings.google_configured:
        raise GoogleNotConfigured()
    key = (settings.google_client_id, settings.google_client_secret, settings.google_discovery_url)
    registry = _registries.get(key)
    if registry is None:
        registry = OAuth()
        registry.register(
            name=PROVIDER, client_id=settings.google_client_id, client_secret=settings.google_client_secret,
            server_metadata_url=settings.google_discovery_url,
            client_kwargs={"scope": SIGN_IN_SCOPE, "code_challenge_method": "S256",
                           "timeout": settings.integrations_http_timeout_seconds})
        _registries[key] = registry
    return registry.create_client(PROVIDER)


_metadata: dict[str, tuple[float, dict[str, Any]]] = {}


async def discovery(settings: Settings) -> dict[str, Any]:
    """The provider's OpenID configuration (cached for an hour per process)."""
    url = settings.google_discovery_url
    cached = _metadata.get(url)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    async with http.client(settings) as client:
        document = await http.request(PROVIDER, client, "GET", url)
    if not isinstance(document, dict) or "token_endpoint" not in document:
        raise http.ProviderUnavailable(PROVIDER, "the discovery document has no token_endpoint")
    _metadata[url] = (time.monotonic() + _METADATA_TTL_SECONDS, document)
    return document


def safe_next(value: str | None) -> str:
    """A same-site path to return to after the flow (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


async def sign_in(session: Session, settings: Settings, identity: GoogleIdentity,
                  role: Literal["student", "tutor"]) -> tuple[auth.SignedIn, bool]:
    """Sign in (linking or creating the account as the module docstring says). Returns the
    session and whether the account is new."""
    if not identity.email_verified:
        raise UnverifiedGoogleEmail()
    user = (await session.execute(select(User).where(User.google_sub == identity.sub))).scalar_one_or_none()
    created = False
    if user is None:
        user = (await session.execute(
            select(User).where(func.lower(User.email) == identity.email.strip().lower()).with_for_update()
        )).scalar_one_or_none()
        if user is not None:
            if user.google_sub and user.google_sub != identity.sub:
                raise GoogleAccountConflict()
            user.google_sub = identity.sub
            user.email_verified = True
        else:
            user = User(id=uuid.uuid4(), email=identity.email, name=identity.name, role=role, password_hash=None,
                        email_verified=True, google_sub=identity.sub)
            session.add(user)
            created = True
        try:
            await session.flush()
        except IntegrityError as exc:
            # Two first sign-ins racing: the loser's unique index says so; it can simply retry.
            raise GoogleSignInError("This Google account was being linked at the same moment; try again.") from exc
    # The access token and refresh family are issued exactly as for a password sign-in.
    return await auth.start_session(session, settings, user), created
