"""Availability: loading a tutor's rules, overrides and bookings, replacing the schedule,
and serving slots. The arithmetic lives in :mod:`server.availability.slots`."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.tutor import AvailabilityOverride, AvailabilityRule, TutorProfile, TutorVersion
from server.availability.schemas import (
    AvailabilityIn,
    AvailabilityOut,
    OverrideOut,
    RuleOut,
    SlotOut,
    SlotsOut,
    format_hhmm,
)
from server.availability.slots import BusyRange, DateOverride, SlotPolicy, WeeklyRule, compute_slots
from server.calendar.repository import BUSY_SQL
from server.db import Session
from server.errors import Conflict, InvalidRequest
from server.outbox import bump_version, slots_changed
from server.settings import Settings
from server.tutors.service import TutorNotFound

__all__ = ["ProfileRequired", "bump_version", "get_availability", "get_slots", "load_busy", "load_policy",
           "replace_availability", "tutor_version"]

DEFAULT_WINDOW = timedelta(days=7)


class ProfileRequired(Conflict):
    code = "profile_required"
    message = "Create your tutor profile (PUT /api/v1/tutors/me) before setting availability."


_POLICY = text("""
SELECT p.timezone, p.lesson_minutes, p.min_notice_minutes, p.buffer_minutes, p.max_advance_days,
       p.hourly_rate_cents, p.currency,
       ARRAY(SELECT ARRAY[r.weekday, r.start_minute, r.end_minute] FROM availability_rules r
             WHERE r.tutor_id = p.user_id ORDER BY r.weekday, r.start_minute) AS rules,
       COALESCE((SELECT json_agg(json_build_array(o.date, o.start_minute, o.end_minute)
                                 ORDER BY o.date, o.start_minute)
                 FROM availability_overrides o
                 WHERE o.tutor_id = p.user_id AND o.date >= current_date - 2), '[]') AS overrides
FROM tutor_profiles p WHERE p.user_id = :t AND p.is_active
""")


async def load_policy(session: Session, tutor_id: uuid.UUID
                      ) -> tuple[SlotPolicy, list[WeeklyRule], list[DateOverride]]:
    """The active tutor's slot policy, weekly rules and current overrides; :class:`TutorNotFound` otherwise.

    One round trip (it is on the hold path). Overrides for dates already past everywhere on
    Earth are skipped: no slot can use them.
    """
    profile = (await session.execute(_POLICY, {"t": tutor_id})).first()
    if profile is None:
        raise TutorNotFound()
    policy = SlotPolicy(timezone=profile.timezone, lesson_minutes=tuple(sorted(profile.lesson_minutes)),
                        min_notice_minutes=profile.min_notice_minutes, buffer_minutes=profile.buffer_minutes,
                        max_advance_days=profile.max_advance_days, hourly_rate_cents=profile.hourly_rate_cents,
                        currency=profile.currency)
    rules = [WeeklyRule(int(w), int(a), int(b)) for w, a, b in profile.rules]
    overrides_raw = profile.overrides if isinstance(profile.overrides, list) else json.loads(profile.overrides)
    overrides = [DateOverride(date.fromisoformat(d), a, b) for d, a, b in overrides_raw]
    return policy, rules, overrides


# Plain SQL: this runs on every hold and slot listing, and building the equivalent Core
# statement (a union) each time cost more CPU than the query itself.
_BUSY = text(f"""
SELECT lower(guarded), upper(guarded), status, expires_at FROM bookings
WHERE tutor_id = :t AND guarded && tstzrange(:lo, :hi, '[)')
  AND (status = 'confirmed' OR (status = 'held' AND expires_at > :now))
UNION ALL
{BUSY_SQL}
ORDER BY 1
""")


async def load_busy(session: Session, tutor_id: uuid.UUID, lo: datetime, hi: datetime,
                    now: datetime) -> list[BusyRange]:
    """Live bookings whose guarded range meets ``[lo, hi)``: confirmed ones, and holds not yet expired;
    plus the tutor's busy calendar time (server/calendar/repository.py), as confirmed ranges.

    Expiry is a query condition here, so a lapsed hold frees its slot whether or not the
    expiry job has run.
    """
    # The tutor's busy calendar time (Google Calendar) blocks like a confirmed booking; same round trip.
    rows = (await session.execute(_BUSY, {"t": tutor_id, "lo": lo, "hi": hi, "now": now})).all()
    return [BusyRange(start, end, status, expires_at) for start, end, status, expires_at in rows]


async def tutor_version(session: Session, tutor_id: uuid.UUID) -> int:
    """The tutor's availability version (0 before any change)."""
    version = await session.scalar(select(TutorVersion.version).where(TutorVersion.tutor_id == tutor_id))
    return int(version or 0)


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field.split('.')[-1]}: {message}", details=[{"field": field, "message": message}])


