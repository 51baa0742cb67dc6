"""Joining, listing and leaving the line behind a taken slot, and the hand-off on each path
that ends the hold or booking in front of it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import httpx
from starlette.applications import Starlette

from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at
from tests.server.waitlist.support import entries, join, lapse, lapsed_with_a_line, live_holds, outbox, pay, sweep


async def test_join_a_held_slot_then_list_and_leave(client: httpx.AsyncClient, tutor: dict,
                                                    make_students: StudentFactory) -> None:
    holder, a, b = await make_students(3)
    start = next_day_at(10)
    assert (await hold(client, holder, tutor["id"], start)).status_code == 201
    r = await join(client, a, tutor["id"], start)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["status"] == "waiting" and first["position"] == 1
    assert first["tutor_id"] == tutor["id"] and first["end"].startswith((start + timedelta(hours=1)).date().isoformat())
    second = (await join(client, b, tutor["id"], start)).json()
    assert second["position"] == 2
    r = await client.get("/api/v1/waitlist", headers=b["headers"])
    assert [(e["id"], e["position"]) for e in r.json()["items"]] == [(second["id"], 2)]
    r = await client.delete(f"/api/v1/waitlist/{first['id']}", headers=a["headers"])
    assert r.status_code == 200 and r.json()["status"] == "left"
    r = await client.get("/api/v1/waitlist", headers=b["headers"])
    assert r.json()["items"][0]["position"] == 1
    r = await client.get(f"/api/v1/tutors/{tutor['id']}/waitlist", headers=b["headers"])
    assert [(x["waiting"]) for x in r.json()["lines"]] == [1]


async def test_joining_twice_is_409_already_in_line(client: httpx.AsyncClient, tutor: dict,
                                                    make_students: StudentFactory) -> None:
    holder, a = await make_students(2)
    start = next_day_at(10)
    await hold(client, holder, tutor["id"], start)
    assert (await join(client, a, tutor["id"], start)).status_code == 201
    r = await join(client, a, tutor["id"], start)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_in_line"


async def test_joining_the_line_behind_ones_own_hold_is_409_slot_yours(
        client: httpx.AsyncClient, tutor: dict, make_students: StudentFactory) -> None:
    holder, other = await make_students(2)
    start = next_day_at(10)
    assert (await hold(client, holder, tutor["id"], start)).status_code == 201
    r = await join(client, holder, tutor["id"], start)
    assert r.status_code == 409 and r.json()["error"]["code"] == "slot_yours"
    assert (await join(client, other, tutor["id"], start)).status_code == 201
    # Once someone else's line is there, the holder still may not queue behind themselves.
    r = await join(client, holder, tutor["id"], start)
    assert r.status_code == 409 and r.json()["error"]["code"] == "slot_yours"


async def test_open_slot_is_409_slot_open(client: httpx.AsyncClient, tutor: dict,
                                          make_students: StudentFactory) -> None:
    [a] = await make_students(1)
    r = await join(client, a, tutor["id"], next_day_at(10))
    assert r.status_code == 409 and r.json()["error"]["code"] == "slot_open"


async def test_lapsed_hold_without_a_line_is_an_open_slot(client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool,
                                                          make_students: StudentFactory) -> None:
    holder, a = await make_students(2)
    start = next_day_at(10)
    held = (await hold(client, holder, tutor["id"], start)).json()
    await lapse(db, held["id"])
    r = await join(client, a, tutor["id"], start)
    assert r.status_code == 409 and r.json()["error"]["code"] == "slot_open"


async def test_slot_outside_the_tutors_hours_is_422_slot_not_offered(client: httpx.AsyncClient, tutor: dict,
                                                                     make_students: StudentFactory) -> None:
    [a] = await make_students(1)
    r = await join(client, a, tutor["id"], next_day_at(10), minutes=45)
    assert r.status_code == 422 and r.json()["error"]["code"] == "slot_not_offered"
    r = await join(client, a, tutor["id"], next_day_at(10, days=400))
    assert r.status_code == 422 and r.json()["error"]["code"] == "slot_not_offered"


async def test_bad_bodies_are_422_never_500(client: httpx.AsyncClient, tutor: dict,
                                            make_students: StudentFactory) -> None:
    [a] = await make_students(1)
    start = next_day_at(10).isoformat()
    bodies: list[object] = [{}, [], "x", {"tutor_id": "nope", "start": start, "minutes": 60},
                            {"tutor_id": tutor["id"], "start": "2026-01-01T10:00:00", "minutes": 60},
                            {"tutor_id": tutor["id"], "start": start, "minutes": 10**12},
                            {"tutor_id": tutor["id"], "start": start, "minutes": 60, "extra": 1}]
    for body in bodies:
        r = await client.post("/api/v1/waitlist", headers=a["headers"], json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == "invalid_request"
    r = await client.delete("/api/v1/waitlist/not-a-uuid", headers=a["headers"])
    assert r.status_code in (404, 422)


async def test_others_entries_are_404(client: httpx.AsyncClient, tutor: dict, make_students: StudentFactory) -> None:
    holder, a, b = await make_students(3)
    start = next_day_at(10)
    await hold(client, holder, tutor["id"], start)
    entry = (await join(client, a, tutor["id"], start)).json()
    r = await client.delete(f"/api/v1/waitlist/{entry['id']}", headers=b["headers"])
    assert r.status_code == 404
    r = await client.delete(f"/api/v1/waitlist/{uuid.uuid4()}", headers=b["headers"])
    assert r.status_code == 404
    assert (await client.get("/api/v1/waitlist", headers=b["headers"])).json()["items"] == []


async def test_unknown_tutor_is_404(client: httpx.AsyncClient, make_students: StudentFactory) -> None:
    [a] = await make_students(1)
    r = await join(client, a, str(uuid.uuid4()), next_day_at(10))
    assert r.status_code == 404


async def test_release_hands_the_slot_to_the_first_in_line_and_it_never_reads_open(
        client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool, make_students: StudentFactory) -> None:
    holder, a, b = await make_students(3)
    start = next_day_at(10)
    held = (await hold(client, holder, tutor["id"], start)).json()
    ea = (await join(client, a, tutor["id"], start)).json()
    eb = (await join(client, b, tutor["id"], start)).json()
    before = len(await outbox(db, "slots.changed"))
    r = await client.delete(f"/api/v1/holds/{held['id']}", headers=holder["headers"])
    assert r.status_code in (200, 204), r.text
    [live] = await live_holds(db, tutor["id"], start)
    assert str(live["student_id"]) == a["id"]
    remaining = (live["expires_at"] - (await db.fetchval("SELECT now()"))).total_seconds()
    assert 100 < remaining <= 120  # WAITLIST_OFFER_SECONDS
    changes = (await outbox(db, "slots.changed"))[before:]
    assert len(changes) == 1
    at_start = [c for c in changes[0]["payload"]["changes"] if c["start"].startswith(start.strftime("%Y-%m-%dT%H:%M"))]
    assert [c["status"] for c in at_start] == ["held"] and "held_until" in at_start[0]
    r = await client.get(f"/api/v1/tutors/{tutor['id']}/slots",
                         params={"from": start.isoformat(), "to": (start + timedelta(hours=1)).isoformat(),
                                 "minutes": 60})
    assert [s["status"] for s in r.json()["slots"]] == ["held"]
    offers = await outbox(db, "waitlist.offer")
    assert [(o["room"], o["payload"]["waitlist_id"]) for o in offers] == [(f"user:{a['id']}", ea["id"])]
    assert offers[0]["payload"]["booking"]["id"] == str(live["id"])
    mine = (await client.get("/api/v1/waitlist", headers=a["headers"])).json()["items"][0]
    assert mine["status"] == "offered" and mine["booking_id"] == str(live["id"])
    theirs = (await client.get("/api/v1/waitlist", headers=b["headers"])).json()["items"][0]
    assert theirs["id"] == eb["id"] and theirs["position"] == 1
    updates = [u for u in await outbox(db, "waitlist.updated") if u["room"] == f"user:{b['id']}"]
    assert updates and updates[-1]["payload"]["entry"]["position"] == 1
    # The offered hold is paid like any other: the entry is fulfilled.
    booking = await pay(client, a, str(live["id"]))
    assert booking["status"] == "confirmed"
    mine = (await client.get("/api/v1/waitlist", headers=a["headers"])).json()["items"][0]
    assert mine["status"] == "fulfilled"


async def test_a_lapsed_offer_goes_to_the_next_in_line_by_the_sweep(
        client: httpx.AsyncClient, app: Starlette, tutor: dict, db: asyncpg.Pool,
        make_students: StudentFactory) -> None:
    holder, a, b = await make_students(3)
    start = next_day_at(10)
    held = (await hold(client, holder, tutor["id"], start)).json()
    await join(client, a, tutor["id"], start)
    await join(client, b, tutor["id"], start)
    await lapse(db, held["id"])
    assert await sweep(app) == 1
    [live] = await live_holds(db, tutor["id"], start)
    assert str(live["student_id"]) == a["id"]
    await lapse(db, str(live["id"]))
    assert await sweep(app) == 1
    [live] = await live_holds(db, tutor["id"], start)
    assert str(live["student_id"]) == b["id"]
    rows = await entries(db, tutor["id"])
    assert [(r["status"], r["reason"]) for r in rows] == [("lapsed", "offer_lapsed"), ("offered", None)]
    await lapse(db, str(live["id"]))
    assert await sweep(app) == 1
    assert await live_holds(db, tutor["id"], start) == []  # an empty line: the slot opens
    r = await client.get(f"/api/v1/tutors/{tutor['id']}/slots",
                         params={"from": start.isoformat(), "to": (start + timedelta(hours=1)).isoformat(),
                                 "minutes": 60})
    assert [s["status"] for s in r.json()["slots"]] == ["open"]


async def test_cancelling_a_confirmed_booking_hands_it_to_the_line(
        client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool, make_students: StudentFactory) -> None:
    owner, a = await make_students(2)
    start = next_day_at(10)
    held = (await hold(client, owner, tutor["id"], start)).json()
    await pay(client, owner, held["id"])
    assert (await join(client, a, tutor["id"], start)).status_code == 201
    r = await client.post(f"/api/v1/bookings/{held['id']}/cancel", headers=owner["headers"], json={})
    assert r.status_code == 200, r.text
    [live] = await live_holds(db, tutor["id"], start)
    assert str(live["student_id"]) == a["id"]


async def test_rescheduling_a_booking_away_hands_its_slot_to_the_line(
        client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool, make_students: StudentFactory) -> None:
    owner, a = await make_students(2)
    start = next_day_at(10)
    held = (await hold(client, owner, tutor["id"], start)).json()
    await pay(client, owner, held["id"])
    await join(client, a, tutor["id"], start)
    r = await client.post(f"/api/v1/bookings/{held['id']}/reschedule", headers=owner["headers"],
                          json={"start": next_day_at(14).isoformat()})
    assert r.status_code == 200, r.text
    [live] = await live_holds(db, tutor["id"], start)
    assert str(live["student_id"]) == a["id"]


async def test_a_strangers_hold_on_a_lapsed_slot_with_a_line_is_409_and_the_line_gets_it(
        client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool, make_students: StudentFactory) -> None:
    holder, a, stranger = await make_students(3)
    start = next_day_at(10)
    await lapsed_with_a_line(client, db, tutor["id"], [holder, a], start)
    r = await hold(client, stranger, tutor["id"], start)
    assert r.status_code == 409 and r.json()["error"]["code"] == "slot_unavailable"
    [live] = await live_holds(db, tutor["id"], start)
    assert str(live["student_id"]) == a["id"]
    assert [o["room"] for o in await outbox(db, "waitlist.offer")] == [f"user:{a['id']}"]


async def test_the_first_in_line_placing_the_hold_themselves_gets_their_offer(
        client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool, make_students: StudentFactory) -> None:
    holder, a = await make_students(2)
    start = next_day_at(10)
    held = (await hold(client, holder, tutor["id"], start)).json()
    await join(client, a, tutor["id"], start)
    await lapse(db, held["id"])
    r = await hold(client, a, tutor["id"], start)
    assert r.status_code == 201, r.text
    [live] = await live_holds(db, tutor["id"], start)
    assert r.json()["id"] == str(live["id"]) and str(live["student_id"]) == a["id"]


async def test_ineligible_students_in_line_are_skipped(
        client: httpx.AsyncClient, tutor: dict, make_tutor: TutorFactory, db: asyncpg.Pool,
        make_students: StudentFactory) -> None:
    holder, busy, gone, suspended, eligible = await make_students(5)
    other = await make_tutor()
    start = next_day_at(10)
    held = (await hold(client, holder, tutor["id"], start)).json()
    ids = {}
    for s in (busy, gone, suspended, eligible):
        ids[s["id"]] = (await join(client, s, tutor["id"], start)).json()["id"]
    for h in (6, 7, 8):  # MAX_ACTIVE_HOLDS = 3 elsewhere
        assert (await hold(client, busy, other["id"], next_day_at(h))).status_code == 201
    await client.delete(f"/api/v1/waitlist/{ids[gone['id']]}", headers=gone["headers"])
    await db.execute("UPDATE users SET suspended_at = now() WHERE id = $1", uuid.UUID(suspended["id"]))
    await client.delete(f"/api/v1/holds/{held['id']}", headers=holder["headers"])
    [live] = await live_holds(db, tutor["id"], start)
    assert str(live["student_id"]) == eligible["id"]
    rows = {str(r["student_id"]): (r["status"], r["reason"]) for r in await entries(db, tutor["id"])}
    assert rows == {busy["id"]: ("lapsed", "hold_limit"), gone["id"]: ("left", None),
                    suspended["id"]: ("lapsed", "suspended"), eligible["id"]: ("offered", None)}


async def test_waiting_for_a_longer_lesson_inside_a_shorter_hold(
        client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool, make_students: StudentFactory) -> None:
    holder, a = await make_students(2)
    start = next_day_at(10)
    held = (await hold(client, holder, tutor["id"], start, minutes=30)).json()
    assert (await join(client, a, tutor["id"], start, minutes=60)).status_code == 201
    await client.delete(f"/api/v1/holds/{held['id']}", headers=holder["headers"])
    [live] = await live_holds(db, tutor["id"], start)
    assert str(live["student_id"]) == a["id"]
    assert await db.fetchval("SELECT end_at - start_at FROM bookings WHERE id = $1", live["id"]) == timedelta(hours=1)


async def test_a_lapsed_hold_with_a_line_reads_held_until_the_hand_off(
        client: httpx.AsyncClient, app: Starlette, tutor: dict, db: asyncpg.Pool,
        make_students: StudentFactory) -> None:
    holder, a = await make_students(2)
    start = next_day_at(10)
    window = {"from": start.isoformat(), "to": (start + timedelta(hours=1)).isoformat(), "minutes": 60}
    held = (await hold(client, holder, tutor["id"], start)).json()
    await join(client, a, tutor["id"], start)
    await lapse(db, held["id"])
    r = await client.get(f"/api/v1/tutors/{tutor['id']}/slots", params=window)
    assert [s["status"] for s in r.json()["slots"]] == ["held"]
    before = len(await outbox(db, "slots.changed"))
    assert await sweep(app) == 1
    r = await client.get(f"/api/v1/tutors/{tutor['id']}/slots", params=window)
    [slot] = r.json()["slots"]
    [live] = await live_holds(db, tutor["id"], start)
    assert slot["status"] == "held" and str(live["student_id"]) == a["id"]
    changes = (await outbox(db, "slots.changed"))[before:]
    assert len(changes) == 1 and {c["status"] for c in changes[0]["payload"]["changes"]} == {"held"}


async def test_a_trial_hold_on_a_lapsed_slot_with_a_line_is_409_and_the_line_gets_it(
        client: httpx.AsyncClient, make_tutor: TutorFactory, db: asyncpg.Pool, make_students: StudentFactory) -> None:
    tutor = await make_tutor(lesson_minutes=[30, 60])
    r = await client.put("/api/v1/tutors/me", headers=tutor["headers"], json={
        "headline": "Patient maths tutor", "bio": "Ten years of teaching.", "subjects": ["mathematics"],
        "hourly_rate_cents": 6000, "currency": "USD", "timezone": "UTC", "lesson_minutes": [30, 60],
        "min_notice_minutes": 0, "buffer_minutes": 0, "max_advance_days": 60,
        "trial": {"minutes": 30, "price_cents": 1000}})
    assert r.status_code == 200, r.text
    holder, a, stranger = await make_students(3)
    start = next_day_at(10)
    await lapsed_with_a_line(client, db, tutor["id"], [holder, a], start, minutes=30)
    r = await client.post("/api/v1/holds", headers=stranger["headers"],
                          json={"tutor_id": tutor["id"], "start": start.isoformat(), "minutes": 30, "trial": True})
    assert r.status_code == 409 and r.json()["error"]["code"] == "slot_unavailable"
    [live] = await live_holds(db, tutor["id"], start)
    assert str(live["student_id"]) == a["id"]


async def test_a_weekly_series_over_a_lapsed_slot_with_a_line_is_refused(
        client: httpx.AsyncClient, tutor: dict, db: asyncpg.Pool, make_students: StudentFactory) -> None:
    holder, a, stranger = await make_students(3)
    start = next_day_at(10)
    await lapsed_with_a_line(client, db, tutor["id"], [holder, a], start)
    r = await client.post("/api/v1/series", headers=stranger["headers"],
                          json={"tutor_id": tutor["id"], "start": start.isoformat(), "minutes": 60, "weeks": 2})
    assert r.status_code == 409 and r.json()["error"]["code"] == "series_conflict", r.text
    assert list(r.json()["error"]["details"]["reasons"].values()) == ["waitlist"]
    assert await live_holds(db, tutor["id"], start) == []  # the sweep hands it to the line
    assert await db.fetchval("SELECT status FROM waitlist_entries") == "waiting"
