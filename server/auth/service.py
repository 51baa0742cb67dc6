"""Accounts and sessions: registration, password sign-in, rotating refresh tokens.

Refresh tokens are opaque random strings stored only as SHA-256 hashes. Every sign-in
starts a *family*; each refresh marks the presented token used and issues a new one in
the same family. A token that is presented again after it was used means a copy leaked
(or a client replayed it): the whole family is revoked, so both the thief and the owner
must sign in again. Access tokens are short-lived JWTs and are not revocable; logging out
revokes the refresh family and clears the cookies, and the access token lapses on its own.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError

from models.user import Role, User
from server import identity
from server.auth import repository, throttle, verification
from server.auth.schemas import LoginIn, MeUpdate, PasswordChange, RegisterIn
from server.db import Session
from server.errors import Conflict, Forbidden, NotFound, Unauthorized
from server.identity import Principal
from server.live_sessions import RevokedBecause, end_family_live_sessions, end_live_sessions, end_other_live_sessions
from server.settings import Settings

EMAIL_UNIQUE_INDEX = "uq_users_email_lower"


class EmailTaken(Conflict):
    code = "email_taken"
    message = "An account with this email already exists."


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "The email or password is incorrect."


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"
    message = "The refresh token is missing, unknown, expired or revoked; sign in again."


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    message = "This refresh token was already used; every session of this sign-in was revoked. Sign in again."
    keeps_changes = True  # the revocation of the whole sign-in is committed


class AccountNotFound(NotFound):
    code = "account_not_found"
    message = "The account no longer exists."


class AccountSuspended(Forbidden):
    code = "account_suspended"
    message = "This account is suspended; contact support."


class WrongPassword(Forbidden):
    code = "wrong_password"
    message = "The current password is not right."


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A signed-in session: the account and a fresh token pair."""

    user: User
    access_token: str
    refresh_token: str


def _now() -> datetime:
    return datetime.now(UTC)


def _unique_violation_on(exc: IntegrityError, constraint: str) -> bool:
    orig: Any = exc.orig
    if getattr(orig, "sqlstate", None) != "23505":
        return False
    return getattr(orig.__cause__, "constraint_name", None) == constraint


async def _hash_password(password: str) -> str:
    # Argon2id costs tens of milliseconds of CPU and memory: keep it off the event loop.
    return await asyncio.to_thread(identity.hash_password, password)


async def start_session(session: Session, settings: Settings, user: User) -> SignedIn:
    """A new sign-in: a refresh-token family, named in the access token (``sid``)."""
    family_id = uuid.uuid4()
    return SignedIn(user=user, access_token=identity.issue_access_token(settings, user.id, user.role, family_id),
                   refresh_token=await _add_refresh_token(session, settings, user.id, family_id))


async def _add_refresh_token(session: Session, settings: Settings, user_id: uuid.UUID,
                             family_id: uuid.UUID) -> str:
    raw = identity.new_opaque_token()
    await repository.add_refresh_token(session, user_id, family_id, identity.hash_opaque_token(raw),
                                       _now() + timedelta(seconds=settings.refresh_token_ttl_seconds))
    return raw


async def register(session: Session, redis: Redis, settings: Settings, data: RegisterIn,
                   client_ip: str) -> SignedIn:
    """Create a student or tutor account and sign it in; :class:`EmailTaken` when the address
    is in use in any letter case (decided by the unique index, so concurrent sign-ups are safe),
    :class:`~server.auth.throttle.RegistrationLimited` once ``client_ip`` or the address has had
    its share of those. The address starts unverified, and a verification link is made (and e-mailed)."""
    await throttle.check_registration(redis, settings, client_ip, str(data.email))
    if await repository.find_user_by_email(session, str(data.email)) is not None:
        await throttle.take_email_taken(redis, settings, client_ip, str(data.email))
        raise EmailTaken()
    user = User(email=str(data.email), name=data.name, role=data.role, timezone=data.timezone,
                password_hash=await _hash_password(data.password))
    try:
        await repository.add_user(session, user)
    except IntegrityError as exc:
        if _unique_violation_on(exc, EMAIL_UNIQUE_INDEX):
            await throttle.count_email_taken(redis, settings, client_ip, str(data.email))
            raise EmailTaken() from exc
        raise
    await verification.start(session, settings, user, _now())
    return await start_session(session, settings, user)


async def login(session: Session, redis: Redis, settings: Settings, data: LoginIn) -> SignedIn:
    """Check the password and start a new session family; the same error for an unknown
    address and a wrong password, and about the same time for both.
    :class:`~server.auth.throttle.LoginLocked` while the address is locked after failures."""
    await throttle.begin_login(redis, settings, data.email)
    user = await repository.find_user_by_email(session, data.email)
    ok = await asyncio.to_thread(identity.verify_password, user.password_hash if user else None, data.password)
    if user is None or not ok:
        raise InvalidCredentials()
    if user.suspended_at is not None:
        raise AccountSuspended()
    await throttle.login_succeeded(redis, settings, data.email)
    if identity.password_needs_rehash(user.password_hash or ""):
        user.password_hash = await _hash_password(data.password)
    return await start_session(session, settings, user)


