"""What admins do: dead letters (background calls that exhausted their retries) listed and
re-queued; accounts searched, suspended and reinstated; bookings listed by any filter."""

from __future__ import annotations

import uuid
from datetime import datetime

from models.booking import Booking
from models.outbox import DeadLetter
from models.user import User
from server.admin import repository
from server.admin.schemas import AdminBookingQuery
from server.auth import service as auth
from server.db import Session
from server.errors import Conflict, NotFound
from server.jobs import TaskClient, is_outbound_task
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


async def retry_dead_letter(session: Session, settings: Settings, letter_id: int,
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


async def suspend_user(session: Session, user_id: uuid.UUID, reason: str, now: datetime) -> User:
    """Suspend an account at once (sign-in, tokens and live connections: see auth.service.suspend)."""
    return await auth.suspend(session, user_id, reason, now)


async def reinstate_user(session: Session, user_id: uuid.UUID) -> User:
    return await auth.reinstate(session, user_id)


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
    return await payments.admin_refund(session, settings, booking_id, amount_cents, reason, admin_id, now)
