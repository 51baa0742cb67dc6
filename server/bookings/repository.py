"""The SQL of bookings: locks, the hold's hand-tuned statements, look-ups, the sweeps'
selections and the history rows (weekly series: ``series_repository``; trial lessons:
``trial_repository``).

Lock order (deadlock-free): a student's lock, then a tutor's lock, never the reverse; every
change to a tutor's bookings holds that tutor's transaction-scoped advisory lock, so
contention on a hot tutor is a short queue rather than PostgreSQL's deadlock detector. The
exclusion constraint ``ex_bookings_no_overlap`` stays the final guarantee against double
booking. "Live at ``now``" is :data:`models.booking.LIVE_SQL` / :meth:`Booking.live_at`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import Select, bindparam, exists, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import TSTZRANGE, Range
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from models.booking import (
    LAPSED_SQL,
    LIVE_SQL,
    Booking,
    BookingEvent,
    BookingStatus,
)
from models.user import User
from server.calendar.repository import CALENDAR_CONFLICT_SQL
from server.db import Session
from server.locks import lock_student as lock_student
from server.locks import lock_student_then_tutor as lock_student_then_tutor
from server.locks import lock_tutor as lock_tutor
from server.locks import student_lock_key as student_lock_key
from server.locks import tutor_lock_key as tutor_lock_key

EXCLUSION_VIOLATION = "23P01"


def is_exclusion_violation(exc: BaseException) -> bool:
    """Whether ``exc`` (SQLAlchemy's or asyncpg's) is ``ex_bookings_no_overlap`` refusing a row."""
    if isinstance(exc, IntegrityError):
        exc = exc.orig  # type: ignore[assignment]
    return getattr(exc, "sqlstate", None) == EXCLUSION_VIOLATION


# The locks (imported above) live in server/locks.py: the waitlist takes them too, in the same order.

# --- look-ups -------------------------------------------------------------------------------


async def upcoming_free_count(session: Session, student_id: uuid.UUID, now: datetime) -> int:
    """The student's confirmed free lessons that have not started."""
    return int(await session.scalar(
        select(func.count()).select_from(Booking).where(
            Booking.student_id == student_id, Booking.status == BookingStatus.CONFIRMED,
            Booking.price_cents == 0, Booking.start_at > now)) or 0)


async def get(session: Session, booking_id: uuid.UUID) -> Booking | None:
    return await session.get(Booking, booking_id)


async def get_locked(session: Session, booking_id: uuid.UUID) -> Booking | None:
    """The booking, with its tutor's lock and its row lock held until the transaction ends.

    Looked up first (to learn the tutor), then the tutor lock, then re-read ``FOR UPDATE``:
    whatever changed while we waited for the lock is what we see."""
    booking = await session.get(Booking, booking_id)
    if booking is None:
        return None
    await lock_tutor(session, booking.tutor_id)
    return await session.get(Booking, booking_id, with_for_update=True, populate_existing=True)


async def get_for_update(session: Session, booking_id: uuid.UUID) -> Booking | None:
    """The row lock alone (the caller holds the tutor lock, or needs none: payments)."""
    return await session.get(Booking, booking_id, with_for_update=True, populate_existing=True)


async def names(session: Session, bookings: Sequence[Booking],
                known: dict[uuid.UUID, str] | None = None) -> dict[uuid.UUID, str]:
    """Display names of the students and tutors of ``bookings`` (``known`` ones are not re-read)."""
    found = dict(known or {})
    missing = {uid for b in bookings for uid in (b.student_id, b.tutor_id)} - found.keys()
    if missing:
        rows = await session.execute(select(User.id, User.name).where(User.id.in_(missing)))
        found.update({uid: name for uid, name in rows.tuples()})
    return found


async def by_ids(session: Session, ids: Sequence[uuid.UUID]) -> list[Booking]:
    return list((await session.scalars(select(Booking).where(Booking.id.in_(ids)))).all())


