"""Slot arithmetic without a database: grids, time zones, DST, overrides, notice, buffers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.availability.slots import (
    BusyRange,
    DateOverride,
    Slot,
    SlotNotOffered,
    SlotPolicy,
    WeeklyRule,
    check_bookable,
    compute_slots,
    local_to_utc,
)

NY = ZoneInfo("America/New_York")
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)  # a Monday, well before the dates below
MON, SUN = 0, 6


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def policy(tz: str = "UTC", lessons: tuple[int, ...] = (60,), notice: int = 0, buffer: int = 0,
           advance: int = 365) -> SlotPolicy:
    return SlotPolicy(timezone=tz, lesson_minutes=lessons, min_notice_minutes=notice, buffer_minutes=buffer,
                      max_advance_days=advance)


def hours(h1: int, h2: int) -> tuple[int, int]:
    return h1 * 60, h2 * 60


def starts(slots: list[Slot]) -> list[datetime]:
    return [s.start for s in slots]


def day_slots(p: SlotPolicy, rules: list[WeeklyRule], day: date, minutes: int = 60,
              overrides: list[DateOverride] | None = None, busy: list[BusyRange] | None = None,
              now: datetime = NOW) -> list[Slot]:
    """Slots for one UTC day (enough room either side for the time zones used here)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return compute_slots(p, rules, overrides or [], busy or [], start - timedelta(hours=12),
                         start + timedelta(hours=36), minutes, now)


# --- the grid -----------------------------------------------------------------------------

def test_hourly_lessons_start_on_the_hour_from_the_window_start() -> None:
    slots = day_slots(policy(), [WeeklyRule(MON, *hours(9, 12))], date(2027, 3, 8))
    assert starts(slots) == [utc(2027, 3, 8, 9), utc(2027, 3, 8, 10), utc(2027, 3, 8, 11)]
    assert all(s.end - s.start == timedelta(minutes=60) and s.status == "open" for s in slots)


def test_grid_steps_by_the_lesson_length_and_drops_a_lesson_that_would_overrun() -> None:
    slots = day_slots(policy(lessons=(90,)), [WeeklyRule(MON, *hours(9, 12))], date(2027, 3, 8), minutes=90)
    assert starts(slots) == [utc(2027, 3, 8, 9), utc(2027, 3, 8, 10, 30)]
    slots = day_slots(policy(lessons=(120,)), [WeeklyRule(MON, 9 * 60, 12 * 60 + 30)], date(2027, 3, 8), 120)
    assert starts(slots) == [utc(2027, 3, 8, 9)]


def test_grid_is_anchored_at_an_odd_window_start() -> None:
    slots = day_slots(policy(lessons=(30,)), [WeeklyRule(MON, 9 * 60 + 10, 10 * 60 + 20)], date(2027, 3, 8), 30)
    assert starts(slots) == [utc(2027, 3, 8, 9, 10), utc(2027, 3, 8, 9, 40)]


def test_touching_windows_of_one_day_merge() -> None:
    rules = [WeeklyRule(MON, 9 * 60, 10 * 60 + 30), WeeklyRule(MON, 10 * 60 + 30, 12 * 60)]
    slots = day_slots(policy(lessons=(90,)), rules, date(2027, 3, 8), 90)
    assert starts(slots) == [utc(2027, 3, 8, 9), utc(2027, 3, 8, 10, 30)]


def test_end_of_day_window_reaches_midnight() -> None:
    slots = day_slots(policy(), [WeeklyRule(MON, 22 * 60, 1440)], date(2027, 3, 8))
    assert starts(slots) == [utc(2027, 3, 8, 22), utc(2027, 3, 8, 23)]


def test_only_slots_starting_inside_the_query_window_are_listed() -> None:
    rules = [WeeklyRule(MON, *hours(9, 12))]
    slots = compute_slots(policy(), rules, [], [], utc(2027, 3, 8, 10), utc(2027, 3, 8, 11), 60, NOW)
    assert starts(slots) == [utc(2027, 3, 8, 10)]


# --- time zones and daylight saving -----------------------------------------------------

def test_new_york_monday_morning_moves_in_utc_across_the_dst_change() -> None:
    """The issue's example: 09:00 New York is 14:00Z before 2027-03-14 and 13:00Z after."""
    p = policy("America/New_York")
    rules = [WeeklyRule(MON, *hours(9, 12))]
    slots = compute_slots(p, rules, [], [], utc(2027, 3, 8), utc(2027, 3, 16), 60, NOW)
    assert starts(slots) == [utc(2027, 3, 8, 14), utc(2027, 3, 8, 15), utc(2027, 3, 8, 16),
                             utc(2027, 3, 15, 13), utc(2027, 3, 15, 14), utc(2027, 3, 15, 15)]


