"""Signing in with Google: the verified ID token's claims → an account and a session.

The browser flow (server/auth/google/routes.py) runs authlib's client (server/providers/google.py).
Its result, the verified ID token's claims, comes here:

* a user already linked to that Google account (``users.google_sub``) is signed in;
* otherwise a user with the same email is linked, but only when Google says the address is
  verified (anyone can create a Google account with an unverified copy of someone's address)
  *and* that account has verified the address itself (server/auth/verification.py): otherwise
  whoever registered the address first, perhaps an attacker expecting its owner to sign in with
  Google one day, would keep a password into the owner's account. Such a sign-in is refused
  (409 ``account_email_unverified``) and nothing is linked;
* otherwise a new account is created with the role picked on the login link (default student).

Google accounts with an unverified address are refused outright: such an account could not
be linked later either, and its address might belong to someone else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from models.user import Role, User
from server.auth import service as auth
from server.auth.google import repository
from server.db import Session
from server.errors import AppError, Conflict
from server.settings import Settings


class GoogleSignInError(AppError):
    """A sign-in that cannot go ahead; shown to the person on an HTML page."""

    status = 400
    code = "google_sign_in_failed"
    message = "Signing in with Google did not work."


class UnverifiedGoogleEmail(GoogleSignInError):
    status = 403
    code = "google_email_unverified"
    message = ("Google has not verified the email address of this Google account, so it cannot be used to "
               "sign in. Verify the address with Google, or sign in with your password.")


class LocalAccountUnverified(Conflict):
    code = "account_email_unverified"
    message = ("An account with this email address already exists, but its address has not been verified, so "
               "it cannot be joined to your Google account. Sign in with that account's password and verify the "
               "address with the link we e-mailed, then sign in with Google.")


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
        """Read the claims; :class:`GoogleSignInError` when the id or address is missing."""
        sub, email = str(claims.get("sub") or ""), str(claims.get("email") or "")
        if not sub or not email:
            raise GoogleSignInError("Google did not tell us the account's id and email address.")
        verified = claims.get("email_verified")
        name = str(claims.get("name") or claims.get("given_name") or email.split("@", 1)[0])
        return cls(sub=sub, email=email, email_verified=verified is True or verified == "true", name=name[:200])


async def sign_in(session: Session, settings: Settings, claims: dict[str, Any],
                  role: Role) -> auth.SignedIn:
    """Sign in with the verified ID token's ``claims`` (linking or creating the account as the
    module docstring says)."""
    identity = GoogleIdentity.from_claims(claims)
    if not identity.email_verified:
        raise UnverifiedGoogleEmail()
    user = await repository.find_user_by_google_sub(session, identity.sub)
    if user is None:
        # A savepoint: when the flush loses a race the transaction stays usable, so the route
        # can still answer with its page and the unit of work ends cleanly.
        try:
            async with session.begin_nested():
                user = await repository.lock_user_by_email(session, identity.email)
                if user is not None:
                    if user.google_sub and user.google_sub != identity.sub:
                        raise GoogleAccountConflict()
                    if not user.email_verified:
                        raise LocalAccountUnverified()
                    user.google_sub = identity.sub
                else:
                    user = User(id=uuid.uuid4(), email=identity.email, name=identity.name, role=role,
                                password_hash=None, email_verified=True, google_sub=identity.sub)
                    repository.add_user(session, user)
        except IntegrityError as exc:
            # Two first sign-ins racing: the loser's unique index says so; it can simply retry.
            raise GoogleSignInError("This Google account was being linked at the same moment; try again.") from exc
    # The access token and refresh family are issued exactly as for a password sign-in.
    return await auth.start_session(session, settings, user)