async def page(session: Session, *, party: uuid.UUID | None, status: BookingStatus | None,
               after: tuple[datetime, uuid.UUID] | None, limit: int, now: datetime) -> list[Booking]:
    """Bookings soonest first after the keyset ``after``; ``party`` limits to one user's
    (as student or tutor). ``held`` means live holds; ``expired`` includes lapsed ones."""
    query = select(Booking)
    if party is not None:
        query = query.where((Booking.student_id == party) | (Booking.tutor_id == party))
    if status == BookingStatus.HELD:
        query = query.where(Booking.live_at(now), Booking.status == BookingStatus.HELD)
    elif status == BookingStatus.EXPIRED:
        query = query.where((Booking.status == BookingStatus.EXPIRED) | Booking.lapsed_at(now))
    elif status is not None:
        query = query.where(Booking.status == status)
    if after is not None:
        query = query.where(tuple_(Booking.start_at, Booking.id) > tuple_(*after))
    return list((await session.scalars(query.order_by(Booking.start_at, Booking.id).limit(limit))).all())


# --- history --------------------------------------------------------------------------------


def add_event(session: Session, booking: Booking, kind: str, actor_id: uuid.UUID | None,
              from_status: BookingStatus | None, data: dict[str, Any] | None = None) -> None:
    """Append a ``booking_events`` row (flushed with the change)."""
    session.add(BookingEvent(booking_id=booking.id, actor_id=actor_id, kind=kind, from_status=from_status,
                             to_status=booking.status, data=data or {}))


async def history(session: Session, booking_id: uuid.UUID) -> list[BookingEvent]:
    """A booking's ``booking_events`` rows, oldest first."""
    rows = await session.scalars(select(BookingEvent).where(BookingEvent.booking_id == booking_id)
                                 .order_by(BookingEvent.created_at, BookingEvent.id))
    return list(rows.all())


async def flush(session: Session) -> None:
    """Write pending changes; an exclusion violation propagates as IntegrityError."""
    await session.flush()


# --- conflicts ------------------------------------------------------------------------------


async def lock_lapsed_overlapping(session: Session, tutor_id: uuid.UUID, guarded: Range[datetime],
                                  now: datetime) -> list[Booking]:
    """Lapsed holds of the tutor overlapping ``guarded``, row-locked (to be moved aside)."""
    return list((await session.scalars(
        select(Booking).where(Booking.tutor_id == tutor_id, Booking.lapsed_at(now),
                              Booking.guarded.op("&&")(guarded)).with_for_update())).all())


_CONFLICT = text(f"""
SELECT EXISTS (SELECT 1 FROM bookings b WHERE b.tutor_id = :t AND b.guarded && :g AND b.id IS DISTINCT FROM :x
               AND {LIVE_SQL})
       OR {CALENDAR_CONFLICT_SQL}
""").bindparams(bindparam("g", type_=TSTZRANGE))


async def live_conflict(session: Session, tutor_id: uuid.UUID, guarded: Range[datetime], now: datetime,
                        exclude: uuid.UUID | None = None) -> bool:
    """Whether a live booking (other than ``exclude``) or the tutor's calendar occupies ``guarded``."""
    return bool(await session.scalar(_CONFLICT, {"t": tutor_id, "g": guarded, "x": exclude, "now": now}))


# --- the hold (general path) ----------------------------------------------------------------

_HOLD_CHECKS = text(f"""
WITH lapsed AS (
    UPDATE bookings b SET status = 'expired', updated_at = now()
    WHERE b.tutor_id = :t AND {LAPSED_SQL} AND b.guarded && :g
    RETURNING b.id
)
SELECT
    (SELECT count(*) FROM bookings b WHERE b.student_id = :s AND b.status = 'held' AND {LIVE_SQL}) AS holds,
    EXISTS (SELECT 1 FROM bookings b WHERE b.tutor_id = :t AND b.guarded && :g AND {LIVE_SQL})
        OR {CALENDAR_CONFLICT_SQL} AS conflict,
    ARRAY(SELECT id FROM lapsed) AS lapsed,
    hold_hoarding_refusal(:s, :t, lower(:g), :now, :max_tutor_holds, :cooldown) AS refusal,
    (SELECT name FROM users WHERE id = :s) AS student_name,
    (SELECT name FROM users WHERE id = :t) AS tutor_name
""").bindparams(bindparam("g", type_=TSTZRANGE))