def test_boundary_in_the_spring_forward_gap_moves_to_the_end_of_the_gap() -> None:
    # 2027-03-14: New York clocks jump from 02:00 EST to 03:00 EDT (07:00Z).
    assert local_to_utc(date(2027, 3, 14), 2 * 60 + 30, NY) == utc(2027, 3, 14, 7)
    assert local_to_utc(date(2027, 3, 14), 2 * 60, NY) == utc(2027, 3, 14, 7)
    rules = [WeeklyRule(SUN, 2 * 60 + 30, 5 * 60)]
    slots = day_slots(policy("America/New_York"), rules, date(2027, 3, 14))
    # 02:30 is read as 03:00 EDT: lessons at 03:00 and 04:00 local.
    assert starts(slots) == [utc(2027, 3, 14, 7), utc(2027, 3, 14, 8)]


def test_window_spanning_the_gap_offers_only_the_real_hours() -> None:
    rules = [WeeklyRule(SUN, 1 * 60, 4 * 60)]  # 01:00 EST .. 04:00 EDT is two real hours
    slots = day_slots(policy("America/New_York"), rules, date(2027, 3, 14))
    assert starts(slots) == [utc(2027, 3, 14, 6), utc(2027, 3, 14, 7)]


def test_window_entirely_inside_the_gap_is_empty() -> None:
    rules = [WeeklyRule(SUN, 2 * 60, 2 * 60 + 45)]
    assert day_slots(policy("America/New_York", lessons=(15,)), rules, date(2027, 3, 14), 15) == []


def test_boundary_in_the_repeated_hour_means_its_first_occurrence() -> None:
    # 2027-11-07: New York clocks fall back from 02:00 EDT to 01:00 EST; 01:30 happens twice.
    assert local_to_utc(date(2027, 11, 7), 90, NY) == utc(2027, 11, 7, 5, 30)  # 01:30 EDT
    rules = [WeeklyRule(SUN, 90, 3 * 60)]  # 01:30 EDT (05:30Z) .. 03:00 EST (08:00Z): 2.5 real hours
    slots = day_slots(policy("America/New_York"), rules, date(2027, 11, 7))
    assert starts(slots) == [utc(2027, 11, 7, 5, 30), utc(2027, 11, 7, 6, 30)]


def test_fall_back_day_morning_hours_follow_standard_time() -> None:
    rules = [WeeklyRule(SUN, *hours(9, 10))]
    assert starts(day_slots(policy("America/New_York"), rules, date(2027, 10, 31))) == [utc(2027, 10, 31, 13)]
    assert starts(day_slots(policy("America/New_York"), rules, date(2027, 11, 7))) == [utc(2027, 11, 7, 14)]


def test_tutor_ahead_of_utc_gets_the_local_weekday() -> None:
    # Monday 08:00 in Tokyo is Sunday 23:00Z.
    slots = day_slots(policy("Asia/Tokyo"), [WeeklyRule(MON, *hours(8, 9))], date(2027, 3, 7))
    assert starts(slots) == [utc(2027, 3, 7, 23)]


# --- overrides ----------------------------------------------------------------------------

def test_override_replaces_the_weekly_hours_of_its_date_only() -> None:
    rules = [WeeklyRule(MON, *hours(9, 12))]
    overrides = [DateOverride(date(2027, 3, 8), *hours(14, 16))]
    slots = compute_slots(policy(), rules, overrides, [], utc(2027, 3, 8), utc(2027, 3, 16), 60, NOW)
    assert starts(slots) == [utc(2027, 3, 8, 14), utc(2027, 3, 8, 15),
                             utc(2027, 3, 15, 9), utc(2027, 3, 15, 10), utc(2027, 3, 15, 11)]


def test_override_with_several_windows() -> None:
    overrides = [DateOverride(date(2027, 3, 8), *hours(8, 9)), DateOverride(date(2027, 3, 8), *hours(17, 18))]
    slots = day_slots(policy(), [WeeklyRule(MON, *hours(9, 12))], date(2027, 3, 8), overrides=overrides)
    assert starts(slots) == [utc(2027, 3, 8, 8), utc(2027, 3, 8, 17)]


def test_day_off_override_removes_the_date() -> None:
    overrides = [DateOverride(date(2027, 3, 8))]
    assert day_slots(policy(), [WeeklyRule(MON, *hours(9, 12))], date(2027, 3, 8), overrides=overrides) == []


