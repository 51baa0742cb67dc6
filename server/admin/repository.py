"""The SQL of the admin endpoints: dead letters."""

from __future__ import annotations

from sqlalchemy import select

from models.outbox import DeadLetter
from server.db import Session


async def list_dead_letters(session: Session, retried: bool | None, before_id: int | None,
                            limit: int) -> list[DeadLetter]:
    """Up to ``limit`` dead letters with ids below ``before_id``, newest (highest id) first."""
    query = select(DeadLetter)
    if retried is not None:
        query = query.where(DeadLetter.retried_at.is_not(None) if retried else DeadLetter.retried_at.is_(None))
    if before_id is not None:
        query = query.where(DeadLetter.id < before_id)
    return list((await session.scalars(query.order_by(DeadLetter.id.desc()).limit(limit))).all())


async def lock_dead_letter(session: Session, letter_id: int) -> DeadLetter | None:
    """The dead letter, locked so that two admins cannot re-queue it twice."""
    return await session.get(DeadLetter, letter_id, with_for_update=True)
