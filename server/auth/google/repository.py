"""The rows Google sign-in reads and writes."""

from __future__ import annotations

from sqlalchemy import func, select

from models.user import User
from server.db import Session


async def find_user_by_google_sub(session: Session, sub: str) -> User | None:
    """The account already linked to that Google account."""
    result = await session.execute(select(User).where(User.google_sub == sub))
    return result.scalar_one_or_none()


async def lock_user_by_email(session: Session, email: str) -> User | None:
    """The account with ``email`` in any letter case, locked for linking."""
    result = await session.execute(
        select(User).where(func.lower(User.email) == email.strip().lower()).with_for_update())
    return result.scalar_one_or_none()


def add_user(session: Session, user: User) -> None:
    """Stage a new account (written by the next flush)."""
    session.add(user)