@dataclass(frozen=True, slots=True)
class HoardingLimits:
    """``HOLD_LIMIT_PER_TUTOR`` (0: none) and ``HOLD_REHOLD_COOLDOWN_SECONDS`` (0: none)."""

    max_tutor_holds: int
    rehold_cooldown: timedelta


@dataclass(frozen=True, slots=True)
class HoldChecks:
    holds: int
    conflict: bool
    lapsed: list[uuid.UUID]
    refusal: str | None  # hold_hoarding_refusal(): None, 'tutor_hold_limit' or 'cooldown'

    student_name: str
    tutor_name: str


async def hold_checks(session: Session, student_id: uuid.UUID, tutor_id: uuid.UUID, guarded: Range[datetime],
                      now: datetime, limits: HoardingLimits) -> HoldChecks:
    """In one statement: move lapsed holds in the way aside (status only; the caller records
    them), count the student's live holds, apply the hoarding limits, and test the range for
    live bookings and busy calendar time."""
    row = (await session.execute(_HOLD_CHECKS, {
        "t": tutor_id, "s": student_id, "g": guarded, "now": now, "max_tutor_holds": limits.max_tutor_holds,
        "cooldown": limits.rehold_cooldown})).one()
    return HoldChecks(holds=row.holds, conflict=row.conflict, lapsed=list(row.lapsed), refusal=row.refusal,
                      student_name=row.student_name, tutor_name=row.tutor_name)


_HOLD_INSERT = text("""
WITH b AS (
    INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, expires_at, price_cents,
                          currency, created_at, updated_at)
    VALUES (:id, :t, :s, 'held', :start, :end, :g, :expires, :price, :currency, :now, :now)
    RETURNING id
)
INSERT INTO booking_events (booking_id, actor_id, kind, from_status, to_status, data)
SELECT id, :s, 'held', NULL, 'held', '{}'::jsonb FROM b
""").bindparams(bindparam("g", type_=TSTZRANGE))


async def insert_hold(session: Session, booking: Booking) -> None:
    """Insert a held booking and its history row (IntegrityError 23P01 when the range is taken)."""
    await session.execute(_HOLD_INSERT, {
        "id": booking.id, "t": booking.tutor_id, "s": booking.student_id, "start": booking.start_at,
        "end": booking.end_at, "g": booking.guarded, "expires": booking.expires_at, "price": booking.price_cents,
        "currency": booking.currency, "now": booking.created_at})


# --- the hold in one round trip (place_hold(): migration 0011, planned by 0026) -------------

# Also run straight over asyncpg by bench/holds.py (its ``statement`` scenario: the hold's
# database ceiling, measured beside the raw INSERT).
PLACE_HOLD_SQL = ("SELECT outcome, holds, version, student_name, tutor_name FROM place_hold("
                  "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, $17, $18)")


@dataclass(frozen=True, slots=True)
class PlacedHold:
    """What place_hold() answered: ``outcome`` is ``held``, ``hold_limit``, ``tutor_hold_limit``,
    ``cooldown``, ``conflict``, ``no_tutor``, ``stale_policy`` or ``lapsed_in_the_way``."""

    outcome: str
    holds: int | None
    version: int | None
    student_name: str | None
    tutor_name: str | None