def test_override_adds_hours_on_a_day_without_rules() -> None:
    overrides = [DateOverride(date(2027, 3, 9), *hours(10, 11))]  # a Tuesday
    slots = day_slots(policy(), [WeeklyRule(MON, *hours(9, 12))], date(2027, 3, 9), overrides=overrides)
    assert starts(slots) == [utc(2027, 3, 9, 10)]


# --- notice and advance ---------------------------------------------------------------------

def test_min_notice_drops_slots_starting_too_soon() -> None:
    now = utc(2027, 3, 8, 9, 10)
    slots = day_slots(policy(notice=60), [WeeklyRule(MON, *hours(9, 13))], date(2027, 3, 8), now=now)
    assert starts(slots) == [utc(2027, 3, 8, 11), utc(2027, 3, 8, 12)]  # 10:00 < 10:10


def test_slot_exactly_at_the_notice_boundary_is_offered() -> None:
    now = utc(2027, 3, 8, 9)
    slots = day_slots(policy(notice=60), [WeeklyRule(MON, *hours(9, 12))], date(2027, 3, 8), now=now)
    assert starts(slots) == [utc(2027, 3, 8, 10), utc(2027, 3, 8, 11)]


def test_max_advance_drops_slots_starting_too_far_ahead() -> None:
    now = utc(2027, 3, 8, 10, 30)
    rules = [WeeklyRule(d, *hours(9, 12)) for d in range(7)]
    slots = compute_slots(policy(advance=1), rules, [], [], now, now + timedelta(days=5), 60, now)
    assert starts(slots) == [utc(2027, 3, 8, 11), utc(2027, 3, 9, 9), utc(2027, 3, 9, 10)]


# --- bookings, holds, buffers -------------------------------------------------------------

def booking(start: datetime, minutes: int = 60, buffer: int = 0, status: str = "confirmed",
            expires_at: datetime | None = None) -> BusyRange:
    return BusyRange(start, start + timedelta(minutes=minutes + buffer), status, expires_at)  # type: ignore[arg-type]


def test_confirmed_booking_removes_its_slot() -> None:
    slots = day_slots(policy(), [WeeklyRule(MON, *hours(9, 12))], date(2027, 3, 8),
                      busy=[booking(utc(2027, 3, 8, 10))])
    assert starts(slots) == [utc(2027, 3, 8, 9), utc(2027, 3, 8, 11)]


def test_buffer_blocks_the_adjacent_slots_on_both_sides() -> None:
    p = policy(buffer=15)
    slots = day_slots(p, [WeeklyRule(MON, *hours(9, 13))], date(2027, 3, 8),
                      busy=[booking(utc(2027, 3, 8, 10), buffer=15)])
    # 09:00 would need its buffer until 10:15; 11:00 starts inside the booking's buffer.
    assert starts(slots) == [utc(2027, 3, 8, 12)]


def test_without_buffer_adjacent_slots_stay_open() -> None:
    slots = day_slots(policy(), [WeeklyRule(MON, *hours(9, 13))], date(2027, 3, 8),
                      busy=[booking(utc(2027, 3, 8, 10))])
    assert starts(slots) == [utc(2027, 3, 8, 9), utc(2027, 3, 8, 11), utc(2027, 3, 8, 12)]


def test_live_hold_marks_its_slot_held_until_expiry() -> None:
    expires = NOW + timedelta(minutes=10)
    slots = day_slots(policy(), [WeeklyRule(MON, *hours(9, 12))], date(2027, 3, 8),
                      busy=[booking(utc(2027, 3, 8, 10), status="held", expires_at=expires)])
    assert [(s.start, s.status, s.held_until) for s in slots] == [
        (utc(2027, 3, 8, 9), "open", None), (utc(2027, 3, 8, 10), "held", expires),
        (utc(2027, 3, 8, 11), "open", None)]


def test_slots_kept_out_only_by_the_buffer_of_a_hold_are_absent_not_held() -> None:
    expires = NOW + timedelta(minutes=10)
    slots = day_slots(policy(buffer=15), [WeeklyRule(MON, *hours(9, 13))], date(2027, 3, 8),
                      busy=[booking(utc(2027, 3, 8, 10), buffer=15, status="held", expires_at=expires)])
    # 09:00 needs its break until 10:15 and 11:00 starts in the hold's break: unavailable, nobody holds them.
    assert [(s.start, s.status, s.held_until) for s in slots] == [
        (utc(2027, 3, 8, 10), "held", expires), (utc(2027, 3, 8, 12), "open", None)]


def test_lapsed_hold_never_blocks() -> None:
    slots = day_slots(policy(), [WeeklyRule(MON, *hours(9, 12))], date(2027, 3, 8),
                      busy=[booking(utc(2027, 3, 8, 10), status="held", expires_at=NOW)])
    assert [s.status for s in slots] == ["open", "open", "open"]


