"""Availability: loading a tutor's rules, overrides and bookings, replacing the schedule,
and serving slots. The arithmetic lives in :mod:`server.availability.slots`."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from server.availability import policies, repository, snapshots
from server.availability.repository import load_busy
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
from server.db import Session
from server.errors import Conflict, InvalidRequest
from server.outbox import bump_version, slots_changed
from server.settings import Settings
from server.tutors.errors import TutorNotFound

__all__ = ["ProfileRequired", "bump_version", "get_availability", "get_slots", "load_busy", "load_policy",
           "replace_availability", "tutor_version"]

DEFAULT_WINDOW = timedelta(days=7)


class ProfileRequired(Conflict):
    code = "profile_required"
    message = "Create your tutor profile (PUT /api/v1/tutors/me) before setting availability."


async def load_policy(session: Session, tutor_id: uuid.UUID
                      ) -> tuple[SlotPolicy, list[WeeklyRule], list[DateOverride]]:
    """The active tutor's slot policy, weekly rules and current overrides; :class:`TutorNotFound` otherwise."""
    loaded = await repository.load_tutor_policy(session, tutor_id)
    return loaded.policy, loaded.rules, loaded.overrides


async def tutor_version(session: Session, tutor_id: uuid.UUID) -> int:
    """The tutor's availability version (0 before any change)."""
    return await repository.tutor_version(session, tutor_id)


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field.split('.')[-1]}: {message}", details=[{"field": field, "message": message}])


def _window(settings: Settings, policy: SlotPolicy, now: datetime, window_from: datetime | None,
            window_to: datetime | None, minutes: int | None) -> tuple[datetime, datetime, int]:
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
    return start, end, length


async def get_slots(session: Session, settings: Settings, tutor_id: uuid.UUID, now: datetime, *,
                    window_from: datetime | None = None, window_to: datetime | None = None,
                    minutes: int | None = None) -> SlotsOut:
    """The tutor's slots in ``[window_from, window_to)`` with the version they reflect.

    Defaults: from = now, to = from + 7 days, minutes = the shortest lesson. One statement
    reads the version and the busy ranges (so they agree); the policy comes from the
    process's cache, checked against the ``policy_version`` that statement returns. The
    default window is shared by concurrent and repeated readers at one version
    (:mod:`server.availability.snapshots`).
    """
    if window_from is None and window_to is None:
        current = await repository.versions(session, tutor_id)
        if current is None:
            policies.forget(tutor_id)
            raise TutorNotFound()
        return await snapshots.shared(
            tutor_id, minutes, *current, now, timedelta(seconds=settings.slots_snapshot_ttl_seconds),
            lambda: _compute_slots(session, settings, tutor_id, now, None, None, minutes))
    return await _compute_slots(session, settings, tutor_id, now, window_from, window_to, minutes)


async def _compute_slots(session: Session, settings: Settings, tutor_id: uuid.UUID, now: datetime,
                         window_from: datetime | None, window_to: datetime | None, minutes: int | None) -> SlotsOut:
    tp = await policies.cached_policy(session, tutor_id)
    row = None
    for _attempt in range(2):
        start, end, length = _window(settings, tp.policy, now, window_from, window_to, minutes)
        reach = timedelta(minutes=length + tp.policy.buffer_minutes)
        row = await repository.slots_state(session, tutor_id, start, end + reach, now)
        if row is None:
            policies.forget(tutor_id)
            raise TutorNotFound()
        if row["policy_version"] == tp.policy_version:
            break
        tp = await policies.fresh_policy(session, tutor_id)
    assert row is not None
    busy = [BusyRange(lo, hi, status, expires)  # type: ignore[arg-type]
            for lo, hi, status, expires in zip(row["starts"] or [], row["ends"] or [], row["statuses"] or [],
                                               row["expiries"] or [], strict=True)]
    slots = compute_slots(tp.policy, tp.rules, tp.overrides, busy, start, end, length, now)
    # Built from values computed here, not parsed: skip validation (a week is ~340 slots).
    return SlotsOut.model_construct(
        tutor_id=tutor_id, version=int(row["version"]), timezone=tp.policy.timezone, minutes=length,
        slots=[SlotOut.model_construct(start=s.start, end=s.end, status=s.status, held_until=s.held_until)
               for s in slots])


async def get_availability(session: Session, tutor_id: uuid.UUID) -> AvailabilityOut:
    """The tutor's weekly rules and every override, as they were entered (sorted)."""
    rules = await repository.rules_of(session, tutor_id)
    overrides = await repository.overrides_of(session, tutor_id)
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
    if not await repository.has_profile(session, tutor_id):
        raise ProfileRequired()
    await slots_changed(session, tutor_id, [], resync=True)
    await repository.replace_schedule(
        session, tutor_id, [WeeklyRule(r.weekday, r.start_minute, r.end_minute) for r in body.rules],
        [DateOverride(o.date, o.start_minute, o.end_minute) for o in body.overrides])
    return await get_availability(session, tutor_id)
