"""Reading bookings: one booking, and a user's bookings page by page.

The rules that change bookings live beside this module by sub-domain: ``holds`` (place,
release, expire), ``lifecycle`` (confirm, complete, cancel, reschedule), ``settlement``
(a payment arrived), ``checkout`` (paying for a hold); their SQL in ``repository``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from models.booking import Booking, BookingStatus
from models.user import Role
from server.bookings import repository
from server.bookings.errors import BookingNotFound
from server.bookings.schemas import BookingEventOut, BookingEventPage, BookingOut, BookingPage
from server.db import Session
from server.identity import Principal
from server.pagination import InvalidCursor, decode_cursor, encode_cursor


def price_for(rate_cents: int, minutes: int) -> int:
    """The lesson price in minor units, rounded half up."""
    return (rate_cents * minutes + 30) // 60


def visible(booking: Booking | None, principal: Principal) -> Booking:
    """The booking if ``principal`` may see it (a party, or an admin); else not found."""
    if booking is None or (principal.role != Role.ADMIN and principal.id not in (booking.student_id, booking.tutor_id)):
        raise BookingNotFound()
    return booking


async def get_booking(session: Session, principal: Principal, booking_id: uuid.UUID) -> BookingOut:
    booking = visible(await repository.get(session, booking_id), principal)
    return BookingOut.of(booking, names=await repository.names(session, [booking]))


async def booking_history(session: Session, principal: Principal, booking_id: uuid.UUID) -> BookingEventPage:
    """The status history of a booking the principal may see, oldest first."""
    booking = visible(await repository.get(session, booking_id), principal)
    return BookingEventPage(items=[BookingEventOut.of(e, booking) for e in await repository.history(session, booking.id)])


@dataclass(frozen=True, slots=True)
class PageQuery:
    status: BookingStatus | None
    cursor: str | None
    limit: int


async def list_bookings(session: Session, principal: Principal, query: PageQuery, now: datetime) -> BookingPage:
    """The caller's bookings (as student or tutor; all of them for an admin), soonest first,
    keyset-paginated."""
    after = None
    if query.cursor:
        after_start, after_id = decode_cursor(query.cursor, 2)
        try:
            after = (datetime.fromisoformat(after_start), uuid.UUID(after_id))
        except (TypeError, ValueError) as exc:
            raise InvalidCursor() from exc
    rows = await repository.page(session, party=None if principal.role == "admin" else principal.id,
                                 status=query.status, after=after, limit=query.limit + 1, now=now)
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[:query.limit]
        next_cursor = encode_cursor([rows[-1].start_at.isoformat(), str(rows[-1].id)])
    names = await repository.names(session, rows)
    return BookingPage(items=[BookingOut.of(b, now, names) for b in rows], next_cursor=next_cursor)
