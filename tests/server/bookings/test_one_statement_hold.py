"""The hold in one round trip (migration 0004's place_hold()) and the policy cache in front of it."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.dialects.postgresql import Range
from starlette.applications import Starlette

from server.availability import policies
from server.bookings import repository
from server.bookings.changes import slot_changes
from server.db import libpq_url, unit_of_work
from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at


async def test_sql_lock_keys_match_the_python_ones(app: Starlette, db: asyncpg.Pool) -> None:
    ids = [uuid.uuid4() for _ in range(50)] + [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    async with db.acquire() as conn:
        keys = await conn.fetch("SELECT u, booking_lock_key(u) AS k FROM unnest($1::uuid[]) u", ids)
    assert {r["u"]: r["k"] for r in keys} == {u: repository.tutor_lock_key(u) for u in ids}


async def _slots_changed(db: asyncpg.Pool, tutor_id: str) -> list[dict[str, Any]]:
    async with db.acquire() as conn:
        rows = await conn.fetch("SELECT payload FROM outbox WHERE tutor_id = $1 AND event = 'slots.changed' "
                                "ORDER BY version", uuid.UUID(tutor_id))
    return [json.loads(r["payload"]) for r in rows]


@pytest.mark.parametrize(("buffer", "at", "minutes"), [
    (15, (10, 0), 30),  # candidates inside the guarded range (derived) and reaching past it (queried)
    (0, (10, 0), 60),  # every candidate inside: all derived
    (30, (10, 0), 30),  # a long break: most candidates reach past the hold
])
async def test_the_statement_lists_the_same_slot_changes_as_the_python_rules(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, make_tutor: TutorFactory,
        make_students: StudentFactory, buffer: int, at: tuple[int, int], minutes: int) -> None:
    """Around a confirmed booking and another live hold: the change set the statement wrote
    equals what server/bookings/changes.py computes from the same rows."""
    tutor = await make_tutor(buffer=buffer, lesson_minutes=[30, 60])
    a, b, c = await make_students(3)
    other = await hold(client, a, tutor["id"], next_day_at(9), 30)
    assert other.status_code == 201
    confirmed = await hold(client, b, tutor["id"], next_day_at(11), 60)
    assert confirmed.status_code == 201
    r = await client.post("/api/v1/payments/test/confirm", headers=b["headers"],
                          json={"booking_id": confirmed.json()["id"]})
    assert r.status_code == 200, r.text

    start = next_day_at(*at)
    placed = await hold(client, c, tutor["id"], start, minutes)
    assert placed.status_code == 201, placed.text
    written = (await _slots_changed(db, tutor["id"]))[-1]["changes"]

    async with db.acquire() as conn:
        created = await conn.fetchval("SELECT created_at FROM bookings WHERE id = $1", uuid.UUID(placed.json()["id"]))
    async with unit_of_work(app.state.sessionmaker) as session:
        tp = await policies.fresh_policy(session, uuid.UUID(tutor["id"]))
        guarded = Range(start, start + timedelta(minutes=minutes + buffer), bounds="[)")
        expected = await slot_changes(session, tp.policy, tp.rules, tp.overrides, uuid.UUID(tutor["id"]),
                                      [guarded], created)
    assert written == expected
    assert "held" in {c["status"] for c in written}


async def test_a_cached_policy_never_admits_a_slot_the_tutor_just_closed(
        client: httpx.AsyncClient, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    a, b = await make_students(2)
    assert (await hold(client, a, tutor["id"], next_day_at(8))).status_code == 201  # caches the policy
    only_mornings = [{"weekday": d, "start": "06:00", "end": "12:00"} for d in range(7)]
    r = await client.put("/api/v1/tutors/me/availability", headers=tutor["headers"],
                         json={"rules": only_mornings, "overrides": []})
    assert r.status_code == 200, r.text

    late = await hold(client, b, tutor["id"], next_day_at(15))
    assert late.status_code == 422 and late.json()["error"]["code"] == "slot_not_offered", late.text
    assert (await hold(client, b, tutor["id"], next_day_at(10))).status_code == 201


async def test_a_cached_policy_admits_a_slot_the_tutor_just_opened(
        client: httpx.AsyncClient, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    tutor = await make_tutor(rules=[{"weekday": d, "start": "06:00", "end": "12:00"} for d in range(7)])
    a, b = await make_students(2)
    assert (await hold(client, a, tutor["id"], next_day_at(8))).status_code == 201  # caches the policy
    r = await client.put("/api/v1/tutors/me/availability", headers=tutor["headers"],
                         json={"rules": [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)],
                               "overrides": []})
    assert r.status_code == 200, r.text
    assert (await hold(client, b, tutor["id"], next_day_at(15))).status_code == 201


async def test_availability_edited_mid_race_admits_no_hold_outside_it_afterwards(
        client: httpx.AsyncClient, db: asyncpg.Pool, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    """Forty holds race an edit that closes the afternoons: every hold committed after the
    edit (a higher version than its resync) lies inside the new hours."""
    tutor = await make_tutor()
    students = await make_students(40)
    assert (await hold(client, students[0], tutor["id"], next_day_at(7))).status_code == 201  # warm the cache
    mornings = [{"weekday": d, "start": "00:00", "end": "12:00"} for d in range(7)]

    async def edit() -> httpx.Response:
        await asyncio.sleep(0)
        return await client.put("/api/v1/tutors/me/availability", headers=tutor["headers"],
                                json={"rules": mornings, "overrides": []})

    starts = [next_day_at(12 + i // 4, 15 * (i % 4), days=2 + i % 3) for i in range(39)]
    results = await asyncio.gather(edit(), *(hold(client, s, tutor["id"], t, 15)
                                             for s, t in zip(students[1:], starts, strict=True)))
    assert results[0].status_code == 200
    codes = {r.status_code for r in results[1:]}
    assert codes <= {201, 422}, codes

    async with db.acquire() as conn:
        resync = await conn.fetchval("SELECT max(version) FROM outbox WHERE tutor_id = $1 AND event = 'slots.changed' "
                                     "AND payload ? 'resync'", uuid.UUID(tutor["id"]))
        late = await conn.fetch(
            "SELECT b.start_at FROM bookings b JOIN outbox o ON o.event = 'booking.new' "
            "AND (o.payload -> 'booking' ->> 'id')::uuid = b.id "
            "JOIN outbox s ON s.tutor_id = b.tutor_id AND s.event = 'slots.changed' AND s.id < o.id "
            "AND s.id = (SELECT max(id) FROM outbox x WHERE x.tutor_id = b.tutor_id AND x.event = 'slots.changed' "
            "            AND x.id < o.id) "
            "WHERE b.tutor_id = $1 AND s.version > $2", uuid.UUID(tutor["id"]), resync)
    assert all(row["start_at"].hour < 12 for row in late), [r["start_at"] for r in late]


async def test_a_lapsed_hold_in_the_way_is_moved_aside_by_the_general_path(
        client: httpx.AsyncClient, db: asyncpg.Pool, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    tutor = await make_tutor()
    a, b = await make_students(2)
    first = await hold(client, a, tutor["id"], next_day_at(16))
    assert first.status_code == 201
    async with db.acquire() as conn:
        await conn.execute("UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1",
                           uuid.UUID(first.json()["id"]))
    second = await hold(client, b, tutor["id"], next_day_at(16))
    assert second.status_code == 201, second.text
    async with db.acquire() as conn:
        status = await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(first.json()["id"]))
        kinds = await conn.fetch("SELECT kind FROM booking_events WHERE booking_id = $1 ORDER BY id",
                                 uuid.UUID(first.json()["id"]))
    assert status == "expired" and [k["kind"] for k in kinds] == ["held", "expired"]


async def test_policy_version_moves_with_every_edit_of_profile_rules_or_overrides(
        client: httpx.AsyncClient, db: asyncpg.Pool, make_tutor: TutorFactory) -> None:
    tutor = await make_tutor()

    async def version() -> int:
        async with db.acquire() as conn:
            return int(await conn.fetchval("SELECT policy_version FROM tutor_profiles WHERE user_id = $1",
                                           uuid.UUID(tutor["id"])))

    v0 = await version()
    r = await client.put("/api/v1/tutors/me/availability", headers=tutor["headers"], json={
        "rules": [], "overrides": [{"date": next_day_at(9).date().isoformat(), "start": "09:00", "end": "10:00"}]})
    assert r.status_code == 200, r.text
    v1 = await version()
    async with db.acquire() as conn:
        await conn.execute("UPDATE tutor_profiles SET buffer_minutes = 5 WHERE user_id = $1", uuid.UUID(tutor["id"]))
    v2 = await version()
    assert v0 < v1 < v2


async def test_a_taken_slot_is_refused_without_waiting_for_the_tutors_lock(
        client: httpx.AsyncClient, db: asyncpg.Pool, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    """While another transaction holds the tutor's lock (a contender mid-hold), a hold on a
    slot already taken answers 409 at once, and a hold on a free slot waits for the lock."""
    tutor = await make_tutor()
    a, b, c = await make_students(3)
    assert (await hold(client, a, tutor["id"], next_day_at(9))).status_code == 201
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("SELECT pg_advisory_xact_lock(booking_lock_key($1))", uuid.UUID(tutor["id"]))
            taken = await asyncio.wait_for(hold(client, b, tutor["id"], next_day_at(9)), 30)
            assert taken.status_code == 409 and taken.json()["error"]["code"] == "slot_unavailable"
            free = asyncio.ensure_future(hold(client, c, tutor["id"], next_day_at(11)))
            done, _ = await asyncio.wait([free], timeout=0.5)
            assert not done, "a hold on a free slot must wait for the tutor's lock"
        finally:
            await tx.rollback()
    assert (await asyncio.wait_for(free, 30)).status_code == 201


async def test_the_statement_never_scans_bookings_however_it_was_planned(
        client: httpx.AsyncClient, database_url: str, make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    """place_hold() plans each statement once per connection. Planned while index scans look
    dear (a small ``bookings``, as on a new deployment; forced here with ``random_page_cost``)
    its lookups must still be index scans, or they stay sequential scans of a table that grows
    (migration 0026). auto_explain logs the plan of every statement the function runs."""
    tutor = await make_tutor(buffer=15)
    (student,) = await make_students(1)
    tutor_id, student_id = uuid.UUID(tutor["id"]), uuid.UUID(student["id"])
    assert (await hold(client, student, tutor["id"], next_day_at(9))).status_code == 201
    plans: list[str] = []
    conn = await asyncpg.connect(libpq_url(database_url))  # its own connection: nothing planned yet
    try:
        conn.add_log_listener(lambda _conn, message: plans.append(message.message))
        await conn.execute("SET random_page_cost = 1000; LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
                           "SET auto_explain.log_nested_statements = on; SET client_min_messages = log")
        version = await conn.fetchval("SELECT policy_version FROM tutor_profiles WHERE user_id = $1", tutor_id)
        start = next_day_at(11)
        end = start + timedelta(minutes=30)
        row = await conn.fetchrow(
            repository.PLACE_HOLD_SQL, uuid.uuid4(), student_id, tutor_id, start, end,
            asyncpg.Range(start, end + timedelta(minutes=15), upper_inc=False), start, 3000, "USD",
            start - timedelta(hours=20), 10, version, [start - timedelta(minutes=30), start],
            timedelta(minutes=30), timedelta(minutes=45), json.dumps({"id": "x"}), 0, timedelta(0))
        assert row["outcome"] == "held"
    finally:
        await conn.close()
    nested = [p for p in plans if "Query Text" in p]
    assert len(nested) > 5, plans  # the function's own statements were logged
    assert not [p for p in nested if "Seq Scan on bookings" in p], [p for p in nested if "Seq Scan" in p]
