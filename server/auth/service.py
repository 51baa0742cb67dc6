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

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from models.user import RefreshToken, User
from server.auth import tokens
from server.auth.schemas import LoginIn, MeUpdate, RegisterIn
from server.db import Session
from server.errors import Conflict, NotFound, Unauthorized
from server.live_sessions import end_family_live_sessions
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
    return await asyncio.to_thread(tokens.hash_password, password)


async def start_session(session: Session, settings: Settings, user: User) -> SignedIn:
    return SignedIn(user=user, access_token=tokens.issue_access_token(settings, user.id, user.role),
                   refresh_token=await _add_refresh_token(session, settings, user.id, uuid.uuid4()))


async def _add_refresh_token(session: Session, settings: Settings, user_id: uuid.UUID,
                             family_id: uuid.UUID) -> str:
    raw = tokens.new_opaque_token()
    session.add(RefreshToken(user_id=user_id, family_id=family_id, token_hash=tokens.hash_opaque_token(raw),
                             expires_at=_now() + timedelta(seconds=settings.refresh_token_ttl_seconds)))
    await session.flush()
    return raw


async def register(session: Session, settings: Settings, data: RegisterIn) -> SignedIn:
    """Create a student or tutor account and sign it in; :class:`EmailTaken` when the address
    is in use in any letter case (decided by the unique index, so concurrent sign-ups are safe)."""
    user = User(email=str(data.email), name=data.name, role=data.role, timezone=data.timezone,
                password_hash=await _hash_password(data.password))
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        if _unique_violation_on(exc, EMAIL_UNIQUE_INDEX):
            raise EmailTaken() from exc
        raise
    return await start_session(session, settings, user)


async def login(session: Session, settings: Settings, data: LoginIn) -> SignedIn:
    """Check the password and start a new session family; the same error for an unknown
    address and a wrong password, and about the same time for both."""
    user = (await session.execute(
        select(User).where(func.lower(User.email) == data.email.strip().lower()))).scalar_one_or_none()
    ok = await asyncio.to_thread(tokens.verify_password, user.password_hash if user else None, data.password)
    if user is None or not ok:
        raise InvalidCredentials()
    if tokens.password_needs_rehash(user.password_hash or ""):
        user.password_hash = await _hash_password(data.password)
    return await start_session(session, settings, user)


async def refresh(session: Session, settings: Settings, raw_token: str) -> SignedIn:
    """Rotate a refresh token. Presenting a used token revokes its whole family and raises
    :class:`RefreshTokenReused`, which keeps its changes: the revocation is committed though the
    call fails."""
    token_hash = tokens.hash_opaque_token(raw_token)
    now = _now()
    # One conditional UPDATE claims the token: of two concurrent refreshes with the same
    # token exactly one matches; the other then sees it used and is treated as a replay.
    claimed = (await session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None),
               RefreshToken.revoked_at.is_(None), RefreshToken.expires_at > now)
        .values(used_at=now)
        .returning(RefreshToken.user_id, RefreshToken.family_id))).one_or_none()
    if claimed is not None:
        user = await session.get(User, claimed.user_id)
        if user is None:
            raise InvalidRefreshToken()
        new_raw = await _add_refresh_token(session, settings, user.id, claimed.family_id)
        return SignedIn(user=user, access_token=tokens.issue_access_token(settings, user.id, user.role),
                       refresh_token=new_raw)
    row = (await session.execute(
        select(RefreshToken.family_id, RefreshToken.used_at).where(RefreshToken.token_hash == token_hash)
    )).one_or_none()
    if row is None or row.used_at is None:
        raise InvalidRefreshToken()
    await _revoke_family(session, row.family_id)
    raise RefreshTokenReused(details={"family_revoked": True})


async def _revoke_family(session: Session, family_id: uuid.UUID) -> None:
    await session.execute(update(RefreshToken)
                          .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
                          .values(revoked_at=_now()))
    await end_family_live_sessions(session, family_id)  # closes the user's /live connections everywhere


async def logout(session: Session, raw_token: str | None) -> None:
    """Revoke the family of the presented refresh token. Unknown or missing tokens are ignored
    so that logging out is always safe to repeat."""
    if not raw_token:
        return
    family_id = (await session.execute(select(RefreshToken.family_id).where(
        RefreshToken.token_hash == tokens.hash_opaque_token(raw_token)))).scalar_one_or_none()
    if family_id is not None:
        await _revoke_family(session, family_id)


async def get_user(session: Session, user_id: uuid.UUID) -> User:
    """The caller's account; :class:`AccountNotFound` if it was deleted after the token was issued."""
    user = await session.get(User, user_id)
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
