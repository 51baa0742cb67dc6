"""Placing and releasing holds through the real HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at
from tests.helpers import register


async def test_hold_returns_201_with_price_and_expiry(client: httpx.AsyncClient, tutor: dict,
                                                      make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    start = next_day_at(9)  # 90-minute lessons start every 90 minutes from midnight
    before = datetime.now(UTC)
    r = await hold(client, student, tutor["id"], start, minutes=90)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "held"
    assert body["tutor_id"] == tutor["id"] and body["student_id"] == student["id"]
    assert datetime.fromisoformat(body["start"]) == start
    assert datetime.fromisoformat(body["end"]) == start + timedelta(minutes=90)
    assert body["price_cents"] == 9000 and body["currency"] == "USD"
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(seconds=590) < expires - before < timedelta(seconds=610)


async def test_second_hold_on_same_slot_gets_409(client: httpx.AsyncClient, tutor: dict,
                                                 make_students: StudentFactory) -> None:
    a, b = await make_students(2)
    start = next_day_at(11)
    assert (await hold(client, a, tutor["id"], start)).status_code == 201
    r = await hold(client, b, tutor["id"], start)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "slot_unavailable"


async def test_overlapping_holds_of_different_lengths_conflict(client: httpx.AsyncClient, tutor: dict,
                                                               make_students: StudentFactory) -> None:
    a, b, c, d = await make_students(4)
    assert (await hold(client, a, tutor["id"], next_day_at(10), minutes=60)).status_code == 201
    # A 30-minute lesson inside the hour, and a 90-minute one that starts before it, both overlap.
    assert (await hold(client, b, tutor["id"], next_day_at(10, 30), minutes=30)).status_code == 409
    assert (await hold(client, c, tutor["id"], next_day_at(9, 0), minutes=90)).status_code == 409
    # Back to back without a buffer is fine.
    assert (await hold(client, d, tutor["id"], next_day_at(11, 0), minutes=30)).status_code == 201


async def test_buffer_adjacent_holds_conflict(client: httpx.AsyncClient, make_tutor: TutorFactory,
                                              make_students: StudentFactory) -> None:
    tutor = await make_tutor(buffer=30, lesson_minutes=[30, 60])
    a, b, c, d, e = await make_students(5)
    assert (await hold(client, a, tutor["id"], next_day_at(10), minutes=60)).status_code == 201
    assert (await hold(client, b, tutor["id"], next_day_at(11, 0), minutes=30)).status_code == 409  # in the buffer after
    assert (await hold(client, c, tutor["id"], next_day_at(9, 30), minutes=30)).status_code == 409  # its buffer overlaps
    assert (await hold(client, d, tutor["id"], next_day_at(11, 30), minutes=30)).status_code == 201
    assert (await hold(client, e, tutor["id"], next_day_at(9, 0), minutes=30)).status_code == 201


async def test_lapsed_hold_never_blocks_even_without_a_job(client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool,
                                                           make_students: StudentFactory) -> None:
    a, b = await make_students(2)
    start = next_day_at(12)
    first = (await hold(client, a, tutor["id"], start)).json()
    await db.execute("UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1", first["id"])
    slots = (await client.get(f"/api/v1/tutors/{tutor['id']}/slots",
                              params={"from": start.isoformat(), "to": (start + timedelta(hours=1)).isoformat(),
                                      "minutes": 60})).json()["slots"]
    assert [s["status"] for s in slots] == ["open"]
    r = await hold(client, b, tutor["id"], start)
    assert r.status_code == 201, r.text
    statuses = dict(await db.fetch("SELECT id::text, status FROM bookings"))
    assert statuses == {first["id"]: "expired", r.json()["id"]: "held"}
    seen_by_a = (await client.get(f"/api/v1/bookings/{first['id']}", headers=a["headers"])).json()
    assert seen_by_a["status"] == "expired"


async def test_release_reopens_the_slot_at_once(client: httpx.AsyncClient, tutor: dict,
                                                make_students: StudentFactory) -> None:
    a, b = await make_students(2)
    start = next_day_at(13)
    held = (await hold(client, a, tutor["id"], start)).json()
    r = await client.delete(f"/api/v1/holds/{held['id']}", headers=a["headers"])
    assert r.status_code == 204
    assert (await hold(client, b, tutor["id"], start)).status_code == 201
    again = await client.delete(f"/api/v1/holds/{held['id']}", headers=a["headers"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"


async def test_releasing_someone_elses_hold_is_404(client: httpx.AsyncClient, tutor: dict,
                                                   make_students: StudentFactory) -> None:
    a, b = await make_students(2)
    held = (await hold(client, a, tutor["id"], next_day_at(14))).json()
    r = await client.delete(f"/api/v1/holds/{held['id']}", headers=b["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_hold_limit_reached_after_max_active_holds(client: httpx.AsyncClient, tutor: dict,
                                                         make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    for hour in (8, 9, 10):
        assert (await hold(client, student, tutor["id"], next_day_at(hour))).status_code == 201
    r = await hold(client, student, tutor["id"], next_day_at(11))
    assert r.status_code == 409 and r.json()["error"]["code"] == "hold_limit_reached"


async def test_hold_outside_availability_is_422(client: httpx.AsyncClient, make_tutor: TutorFactory,
                                                make_students: StudentFactory) -> None:
    tutor = await make_tutor(rules=[{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(7)])
    [student] = await make_students(1)
    r = await hold(client, student, tutor["id"], next_day_at(15))
    assert r.status_code == 422 and r.json()["error"]["code"] == "slot_not_offered"


async def test_hold_with_a_length_the_tutor_does_not_teach_is_422(client: httpx.AsyncClient, tutor: dict,
                                                                  make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    r = await hold(client, student, tutor["id"], next_day_at(10), minutes=45)
    assert r.status_code == 422


async def test_hold_respects_minimum_notice_and_maximum_advance(client: httpx.AsyncClient, make_tutor: TutorFactory,
                                                                make_students: StudentFactory) -> None:
    tutor = await make_tutor(min_notice=24 * 60, max_advance=7)
    [student] = await make_students(1)
    soon = (datetime.now(UTC) + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    assert (await hold(client, student, tutor["id"], soon)).status_code == 422
    far = next_day_at(10, days=20)
    assert (await hold(client, student, tutor["id"], far)).status_code == 422
    assert (await hold(client, student, tutor["id"], next_day_at(10, days=3))).status_code == 201


async def test_hold_on_unknown_tutor_is_404(client: httpx.AsyncClient, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    r = await hold(client, student, "00000000-0000-0000-0000-000000000000", next_day_at(10))
    assert r.status_code == 404


async def test_tutor_cannot_place_holds(client: httpx.AsyncClient, tutor: dict) -> None:
    other = await register(client, role="tutor")
    r = await hold(client, other, tutor["id"], next_day_at(10))
    assert r.status_code == 403


async def test_hold_body_validation_is_422_with_details(client: httpx.AsyncClient, tutor: dict,
                                                        make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    r = await client.post("/api/v1/holds", headers=student["headers"],
                          json={"tutor_id": "nope", "start": "2027-01-01T10:00:00", "minutes": "x"})
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert {"body.tutor_id", "body.start", "body.minutes"} <= fields


async def test_each_hold_is_recorded_in_history_and_outbox(client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool,
                                                           make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    held = (await hold(client, student, tutor["id"], next_day_at(10))).json()
    events = await db.fetch("SELECT kind, to_status FROM booking_events WHERE booking_id = $1", held["id"])
    assert [(e["kind"], e["to_status"]) for e in events] == [("held", "held")]
    rows = await db.fetch("SELECT event, room, version FROM outbox WHERE event <> 'slots.changed' OR version > 1 "
                          "ORDER BY id")
    rooms = {(r["event"], r["room"]) for r in rows}
    assert ("slots.changed", f"tutor:{tutor['id']}") in rooms
    assert ("booking.new", f"user:{tutor['id']}") in rooms
    assert ("booking.updated", f"user:{student['id']}") in rooms