async def refresh(session: Session, settings: Settings, raw_token: str) -> SignedIn:
    """Rotate a refresh token. Presenting a used token revokes its whole family and raises
    :class:`RefreshTokenReused`, which keeps its changes: the revocation is committed though the
    call fails."""
    token_hash = identity.hash_opaque_token(raw_token)
    now = _now()
    # Of two concurrent refreshes with the same token exactly one claims it; the other then
    # sees it used and is treated as a replay.
    claimed = await repository.claim_refresh_token(session, token_hash, now)
    if claimed is not None:
        user = await repository.get_user(session, claimed.user_id)
        if user is None:
            raise InvalidRefreshToken()
        if user.suspended_at is not None:
            raise AccountSuspended()
        new_raw = await _add_refresh_token(session, settings, user.id, claimed.family_id)
        return SignedIn(user=user, access_token=identity.issue_access_token(settings, user.id, user.role,
                                                                             claimed.family_id),
                       refresh_token=new_raw)
    row = await repository.find_refresh_token(session, token_hash)
    if row is None or row.used_at is None:
        raise InvalidRefreshToken()
    await repository.revoke_family(session, row.family_id, now)
    await end_family_live_sessions(session, row.family_id)  # its /live connections close everywhere
    raise RefreshTokenReused(details={"family_revoked": True})


async def logout(session: Session, raw_token: str | None) -> None:
    """Revoke the family of the presented refresh token. Unknown or missing tokens are ignored
    so that logging out is always safe to repeat."""
    if not raw_token:
        return
    row = await repository.find_refresh_token(session, identity.hash_opaque_token(raw_token))
    if row is not None:
        await repository.revoke_family(session, row.family_id, _now())
        await end_family_live_sessions(session, row.family_id, RevokedBecause.SIGNED_OUT)


async def get_user(session: Session, user_id: uuid.UUID) -> User:
    """The caller's account; :class:`AccountNotFound` if it was deleted after the token was issued."""
    user = await repository.get_user(session, user_id)
    if user is None:
        raise AccountNotFound()
    return user


async def update_me(session: Session, user_id: uuid.UUID, data: MeUpdate) -> User:
    """Apply the fields the caller sent."""
    user = await get_user(session, user_id)
    if data.name is not None:
        user.name = data.name
    if data.timezone is not None:
        user.timezone = data.timezone
    await session.flush()
    return user


async def change_password(session: Session, principal: Principal, data: PasswordChange) -> None:
    """Set a new password after checking the current one (:class:`WrongPassword`); every other
    sign-in's refresh tokens are revoked, so only the caller's sign-in stays."""
    user_id = principal.id
    user = await repository.lock_user(session, user_id)
    if user is None:
        raise AccountNotFound()
    if not await asyncio.to_thread(identity.verify_password, user.password_hash, data.current_password):
        raise WrongPassword()
    user.password_hash = await _hash_password(data.new_password)
    await repository.revoke_user_families(session, user_id, _now(), keep_family=principal.session_id)
    await end_other_live_sessions(session, user_id, principal.session_id, RevokedBecause.PASSWORD_CHANGED)


async def make_admin(session: Session, email: str, name: str | None, password: str | None) -> tuple[User, bool]:
    """Create an admin account, or make the existing account with this address an admin (and
    set its password when one is given); returns the account and whether it was created.
    Admins cannot be made through the API: this is for ``edustream admin create``."""
    user = await repository.find_user_by_email(session, email)
    if user is None:
        if not password:
            raise ValueError("a new admin account needs a password")
        user = User(email=email, name=name or email.split("@")[0], role=Role.ADMIN, timezone="UTC",
                    password_hash=await _hash_password(password), email_verified=True)
        await repository.add_user(session, user)
        return user, True
    user.role = Role.ADMIN
    if name:
        user.name = name
    if password:
        user.password_hash = await _hash_password(password)
    return user, False


async def suspend(session: Session, user_id: uuid.UUID, reason: str, now: datetime) -> User:
    """Suspend an account: it can no longer sign in or refresh, every refresh token is revoked,
    its live connections close in every process once this commits, and API processes refuse
    its access tokens within ``SUSPENSION_REFRESH_SECONDS`` (see :func:`suspended_ids`)."""
    user = await repository.lock_user(session, user_id)
    if user is None:
        raise AccountNotFound()
    if user.suspended_at is None:
        user.suspended_at, user.suspended_reason = now, reason
        await repository.revoke_user_families(session, user_id, now)
        await end_live_sessions(session, user_id, RevokedBecause.ACCOUNT_SUSPENDED)
    return user


async def reinstate(session: Session, user_id: uuid.UUID) -> User:
    """Lift a suspension (the owner signs in again)."""
    user = await repository.lock_user(session, user_id)
    if user is None:
        raise AccountNotFound()
    user.suspended_at, user.suspended_reason = None, None
    return user


async def suspended_ids(session: Session) -> frozenset[uuid.UUID]:
    """The suspended accounts, which each API process re-reads every ``SUSPENSION_REFRESH_SECONDS``
    so that their still-unexpired access tokens stop working (server/app.py)."""
    return await repository.suspended_user_ids(session)


async def purge_tokens(session: Session, settings: Settings, now: datetime, batch: int) -> int:
    """Delete up to ``batch`` refresh tokens and up to ``batch`` verification links that expired
    (or, for tokens, were revoked) more than ``REFRESH_TOKEN_RETENTION_SECONDS`` ago; how many.

    Kept that long after they stop working so that a replayed token is still recognised as
    reused (and its family revoked) for a while, and for investigating a sign-in."""
    cutoff = now - timedelta(seconds=settings.refresh_token_retention_seconds)
    return (await repository.purge_refresh_tokens(session, cutoff, cutoff, batch)
            + await repository.purge_email_verifications(session, cutoff, batch))
