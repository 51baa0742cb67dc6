"""The SQL of weekly series (server/bookings/series.py): every occurrence's checks in one
statement, the series and its held occurrences inserted together, and the look-ups of a
series and its bookings. Locks and the one-booking rules are the general hold's
(server/bookings/repository.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import Range

from models.booking import LAPSED_SQL, LIVE_SQL, Booking, LessonSeries
from models.user import User
from server.bookings.repository import HoardingLimits
from server.db import Session

_SERIES_CHECKS = text(f"""
WITH ranges AS (
    SELECT r.ord, tstzrange(r.lo, r.hi, '[)') AS g
    FROM unnest(CAST(:lows AS timestamptz[]), CAST(:highs AS timestamptz[])) WITH ORDINALITY AS r(lo, hi, ord)
), lapsed AS (
    UPDATE bookings b SET status = 'expired', updated_at = now()
    WHERE b.tutor_id = :t AND {LAPSED_SQL} AND EXISTS (SELECT 1 FROM ranges WHERE b.guarded && ranges.g)
    RETURNING b.id
)
SELECT
    (SELECT count(*) FROM bookings b WHERE b.student_id = :s AND b.status = 'held' AND {LIVE_SQL}) AS holds,
    ARRAY(SELECT ranges.ord - 1 FROM ranges
          WHERE EXISTS (SELECT 1 FROM bookings b WHERE b.tutor_id = :t AND b.guarded && ranges.g AND {LIVE_SQL})
             OR EXISTS (SELECT 1 FROM calendar_busy c WHERE c.user_id = :t AND c.during && ranges.g)
          ORDER BY ranges.ord) AS taken,
    ARRAY(SELECT id FROM lapsed) AS lapsed,
    hold_hoarding_refusal(:s, :t, :first, :now, :max_tutor_holds, :cooldown) AS refusal,
    (SELECT name FROM users WHERE id = :s) AS student_name,
    (SELECT name FROM users WHERE id = :t) AS tutor_name
""")


@dataclass(frozen=True, slots=True)
class SeriesChecks:
    holds: int
    taken: list[int]  # indexes of the ranges a live booking or the tutor's calendar occupies
    lapsed: list[uuid.UUID]
    refusal: str | None
    student_name: str
    tutor_name: str


async def series_checks(session: Session, student_id: uuid.UUID, tutor_id: uuid.UUID,
                        ranges: Sequence[Range[datetime]], now: datetime, limits: HoardingLimits) -> SeriesChecks:
    """:func:`hold_checks` for every range of a series in one statement (the caller holds the
    student's then the tutor's lock): lapsed holds in the way moved aside, the student's live
    holds, the hoarding limits at the first range, and which ranges are taken."""
    row = (await session.execute(_SERIES_CHECKS, {
        "t": tutor_id, "s": student_id, "lows": [r.lower for r in ranges], "highs": [r.upper for r in ranges],
        "first": ranges[0].lower, "now": now, "max_tutor_holds": limits.max_tutor_holds,
        "cooldown": limits.rehold_cooldown})).one()
    return SeriesChecks(holds=row.holds, taken=list(row.taken), lapsed=list(row.lapsed), refusal=row.refusal,
                        student_name=row.student_name, tutor_name=row.tutor_name)


_SERIES_HOLDS_INSERT = text("""
WITH b AS (
    INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, expires_at, price_cents,
                          currency, series_id, created_at, updated_at)
    SELECT r.id, :t, :s, 'held', r.lo, r.hi, tstzrange(r.lo, r.guard_hi, '[)'), :expires, :price, :currency,
           :series, :now, :now
    FROM unnest(CAST(:ids AS uuid[]), CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]),
                CAST(:guard_ends AS timestamptz[])) AS r(id, lo, hi, guard_hi)
    RETURNING id
)
INSERT INTO booking_events (booking_id, actor_id, kind, from_status, to_status, data)
SELECT id, :s, 'held', NULL, 'held', jsonb_build_object('series_id', CAST(:series AS text)) FROM b
""")


async def insert_series(session: Session, series: LessonSeries, occurrences: Sequence[Booking]) -> None:
    """The series row and its held occurrences with their history rows (IntegrityError 23P01
    when a range is taken)."""
    session.add(series)
    await session.flush()
    first = occurrences[0]
    await session.execute(_SERIES_HOLDS_INSERT, {
        "t": first.tutor_id, "s": first.student_id, "expires": first.expires_at, "price": first.price_cents,
        "currency": first.currency, "series": series.id, "now": first.created_at,
        "ids": [b.id for b in occurrences], "starts": [b.start_at for b in occurrences],
        "ends": [b.end_at for b in occurrences], "guard_ends": [b.guarded.upper for b in occurrences]})


async def user_timezone(session: Session, user_id: uuid.UUID) -> str:
    """The user's profile time zone (``UTC`` by default)."""
    return str(await session.scalar(select(User.timezone).where(User.id == user_id)) or "UTC")


async def get_series(session: Session, series_id: uuid.UUID) -> LessonSeries | None:
    return await session.get(LessonSeries, series_id)


async def series_of_intent(session: Session, intent_id: str | None) -> LessonSeries | None:
    if not intent_id:
        return None
    return (await session.scalars(select(LessonSeries).where(LessonSeries.payment_intent_id == intent_id))).first()


async def occurrences(session: Session, series_id: uuid.UUID, *, lock: bool = False) -> list[Booking]:
    """A series' bookings in time order (row-locked, and refreshed, with ``lock``: the caller
    holds the tutor's lock)."""
    query = select(Booking).where(Booking.series_id == series_id).order_by(Booking.start_at, Booking.id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list((await session.scalars(query)).all())
