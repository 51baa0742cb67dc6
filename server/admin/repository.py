"""The SQL of the admin endpoints: dead letters, accounts, bookings, the audit log and the
live overview's counts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, tuple_

from models.audit import AdminAction, AdminActionKind, AuditTarget
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


def add_action(session: Session, admin_id: uuid.UUID, action: AdminActionKind, target_type: AuditTarget,
               target_id: str, reason: str | None, details: dict[str, Any] | None = None) -> AdminAction:
    """An audit row, in the caller's transaction (committed with the action or not at all)."""
    row = AdminAction(admin_id=admin_id, action=action, target_type=target_type, target_id=target_id,
                      reason=reason, details=details or {})
    session.add(row)
    return row


async def list_actions(session: Session, *, admin_id: uuid.UUID | None, action: AdminActionKind | None,
                       target_id: str | None, before_id: int | None,
                       limit: int) -> list[tuple[AdminAction, str, str]]:
    """Audit rows matching every given filter, newest first, each with its admin's e-mail and name."""
    query = select(AdminAction, User.email, User.name).join(User, User.id == AdminAction.admin_id)
    if admin_id is not None:
        query = query.where(AdminAction.admin_id == admin_id)
    if action is not None:
        query = query.where(AdminAction.action == action)
    if target_id is not None:
        query = query.where(AdminAction.target_id == target_id)
    if before_id is not None:
        query = query.where(AdminAction.id < before_id)
    rows = (await session.execute(query.order_by(AdminAction.id.desc()).limit(limit))).all()
    return [(row[0], row[1], row[2]) for row in rows]


async def holds_per_minute(session: Session, since: datetime) -> dict[datetime, int]:
    """Holds placed (every booking starts as one) per minute since ``since``, by the minute."""
    minute = func.date_trunc("minute", Booking.created_at)
    rows = await session.execute(select(minute, func.count()).where(Booking.created_at >= since).group_by(minute))
    return {row[0]: int(row[1]) for row in rows}


async def overview_counts(session: Session, now: datetime) -> dict[str, int]:
    """What needs an admin, and what is live, counted in one round trip."""
    held = select(func.count()).select_from(Booking).where(Booking.status == BookingStatus.HELD,
                                                           Booking.live_at(now))
    query = select(
        held.scalar_subquery(),
        select(func.count()).select_from(Booking)
        .where(Booking.payment_status == PaymentStatus.REFUND_FAILED).scalar_subquery(),
        select(func.count()).select_from(DeadLetter).where(DeadLetter.retried_at.is_(None)).scalar_subquery(),
        select(func.count()).select_from(User).where(User.suspended_at.is_not(None)).scalar_subquery(),
    )
    active_holds, refunds_failed, dead_letters, suspended = (await session.execute(query)).one()
    return {"active_holds": int(active_holds), "refunds_failed": int(refunds_failed),
            "dead_letters_waiting": int(dead_letters), "suspended_users": int(suspended)}
