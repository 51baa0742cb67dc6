"""Instant lessons: a tutor declines an offer (and every tutor declining ends the request at
once), and a tutor who comes online while a request is waiting is offered it too."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis
from sqlalchemy import event
from starlette.applications import Starlette

from server.db import unit_of_work
from server.instant import service as instant_service
from server.settings import Settings
from tests.fixtures.bookings import StudentFactory, TutorFactory
from tests.server.instant.support import accept, ask, connect, online_tutor, set_available


async def _outbox(db: asyncpg.Pool, event: str) -> list[tuple[str, dict[str, Any]]]:
    rows = await db.fetch("SELECT room, payload::text AS p FROM outbox WHERE event = $1 ORDER BY id", event)
    return [(r["room"], json.loads(r["p"])) for r in rows]


async def decline(client: httpx.AsyncClient, tutor: dict[str, Any], request_id: str) -> httpx.Response:
    return await client.post(f"/api/v1/instant-requests/{request_id}/decline", headers=tutor["headers"])


async def _offers(client: httpx.AsyncClient, tutor: dict[str, Any]) -> list[str]:
    r = await client.get("/api/v1/tutors/me/instant", headers=tutor["headers"])
    assert r.status_code == 200, r.text
    return [o["id"] for o in r.json()["offers"]]


# --- declining ------------------------------------------------------------------------------------


async def test_a_declined_offer_leaves_the_tutor_and_the_others_can_still_accept(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    no, yes = [await online_tutor(client, redis, settings, make_tutor) for _ in range(2)]
    request_id = (await ask(client, student)).json()["id"]

    r = await decline(client, no, request_id)
    assert r.status_code == 200 and r.json()["status"] == "pending", r.text
    assert await _outbox(db, "instant.declined") == [(f"user:{no['id']}",
                                                      {"request_id": request_id, "status": "pending"})]
    assert await _offers(client, no) == [] and await _offers(client, yes) == [request_id]
    assert (await decline(client, no, request_id)).status_code == 200  # harmless twice
    r = await accept(client, no, request_id)
    assert r.status_code == 409 and r.json()["error"]["code"] == "offer_declined"
    r = await accept(client, yes, request_id)
    assert r.status_code == 200, r.text
    r = await decline(client, yes, request_id)
    assert r.status_code == 409 and r.json()["error"]["code"] == "request_taken"


async def test_when_every_tutor_declines_the_request_ends_at_once_and_nothing_is_charged(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    first, second = [await online_tutor(client, redis, settings, make_tutor) for _ in range(2)]
    request_id = (await ask(client, student)).json()["id"]
    assert (await decline(client, first, request_id)).json()["status"] == "pending"
    r = await decline(client, second, request_id)
    assert r.status_code == 200 and r.json()["status"] == "declined", r.text

    told = await _outbox(db, "instant.declined")
    assert [room for room, _ in told] == [f"user:{first['id']}", f"user:{student['id']}",
                                          *sorted(f"user:{t['id']}" for t in (first, second))]
    assert told[1][1]["request"]["status"] == "declined"
    assert all(payload == {"request_id": request_id, "status": "declined"} for _, payload in told[2:])
    seen = await client.get(f"/api/v1/instant-requests/{request_id}", headers=student["headers"])
    assert seen.json()["status"] == "declined"
    r = await accept(client, first, request_id)
    assert r.status_code == 409 and r.json()["error"]["code"] == "request_declined"
    assert await db.fetchval("SELECT count(*) FROM bookings") == 0
    assert (await ask(client, student)).status_code == 201  # free to ask again


async def test_every_tutor_declining_at_once_ends_the_request_exactly_once(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    tutors = [await online_tutor(client, redis, settings, make_tutor) for _ in range(5)]
    request_id = (await ask(client, student)).json()["id"]
    responses = await asyncio.gather(*(decline(client, t, request_id) for t in tutors))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert Counter(r.json()["status"] for r in responses) == {"pending": 4, "declined": 1}
    to_student = [p for room, p in await _outbox(db, "instant.declined") if room == f"user:{student['id']}"]
    assert len(to_student) == 1 and to_student[0]["request"]["status"] == "declined"


async def test_a_decline_never_ends_a_request_another_tutor_is_accepting(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    for _ in range(3):
        [student] = await make_students(1)
        no, yes = [await online_tutor(client, redis, settings, make_tutor) for _ in range(2)]
        request_id = (await ask(client, student)).json()["id"]
        declined, accepted = await asyncio.gather(decline(client, no, request_id), accept(client, yes, request_id))
        assert accepted.status_code == 200, accepted.text
        # Either the decline came first (the request stayed open for the other tutor) or the
        # accept did (too late to decline).
        assert (declined.status_code, declined.json().get("status") or declined.json()["error"]["code"]) in {
            (200, "pending"), (409, "request_taken")}
        assert await db.fetchval("SELECT status FROM instant_requests WHERE id = $1::uuid", request_id) == "accepted"


async def test_only_offered_tutors_decline(client: httpx.AsyncClient, redis: Redis, settings: Settings,
                                           make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    await online_tutor(client, redis, settings, make_tutor)
    request_id = (await ask(client, student)).json()["id"]
    stranger = await make_tutor()
    assert (await decline(client, stranger, request_id)).status_code == 404
    assert (await client.post(f"/api/v1/instant-requests/{request_id}/decline",
                              headers=student["headers"])).status_code == 403
    assert (await client.post(f"/api/v1/instant-requests/{request_id}/decline")).status_code == 401
    assert (await client.post("/api/v1/instant-requests/nope/decline", headers=stranger["headers"])).status_code == 404


# --- tutors who come online later ---------------------------------------------------------------


async def test_a_tutor_switching_on_while_a_request_waits_is_offered_it(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    await online_tutor(client, redis, settings, make_tutor)
    request = (await ask(client, student)).json()
    late = await make_tutor()
    await connect(redis, settings, late)
    physics = await make_tutor()
    await client.put("/api/v1/tutors/me", headers=physics["headers"], json={
        "headline": "Tutor", "bio": "Bio.", "subjects": ["Physics"], "hourly_rate_cents": 6000, "currency": "USD",
        "timezone": "UTC", "lesson_minutes": [30], "min_notice_minutes": 0, "buffer_minutes": 0,
        "max_advance_days": 60})
    await connect(redis, settings, physics)
    not_connected = await make_tutor()

    for tutor in (late, physics, not_connected):
        assert (await set_available(client, tutor)).status_code == 200
    assert await _offers(client, late) == [request["id"]]
    assert await _offers(client, physics) == [] and await _offers(client, not_connected) == []
    sent = [(room, p) for room, p in await _outbox(db, "instant.request") if room == f"user:{late['id']}"]
    assert len(sent) == 1
    assert sent[0][1]["request"]["id"] == request["id"]
    assert sent[0][1]["request"]["expires_at"] == request["expires_at"]  # the request's own deadline
    seen = await client.get(f"/api/v1/instant-requests/{request['id']}", headers=student["headers"])
    assert seen.json()["offered_to"] == 2
    r = await accept(client, late, request["id"])
    assert r.status_code == 200, r.text


async def test_switching_on_twice_at_once_offers_once(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    students = await make_students(3)
    await online_tutor(client, redis, settings, make_tutor)
    requests = [(await ask(client, s)).json()["id"] for s in students]
    late = await make_tutor()
    await connect(redis, settings, late)
    responses = await asyncio.gather(*(set_available(client, late) for _ in range(4)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    sent = [p["request"]["id"] for room, p in await _outbox(db, "instant.request") if room == f"user:{late['id']}"]
    assert sorted(sent) == sorted(requests)
    assert sorted(await _offers(client, late)) == sorted(requests)


async def _statements_offering(app: Starlette, settings: Settings, tutor_id: str) -> tuple[int, int]:
    """Run ``offer_waiting`` for a tutor; (requests offered, SQL statements it ran)."""
    executed: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        executed.append(statement)

    async with unit_of_work(app.state.sessionmaker) as session:
        engine = session.bind.sync_engine  # type: ignore[union-attr]
        event.listen(engine, "before_cursor_execute", count)
        try:
            offered = await instant_service.offer_waiting(session, settings, uuid.UUID(tutor_id), datetime.now(UTC))
        finally:
            event.remove(engine, "before_cursor_execute", count)
    return offered, len(executed)


async def test_a_tutor_coming_online_is_offered_every_waiting_request_in_as_many_statements_as_one(
        client: httpx.AsyncClient, app: Starlette, redis: Redis, settings: Settings,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    await online_tutor(client, redis, settings, make_tutor)
    [first] = await make_students(1)
    assert (await ask(client, first)).status_code == 201
    one = await make_tutor()
    assert (await set_available(client, one)).status_code == 200  # not connected: offered nothing yet
    offered_one, statements_one = await _statements_offering(app, settings, one["id"])
    assert offered_one == 1
    for s in await make_students(4):
        assert (await ask(client, s)).status_code == 201
    five = await make_tutor()
    assert (await set_available(client, five)).status_code == 200
    offered_five, statements_five = await _statements_offering(app, settings, five["id"])
    assert offered_five == 5
    assert statements_five == statements_one
    assert len(await _offers(client, five)) == 5