async def place_hold_statement(session: Session, booking: Booking, *, max_holds: int, limits: HoardingLimits,
                               policy_version: int, candidates: Sequence[datetime], slot_minutes: int,
                               slot_reach_minutes: int, booking_json: str) -> PlacedHold:
    """The whole uncontended hold in one statement (a unit of work by itself): locks, checks,
    the insert and its history row, the slot change set of ``candidates``, the version bump
    and the outbox rows. Raises asyncpg's exclusion violation when the range is taken."""
    guarded = booking.guarded
    row = await session.fetch_one_statement(
        PLACE_HOLD_SQL, booking.id, booking.student_id, booking.tutor_id, booking.start_at, booking.end_at,
        asyncpg.Range(guarded.lower, guarded.upper, lower_inc=True, upper_inc=False), booking.expires_at,
        booking.price_cents, booking.currency, booking.created_at, max_holds, policy_version, list(candidates),
        timedelta(minutes=slot_minutes), timedelta(minutes=slot_reach_minutes),
        booking_json, limits.max_tutor_holds, limits.rehold_cooldown)
    assert row is not None
    return PlacedHold(outcome=row["outcome"], holds=row["holds"], version=row["version"],
                      student_name=row["student_name"], tutor_name=row["tutor_name"])


# --- sweeps (tasks/bookings.py) ---------------------------------------------------------------


def lapsed_holds_due(now: datetime) -> Select[uuid.UUID]:
    """Holds whose time ran out but are still marked ``held``, oldest first."""
    return select(Booking.id).where(Booking.lapsed_at(now)).order_by(Booking.expires_at)


def finished_due(now: datetime) -> Select[uuid.UUID]:
    """Confirmed lessons that have ended."""
    return (select(Booking.id).where(Booking.status == BookingStatus.CONFIRMED, Booking.end_at <= now)
            .order_by(Booking.end_at))


async def due_ids(session: Session, due: Select[uuid.UUID], limit: int) -> list[uuid.UUID]:
    return list((await session.scalars(due.limit(limit))).all())


async def expiring_holds(session: Session, kind: str, now: datetime, lead: timedelta,
                         limit: int) -> list[uuid.UUID]:
    """Live holds lapsing within ``lead`` that have no ``kind`` history row yet (of a weekly
    series only its earliest held lesson: the series lapses as one, and is warned once)."""
    warned = exists().where(BookingEvent.booking_id == Booking.id, BookingEvent.kind == kind)
    sibling = aliased(Booking)
    earlier_in_series = exists().where(sibling.series_id == Booking.series_id, sibling.status == BookingStatus.HELD,
                                       sibling.start_at < Booking.start_at)
    return list((await session.scalars(
        select(Booking.id).where(Booking.status == BookingStatus.HELD, Booking.live_at(now),
                                 Booking.expires_at <= now + lead, ~warned,
                                 (Booking.series_id.is_(None)) | ~earlier_in_series)
        .order_by(Booking.expires_at).limit(limit))).all())


async def confirmed_starting(session: Session, now: datetime, horizon: datetime,
                             limit: int) -> list[tuple[uuid.UUID, datetime]]:
    """Confirmed lessons starting in ``(now, horizon]``, soonest first."""
    rows = await session.execute(
        select(Booking.id, Booking.start_at).where(Booking.status == BookingStatus.CONFIRMED,
                                                   Booking.start_at > now, Booking.start_at <= horizon)
        .order_by(Booking.start_at).limit(limit))
    return [(row.id, row.start_at) for row in rows]


async def event_data(session: Session, booking_ids: Sequence[uuid.UUID], kind: str
                     ) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    """The ``data`` of the ``kind`` history rows of ``booking_ids``."""
    rows = await session.execute(select(BookingEvent.booking_id, BookingEvent.data).where(
        BookingEvent.kind == kind, BookingEvent.booking_id.in_(booking_ids)))
    return [(row.booking_id, row.data) for row in rows]


def add_note(session: Session, booking: Booking, kind: str, data: dict[str, Any]) -> None:
    """A history row that records something sent about the booking (no status change)."""
    session.add(BookingEvent(booking_id=booking.id, kind=kind, from_status=booking.status,
                             to_status=booking.status, data=data))
