"""What admins do: dead letters (background calls that exhausted their retries) listed and
re-queued; accounts searched, suspended and reinstated; bookings listed by any filter,
refunded and cancelled; the live overview.

Every action records an audit row (:mod:`models.audit`) in the action's own transaction: who,
what, on what, and why; the audit log is read with :func:`list_audit`."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from models.audit import AdminActionKind, AuditTarget
from models.booking import Booking
from models.outbox import DeadLetter
from models.user import User
from server.admin import repository
from server.admin.schemas import (
    AdminBookingQuery,
    AuditEntryOut,
    AuditPage,
    AuditQuery,
    MinuteCount,
    OverviewOut,
)
from server.auth import service as auth
from server.bookings import lifecycle
from server.bookings import repository as bookings
from server.bookings.schemas import BookingOut, BookingPage
from server.db import Session
from server.errors import Conflict, NotFound
from server.identity import Principal
from server.jobs import TaskClient, is_outbound_task
from server.observability import metrics
from server.pagination import InvalidCursor, decode_cursor, encode_cursor
from server.payments import service as payments
from server.settings import Settings


class DeadLetterNotFound(NotFound):
    code = "not_found"
    message = "No such dead letter."


class AlreadyRetried(Conflict):
    code = "already_retried"
    message = "This dead letter was already re-queued; a new failure makes a new one."


class UnknownTask(Conflict):
    code = "unknown_task"
    message = "This task no longer exists, so it cannot be re-queued."


MAX_ID = 2**63 - 1


def parse_id(raw: str) -> int:
    """A dead letter id from the path; anything that is not one is simply not found."""
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise DeadLetterNotFound()
    return int(raw)


async def list_dead_letters(session: Session, retried: bool | None, cursor: str | None,
                            limit: int) -> tuple[list[DeadLetter], str | None]:
    """Newest first, keyset-paginated by id."""
    before: int | None = None
    if cursor:
        [before] = decode_cursor(cursor, 1)
        if not isinstance(before, int) or isinstance(before, bool) or not 0 < before <= MAX_ID:
            raise InvalidCursor(details=[{"field": "query.cursor", "message": "malformed"}])
    rows = await repository.list_dead_letters(session, retried, before, limit + 1)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].id])
    return rows, next_cursor


async def retry_dead_letter(session: Session, settings: Settings, admin_id: uuid.UUID, letter_id: int,
                            now: datetime) -> tuple[DeadLetter, str]:
    """Re-queue the failed call with its original arguments (a fresh retry budget).

    The task is kicked before the row is marked, inside the transaction: if the commit then
    fails the call may run twice, which every task tolerates, but it is never lost."""
    letter = await repository.lock_dead_letter(session, letter_id)
    if letter is None:
        raise DeadLetterNotFound()
    if letter.retried_at is not None:
        raise AlreadyRetried(details={"retried_at": letter.retried_at.isoformat()})
    if not is_outbound_task(letter.task_name):
        raise UnknownTask(details={"task_name": letter.task_name})
    async with TaskClient(settings) as tasks:
        task_id = await tasks.kick_with(letter.task_name, letter.args.get("args", []),
                                        letter.args.get("kwargs", {}))
    letter.retried_at = now
    repository.add_action(session, admin_id, AdminActionKind.DEAD_LETTER_RETRIED, AuditTarget.DEAD_LETTER,
                          str(letter.id), None, {"task_name": letter.task_name, "task_id": task_id})
    return letter, task_id


async def search_users(session: Session, q: str | None, cursor: str | None,
                       limit: int) -> tuple[list[User], str | None]:
    """Accounts by e-mail, keyset-paginated."""
    after: str | None = None
    if cursor:
        [after] = decode_cursor(cursor, 1)
        if not isinstance(after, str):
            raise InvalidCursor(details=[{"field": "query.cursor", "message": "malformed"}])
    rows = await repository.search_users(session, q, after, limit + 1)
    next_cursor = encode_cursor([rows[limit - 1].email.lower()]) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def suspend_user(session: Session, admin_id: uuid.UUID, user_id: uuid.UUID, reason: str,
                       now: datetime) -> User:
    """Suspend an account at once (sign-in, tokens and live connections: see auth.service.suspend)."""
    user = await auth.suspend(session, user_id, reason, now)
    repository.add_action(session, admin_id, AdminActionKind.USER_SUSPENDED, AuditTarget.USER, str(user.id), reason,
                          {"email": user.email})
    return user


async def reinstate_user(session: Session, admin_id: uuid.UUID, user_id: uuid.UUID, reason: str) -> User:
    user = await auth.reinstate(session, user_id)
    repository.add_action(session, admin_id, AdminActionKind.USER_REINSTATED, AuditTarget.USER, str(user.id),
                          reason, {"email": user.email})
    return user


async def booking_page(session: Session, query: AdminBookingQuery, now: datetime) -> BookingPage:
    """:func:`list_bookings` with both parties' names, for the console."""
    rows, next_cursor = await list_bookings(session, query)
    names = await bookings.names(session, rows)
    return BookingPage(items=[BookingOut.of(b, now, names) for b in rows], next_cursor=next_cursor)


