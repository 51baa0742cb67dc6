"""Recurring weekly lessons (``POST /series``): every occurrence held at the tutor's wall-clock
time, all or nothing, paid by one checkout, cancelled by policy; clock changes flagged for the
student. Dates are found relative to today (the next real clock changes), so the tests hold
whenever they run."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from tasks.bookings import warn_expiring_holds
from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_change, weeks_before
from tests.server.packages.support import buy, credits, offer, pay_with_credit

NEW_YORK, LONDON, SYDNEY, TOKYO = "America/New_York", "Europe/London", "Australia/Sydney", "Asia/Tokyo"


async def place(client: httpx.AsyncClient, student: dict[str, Any], tutor_id: str, start: datetime, weeks: int,
                minutes: int = 60, timezone: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"tutor_id": tutor_id, "start": start.isoformat(), "minutes": minutes, "weeks": weeks}
    if timezone:
        body["timezone"] = timezone
    return await client.post("/api/v1/series", headers=student["headers"], json=body)


@pytest.fixture
async def ny_tutor(make_tutor: TutorFactory) -> dict[str, Any]:
    return await make_tutor(timezone=NEW_YORK, max_advance=365)


async def test_series_keeps_the_tutors_wall_clock_and_flags_the_weeks_that_move_for_a_london_student(
        client: httpx.AsyncClient, ny_tutor: dict, make_students: StudentFactory, db: asyncpg.Pool) -> None:
    [student] = await make_students(1)
    today = datetime.now(UTC).date()
    us, uk = next_change(NEW_YORK, today + timedelta(days=21)), next_change(LONDON, today + timedelta(days=21))
    first, last = min(us, uk), max(us, uk)
    start = weeks_before(first, 2, NEW_YORK, 10)
    weeks = 2 + (last - first).days // 7 + 3
    r = await place(client, student, ny_tutor["id"], start, weeks, timezone=LONDON)
    assert r.status_code == 201, r.text
    series = r.json()
    occurrences = series["occurrences"]
    assert len(occurrences) == weeks and series["weeks"] == weeks
    assert series["tutor_timezone"] == NEW_YORK and series["student_timezone"] == LONDON
    ny, ldn = ZoneInfo(NEW_YORK), ZoneInfo(LONDON)
    starts = [datetime.fromisoformat(o["start"]) for o in occurrences]
    assert {s.astimezone(ny).strftime("%a %H:%M") for s in starts} == {start.strftime("%a %H:%M")}
    assert all(b - a in (timedelta(days=7), timedelta(days=7, hours=1), timedelta(days=7, hours=-1))
               for a, b in itertools.pairwise(starts))
    # Flagged exactly where the London clock shows another time than the first lesson's.
    reference = starts[0].astimezone(ldn).strftime("%H:%M")
    expected = [s.astimezone(ldn).strftime("%H:%M") != reference for s in starts]
    assert [o["clock_change"] for o in occurrences] == expected
    moved = [s.date() for s, flag in zip(starts, expected, strict=True) if flag]
    assert moved and all(first <= d < last for d in moved)  # only between the two zones' changes
    assert all(datetime.fromisoformat(o["student_start"]).utcoffset() == datetime.fromisoformat(o["start"])
               .astimezone(ldn).utcoffset() for o in occurrences)
    assert {o["status"] for o in occurrences} == {"held"}
    assert series["price_cents"] == 6000 * weeks
    # Every occurrence is a held booking of the series; the series reads back the same.
    booking = (await client.get(f"/api/v1/bookings/{occurrences[1]['booking_id']}", headers=student["headers"])).json()
    assert booking["series_id"] == series["id"] and booking["status"] == "held"
    again = await client.get(f"/api/v1/series/{series['id']}", headers=ny_tutor["headers"])
    assert again.status_code == 200 and again.json()["occurrences"] == occurrences
    # One slots.changed for the tutor's watchers covers every occurrence.
    payload = json.loads(await db.fetchval(
        "SELECT payload FROM outbox WHERE tutor_id = $1 AND event = 'slots.changed' ORDER BY id DESC LIMIT 1",
        uuid.UUID(ny_tutor["id"])))
    assert set(starts) <= {datetime.fromisoformat(c["start"]) for c in payload["changes"] if c["status"] == "held"}


async def test_southern_hemisphere_tutor_series_flags_a_tokyo_student_after_sydneys_change(
        client: httpx.AsyncClient, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    tutor = await make_tutor(timezone=SYDNEY, max_advance=365)
    [student] = await make_students(1)
    change = next_change(SYDNEY, datetime.now(UTC).date() + timedelta(days=21))
    start = weeks_before(change, 2, SYDNEY, 18)
    r = await place(client, student, tutor["id"], start, 4, timezone=TOKYO)
    assert r.status_code == 201, r.text
    occurrences = r.json()["occurrences"]
    syd, tokyo = ZoneInfo(SYDNEY), ZoneInfo(TOKYO)
    assert {datetime.fromisoformat(o["start"]).astimezone(syd).strftime("%H:%M") for o in occurrences} == {"18:00"}
    assert [o["clock_change"] for o in occurrences] == [False, False, True, True]
    tokyo_times = [datetime.fromisoformat(o["start"]).astimezone(tokyo).strftime("%H:%M") for o in occurrences]
    assert tokyo_times[0] == tokyo_times[1] != tokyo_times[2] == tokyo_times[3]


async def test_series_is_all_or_nothing_and_lists_every_conflict(
        client: httpx.AsyncClient, make_tutor: TutorFactory, make_students: StudentFactory, db: asyncpg.Pool) -> None:
    tutor = await make_tutor(max_advance=30)
    alice, bob = await make_students(2)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    taken = await hold(client, alice, tutor["id"], start + timedelta(weeks=2))
    assert taken.status_code == 201
    r = await place(client, bob, tutor["id"], start, 6)
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "series_conflict"
    week = [(start + timedelta(weeks=k)).isoformat() for k in range(6)]
    assert error["details"]["conflicts"] == [week[2], week[5]]
    assert error["details"]["reasons"] == {week[2]: "taken", week[5]: "too_far"}
    assert await db.fetchval("SELECT count(*) FROM bookings WHERE student_id = $1", uuid.UUID(bob["id"])) == 0
    assert await db.fetchval("SELECT count(*) FROM lesson_series WHERE student_id = $1", uuid.UUID(bob["id"])) == 0
    # The first lesson not being a slot is the hold's own 422.
    r = await place(client, bob, tutor["id"], start + timedelta(minutes=7), 2)
    assert r.status_code == 422 and r.json()["error"]["code"] == "slot_not_offered"


@pytest.mark.parametrize("body", [{"weeks": 1}, {"weeks": 27}, {"minutes": 45}, {"timezone": "Mars/Olympus"},
                                  {"start": "2030-01-01T10:00:00"}])
async def test_bad_series_requests_get_a_clear_4xx(client: httpx.AsyncClient, tutor: dict,
                                                   make_students: StudentFactory, body: dict) -> None:
    [student] = await make_students(1)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    payload = {"tutor_id": tutor["id"], "start": start.isoformat(), "minutes": 60, "weeks": 3, **body}
    r = await client.post("/api/v1/series", headers=student["headers"], json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] in ("invalid_request", "invalid_timezone", "slot_not_offered")


async def test_only_students_place_series_and_only_its_parties_see_it(
        client: httpx.AsyncClient, tutor: dict, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    student, stranger = await make_students(2)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    other_tutor = await make_tutor()
    r = await place(client, other_tutor, tutor["id"], start, 2)
    assert r.status_code == 403
    r = await client.post("/api/v1/series", json={"tutor_id": tutor["id"], "start": start.isoformat(),
                                                  "minutes": 60, "weeks": 2})
    assert r.status_code == 401
    series = (await place(client, student, tutor["id"], start, 2)).json()
    for outsider in (stranger, other_tutor):
        r = await client.get(f"/api/v1/series/{series['id']}", headers=outsider["headers"])
        assert r.status_code == 404
        r = await client.post(f"/api/v1/series/{series['id']}/cancel", headers=outsider["headers"], json={})
        assert r.status_code == 404


async def test_concurrent_series_and_holds_never_double_book_and_each_series_is_whole_or_absent(
        client: httpx.AsyncClient, make_tutor: TutorFactory, make_students: StudentFactory, db: asyncpg.Pool) -> None:
    tutor = await make_tutor()
    students = await make_students(12)
    tutor_id = uuid.UUID(tutor["id"])
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    # Six three-week series starting in weeks 0, 1 and 2 all need week 2: exactly one wins.
    racers = [place(client, s, tutor["id"], start + timedelta(weeks=i % 3), 3) for i, s in enumerate(students[:6])]
    responses = await asyncio.gather(*racers)
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5, [r.text for r in responses]
    # Series and single holds racing over the same weeks an hour later.
    later = start + timedelta(hours=1)
    racers = [place(client, s, tutor["id"], later + timedelta(weeks=i), 3) for i, s in enumerate(students[6:9])]
    racers += [hold(client, s, tutor["id"], later + timedelta(weeks=2 * i)) for i, s in enumerate(students[9:])]
    responses += await asyncio.gather(*racers)
    assert {r.status_code for r in responses} <= {201, 409}, [r.text for r in responses]
    overlaps = await db.fetchval(
        "SELECT count(*) FROM bookings a JOIN bookings b ON a.tutor_id = b.tutor_id AND a.id < b.id "
        "AND a.guarded && b.guarded WHERE a.tutor_id = $1 AND a.status IN ('held', 'confirmed') "
        "AND b.status IN ('held', 'confirmed')", tutor_id)
    assert overlaps == 0
    sizes = await db.fetch("SELECT s.id, count(b.id) AS n FROM lesson_series s LEFT JOIN bookings b ON b.series_id = s.id "
                           "WHERE s.tutor_id = $1 GROUP BY s.id", tutor_id)
    placed_series = [r for r in responses[:9] if r.status_code == 201]
    assert len(sizes) == len(placed_series) and all(row["n"] == 3 for row in sizes)
    held = await db.fetchval("SELECT count(*) FROM bookings WHERE tutor_id = $1 AND status = 'held'", tutor_id)
    assert held == 3 * len(placed_series) + sum(r.status_code == 201 for r in responses[9:])


async def test_one_checkout_pays_every_occurrence(client: httpx.AsyncClient, tutor: dict,
                                                  make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    series = (await place(client, student, tutor["id"], start, 4)).json()
    ids = [o["booking_id"] for o in series["occurrences"]]
    r = await client.post(f"/api/v1/bookings/{ids[2]}/checkout", headers=student["headers"], json={})
    assert r.status_code == 200 and r.json()["payment"]["provider"] == "test", r.text
    r = await client.post("/api/v1/payments/test/confirm", headers=student["headers"], json={"booking_id": ids[2]})
    assert r.status_code == 200, r.text
    statuses = {(await client.get(f"/api/v1/bookings/{i}", headers=student["headers"])).json()["status"] for i in ids}
    assert statuses == {"confirmed"}
    again = (await client.get(f"/api/v1/series/{series['id']}", headers=student["headers"])).json()
    assert again["price_cents"] == 0 and {o["status"] for o in again["occurrences"]} == {"confirmed"}


async def test_releasing_one_occurrence_releases_the_series(client: httpx.AsyncClient, tutor: dict,
                                                            make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    series = (await place(client, student, tutor["id"], start, 3)).json()
    r = await client.delete(f"/api/v1/holds/{series['occurrences'][1]['booking_id']}", headers=student["headers"])
    assert r.status_code == 204, r.text
    again = (await client.get(f"/api/v1/series/{series['id']}", headers=student["headers"])).json()
    assert {o["status"] for o in again["occurrences"]} == {"released"}
    # The slots are open again: another student can hold the first week.
    [other] = await make_students(1)
    assert (await hold(client, other, tutor["id"], start)).status_code == 201


async def test_series_counts_as_one_hold_when_placed(client: httpx.AsyncClient, tutor: dict,
                                                     make_students: StudentFactory, settings: Any) -> None:
    [student] = await make_students(1)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    for k in range(settings.max_active_holds - 1):
        assert (await hold(client, student, tutor["id"], start + timedelta(hours=k + 1))).status_code == 201
    assert (await place(client, student, tutor["id"], start, 5)).status_code == 201
    r = await place(client, student, tutor["id"], start + timedelta(days=1), 2)
    assert r.status_code == 409 and r.json()["error"]["code"] == "hold_limit_reached"


async def test_cancel_series_from_a_date_cancels_the_rest_by_policy(client: httpx.AsyncClient, tutor: dict,
                                                                   make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    series = (await place(client, student, tutor["id"], start, 4)).json()
    ids = [o["booking_id"] for o in series["occurrences"]]
    await client.post(f"/api/v1/bookings/{ids[0]}/checkout", headers=student["headers"], json={})
    await client.post("/api/v1/payments/test/confirm", headers=student["headers"], json={"booking_id": ids[0]})
    cutoff = start + timedelta(weeks=2)
    r = await client.post(f"/api/v1/series/{series['id']}/cancel", headers=student["headers"],
                          json={"from": cutoff.isoformat(), "reason": "term ends"})
    assert r.status_code == 200, r.text
    assert [o["status"] for o in r.json()["occurrences"]] == ["confirmed", "confirmed", "cancelled", "cancelled"]
    for booking_id in ids[2:]:
        booking = (await client.get(f"/api/v1/bookings/{booking_id}", headers=student["headers"])).json()
        # More than CANCEL_FULL_REFUND_HOURS ahead: refunded in full, like a single cancellation.
        assert booking["refund_cents"] == 6000 and booking["cancel_reason"] == "term ends"
    # The tutor cancels the rest: every remaining lesson, refunded in full.
    r = await client.post(f"/api/v1/series/{series['id']}/cancel", headers=tutor["headers"], json={})
    assert [o["status"] for o in r.json()["occurrences"]] == ["cancelled"] * 4


async def test_credits_pay_a_series_one_each_or_not_at_all(client: httpx.AsyncClient, make_tutor: TutorFactory,
                                                          make_students: StudentFactory) -> None:
    tutor = await make_tutor(lesson_minutes=[60])
    alice, bob = await make_students(2)
    r = await offer(client, tutor, {"lessons": 3, "minutes": 60, "price_cents": 15000})
    package_id = r.json()["items"][0]["id"]
    await buy(client, alice, package_id)
    await buy(client, bob, package_id)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    # Four lessons against three credits: nothing is spent, nothing confirmed.
    four = (await place(client, alice, tutor["id"], start, 4)).json()
    r = await pay_with_credit(client, alice, four["occurrences"][0]["booking_id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_credit", r.text
    assert (await credits(client, alice))[0]["remaining"] == 3
    again = (await client.get(f"/api/v1/series/{four['id']}", headers=alice["headers"])).json()
    assert {o["status"] for o in again["occurrences"]} == {"held"}
    # Three lessons: one credit each.
    three = (await place(client, bob, tutor["id"], start + timedelta(days=1), 3)).json()
    r = await pay_with_credit(client, bob, three["occurrences"][2]["booking_id"])
    assert r.status_code == 200, r.text
    assert sum(c["remaining"] for c in await credits(client, bob)) == 0
    again = (await client.get(f"/api/v1/series/{three['id']}", headers=bob["headers"])).json()
    assert {o["status"] for o in again["occurrences"]} == {"confirmed"}
    # Cancelling the series within the policy gives the credits back.
    r = await client.post(f"/api/v1/series/{three['id']}/cancel", headers=bob["headers"], json={})
    assert [o["status"] for o in r.json()["occurrences"]] == ["cancelled"] * 3
    assert (await credits(client, bob))[0]["remaining"] == 3


async def test_a_hold_becomes_the_first_lesson_of_a_series_without_the_slot_ever_opening(
        client: httpx.AsyncClient, tutor: dict, make_students: StudentFactory, db: asyncpg.Pool) -> None:
    student, rival = await make_students(2)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    single = (await hold(client, student, tutor["id"], start)).json()
    before = await db.fetchval("SELECT max(id) FROM outbox")
    # The rival races for the same slot while the hold turns into a series.
    converted, raced = await asyncio.gather(
        client.post("/api/v1/series", headers=student["headers"],
                    json={"tutor_id": tutor["id"], "start": start.isoformat(), "minutes": 60, "weeks": 3,
                          "hold_id": single["id"]}),
        hold(client, rival, tutor["id"], start))
    assert converted.status_code == 201, converted.text
    assert raced.status_code == 409
    series = converted.json()
    assert series["occurrences"][0]["start"] == single["start"]
    released = (await client.get(f"/api/v1/bookings/{single['id']}", headers=student["headers"])).json()
    assert released["status"] == "released"
    # Watchers never saw the first slot open: every slots.changed since then shows it held.
    rows = await db.fetch("SELECT payload FROM outbox WHERE id > $1 AND tutor_id = $2 AND event = 'slots.changed'",
                          before, uuid.UUID(tutor["id"]))
    statuses = [c["status"] for r in rows for c in json.loads(r["payload"])["changes"]
                if datetime.fromisoformat(c["start"]) == start]
    assert statuses and set(statuses) == {"held"}
    # Not the student's live hold of the first lesson (someone else's, or already converted): 409.
    other = (await hold(client, rival, tutor["id"], start + timedelta(days=1))).json()
    for hold_id in (other["id"], single["id"]):
        r = await client.post("/api/v1/series", headers=student["headers"],
                              json={"tutor_id": tutor["id"], "start": (start + timedelta(days=1)).isoformat(),
                                    "minutes": 60, "weeks": 2, "hold_id": hold_id})
        assert r.status_code == 409 and r.json()["error"]["code"] == "hold_not_convertible"


async def test_a_held_series_is_warned_once_before_it_lapses(client: httpx.AsyncClient, tutor: dict,
                                                            make_students: StudentFactory, app: Any,
                                                            db: asyncpg.Pool) -> None:
    [student] = await make_students(1)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    series = (await place(client, student, tutor["id"], start, 4)).json()
    settings = app.state.settings
    expires = datetime.fromisoformat(
        (await client.get(f"/api/v1/bookings/{series['occurrences'][0]['booking_id']}",
                          headers=student["headers"])).json()["expires_at"])
    at = expires - timedelta(seconds=settings.hold_expiring_lead_seconds / 2)
    assert await warn_expiring_holds(app.state.sessionmaker, settings, at) == 1
    assert await warn_expiring_holds(app.state.sessionmaker, settings, at) == 0
    warned = await db.fetch("SELECT booking_id FROM booking_events WHERE kind = 'hold_expiring' AND booking_id = ANY($1)",
                            [uuid.UUID(o["booking_id"]) for o in series["occurrences"]])
    assert [r["booking_id"] for r in warned] == [uuid.UUID(series["occurrences"][0]["booking_id"])]


async def test_cancelling_a_held_lesson_of_a_series_releases_the_series(client: httpx.AsyncClient, tutor: dict,
                                                                        make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    series = (await place(client, student, tutor["id"], start, 3)).json()
    r = await client.post(f"/api/v1/bookings/{series['occurrences'][2]['booking_id']}/cancel",
                          headers=student["headers"], json={})
    assert r.status_code == 200 and r.json()["status"] == "released", r.text
    again = (await client.get(f"/api/v1/series/{series['id']}", headers=student["headers"])).json()
    assert {o["status"] for o in again["occurrences"]} == {"released"}
