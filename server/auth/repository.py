"""The SQL of accounts, sessions (refresh tokens) and e-mail verification links."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from models.user import EmailVerification, RefreshToken, User
from server.db import Session


async def get_user(session: Session, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def lock_user(session: Session, user_id: uuid.UUID) -> User | None:
    """The account, locked until the end of the transaction."""
    return await session.get(User, user_id, with_for_update=True, populate_existing=True)


async def suspended_user_ids(session: Session) -> frozenset[uuid.UUID]:
    """Every suspended account (a short list, read through ``ix_users_suspended``)."""
    return frozenset((await session.scalars(select(User.id).where(User.suspended_at.is_not(None)))).all())


async def find_user_by_email(session: Session, email: str) -> User | None:
    """The account with ``email`` in any letter case (the unique index is on ``lower(email)``)."""
    result = await session.execute(select(User).where(func.lower(User.email) == email.strip().lower()))
    return result.scalar_one_or_none()


async def add_user(session: Session, user: User) -> None:
    """Insert ``user`` now; a taken address raises ``IntegrityError`` (``uq_users_email_lower``)."""
    session.add(user)
    await session.flush()


async def add_refresh_token(session: Session, user_id: uuid.UUID, family_id: uuid.UUID, token_hash: str,
                            expires_at: datetime) -> None:
    session.add(RefreshToken(user_id=user_id, family_id=family_id, token_hash=token_hash, expires_at=expires_at))
    await session.flush()


async def claim_refresh_token(session: Session, token_hash: str, now: datetime) -> Any:
    """Mark the token used if it is usable; its ``(user_id, family_id)``, else ``None``.

    One conditional UPDATE: of two concurrent refreshes with the same token exactly one
    claims it, the other finds it used."""
    return (await session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None),
               RefreshToken.revoked_at.is_(None), RefreshToken.expires_at > now)
        .values(used_at=now)
        .returning(RefreshToken.user_id, RefreshToken.family_id))).one_or_none()


async def find_refresh_token(session: Session, token_hash: str) -> Any:
    """``(family_id, used_at)`` of the token with that hash, or ``None``."""
    return (await session.execute(
        select(RefreshToken.family_id, RefreshToken.used_at).where(RefreshToken.token_hash == token_hash)
    )).one_or_none()


async def revoke_family(session: Session, family_id: uuid.UUID, now: datetime) -> None:
    await session.execute(update(RefreshToken)
                          .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
                          .values(revoked_at=now))


async def revoke_user_families(session: Session, user_id: uuid.UUID, now: datetime,
                               keep_family: uuid.UUID | None = None) -> None:
    """Revoke every refresh-token family of ``user_id`` except ``keep_family``."""
    query = update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
    if keep_family is not None:
        query = query.where(RefreshToken.family_id != keep_family)
    await session.execute(query.values(revoked_at=now))


async def purge_refresh_tokens(session: Session, expired_before: datetime, revoked_before: datetime,
                               limit: int) -> int:
    """Delete up to ``limit`` tokens that expired before ``expired_before`` or were revoked
    before ``revoked_before``; how many were deleted."""
    doomed = (select(RefreshToken.id)
              .where(or_(RefreshToken.expires_at < expired_before, RefreshToken.revoked_at < revoked_before))
              .limit(limit).scalar_subquery())
    result = await session.execute(delete(RefreshToken).where(RefreshToken.id.in_(doomed)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def add_email_verification(session: Session, verification: EmailVerification) -> None:
    session.add(verification)
    await session.flush()


async def get_email_verification(session: Session, verification_id: uuid.UUID) -> EmailVerification | None:
    return await session.get(EmailVerification, verification_id)


async def lock_email_verification(session: Session, token_hash: str) -> EmailVerification | None:
    """The link with that token hash, locked so that it is used at most once."""
    result = await session.execute(
        select(EmailVerification).where(EmailVerification.token_hash == token_hash).with_for_update())
    return result.scalar_one_or_none()


async def latest_email_verification_at(session: Session, user_id: uuid.UUID) -> datetime | None:
    """When the newest link for that account was made."""
    result = await session.execute(
        select(func.max(EmailVerification.created_at)).where(EmailVerification.user_id == user_id))
    return result.scalar_one_or_none()


async def purge_email_verifications(session: Session, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` links that expired before ``before``; how many."""
    doomed = (select(EmailVerification.id).where(EmailVerification.expires_at < before)
              .limit(limit).scalar_subquery())
    result = await session.execute(delete(EmailVerification).where(EmailVerification.id.in_(doomed)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