async def list_bookings(session: Session, query: AdminBookingQuery) -> tuple[list[Booking], str | None]:
    """Bookings by any filter, newest first, keyset-paginated."""
    before: tuple[datetime, uuid.UUID] | None = None
    if query.cursor:
        created, booking_id = decode_cursor(query.cursor, 2)
        try:
            before = (datetime.fromisoformat(created), uuid.UUID(booking_id))
        except (TypeError, ValueError) as exc:
            raise InvalidCursor(details=[{"field": "query.cursor", "message": "malformed"}]) from exc
    rows = await repository.list_bookings(session, status=query.status, payment_status=query.payment_status,
                                          tutor_id=query.tutor_id, student_id=query.student_id, before=before,
                                          limit=query.limit + 1)
    next_cursor = None
    if len(rows) > query.limit:
        last = rows[query.limit - 1]
        next_cursor = encode_cursor([last.created_at.isoformat(), str(last.id)])
    return rows[:query.limit], next_cursor


async def refund_booking(session: Session, settings: Settings, booking_id: uuid.UUID, amount_cents: int | None,
                         reason: str, admin_id: uuid.UUID, now: datetime) -> Booking:
    """Refund a paid booking (or retry a refund that was given up): see payments.service.admin_refund."""
    booking = await payments.admin_refund(session, settings, booking_id, amount_cents, reason, admin_id, now)
    repository.add_action(session, admin_id, AdminActionKind.BOOKING_REFUNDED, AuditTarget.BOOKING, str(booking.id),
                          reason, {"refund_cents": booking.refund_cents, "currency": booking.currency})
    return booking


async def cancel_booking(session: Session, settings: Settings, admin: Principal, booking_id: uuid.UUID,
                         reason: str, now: datetime) -> Booking:
    """Cancel a confirmed booking that has not started; an admin's cancellation refunds in full
    (:func:`server.bookings.lifecycle.refund_for`), whatever the student's deadline."""
    booking = await lifecycle.cancel(session, settings, admin, booking_id, reason, now)
    repository.add_action(session, admin.id, AdminActionKind.BOOKING_CANCELLED, AuditTarget.BOOKING, str(booking.id),
                          reason, {"refund_cents": booking.refund_cents or 0, "currency": booking.currency})
    return booking


async def list_audit(session: Session, query: AuditQuery) -> AuditPage:
    """The audit log, newest first, keyset-paginated by id."""
    before: int | None = None
    if query.cursor:
        [before] = decode_cursor(query.cursor, 1)
        if not isinstance(before, int) or isinstance(before, bool) or not 0 < before <= MAX_ID:
            raise InvalidCursor(details=[{"field": "query.cursor", "message": "malformed"}])
    rows = await repository.list_actions(session, admin_id=query.admin_id, action=query.action,
                                         target_id=query.target_id, before_id=before, limit=query.limit + 1)
    next_cursor = encode_cursor([rows[query.limit - 1][0].id]) if len(rows) > query.limit else None
    return AuditPage(items=[AuditEntryOut.of(row, email, name) for row, email, name in rows[:query.limit]],
                     next_cursor=next_cursor)


OVERVIEW_MINUTES = 15


async def overview(session: Session, now: datetime) -> OverviewOut:
    """Holds per minute and what needs an admin (from the database, platform-wide), with this
    process's conflict count and live connections (from its metrics)."""
    current = now.replace(second=0, microsecond=0)
    minutes = [current - timedelta(minutes=i) for i in range(OVERVIEW_MINUTES - 1, -1, -1)]
    per_minute = await repository.holds_per_minute(session, minutes[0])
    counts = await repository.overview_counts(session, now)
    return OverviewOut(generated_at=now,
                       holds_per_minute=[MinuteCount(minute=m, count=per_minute.get(m, 0)) for m in minutes],
                       **counts, **metrics.live_counts())
