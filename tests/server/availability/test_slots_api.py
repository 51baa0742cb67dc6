"""GET /tutors/{id}/slots over real HTTP, PostgreSQL and bookings rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from server.settings import Settings
from tests.server.tutors.support import ALL_WEEK, insert_booking, iso, make_tutor, make_user

SLOTS = "/api/v1/tutors/{}/slots"
MORNINGS = [{"weekday": d, "start": "09:00", "end": "13:00"} for d in range(7)]


async def slots(client: httpx.AsyncClient, tutor_id: str, **params: Any) -> dict[str, Any]:
    r = await client.get(SLOTS.format(tutor_id), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def day(days_ahead: int) -> datetime:
    """Midnight UTC ``days_ahead`` days from today."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days_ahead)


def window(start: datetime, days: int = 1) -> dict[str, str]:
    return {"from": iso(start), "to": iso(start + timedelta(days=days))}


def starts(data: dict[str, Any]) -> list[str]:
    return [s["start"] for s in data["slots"]]


# --- time zones -----------------------------------------------------------------------------

NY = ZoneInfo("America/New_York")


def next_transitions(zone: ZoneInfo, after: date) -> list[tuple[date, bool]]:
    """The next two local dates on which ``zone`` changes offset; True when clocks go forward."""
    found: list[tuple[date, bool]] = []
    d = after
    previous = datetime.combine(d, time(12), zone).utcoffset()
    while len(found) < 2:
        d += timedelta(days=1)
        offset = datetime.combine(d, time(12), zone).utcoffset()
        assert offset is not None and previous is not None
        if offset != previous:
            found.append((d, offset > previous))
        previous = offset
    return found


@pytest.mark.skipif(datetime.now(UTC) > datetime(2027, 3, 7, tzinfo=UTC),
                    reason="the issue's literal dates have passed; the next-transition test covers later years")
async def test_new_york_monday_hours_follow_the_dst_change(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                           settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings, timezone="America/New_York",
                             rules=[{"weekday": 0, "start": "09:00", "end": "12:00"}])
    data = await slots(client, tutor["id"], **{"from": "2027-03-08T00:00:00Z", "to": "2027-03-16T00:00:00Z"})
    assert starts(data) == [
        "2027-03-08T14:00:00Z", "2027-03-08T15:00:00Z", "2027-03-08T16:00:00Z",
        "2027-03-15T13:00:00Z", "2027-03-15T14:00:00Z", "2027-03-15T15:00:00Z"]
    assert data["tutor_id"] == tutor["id"] and data["minutes"] == 60 and data["version"] == 1
    assert data["timezone"] == "America/New_York"
    assert data["slots"][0] == {"start": "2027-03-08T14:00:00Z", "end": "2027-03-08T15:00:00Z", "status": "open",
                                "held_until": None}


async def test_new_york_monday_hours_follow_the_next_dst_changes(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                                 settings: Settings) -> None:
    """The same rule, whatever year the suite runs in: 09:00 New York is 14:00Z in winter
    and 13:00Z in summer, on the Mondays either side of each coming transition."""
    tutor = await make_tutor(client, db, settings, timezone="America/New_York",
                             rules=[{"weekday": 0, "start": "09:00", "end": "10:00"}])
    today = datetime.now(UTC).date()
    checked = 0
    for change, forward in next_transitions(NY, today + timedelta(days=7)):
        before = change - timedelta(days=(change.weekday() or 7))
        after = change + timedelta(days=(7 - change.weekday()) % 7 or 7)
        if after > today + timedelta(days=360):  # beyond the tutor's max_advance_days
            continue
        checked += 1
        data = await slots(client, tutor["id"], **{"from": f"{before}T00:00:00Z", "to": f"{after}T23:00:00Z"})
        winter, summer = "14:00:00Z", "13:00:00Z"
        assert starts(data) == [f"{before}T{winter if forward else summer}",
                                f"{after}T{summer if forward else winter}"]
    assert checked >= 1


