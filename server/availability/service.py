"""Availability: loading a tutor's rules, overrides and bookings, replacing the schedule,
and serving slots. The arithmetic lives in :mod:`server.availability.slots`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
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
from server.availability.slots import BusyRange, DateOverride, Slot, SlotPolicy, WeeklyRule, compute_slots
from server.db import Session
from server.errors import Conflict, InvalidRequest
from server.outbox import bump_version, slots_changed
from server.rendered import Rendered
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
                    minutes: int | None = None) -> Rendered[SlotsOut]:
    """The tutor's slots in ``[window_from, window_to)`` with the version they reflect, as JSON.

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

        async def compute() -> snapshots.Computed:
            computed = await _compute_slots(session, settings, tutor_id, now, None, None, minutes, look_ahead=True)
            return snapshots.Computed(computed.listing, computed.exact_until)

        return await snapshots.shared(tutor_id, minutes, *current, now,
                                      timedelta(seconds=settings.slots_snapshot_ttl_seconds), compute)
    return Rendered.of((await _compute_slots(session, settings, tutor_id, now, window_from, window_to, minutes)).listing)


# Beyond the default window: the next slot that will enter it as the clock moves (a day of
# look-ahead is enough; without one in it, the listing is recomputed within a day anyway).
LOOK_AHEAD = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _Listing:
    listing: SlotsOut
    # Until when ``listing`` stays exactly what a computation at a later ``now`` would give,
    # barring a version change (None: only at ``now`` itself).
    exact_until: datetime | None


async def _compute_slots(session: Session, settings: Settings, tutor_id: uuid.UUID, now: datetime,
                         window_from: datetime | None, window_to: datetime | None, minutes: int | None,
                         *, look_ahead: bool = False) -> _Listing:
    tp = await policies.cached_policy(session, tutor_id)
    row = None
    ahead = LOOK_AHEAD if look_ahead else timedelta(0)
    for _attempt in range(2):
        start, end, length = _window(settings, tp.policy, now, window_from, window_to, minutes)
        reach = timedelta(minutes=length + tp.policy.buffer_minutes)
        row = await repository.slots_state(session, tutor_id, start, end + ahead + reach, now)
        if row is None:
            policies.forget(tutor_id)
            raise TutorNotFound()
        if row["policy_version"] == tp.policy_version:
            break
        tp = await policies.fresh_policy(session, tutor_id)
    assert row is not None
    busy = [BusyRange(lo, hi, status, expires, line)  # type: ignore[arg-type]
            for lo, hi, status, expires, line in zip(row["starts"] or [], row["ends"] or [], row["statuses"] or [],
                                                     row["expiries"] or [], row["lines"] or [], strict=True)]
    computed = compute_slots(tp.policy, tp.rules, tp.overrides, busy, start, end + ahead, length, now)
    slots = [s for s in computed if s.start < end]
    # Built from values computed here, not parsed: skip validation (a week is ~340 slots).
    listing = SlotsOut.model_construct(
        tutor_id=tutor_id, version=int(row["version"]), timezone=tp.policy.timezone, minutes=length,
        slots=[SlotOut.model_construct(start=s.start, end=s.end, status=s.status, held_until=s.held_until)
               for s in slots])
    exact_until = None
    if look_ahead and end - now + ahead <= timedelta(days=tp.policy.max_advance_days):
        entering = next((s.start for s in computed if s.start >= end), None)
        exact_until = exact_listing_until(slots, entering, now, end - now, tp.policy.min_notice_minutes, ahead)
    return _Listing(listing, exact_until)


def exact_listing_until(slots: Sequence[Slot], entering: datetime | None, now: datetime, window: timedelta,
                        notice_minutes: int, ahead: timedelta) -> datetime:
    """Until when the default listing computed at ``now`` stays exact as the clock moves,
    barring a version change (any booking or policy change bumps it): until the first listed
    slot falls inside the tutor's notice, the next slot after the window (``entering``)
    comes into it, or the first ``held_until`` passes (that slot reopens), whichever comes
    first; without a slot entering in the look-ahead, no later than ``ahead`` from now."""
    until = now + ahead
    if slots:
        until = min(until, slots[0].start - timedelta(minutes=notice_minutes))
    if entering is not None:
        until = min(until, entering - window)
    expiries = [s.held_until for s in slots if s.held_until is not None]
    return min([until, *expiries])


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
