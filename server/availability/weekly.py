"""Weekly occurrences across clock changes: the arithmetic of a recurring series.

A series repeats at the same wall-clock time **in the tutor's zone** (the tutor's week is
what availability is written in). Each occurrence is that local date and time turned into
an instant on its own day, so it follows the tutor's clock changes. The student sees the
lesson on their own clock: when one of the two zones changes its clocks and the other does
not (a London student with a New York tutor in March, when the US moves three weeks before
the UK; or any northern zone against a southern one), the lesson moves on the student's
clock. :func:`weekly` marks those occurrences ``clock_change``: their time (or day) on the
student's clock differs from the first occurrence's.

A wall-clock time that does not exist on an occurrence's day (inside the tutor's spring-forward
gap) is resolved the way ``zoneinfo`` resolves it (with the offset before the change, i.e.
an hour later on the clock); that instant is then checked against the tutor's availability
like any other, so it is either offered or listed as a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Occurrence:
    index: int
    start: datetime  # UTC
    end: datetime  # UTC
    tutor_start: datetime  # in the tutor's zone
    student_start: datetime  # in the student's zone
    clock_change: bool  # moves on the student's clock against the first occurrence


def _student_clock(value: datetime, zone: ZoneInfo) -> tuple[int, int, int]:
    local = value.astimezone(zone)
    return local.weekday(), local.hour, local.minute


def occurrence_start(first_local: datetime, week: int, tutor_zone: ZoneInfo) -> datetime:
    """The instant of week ``week`` (0 = the first) at ``first_local``'s wall-clock time in the
    tutor's zone."""
    day: date = first_local.date() + timedelta(weeks=week)
    naive = datetime.combine(day, first_local.time().replace(tzinfo=None)).replace(fold=first_local.fold)
    return naive.replace(tzinfo=tutor_zone).astimezone(UTC)


def weekly(first: datetime, minutes: int, weeks: int, tutor_zone: ZoneInfo, student_zone: ZoneInfo
           ) -> list[Occurrence]:
    """``weeks`` weekly occurrences from ``first`` (an aware instant) at its wall-clock time in
    ``tutor_zone``, each flagged when it moves on the student's clock."""
    first_local = first.astimezone(tutor_zone)
    reference = _student_clock(first, student_zone)
    out = []
    for week in range(weeks):
        start = occurrence_start(first_local, week, tutor_zone)
        out.append(Occurrence(index=week, start=start, end=start + timedelta(minutes=minutes),
                              tutor_start=start.astimezone(tutor_zone), student_start=start.astimezone(student_zone),
                              clock_change=_student_clock(start, student_zone) != reference))
    return out


def moved_for_student(start: datetime, first: datetime, student_zone: ZoneInfo) -> bool:
    """``clock_change`` of a stored occurrence: its time on the student's clock differs from
    the series' first occurrence's (``first``)."""
    return _student_clock(start, student_zone) != _student_clock(first, student_zone)
