"""Proving that an account's owner reads its e-mail address.

Registration (and ``POST /auth/verify-email/resend``) makes an :class:`EmailVerification`
row; the dispatch sweep (server/dispatch/service.py) e-mails its link, ``FRONTEND_URL``
``/verify-email?token=…``, through the ``email.send`` task like every other e-mail. The
token is derived from the row's id (server/identity.py) and only its SHA-256 hash is
stored. A token works once, until ``EMAIL_VERIFICATION_TTL_SECONDS`` after it was made, and
only while the account still has the address it was sent to.

Why it matters: Google sign-in links a Google account to the local account with the same
address only when that address is verified (server/auth/google/service.py). Without this, an
attacker could register the victim's address first, wait for the victim to sign in with
Google, and keep a password into the victim's account (pre-account takeover).
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode

from models.user import EmailVerification, User
from server import identity
from server.auth import repository
from server.db import Session
from server.errors import AppError, Conflict, NotFound, RateLimited
from server.settings import Settings


class InvalidVerificationToken(AppError):
    status = 400
    code = "invalid_verification_token"
    message = "This verification link is not valid. Request a new one from your account page."


class VerificationTokenUsed(InvalidVerificationToken):
    code = "verification_token_used"
    message = "This verification link was already used."


class VerificationTokenExpired(InvalidVerificationToken):
    code = "verification_token_expired"
    message = "This verification link has expired. Request a new one from your account page."


class EmailAlreadyVerified(Conflict):
    code = "email_already_verified"
    message = "Your e-mail address is already verified."


class VerificationAccountNotFound(NotFound):
    code = "account_not_found"
    message = "The account no longer exists."


class VerificationResendTooSoon(RateLimited):
    code = "verification_resend_too_soon"
    message = "A verification e-mail was sent moments ago; wait a little before asking for another."


async def start(session: Session, settings: Settings, user: User, now: datetime) -> EmailVerification:
    """Make a verification link for ``user``'s current address (the dispatch sweep e-mails it)."""
    verification_id = uuid.uuid4()
    verification = EmailVerification(
        id=verification_id, user_id=user.id, email=user.email,
        token_hash=identity.hash_opaque_token(identity.email_verification_token(settings, verification_id)),
        expires_at=now + timedelta(seconds=settings.email_verification_ttl_seconds))
    await repository.add_email_verification(session, verification)
    return verification


async def resend(session: Session, settings: Settings, user_id: uuid.UUID, now: datetime) -> EmailVerification:
    """A new link for the signed-in account; 409 when already verified, 429 when the last link
    was made less than ``EMAIL_VERIFICATION_RESEND_SECONDS`` ago."""
    user = await repository.lock_user(session, user_id)
    if user is None:
        raise VerificationAccountNotFound()
    if user.email_verified:
        raise EmailAlreadyVerified()
    last = await repository.latest_email_verification_at(session, user_id)
    if last is not None:
        wait = (last + timedelta(seconds=settings.email_verification_resend_seconds) - now).total_seconds()
        if wait > 0:
            retry_after = str(max(1, math.ceil(wait)))
            raise VerificationResendTooSoon(details={"retry_after": int(retry_after)},
                                            headers={"Retry-After": retry_after})
    return await start(session, settings, user, now)


async def verify(session: Session, raw_token: str, now: datetime) -> User:
    """Mark the account of the link verified; the link then stops working."""
    verification = await repository.lock_email_verification(session, identity.hash_opaque_token(raw_token))
    if verification is None:
        raise InvalidVerificationToken()
    if verification.used_at is not None:
        raise VerificationTokenUsed()
    if verification.expires_at <= now:
        raise VerificationTokenExpired()
    user = await repository.lock_user(session, verification.user_id)
    if user is None or user.email.lower() != verification.email.lower():
        # The account changed its address since: the link proves nothing about the new one.
        raise InvalidVerificationToken()
    verification.used_at = now
    user.email_verified = True
    return user


async def link_for(session: Session, settings: Settings, verification_id: uuid.UUID, now: datetime) -> str | None:
    """The frontend URL that verifies with this link, or ``None`` when it no longer can
    (used, expired, or the account's address changed): then the e-mail is not sent."""
    verification = await repository.get_email_verification(session, verification_id)
    if verification is None or verification.used_at is not None or verification.expires_at <= now:
        return None
    user = await repository.get_user(session, verification.user_id)
    if user is None or user.email_verified or user.email.lower() != verification.email.lower():
        return None
    token = identity.email_verification_token(settings, verification.id)
    return f"{settings.frontend_url.rstrip('/')}/verify-email?{urlencode({'token': token})}"
