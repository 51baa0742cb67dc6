"""Notifications' SQL: the bell's page, its unread count, marking read, pruning.

Rows are written by the database (the outbox trigger, models/notification.py), never here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from models.notification import Notification
from server.db import Session


async def page(session: Session, user_id: uuid.UUID, *, unread_only: bool, before_seq: int | None,
               limit: int) -> Sequence[Notification]:
    """The user's notifications, newest first, older than ``before_seq`` when given."""
    stmt = (select(Notification).where(Notification.user_id == user_id)
            .order_by(Notification.seq.desc()).limit(limit))
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if before_seq is not None:
        stmt = stmt.where(Notification.seq < before_seq)
    return (await session.scalars(stmt)).all()


async def unread_count(session: Session, user_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).select_from(Notification)
                                     .where(Notification.user_id == user_id, Notification.read_at.is_(None))) or 0)


async def mark_read(session: Session, user_id: uuid.UUID, ids: Sequence[uuid.UUID] | None,
                    now: datetime) -> list[uuid.UUID]:
    """Mark the user's unread notifications among ``ids`` (all of them when None) read; the ids
    marked. Other users' ids and already read ones are left alone."""
    stmt = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    result = await session.execute(stmt.values(read_at=now).returning(Notification.id)
                                   .execution_options(synchronize_session=False))
    return list(result.scalars().all())