def test_slot_over_two_holds_is_held_until_the_later_expiry() -> None:
    early, late = NOW + timedelta(minutes=3), NOW + timedelta(minutes=9)
    busy = [booking(utc(2027, 3, 8, 9), 30, status="held", expires_at=late),
            booking(utc(2027, 3, 8, 9, 30), 30, status="held", expires_at=early)]
    slots = day_slots(policy(lessons=(30, 60)), [WeeklyRule(MON, *hours(9, 11))], date(2027, 3, 8), 60, busy=busy)
    assert [(s.start, s.status, s.held_until) for s in slots] == [
        (utc(2027, 3, 8, 9), "held", late), (utc(2027, 3, 8, 10), "open", None)]


def test_slot_over_a_hold_and_a_confirmed_booking_is_absent() -> None:
    busy = [booking(utc(2027, 3, 8, 9), 30, status="held", expires_at=NOW + timedelta(minutes=5)),
            booking(utc(2027, 3, 8, 9, 30), 30)]
    slots = day_slots(policy(lessons=(30, 60)), [WeeklyRule(MON, *hours(9, 11))], date(2027, 3, 8), 60, busy=busy)
    assert starts(slots) == [utc(2027, 3, 8, 10)]


# --- check_bookable -------------------------------------------------------------------------

RULES = [WeeklyRule(MON, *hours(9, 12))]


def reason(p: SlotPolicy, start: datetime, minutes: int = 60, now: datetime = NOW,
           rules: list[WeeklyRule] = RULES) -> str:
    with pytest.raises(SlotNotOffered) as info:
        check_bookable(p, rules, [], start, minutes, now)
    assert info.value.status == 422 and info.value.code == "slot_not_offered"
    return str(info.value.details["reason"])


def test_check_bookable_accepts_a_listed_slot() -> None:
    check_bookable(policy(), RULES, [], utc(2027, 3, 8, 10), 60, NOW)


def test_check_bookable_rejects_an_unoffered_length() -> None:
    assert reason(policy(), utc(2027, 3, 8, 10), minutes=45) == "lesson_length"


def test_check_bookable_allows_an_explicit_length_list() -> None:
    check_bookable(policy(), RULES, [], utc(2027, 3, 8, 9), 90, NOW, lesson_lengths=[90])


def test_check_bookable_rejects_too_soon_and_too_far() -> None:
    assert reason(policy(notice=120), utc(2027, 3, 8, 10), now=utc(2027, 3, 8, 9)) == "too_soon"
    assert reason(policy(advance=3), utc(2027, 3, 8, 10), now=utc(2027, 3, 1)) == "too_far"


def test_check_bookable_rejects_time_outside_availability() -> None:
    assert reason(policy(), utc(2027, 3, 8, 13)) == "outside_availability"
    assert reason(policy(), utc(2027, 3, 9, 10)) == "outside_availability"  # a Tuesday


def test_check_bookable_rejects_a_lesson_running_past_the_window() -> None:
    p = policy(lessons=(60, 120))
    assert reason(p, utc(2027, 3, 8, 11), minutes=120) == "outside_availability"


def test_check_bookable_rejects_starts_off_the_grid() -> None:
    assert reason(policy(), utc(2027, 3, 8, 9, 30)) == "not_aligned"
    assert reason(policy(), utc(2027, 3, 8, 10, 0, 1)) == "not_aligned"


def test_check_bookable_rejects_a_naive_start() -> None:
    with pytest.raises(SlotNotOffered):
        check_bookable(policy(), RULES, [], datetime(2027, 3, 8, 10), 60, NOW)


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_every_computed_slot_passes_check_bookable(tz: str) -> None:
    p = policy(tz, lessons=(25, 45, 60), notice=30, buffer=10, advance=300)
    rules = [WeeklyRule(d, 60 * 1 + 15, 60 * 4) for d in range(7)] + [WeeklyRule(d, 9 * 60, 1440) for d in range(7)]
    overrides = [DateOverride(date(2027, 3, 28)), DateOverride(date(2027, 4, 3), 30, 23 * 60 + 5)]
    for minutes in p.lesson_minutes:
        for window_from in (utc(2027, 3, 8), utc(2027, 3, 26), utc(2027, 10, 28)):
            slots = compute_slots(p, rules, overrides, [], window_from, window_from + timedelta(days=10), minutes, NOW)
            assert slots
            for slot in slots:
                check_bookable(p, rules, overrides, slot.start, minutes, NOW)
