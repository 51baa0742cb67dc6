"""Slot computation: pure functions over plain dataclasses (no database, no clock).

How slots are laid out (the rules the API documents):

* Weekly rules and date overrides are wall-clock times in the tutor's own time zone,
  as minutes after local midnight (``1440`` is "24:00", the next local midnight).
* For each local date, the windows are that date's overrides if the date has any
  (an override without times is a day off), otherwise the weekly rules for its weekday.
  Touching or overlapping windows of one date are merged; windows of different dates
  never are, so a lesson never spans local midnight and the grid of a date does not
  depend on which dates a query happens to include.
* Candidate starts lie on a grid anchored at each window's start and stepping by the
  lesson length, in elapsed time: 60-minute lessons in 09:00–12:00 start at 09:00, 10:00
  and 11:00. A candidate is kept when ``[start, start + minutes)`` lies inside the window.
* Local times become UTC with ``zoneinfo``. A boundary in a repeated hour (autumn
  fall-back) means its first occurrence (``fold=0``). A boundary in a skipped hour
  (spring-forward gap) moves forward to the end of the gap: 02:30 on the day New York
  skips 02:00–03:00 is treated as 03:00 local. A window whose both ends fall in the gap
  is empty.
* A slot must start at least ``min_notice_minutes`` after now and at most
  ``max_advance_days`` after now.
* A booking blocks with its guarded range ``[start, end + buffer)``; a candidate
  occupies ``[start, start + minutes + buffer)``, exactly what a hold on it would guard.
  A candidate overlapping a confirmed booking is absent; one whose lesson overlaps the
  lesson of a live hold is ``held`` until the latest of such expiries; one kept out only
  by the tutor's break (buffer) before or after a live hold is absent too, as it is
  unavailable rather than held by someone. A hold whose ``expires_at`` has passed
  never blocks.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from models.booking import BookingStatus
from server.errors import AppError

MINUTES_PER_DAY = 1440



class SlotStatus(StrEnum):
    """What a listed slot offers: bookable now, or covered by someone's live hold until ``held_until``."""

    OPEN = "open"
    HELD = "held"


@dataclass(frozen=True, slots=True)
class SlotPolicy:
    """The parts of a tutor profile that shape their slots (and price a lesson)."""

    timezone: str
    lesson_minutes: tuple[int, ...]
    min_notice_minutes: int = 0
    buffer_minutes: int = 0
    max_advance_days: int = 60
    hourly_rate_cents: int = 0
    currency: str = "USD"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    """Weekly hours: ``weekday`` 0 = Monday; minutes after local midnight, end exclusive."""

    weekday: int
    start_minute: int
    end_minute: int


@dataclass(frozen=True, slots=True)
class DateOverride:
    """Hours that replace the weekly rules on ``date``; no minutes means a day off."""

    date: date
    start_minute: int | None = None
    end_minute: int | None = None

    @property
    def day_off(self) -> bool:
        return self.start_minute is None or self.end_minute is None


@dataclass(frozen=True, slots=True)
class BusyRange:
    """A live booking's guarded range ``[start, end)`` (its lesson plus the tutor's buffer)."""

    start: datetime
    end: datetime
    status: BookingStatus  # held or confirmed
    expires_at: datetime | None = None
    # A lapsed hold with students in line for its slot (models.waitlist.held_for_line_sql):
    # it reads as held until the hand-off gives the slot to the first of them.
    line_waiting: bool = False

    def blocks(self, now: datetime) -> bool:
        """Confirmed bookings always block; holds only until they expire (or, with a line
        behind them, until the hand-off)."""
        if self.status == BookingStatus.CONFIRMED or self.line_waiting:
            return True
        return self.expires_at is not None and self.expires_at > now


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime
    status: SlotStatus = SlotStatus.OPEN
    held_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Window:
    """A continuous stretch of availability in UTC, ``[start, end)``."""

    start: datetime
    end: datetime
    local_date: date = field(compare=False)

    def starts(self, minutes: int) -> Iterable[datetime]:
        """The grid of lesson starts that fit in the window."""
        step = timedelta(minutes=minutes)
        t = self.start
        while t + step <= self.end:
            yield t
            t += step


