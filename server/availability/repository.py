"""Availability's SQL: a tutor's slot policy, the ranges that block slots, and the state a
slot listing reads. "Live at ``now``" is :func:`models.booking.live_sql`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg
from sqlalchemy import Row, delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.booking import BookingStatus, live_sql
from models.tutor import AvailabilityOverride, AvailabilityRule, TutorProfile, TutorVersion
from models.waitlist import held_for_line_sql
from server.availability.slots import BusyRange, DateOverride, SlotPolicy, WeeklyRule
from server.calendar.repository import BUSY_SQL
from server.db import Session
from server.tutors.errors import TutorNotFound

# asyncpg parameters: it runs through Session.fetch_one_statement (one round trip on the hold path).
_POLICY = """
SELECT p.policy_version, p.timezone, p.lesson_minutes, p.min_notice_minutes, p.buffer_minutes,
       p.max_advance_days, p.hourly_rate_cents, p.currency,
       ARRAY(SELECT ARRAY[r.weekday, r.start_minute, r.end_minute] FROM availability_rules r
             WHERE r.tutor_id = p.user_id ORDER BY r.weekday, r.start_minute) AS rules,
       COALESCE((SELECT json_agg(json_build_array(o.date, o.start_minute, o.end_minute)
                                 ORDER BY o.date, o.start_minute)
                 FROM availability_overrides o
                 WHERE o.tutor_id = p.user_id AND o.date >= current_date - 2), '[]') AS overrides
FROM tutor_profiles p WHERE p.user_id = $1 AND p.is_active
"""


@dataclass(frozen=True, slots=True)
class TutorPolicy:
    """A tutor's slot policy, weekly rules and current overrides, as of ``policy_version``
    (which triggers bump on every change to the profile, rules or overrides: migration 0004)."""

    policy: SlotPolicy
    rules: list[WeeklyRule]
    overrides: list[DateOverride]
    policy_version: int


async def load_tutor_policy(session: Session, tutor_id: uuid.UUID) -> TutorPolicy:
    """The active tutor's policy; :class:`TutorNotFound` otherwise.

    One statement. Overrides for dates already past everywhere on Earth are skipped: no slot
    can use them.
    """
    profile = await session.fetch_one_statement(_POLICY, tutor_id)
    if profile is None:
        raise TutorNotFound()
    policy = SlotPolicy(timezone=profile["timezone"], lesson_minutes=tuple(sorted(profile["lesson_minutes"])),
                        min_notice_minutes=profile["min_notice_minutes"], buffer_minutes=profile["buffer_minutes"],
                        max_advance_days=profile["max_advance_days"], hourly_rate_cents=profile["hourly_rate_cents"],
                        currency=profile["currency"])
    rules = [WeeklyRule(int(w), int(a), int(b)) for w, a, b in profile["rules"]]
    raw = profile["overrides"]
    overrides = [DateOverride(date.fromisoformat(d), a, b) for d, a, b in (json.loads(raw) if isinstance(raw, str)
                                                                           else raw)]
    return TutorPolicy(policy, rules, overrides, int(profile["policy_version"]))


# Plain SQL: this runs on every hold and slot listing, and building the equivalent Core
# statement (a union) each time cost more CPU than the query itself.
_BUSY = text(f"""
SELECT lower(guarded), upper(guarded), status, expires_at, NOT {live_sql(alias="bookings")} AS line_waiting
FROM bookings
WHERE tutor_id = :t AND guarded && tstzrange(:lo, :hi, '[)')
  AND ({live_sql(alias="bookings")} OR {held_for_line_sql("bookings")})
UNION ALL
SELECT *, false FROM ({BUSY_SQL}) calendar
ORDER BY 1
""")


async def load_busy(session: Session, tutor_id: uuid.UUID, lo: datetime, hi: datetime,
                    now: datetime) -> list[BusyRange]:
    """Live bookings whose guarded range meets ``[lo, hi)``: confirmed ones, and holds not yet expired;
    plus the tutor's busy calendar time (server/integrations/busy.py), as confirmed ranges.

    Expiry is a query condition here, so a lapsed hold frees its slot whether or not the
    expiry job has run, unless students wait in line for it
    (:func:`models.waitlist.held_for_line_sql`: it reads as held until the hand-off).
    """
    # The tutor's busy calendar time (Google Calendar) blocks like a confirmed booking; same round trip.
    rows = (await session.execute(_BUSY, {"t": tutor_id, "lo": lo, "hi": hi, "now": now})).all()
    return [BusyRange(start, end, status, expires_at, line_waiting)
            for start, end, status, expires_at, line_waiting in rows]


# Everything a slot listing reads, in one statement (so one snapshot: the version and the busy
# ranges agree): the tutor's version and policy version, and the live bookings and busy calendar
# time meeting [$2, $3) as parallel arrays.
_SLOTS_STATE = f"""
SELECT coalesce((SELECT v.version FROM tutor_versions v WHERE v.tutor_id = p.user_id), 0) AS version,
       p.policy_version, busy.starts, busy.ends, busy.statuses, busy.expiries, busy.lines
