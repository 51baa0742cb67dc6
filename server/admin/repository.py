"""The SQL of the admin endpoints: dead letters, accounts and bookings."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, or_, select, tuple_

from models.booking import Booking, BookingStatus, PaymentStatus
from models.outbox import DeadLetter
from models.user import User
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


async def search_users(session: Session, q: str | None, after_email: str | None, limit: int) -> list[User]:
    """Accounts whose e-mail or name contains ``q`` (any case), by e-mail, after ``after_email``."""
    query = select(User)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(User.email.ilike(pattern), User.name.ilike(pattern)))
    if after_email is not None:
        query = query.where(func.lower(User.email) > after_email)
    return list((await session.scalars(query.order_by(func.lower(User.email)).limit(limit))).all())


async def list_bookings(session: Session, *, status: BookingStatus | None, payment_status: PaymentStatus | None,
                        tutor_id: uuid.UUID | None, student_id: uuid.UUID | None,
                        before: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Booking]:
    """Bookings matching every given filter, newest first (keyset on created_at, id)."""
    query = select(Booking)
    if status is not None:
        query = query.where(Booking.status == status)
    if payment_status is not None:
        query = query.where(Booking.payment_status == payment_status)
    if tutor_id is not None:
        query = query.where(Booking.tutor_id == tutor_id)
    if student_id is not None:
        query = query.where(Booking.student_id == student_id)
    if before is not None:
        query = query.where(tuple_(Booking.created_at, Booking.id) < before)
    query = query.order_by(Booking.created_at.desc(), Booking.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())