async def test_rule_starting_in_the_spring_forward_gap_starts_when_the_gap_ends(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    (change, _), = [t for t in next_transitions(NY, datetime.now(UTC).date()) if t[1]][:1]
    assert change.weekday() == 6  # US clocks change on Sundays
    tutor = await make_tutor(client, db, settings, timezone="America/New_York",
                             rules=[{"weekday": 6, "start": "02:30", "end": "05:00"}])
    data = await slots(client, tutor["id"], **{"from": f"{change}T00:00:00Z", "to": f"{change}T23:00:00Z"})
    assert starts(data) == [f"{change}T07:00:00Z", f"{change}T08:00:00Z"]  # 03:00 and 04:00 EDT


async def test_rule_starting_in_the_repeated_hour_uses_its_first_occurrence(
        client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    (change, _), = [t for t in next_transitions(NY, datetime.now(UTC).date()) if not t[1]][:1]
    tutor = await make_tutor(client, db, settings, timezone="America/New_York",
                             rules=[{"weekday": 6, "start": "01:30", "end": "03:00"}])
    data = await slots(client, tutor["id"], **{"from": f"{change}T00:00:00Z", "to": f"{change}T23:00:00Z"})
    # 01:30 EDT (05:30Z) to 03:00 EST (08:00Z): two and a half real hours.
    assert starts(data) == [f"{change}T05:30:00Z", f"{change}T06:30:00Z"]


async def test_query_times_with_offsets_are_honoured(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                     settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings, rules=MORNINGS)
    start = day(5)
    data = await slots(client, tutor["id"], **{"from": (start + timedelta(hours=10)).isoformat(),
                                               "to": (start + timedelta(hours=12)).astimezone().isoformat()})
    assert starts(data) == [iso(start + timedelta(hours=10)), iso(start + timedelta(hours=11))]


# --- defaults and window limits ---------------------------------------------------------------

async def test_defaults_are_now_seven_days_and_the_shortest_lesson(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                                   settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings, rules=ALL_WEEK, lesson_minutes=[60, 30])
    before = datetime.now(UTC)
    data = await slots(client, tutor["id"])
    after = datetime.now(UTC)
    assert data["minutes"] == 30
    got = [datetime.fromisoformat(s) for s in starts(data)]
    assert all(datetime.fromisoformat(s["end"]) - datetime.fromisoformat(s["start"]) == timedelta(minutes=30)
               for s in data["slots"])
    assert before <= got[0] < after + timedelta(minutes=30)
    assert before + timedelta(days=7) - timedelta(minutes=30) <= got[-1] < after + timedelta(days=7)
    assert len(got) in (7 * 48 - 1, 7 * 48)


async def test_default_to_is_seven_days_after_from(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                   settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings, rules=MORNINGS)
    data = await slots(client, tutor["id"], **{"from": iso(day(3))})
    assert len(data["slots"]) == 7 * 4
    assert starts(data)[-1] == iso(day(9) + timedelta(hours=12))


async def test_minutes_selects_the_lesson_length(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                 settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings, rules=MORNINGS, lesson_minutes=[30, 90])
    data = await slots(client, tutor["id"], minutes=90, **window(day(3)))
    assert starts(data) == [iso(day(3) + timedelta(hours=9)), iso(day(3) + timedelta(hours=10, minutes=30))]


async def test_window_of_exactly_the_maximum_is_accepted(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                         settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings, rules=MORNINGS)
    data = await slots(client, tutor["id"], **window(day(1), days=settings.slot_window_max_days))
    assert len(data["slots"]) == 4 * 31


def _bad_params(start: datetime) -> list[tuple[str, dict[str, str], str]]:
    return [
        ("window over 31 days", {"from": iso(start), "to": iso(start + timedelta(days=31, seconds=1))}, "query.to"),
        ("to equals from", {"from": iso(start), "to": iso(start)}, "query.to"),
        ("to before from", {"from": iso(start), "to": iso(start - timedelta(hours=1))}, "query.to"),
        ("minutes not offered", {"minutes": "45"}, "query.minutes"),
        ("minutes not a number", {"minutes": "an hour"}, "query.minutes"),
        ("minutes beyond any column", {"minutes": "7585213302"}, "query.minutes"),
        ("naive from", {"from": "2027-03-08T09:00:00"}, "query.from"),
        ("date-only to", {"to": "2027-03-08"}, "query.to"),
        ("garbage from", {"from": "tomorrow"}, "query.from"),
        ("from far in the future", {"from": "9999-12-31T23:00:00Z"}, "query.from"),
    ]


BAD_NAMES = [name for name, _, _ in _bad_params(datetime(2027, 1, 1, tzinfo=UTC))]


@pytest.mark.parametrize("case", range(len(BAD_NAMES)), ids=BAD_NAMES)
async def test_bad_slot_query_is_422_naming_the_parameter(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                          settings: Settings, case: int) -> None:
    tutor = await make_tutor(client, db, settings, rules=MORNINGS)
    _, params, field = _bad_params(day(2))[case]
    r = await client.get(SLOTS.format(tutor["id"]), params=params)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in [d["field"] for d in error["details"]]


async def test_window_limit_is_a_setting(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    assert settings.slot_window_max_days == 31


async def test_unknown_or_inactive_tutor_is_404(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                settings: Settings) -> None:
    student = await make_user(db, settings, "student")
    tutor = await make_tutor(client, db, settings, rules=MORNINGS)
    await db.execute("UPDATE tutor_profiles SET is_active = false WHERE user_id = $1", tutor["uuid"])
    for tutor_id in (student["id"], tutor["id"], "not-a-uuid"):
        r = await client.get(SLOTS.format(tutor_id))
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_tutor_without_availability_has_no_slots(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                       settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings)
    data = await slots(client, tutor["id"])
    assert data["slots"] == [] and data["version"] == 0


# --- notice, advance, overrides ---------------------------------------------------------------

async def test_min_notice_hides_slots_starting_too_soon(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                        settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings, rules=ALL_WEEK, min_notice_minutes=180)
    before = datetime.now(UTC)
    first = datetime.fromisoformat(starts(await slots(client, tutor["id"]))[0])
    after = datetime.now(UTC)
    assert before + timedelta(hours=3) <= first < after + timedelta(hours=4)


async def test_max_advance_hides_slots_starting_too_far_ahead(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                              settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings, rules=ALL_WEEK, max_advance_days=2)
    before = datetime.now(UTC)
    last = datetime.fromisoformat(starts(await slots(client, tutor["id"]))[-1])
    after = datetime.now(UTC)
    assert before + timedelta(days=2) - timedelta(hours=1) < last <= after + timedelta(days=2)


async def test_day_off_override_empties_the_date(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                 settings: Settings) -> None:
    off = day(4)
    tutor = await make_tutor(client, db, settings, rules=MORNINGS, overrides=[{"date": off.date().isoformat()}])
    assert (await slots(client, tutor["id"], **window(off)))["slots"] == []
    assert len((await slots(client, tutor["id"], **window(off + timedelta(days=1))))["slots"]) == 4


async def test_override_replaces_the_hours_of_its_date(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                       settings: Settings) -> None:
    special = day(4)
    tutor = await make_tutor(client, db, settings, rules=MORNINGS, overrides=[
        {"date": special.date().isoformat(), "start": "14:00", "end": "16:00"},
        {"date": special.date().isoformat(), "start": "20:00", "end": "21:00"}])
    data = await slots(client, tutor["id"], **window(special))
    assert starts(data) == [iso(special + timedelta(hours=h)) for h in (14, 15, 20)]


async def test_availability_change_shows_up_with_the_new_version(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                                 settings: Settings) -> None:
    tutor = await make_tutor(client, db, settings, rules=MORNINGS)
    assert (await slots(client, tutor["id"], **window(day(3))))["version"] == 1
    r = await client.put("/api/v1/tutors/me/availability", headers=tutor["headers"],
                         json={"rules": [{"weekday": d, "start": "18:00", "end": "19:00"} for d in range(7)]})
    assert r.status_code == 200
    data = await slots(client, tutor["id"], **window(day(3)))
    assert data["version"] == 2 and starts(data) == [iso(day(3) + timedelta(hours=18))]


# --- bookings, holds and buffers --------------------------------------------------------------

@pytest.fixture
async def booked(client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> dict[str, Any]:
    """A UTC tutor with mornings 09:00-13:00, hourly lessons and a 15-minute buffer, and a student."""
    tutor = await make_tutor(client, db, settings, rules=MORNINGS, buffer_minutes=15, lesson_minutes=[60, 120])
    student = await make_user(db, settings, "student")
    return {"tutor": tutor, "student": student, "day": day(6)}


async def test_confirmed_booking_and_its_buffer_block_adjacent_slots(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                                     booked: dict[str, Any]) -> None:
    d, tutor = booked["day"], booked["tutor"]
    await insert_booking(db, tutor["uuid"], booked["student"]["uuid"], d + timedelta(hours=10), buffer=15)
    data = await slots(client, tutor["id"], **window(d))
    # 09:00 needs its buffer until 10:15; 10:00 is booked; 11:00 is inside the booking's buffer.
    assert starts(data) == [iso(d + timedelta(hours=12))]


async def test_live_hold_shows_as_held_until_it_expires(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                        booked: dict[str, Any]) -> None:
    d, tutor = booked["day"], booked["tutor"]
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    await insert_booking(db, tutor["uuid"], booked["student"]["uuid"], d + timedelta(hours=11), buffer=15,
                         status="held", expires_at=expires)
    data = await slots(client, tutor["id"], **window(d))
    assert [(s["start"], s["status"], s["held_until"]) for s in data["slots"]] == [
        (iso(d + timedelta(hours=9)), "open", None),
        (iso(d + timedelta(hours=11)), "held", iso(expires)),
    ]  # 10:00 (its break would run into the hold) and 12:00 (in the hold's break) are unavailable, not held


async def test_lapsed_hold_does_not_block_even_before_any_job_runs(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                                   booked: dict[str, Any]) -> None:
    d, tutor = booked["day"], booked["tutor"]
    await insert_booking(db, tutor["uuid"], booked["student"]["uuid"], d + timedelta(hours=10), buffer=15,
                         status="held", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    data = await slots(client, tutor["id"], **window(d))
    assert [s["status"] for s in data["slots"]] == ["open"] * 4


@pytest.mark.parametrize("status", ["expired", "released", "cancelled"])
async def test_finished_bookings_do_not_block(client: httpx.AsyncClient, db: asyncpg.Pool, booked: dict[str, Any],
                                              status: str) -> None:
    d, tutor = booked["day"], booked["tutor"]
    await insert_booking(db, tutor["uuid"], booked["student"]["uuid"], d + timedelta(hours=10), buffer=15,
                         status=status, expires_at=datetime.now(UTC) + timedelta(minutes=5))
    assert len((await slots(client, tutor["id"], **window(d)))["slots"]) == 4


async def test_slot_over_a_hold_and_a_booking_is_absent(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                        booked: dict[str, Any]) -> None:
    d, tutor, student = booked["day"], booked["tutor"], booked["student"]
    await insert_booking(db, tutor["uuid"], student["uuid"], d + timedelta(hours=9), buffer=15, status="held",
                         expires_at=datetime.now(UTC) + timedelta(minutes=5))
    await insert_booking(db, tutor["uuid"], student["uuid"], d + timedelta(hours=11), 30, buffer=15)
    data = await slots(client, tutor["id"], minutes=120, **window(d))
    assert starts(data) == []  # 09:00-11:00 (+15) meets both; 11:00-13:00 meets the booking
    data = await slots(client, tutor["id"], minutes=60, **window(d))
    # 10:00-11:00 (+15) meets the hold's buffer and the booking: absent.
    assert [(s["start"], s["status"]) for s in data["slots"]] == [(iso(d + timedelta(hours=9)), "held"),
                                                                  (iso(d + timedelta(hours=12)), "open")]


async def test_bookings_of_other_tutors_do_not_block(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                     settings: Settings, booked: dict[str, Any]) -> None:
    d = booked["day"]
    other = await make_tutor(client, db, settings, rules=MORNINGS)
    await insert_booking(db, other["uuid"], booked["student"]["uuid"], d + timedelta(hours=10))
    assert len((await slots(client, booked["tutor"]["id"], **window(d)))["slots"]) == 4
