"""Weekly occurrences across clock changes (pure arithmetic, fixed dates): the tutor's wall
clock is kept, and the occurrences that move on the student's clock are flagged."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from server.availability.weekly import moved_for_student, weekly

NEW_YORK, LONDON = ZoneInfo("America/New_York"), ZoneInfo("Europe/London")
SYDNEY, TOKYO = ZoneInfo("Australia/Sydney"), ZoneInfo("Asia/Tokyo")
TORONTO = ZoneInfo("America/Toronto")


def _local(occurrences: list, zone: ZoneInfo) -> list[str]:
    return [o.start.astimezone(zone).strftime("%a %H:%M") for o in occurrences]


def test_new_york_tutor_london_student_in_march_moves_between_the_two_changes() -> None:
    # 2027: the US springs forward on 14 March, the UK on 28 March.
    series = weekly(datetime(2027, 3, 1, 10, 0, tzinfo=NEW_YORK), 60, 6, NEW_YORK, LONDON)
    assert _local(series, NEW_YORK) == ["Mon 10:00"] * 6
    assert _local(series, LONDON) == ["Mon 15:00", "Mon 15:00", "Mon 14:00", "Mon 14:00", "Mon 15:00", "Mon 15:00"]
    assert [o.clock_change for o in series] == [False, False, True, True, False, False]
    assert [o.start.astimezone(UTC).hour for o in series] == [15, 15, 14, 14, 14, 14]


def test_london_tutor_new_york_student_in_autumn_moves_in_the_gap_week() -> None:
    # 2027: the UK falls back on 31 October, the US on 7 November.
    series = weekly(datetime(2027, 10, 18, 18, 0, tzinfo=LONDON), 60, 4, LONDON, NEW_YORK)
    assert _local(series, LONDON) == ["Mon 18:00"] * 4
    assert _local(series, NEW_YORK) == ["Mon 13:00", "Mon 13:00", "Mon 14:00", "Mon 13:00"]
    assert [o.clock_change for o in series] == [False, False, True, False]


def test_southern_hemisphere_tutor_moves_for_a_student_without_clock_changes() -> None:
    # Sydney ends daylight saving on 4 April 2027; Tokyo has none.
    series = weekly(datetime(2027, 3, 22, 18, 0, tzinfo=SYDNEY), 60, 4, SYDNEY, TOKYO)
    assert _local(series, SYDNEY) == ["Mon 18:00"] * 4
    assert _local(series, TOKYO) == ["Mon 16:00", "Mon 16:00", "Mon 17:00", "Mon 17:00"]
    assert [o.clock_change for o in series] == [False, False, True, True]


def test_southern_and_northern_changes_in_opposite_directions_both_show() -> None:
    # A Sydney tutor and a London student: the UK springs forward on 28 March 2027 and Sydney
    # falls back on 4 April, so the gap between them shrinks twice.
    series = weekly(datetime(2027, 3, 22, 19, 0, tzinfo=SYDNEY), 60, 3, SYDNEY, LONDON)
    assert _local(series, LONDON) == ["Mon 08:00", "Mon 09:00", "Mon 10:00"]
    assert [o.clock_change for o in series] == [False, True, True]


def test_zones_that_change_together_never_flag() -> None:
    series = weekly(datetime(2027, 3, 1, 10, 0, tzinfo=NEW_YORK), 60, 6, NEW_YORK, TORONTO)
    assert not any(o.clock_change for o in series)
    assert _local(series, TORONTO) == ["Mon 10:00"] * 6


def test_a_change_of_day_on_the_students_clock_is_flagged() -> None:
    # 19:30 in New York is 00:30 the next day in London, except between the two March changes.
    series = weekly(datetime(2027, 3, 1, 19, 30, tzinfo=NEW_YORK), 30, 4, NEW_YORK, LONDON)
    assert _local(series, LONDON) == ["Tue 00:30", "Tue 00:30", "Mon 23:30", "Mon 23:30"]
    assert [o.clock_change for o in series] == [False, False, True, True]


def test_a_wall_time_inside_the_spring_forward_gap_resolves_an_hour_later() -> None:
    # 02:30 does not exist in New York on 14 March 2027: that week's lesson is at 03:30 EDT.
    series = weekly(datetime(2027, 3, 7, 2, 30, tzinfo=NEW_YORK), 30, 2, NEW_YORK, NEW_YORK)
    assert series[1].start == datetime(2027, 3, 14, 7, 30, tzinfo=UTC)
    assert series[1].start.astimezone(NEW_YORK).strftime("%H:%M") == "03:30"


def test_moved_for_student_matches_the_flags_of_stored_occurrences() -> None:
    series = weekly(datetime(2027, 3, 1, 10, 0, tzinfo=NEW_YORK), 60, 6, NEW_YORK, LONDON)
    assert [moved_for_student(o.start, series[0].start, LONDON) for o in series] == [o.clock_change for o in series]