async def get_slots(session: Session, settings: Settings, tutor_id: uuid.UUID, now: datetime, *,
                    window_from: datetime | None = None, window_to: datetime | None = None,
                    minutes: int | None = None) -> SlotsOut:
    """The tutor's slots in ``[window_from, window_to)`` with the version they reflect.

    Defaults: from = now, to = from + 7 days, minutes = the shortest lesson. Reads in one
    REPEATABLE READ snapshot when the session is fresh, so version and slots agree.
    """
    if not session.in_transaction():
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    # Version first: under READ COMMITTED the slots are then never older than the version.
    version = await tutor_version(session, tutor_id)
    policy, rules, overrides = await load_policy(session, tutor_id)

    start = window_from or now
    end = window_to or start + DEFAULT_WINDOW
    if end <= start:
        raise _invalid("query.to", "must be after from")
    if end - start > timedelta(days=settings.slot_window_max_days):
        raise _invalid("query.to", f"the window may span at most {settings.slot_window_max_days} days")
    length = minutes if minutes is not None else policy.lesson_minutes[0]
    if length not in policy.lesson_minutes:
        raise _invalid("query.minutes",
                       f"must be one of the tutor's lesson lengths: {', '.join(map(str, policy.lesson_minutes))}")

    reach = timedelta(minutes=length + policy.buffer_minutes)
    busy = await load_busy(session, tutor_id, start, end + reach, now)
    slots = compute_slots(policy, rules, overrides, busy, start, end, length, now)
    return SlotsOut(tutor_id=tutor_id, version=version, timezone=policy.timezone, minutes=length,
                    slots=[SlotOut(start=s.start, end=s.end, status=s.status, held_until=s.held_until)
                           for s in slots])


async def get_availability(session: Session, tutor_id: uuid.UUID) -> AvailabilityOut:
    """The tutor's weekly rules and every override, as they were entered (sorted)."""
    rules = (await session.execute(
        select(AvailabilityRule.weekday, AvailabilityRule.start_minute, AvailabilityRule.end_minute)
        .where(AvailabilityRule.tutor_id == tutor_id)
        .order_by(AvailabilityRule.weekday, AvailabilityRule.start_minute))).all()
    overrides = (await session.execute(
        select(AvailabilityOverride.date, AvailabilityOverride.start_minute, AvailabilityOverride.end_minute)
        .where(AvailabilityOverride.tutor_id == tutor_id)
        .order_by(AvailabilityOverride.date, AvailabilityOverride.start_minute.nulls_first()))).all()
    return AvailabilityOut(
        rules=[RuleOut(weekday=r.weekday, start=format_hhmm(r.start_minute), end=format_hhmm(r.end_minute))
               for r in rules],
        overrides=[OverrideOut(date=o.date,
                               start=None if o.start_minute is None else format_hhmm(o.start_minute),
                               end=None if o.end_minute is None else format_hhmm(o.end_minute))
                   for o in overrides],
        version=await tutor_version(session, tutor_id))


async def replace_availability(session: Session, tutor_id: uuid.UUID, body: AvailabilityIn) -> AvailabilityOut:
    """Replace the weekly rules and all overrides in one transaction.

    Bumps the tutor's version and records a ``slots.changed`` resync (``changes: []``,
    ``resync: true``: re-fetch everything). The version bump comes first: its row lock
    serializes concurrent replacements, so two of them never interleave their rows.
    """
    problems = body.problems()
    if problems:
        raise InvalidRequest("The availability is inconsistent.", details=problems)
    has_profile = await session.scalar(select(TutorProfile.user_id).where(TutorProfile.user_id == tutor_id))
    if has_profile is None:
        raise ProfileRequired()
    await slots_changed(session, tutor_id, [], resync=True)

    await session.execute(delete(AvailabilityRule).where(AvailabilityRule.tutor_id == tutor_id))
    await session.execute(delete(AvailabilityOverride).where(AvailabilityOverride.tutor_id == tutor_id))
    if body.rules:
        await session.execute(pg_insert(AvailabilityRule).values([
            {"tutor_id": tutor_id, "weekday": r.weekday, "start_minute": r.start_minute, "end_minute": r.end_minute}
            for r in body.rules]))
    if body.overrides:
        await session.execute(pg_insert(AvailabilityOverride).values([
            {"tutor_id": tutor_id, "date": o.date, "start_minute": o.start_minute, "end_minute": o.end_minute}
            for o in body.overrides]))
    return await get_availability(session, tutor_id)
