"""All SQL of calendar sync: connections (grants), busy time, the events that mirror bookings.

The two busy-time fragments are kept free of anything else because the slot code
(server/availability/service.py, on every slots read) and the hold path
(server/bookings/service.py) splice them into their own statements. A tutor's busy time
from their calendar blocks like a confirmed booking.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, bindparam, delete, select, text
from sqlalchemy.dialects.postgresql import TSTZRANGE, Range
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.booking import Booking, BookingStatus
from models.integrations import CalendarBusy, CalendarEvent, ConnectionStatus, OAuthConnection, OAuthProvider
from models.user import User
from server.db import Session

# ``(start, end, 'confirmed', NULL)`` rows of the tutor's busy time meeting ``[:lo, :hi)``, to
# ``UNION ALL`` with the bookings part of ``load_busy`` (``:t`` is the tutor id).
BUSY_SQL = (f"SELECT lower(during), upper(during), '{BookingStatus.CONFIRMED}', NULL::timestamptz FROM calendar_busy "
            "WHERE user_id = :t AND during && tstzrange(:lo, :hi, '[)')")


# For the hold path's single checks statement: OR this into its conflict condition
# (``:t`` is the tutor id, ``:g`` the guarded range being held).
CALENDAR_CONFLICT_SQL = "EXISTS (SELECT 1 FROM calendar_busy c WHERE c.user_id = :t AND c.during && :g)"

_CONFLICT = text(f"SELECT {CALENDAR_CONFLICT_SQL}").bindparams(bindparam("g", type_=TSTZRANGE))


async def calendar_conflict(session: Session, tutor_id: uuid.UUID, guarded: Range[datetime]) -> bool:
    """True when the tutor's calendar is busy anywhere in ``guarded``."""
    return bool(await session.scalar(_CONFLICT, {"t": tutor_id, "g": guarded}))


# --- Connections ---------------------------------------------------------------------------

def _connection_of(user_id: uuid.UUID) -> Select[OAuthConnection]:
    return select(OAuthConnection).where(OAuthConnection.user_id == user_id,
                                         OAuthConnection.provider == OAuthProvider.GOOGLE_CALENDAR)


async def get_connection(session: Session, user_id: uuid.UUID) -> OAuthConnection | None:
    """The user's Calendar grant (active or revoked)."""
    return (await session.execute(_connection_of(user_id))).scalar_one_or_none()


async def lock_connection(session: Session, user_id: uuid.UUID) -> OAuthConnection | None:
    """The user's Calendar grant, locked for update."""
    return (await session.execute(_connection_of(user_id).with_for_update())).scalar_one_or_none()


def add_connection(session: Session, connection: OAuthConnection) -> None:
    """Stage a new grant (written by the next flush)."""
    session.add(connection)


async def delete_connection(session: Session, connection: OAuthConnection) -> None:
    """Forget the grant."""
    await session.delete(connection)


async def tutors_with_active_connection(session: Session) -> list[uuid.UUID]:
    """Every tutor with an active Calendar grant."""
    rows = await session.scalars(
        select(OAuthConnection.user_id).join(User, User.id == OAuthConnection.user_id)
        .where(OAuthConnection.provider == OAuthProvider.GOOGLE_CALENDAR,
               OAuthConnection.status == ConnectionStatus.ACTIVE, User.role == "tutor"))
    return list(rows.all())


async def user_role(session: Session, user_id: uuid.UUID) -> str | None:
    """The user's role (None: no such user)."""
    return await session.scalar(select(User.role).where(User.id == user_id))


# --- Busy time -----------------------------------------------------------------------------

async def busy_ranges(session: Session, user_id: uuid.UUID) -> list[tuple[datetime, datetime]]:
    """The user's stored busy time, in order."""
    stored = await session.scalars(select(CalendarBusy.during).where(CalendarBusy.user_id == user_id)
                                   .order_by(CalendarBusy.during))
    return [(r.lower, r.upper) for r in stored if r.lower is not None and r.upper is not None]


async def replace_busy(session: Session, user_id: uuid.UUID, busy: list[tuple[datetime, datetime]]) -> None:
    """Make ``busy`` the user's stored busy time."""
    await session.execute(delete(CalendarBusy).where(CalendarBusy.user_id == user_id))
    if busy:
        await session.execute(pg_insert(CalendarBusy).values(
            [{"user_id": user_id, "during": Range(s, e, bounds="[)")} for s, e in busy]))


async def delete_busy(session: Session, user_id: uuid.UUID) -> bool:
    """Drop the user's busy time; whether there was any."""
    deleted = await session.execute(delete(CalendarBusy).where(CalendarBusy.user_id == user_id)
                                    .returning(CalendarBusy.id))
    return deleted.first() is not None


# --- Mirrored events -----------------------------------------------------------------------

async def get_booking(session: Session, booking_id: uuid.UUID) -> Booking | None:
    """The booking a sync mirrors."""
    return await session.get(Booking, booking_id)


async def user_name(session: Session, user_id: uuid.UUID) -> str:
    """The user's display name ('' when the account is gone)."""
    return await session.scalar(select(User.name).where(User.id == user_id)) or ""


async def get_event(session: Session, booking_id: uuid.UUID, user_id: uuid.UUID) -> CalendarEvent | None:
    """What was last written to ``user_id``'s calendar for the booking."""
    return await session.get(CalendarEvent, (booking_id, user_id))


async def save_event(session: Session, booking_id: uuid.UUID, user_id: uuid.UUID, calendar_id: str,
                     event_id: str, fingerprint: str) -> None:
    """Record the event now in ``user_id``'s calendar for the booking."""
    row = await session.get(CalendarEvent, (booking_id, user_id))
    if row is None:
        session.add(CalendarEvent(booking_id=booking_id, user_id=user_id, calendar_id=calendar_id,
                                  event_id=event_id, fingerprint=fingerprint))
    else:
        row.fingerprint, row.event_id, row.calendar_id = fingerprint, event_id, calendar_id


async def delete_event(session: Session, booking_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Forget the booking's event in ``user_id``'s calendar."""
    await session.execute(delete(CalendarEvent).where(CalendarEvent.booking_id == booking_id,
                                                      CalendarEvent.user_id == user_id))


async def delete_events_of(session: Session, user_id: uuid.UUID) -> None:
    """Forget every event in ``user_id``'s calendar."""
    await session.execute(delete(CalendarEvent).where(CalendarEvent.user_id == user_id))