class SlotNotOffered(AppError):
    """The requested start/length is not one of the tutor's slots (bookings aside)."""

    status = 422
    code = "slot_not_offered"
    message = "The tutor does not offer that slot."


def local_to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of ``minute`` after local midnight of ``day`` (1440 = next midnight).

    Repeated wall times resolve to their first occurrence; skipped wall times move
    forward to the instant the gap ends.
    """
    day += timedelta(days=minute // MINUTES_PER_DAY)
    minute %= MINUTES_PER_DAY
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    utc = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: first occurrence
    if utc.astimezone(zone).replace(tzinfo=None) == wall:
        return utc
    # In a gap, fold=0 reads the wall time with the offset from before the transition,
    # which lands after it; fold=1 uses the later offset and lands before it. The
    # transition lies in between: find its exact second.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after_offset = utc.astimezone(zone).utcoffset()
    lo, hi = before, utc
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(zone).utcoffset() == after_offset:
            hi = mid
        else:
            lo = mid
    return hi


def _minute_windows(day: date, rules: Sequence[WeeklyRule],
                    overrides_by_date: dict[date, list[DateOverride]]) -> list[tuple[int, int]]:
    entries = overrides_by_date.get(day)
    if entries is not None:
        spans = [(o.start_minute, o.end_minute) for o in entries if not o.day_off]
    else:
        spans = [(r.start_minute, r.end_minute) for r in rules if r.weekday == day.weekday()]
    merged: list[tuple[int, int]] = []
    for start, end in sorted((s, e) for s, e in spans if s is not None and e is not None and s < e):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _group_overrides(overrides: Iterable[DateOverride]) -> dict[date, list[DateOverride]]:
    grouped: dict[date, list[DateOverride]] = {}
    for o in overrides:
        grouped.setdefault(o.date, []).append(o)
    return grouped


def availability_windows(policy: SlotPolicy, rules: Sequence[WeeklyRule], overrides: Iterable[DateOverride],
                         first_day: date, last_day: date) -> list[Window]:
    """UTC windows for the local dates ``first_day`` … ``last_day`` (inclusive), in order."""
    zone = policy.zone
    by_date = _group_overrides(overrides)
    windows: list[Window] = []
    day = first_day
    while day <= last_day:
        for start_minute, end_minute in _minute_windows(day, rules, by_date):
            start = local_to_utc(day, start_minute, zone)
            end = local_to_utc(day, end_minute, zone)
            if start < end:
                windows.append(Window(start, end, day))
        day += timedelta(days=1)
    return windows


def _earliest_start(policy: SlotPolicy, now: datetime) -> datetime:
    return now + timedelta(minutes=policy.min_notice_minutes)


def _latest_start(policy: SlotPolicy, now: datetime) -> datetime:
    return now + timedelta(days=policy.max_advance_days)


def compute_slots(policy: SlotPolicy, rules: Sequence[WeeklyRule], overrides: Sequence[DateOverride],
                  bookings: Sequence[BusyRange], window_from: datetime, window_to: datetime, minutes: int,
                  now: datetime) -> list[Slot]:
    """The slots of ``minutes`` starting in ``[window_from, window_to)``, in start order.

    Booked time is absent; time covered only by live holds is ``held``. The caller
    validates the window and the lesson length; see the module docstring for the rules.
    """
    zone = policy.zone
    earliest = max(window_from, _earliest_start(policy, now))
    latest = _latest_start(policy, now)  # inclusive
    if earliest >= window_to or earliest > latest:
        return []
    windows = availability_windows(policy, rules, overrides, earliest.astimezone(zone).date(),
                                   min(window_to, latest).astimezone(zone).date())
    lesson = timedelta(minutes=minutes)
    buffer = timedelta(minutes=policy.buffer_minutes)
    guard = lesson + buffer

    busy = sorted((b for b in bookings if b.blocks(now)), key=lambda b: b.start)
    busy_starts = [b.start for b in busy]
    # Guarded ranges of live bookings may not overlap each other (the exclusion
    # constraint), but stay correct even if they do: track the longest end so far.
    reach: list[datetime] = []
    for b in busy:
        reach.append(max(b.end, reach[-1]) if reach else b.end)

    slots: list[Slot] = []
    for window in windows:
        for start in window.starts(minutes):
            if start < earliest or start >= window_to or start > latest:
                continue
            occupied_end = start + guard
            upto = bisect.bisect_left(busy_starts, occupied_end)  # bookings starting before we end
            first = bisect.bisect_right(reach, start)  # earlier ones all ended by our start
            confirmed = False
            overlaps_buffer_only = False
            held_until: datetime | None = None
            for b in busy[first:upto]:
                if b.end <= start:
                    continue
                if b.status == BookingStatus.CONFIRMED:
                    confirmed = True
                    break
                if start + lesson <= b.start or start >= b.end - buffer:
                    overlaps_buffer_only = True  # the lessons would not overlap: only a break is in the way
                    continue
                if b.expires_at is not None and (held_until is None or b.expires_at > held_until):
                    held_until = b.expires_at
            if confirmed or (overlaps_buffer_only and held_until is None):
                continue
            if held_until is not None:
                slots.append(Slot(start, start + lesson, SlotStatus.HELD, held_until))
            else:
                slots.append(Slot(start, start + lesson, SlotStatus.OPEN))
    return slots


def _fmt_minutes(values: Iterable[int]) -> str:
    items = [str(v) for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def check_bookable(policy: SlotPolicy, rules: Sequence[WeeklyRule], overrides: Sequence[DateOverride],
                   start: datetime, minutes: int, now: datetime, *,
                   lesson_lengths: Sequence[int] | None = None) -> None:
    """Raise :class:`SlotNotOffered` unless ``start``/``minutes`` is one of the tutor's slots.

    Everything :func:`compute_slots` applies is checked except conflicts with bookings,
    which the database's exclusion constraint decides. ``lesson_lengths`` overrides the
    tutor's offered lengths (a reschedule keeps the booked length).
    """
    if start.tzinfo is None:
        raise SlotNotOffered("The start must carry a UTC offset.", details={"reason": "naive_time"})
    allowed = tuple(lesson_lengths) if lesson_lengths is not None else policy.lesson_minutes
    if minutes not in allowed:
        raise SlotNotOffered(f"This tutor teaches {_fmt_minutes(allowed)} minute lessons, not {minutes}.",
                             details={"reason": "lesson_length", "lesson_minutes": list(allowed)})
    earliest = _earliest_start(policy, now)
    if start < earliest:
        raise SlotNotOffered(
            f"That start is too soon: this tutor needs {policy.min_notice_minutes} minutes' notice.",
            details={"reason": "too_soon", "earliest": earliest.astimezone(UTC).isoformat()})
    latest = _latest_start(policy, now)
    if start > latest:
        raise SlotNotOffered(
            f"That start is too far ahead: this tutor takes bookings at most {policy.max_advance_days} days ahead.",
            details={"reason": "too_far", "latest": latest.astimezone(UTC).isoformat()})
    local_day = start.astimezone(policy.zone).date()
    windows = availability_windows(policy, rules, overrides, local_day - timedelta(days=1), local_day)
    end = start + timedelta(minutes=minutes)
    for window in windows:
        if window.start <= start < window.end:
            if end > window.end:
                break
            offset = start - window.start
            if offset % timedelta(minutes=minutes):
                local_start = window.start.astimezone(policy.zone).strftime("%H:%M")
                raise SlotNotOffered(
                    f"That start is not on the tutor's grid: {minutes}-minute lessons start every "
                    f"{minutes} minutes from {local_start} ({policy.timezone}).",
                    details={"reason": "not_aligned", "window_start": window.start.astimezone(UTC).isoformat()})
            return
    raise SlotNotOffered("That time is outside the tutor's availability.",
                         details={"reason": "outside_availability"})