FROM tutor_profiles p
CROSS JOIN LATERAL (
    SELECT array_agg(x.lo ORDER BY x.lo) AS starts, array_agg(x.hi ORDER BY x.lo) AS ends,
           array_agg(x.status ORDER BY x.lo) AS statuses, array_agg(x.expires_at ORDER BY x.lo) AS expiries,
           array_agg(x.line_waiting ORDER BY x.lo) AS lines
    FROM (SELECT lower(b.guarded) AS lo, upper(b.guarded) AS hi, b.status::text AS status, b.expires_at,
                 NOT {live_sql("$4")} AS line_waiting
          FROM bookings b WHERE b.tutor_id = $1 AND b.guarded && tstzrange($2, $3, '[)')
                            AND ({live_sql("$4")} OR {held_for_line_sql()})
          UNION ALL
          SELECT lower(c.during), upper(c.during), '{BookingStatus.CONFIRMED}', NULL, false FROM calendar_busy c
          WHERE c.user_id = $1 AND c.during && tstzrange($2, $3, '[)')) x
) busy
WHERE p.user_id = $1 AND p.is_active
"""


async def slots_state(session: Session, tutor_id: uuid.UUID, lo: datetime, hi: datetime,
                      now: datetime) -> asyncpg.Record | None:
    """``version``, ``policy_version`` and the busy ranges meeting ``[lo, hi)`` as parallel
    arrays (``starts``, ``ends``, ``statuses``, ``expiries``); None for an unknown or
    inactive tutor."""
    return await session.fetch_one_statement(_SLOTS_STATE, tutor_id, lo, hi, now)


_VERSIONS = """
SELECT coalesce((SELECT v.version FROM tutor_versions v WHERE v.tutor_id = p.user_id), 0) AS version,
       p.policy_version
FROM tutor_profiles p WHERE p.user_id = $1 AND p.is_active
"""


async def versions(session: Session, tutor_id: uuid.UUID) -> tuple[int, int] | None:
    """The tutor's version and policy version; None for an unknown or inactive tutor."""
    row = await session.fetch_one_statement(_VERSIONS, tutor_id)
    return None if row is None else (int(row["version"]), int(row["policy_version"]))


async def tutor_version(session: Session, tutor_id: uuid.UUID) -> int:
    """The tutor's availability version (0 before any change)."""
    version = await session.scalar(select(TutorVersion.version).where(TutorVersion.tutor_id == tutor_id))
    return int(version or 0)


async def has_profile(session: Session, tutor_id: uuid.UUID) -> bool:
    """Whether the tutor has a profile (active or not): availability belongs to one."""
    found = await session.scalar(select(TutorProfile.user_id).where(TutorProfile.user_id == tutor_id))
    return found is not None


async def rules_of(session: Session, tutor_id: uuid.UUID) -> Sequence[Row[int, int, int]]:
    """``(weekday, start_minute, end_minute)`` of every weekly rule, by weekday and start."""
    return (await session.execute(
        select(AvailabilityRule.weekday, AvailabilityRule.start_minute, AvailabilityRule.end_minute)
        .where(AvailabilityRule.tutor_id == tutor_id)
        .order_by(AvailabilityRule.weekday, AvailabilityRule.start_minute))).all()


async def overrides_of(session: Session, tutor_id: uuid.UUID) -> Sequence[Row[date, int | None, int | None]]:
    """``(date, start_minute, end_minute)`` of every override (past ones too), by date and
    start; a day off (no times) first."""
    return (await session.execute(
        select(AvailabilityOverride.date, AvailabilityOverride.start_minute, AvailabilityOverride.end_minute)
        .where(AvailabilityOverride.tutor_id == tutor_id)
        .order_by(AvailabilityOverride.date, AvailabilityOverride.start_minute.nulls_first()))).all()


async def replace_schedule(session: Session, tutor_id: uuid.UUID, rules: Sequence[WeeklyRule],
                           overrides: Sequence[DateOverride]) -> None:
    """The tutor's weekly rules and overrides become exactly these."""
    await session.execute(delete(AvailabilityRule).where(AvailabilityRule.tutor_id == tutor_id))
    await session.execute(delete(AvailabilityOverride).where(AvailabilityOverride.tutor_id == tutor_id))
    if rules:
        await session.execute(pg_insert(AvailabilityRule).values([
            {"tutor_id": tutor_id, "weekday": r.weekday, "start_minute": r.start_minute, "end_minute": r.end_minute}
            for r in rules]))
    if overrides:
        await session.execute(pg_insert(AvailabilityOverride).values([
            {"tutor_id": tutor_id, "date": o.date, "start_minute": o.start_minute, "end_minute": o.end_minute}
            for o in overrides]))
