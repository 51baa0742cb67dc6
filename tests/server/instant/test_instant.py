"""Instant lessons over REST: the tutor's toggle, who a request reaches, accepting (one winner),
cancelling, expiry by the sweep, who may do what, and bad input."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from server.identity import issue_access_token
from server.instant import presence
from server.settings import Settings
from tasks.instant import expire_lapsed_requests
from tests.fixtures.bookings import StudentFactory, TutorFactory
from tests.helpers import bearer, register
from tests.server.instant.support import accept, ask, connect, online_tutor, set_available


async def _outbox(db: asyncpg.Pool, event: str) -> list[tuple[str, dict[str, Any]]]:
    rows = await db.fetch("SELECT room, payload::text AS p FROM outbox WHERE event = $1 ORDER BY id", event)
    return [(r["room"], json.loads(r["p"])) for r in rows]


async def _teach(client: httpx.AsyncClient, tutor: dict[str, Any], subjects: list[str],
                 lesson_minutes: list[int] | None = None) -> None:
    r = await client.put("/api/v1/tutors/me", headers=tutor["headers"], json={
        "headline": "Tutor", "bio": "Bio.", "subjects": subjects, "hourly_rate_cents": 6000, "currency": "USD",
        "timezone": "UTC", "lesson_minutes": lesson_minutes or [30, 60], "min_notice_minutes": 0,
        "buffer_minutes": 0, "max_advance_days": 60})
    assert r.status_code == 200, r.text


async def _state(client: httpx.AsyncClient, tutor: dict[str, Any]) -> dict[str, Any]:
    r = await client.get("/api/v1/tutors/me/instant", headers=tutor["headers"])
    assert r.status_code == 200, r.text
    return dict(r.json())


# --- the toggle and presence ----------------------------------------------------------------------


async def test_tutor_is_online_only_while_available_and_connected(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, make_tutor: TutorFactory) -> None:
    tutor = await make_tutor()
    assert await _state(client, tutor) == {"available": False, "connected": False, "online": False, "offers": []}
    r = await set_available(client, tutor)
    assert r.status_code == 200 and r.json()["available"] is True and r.json()["online"] is False
    await connect(redis, settings, tutor, "a")
    await connect(redis, settings, tutor, "b")
    assert (await _state(client, tutor))["online"] is True
    await presence.leave(redis, settings, tutor["id"], f"{tutor['id']}:a")
    assert (await _state(client, tutor))["online"] is True  # one connection is still up
    await presence.leave(redis, settings, tutor["id"], f"{tutor['id']}:b")
    assert (await _state(client, tutor))["connected"] is False
    await connect(redis, settings, tutor, "c")
    assert (await set_available(client, tutor, False)).json() == {"available": False, "connected": True,
                                                                  "online": False, "offers": []}


async def test_presence_that_is_not_refreshed_ends_within_the_ttl(
        redis: Redis, settings: Settings, db: asyncpg.Pool) -> None:
    short = settings.model_copy(update={"instant_presence_ttl_seconds": 0.3})
    tutor_id = uuid.uuid4()
    await presence.touch(redis, short, [(tutor_id, "sid-1")])
    assert await presence.is_online(redis, short, tutor_id)
    assert tutor_id in await presence.online_tutors(redis, short)
    await asyncio.sleep(0.5)
    assert not await presence.is_online(redis, short, tutor_id)
    assert tutor_id not in await presence.online_tutors(redis, short)


async def test_toggle_is_for_tutors_with_a_profile(client: httpx.AsyncClient, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    r = await client.put("/api/v1/tutors/me/instant", headers=student["headers"], json={"available": True})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await client.put("/api/v1/tutors/me/instant", json={"available": True})
    assert r.status_code == 401
    assert (await client.get("/api/v1/tutors/me/instant")).status_code == 401
    bare = await register(client, role="tutor")
    r = await set_available(client, bare)
    assert r.status_code == 404 and r.json()["error"]["code"] == "profile_not_found"


@pytest.mark.parametrize("body", [{}, {"available": "sometimes"}, {"available": True, "extra": 1}, [True]])
async def test_bad_toggle_body_is_422(client: httpx.AsyncClient, make_tutor: TutorFactory, body: Any) -> None:
    tutor = await make_tutor()
    r = await client.put("/api/v1/tutors/me/instant", headers=tutor["headers"], json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text


async def test_available_tutors_lists_only_online_ones(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, make_tutor: TutorFactory) -> None:
    online = await online_tutor(client, redis, settings, make_tutor)
    toggled_only = await make_tutor()
    await set_available(client, toggled_only)
    connected_only = await make_tutor()
    await connect(redis, settings, connected_only)
    r = await client.get("/api/v1/instant/tutors")
    assert r.status_code == 200 and [t["id"] for t in r.json()["items"]] == [online["id"]]
    assert r.json()["items"][0]["subjects"] == ["mathematics"]
    assert (await client.get("/api/v1/instant/tutors", params={"subject": "Physics"})).json()["items"] == []
    assert len((await client.get("/api/v1/instant/tutors", params={"minutes": 30})).json()["items"]) == 1
    assert (await client.get("/api/v1/instant/tutors", params={"minutes": 45})).json()["items"] == []
    assert (await client.get("/api/v1/instant/tutors", params={"minutes": 1})).status_code == 422


# --- asking ---------------------------------------------------------------------------------------


async def test_request_reaches_only_online_free_tutors_of_the_subject_and_length(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    chosen = await online_tutor(client, redis, settings, make_tutor)
    not_connected = await make_tutor()
    await set_available(client, not_connected)
    not_available = await make_tutor()
    await connect(redis, settings, not_available)
    physics = await online_tutor(client, redis, settings, make_tutor)
    await _teach(client, physics, ["Physics"])
    other_length = await online_tutor(client, redis, settings, make_tutor, lesson_minutes=[45, 90])
    busy = await online_tutor(client, redis, settings, make_tutor)
    now = datetime.now(UTC)
    await db.execute("INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, price_cents, "
                     "currency) VALUES ($1, $2, $3, 'confirmed', $4, $5, tstzrange($4, $5, '[)'), 0, 'USD')",
                     uuid.uuid4(), uuid.UUID(busy["id"]), uuid.UUID(student["id"]), now - timedelta(minutes=10),
                     now + timedelta(minutes=20))

    before = datetime.now(UTC)
    r = await ask(client, student, "Mathematics", 30)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "pending" and body["subject"] == "mathematics" and body["minutes"] == 30
    assert body["offered_to"] == 1 and body["booking"] is None and body["tutor_id"] is None
    deadline = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(seconds=settings.instant_accept_seconds - 1) <= deadline
    assert deadline <= datetime.now(UTC) + timedelta(seconds=settings.instant_accept_seconds)
    sent = await _outbox(db, "instant.request")
    assert [room for room, _ in sent] == [f"user:{chosen['id']}"]
    offer = sent[0][1]["request"]
    assert offer["id"] == body["id"] and offer["minutes"] == 30 and offer["price_cents"] == 3000
    assert offer["student_name"] == "Student" and datetime.fromisoformat(offer["expires_at"]) == deadline
    state = await _state(client, chosen)
    assert [o["id"] for o in state["offers"]] == [body["id"]]
    assert (await _state(client, busy))["offers"] == []
    del not_connected, not_available, physics, other_length


async def test_no_one_to_ask_is_409_and_nothing_is_stored(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    r = await ask(client, student)
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_tutor_available"
    await online_tutor(client, redis, settings, make_tutor)
    r = await ask(client, student, "chemistry")
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_tutor_available"
    assert await db.fetchval("SELECT count(*) FROM instant_requests") == 0


async def test_one_open_request_per_student(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    await online_tutor(client, redis, settings, make_tutor)
    first = await ask(client, student)
    assert first.status_code == 201
    again = await ask(client, student)
    assert again.status_code == 409 and again.json()["error"]["code"] == "request_pending"
    assert again.json()["error"]["details"]["request_id"] == first.json()["id"]
    # Once its deadline has passed (even before the sweep), a new one may be made; the old one is expired.
    await db.execute("UPDATE instant_requests SET expires_at = now() - interval '1 second'")
    second = await ask(client, student)
    assert second.status_code == 201, second.text
    statuses = dict(await db.fetch("SELECT id::text, status FROM instant_requests"))
    assert statuses == {first.json()["id"]: "expired", second.json()["id"]: "pending"}
    assert next(room for room, _ in await _outbox(db, "instant.expired")) == f"user:{student['id']}"


async def test_concurrent_requests_of_one_student_make_one(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    await online_tutor(client, redis, settings, make_tutor)
    responses = await asyncio.gather(*(ask(client, student) for _ in range(8)))
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 7}
    assert await db.fetchval("SELECT count(*) FROM instant_requests") == 1


@pytest.mark.parametrize("body", [
    {}, {"subject": "mathematics"}, {"minutes": 30}, {"subject": "", "minutes": 30},
    {"subject": "!!!", "minutes": 30}, {"subject": "mathematics", "minutes": 5},
    {"subject": "mathematics", "minutes": 10_000}, {"subject": "mathematics", "minutes": "half an hour"},
    {"subject": "x" * 65, "minutes": 30}, {"subject": "mathematics", "minutes": 30, "tutor_id": "x"},
    {"subject": ["mathematics"], "minutes": 30},
])
async def test_bad_request_body_is_422(client: httpx.AsyncClient, make_students: StudentFactory, body: Any) -> None:
    [student] = await make_students(1)
    r = await client.post("/api/v1/instant-requests", headers=student["headers"], json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text


async def test_only_students_ask(client: httpx.AsyncClient, settings: Settings, make_tutor: TutorFactory) -> None:
    tutor = await make_tutor()
    body = {"subject": "mathematics", "minutes": 30}
    assert (await client.post("/api/v1/instant-requests", json=body)).status_code == 401
    r = await client.post("/api/v1/instant-requests", headers=tutor["headers"], json=body)
    assert r.status_code == 403
    admin = bearer(issue_access_token(settings, uuid.uuid4(), "admin"))
    assert (await client.post("/api/v1/instant-requests", headers=admin, json=body)).status_code == 403


async def test_student_at_the_hold_limit_cannot_ask(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    tutor = await online_tutor(client, redis, settings, make_tutor)
    now = datetime.now(UTC)
    for i in range(settings.max_active_holds):
        start = now + timedelta(days=2, hours=i)
        await db.execute("INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, "
                         "expires_at, price_cents, currency) VALUES ($1, $2, $3, 'held', $4, $5, "
                         "tstzrange($4, $5, '[)'), $6, 0, 'USD')", uuid.uuid4(), uuid.UUID(tutor["id"]),
                         uuid.UUID(student["id"]), start, start + timedelta(minutes=30), now + timedelta(minutes=5))
    r = await ask(client, student)
    assert r.status_code == 409 and r.json()["error"]["code"] == "hold_limit_reached"


# --- accepting ------------------------------------------------------------------------------------


async def test_accept_books_the_lesson_now_through_the_hold_rules(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    winner = await online_tutor(client, redis, settings, make_tutor, rate=0)
    other = await online_tutor(client, redis, settings, make_tutor, rate=0)
    request_id = (await ask(client, student, minutes=60)).json()["id"]
    r = await accept(client, winner, request_id)
    assert r.status_code == 200, r.text
    booking = r.json()["booking"]
    assert r.json()["request"]["status"] == "accepted" and r.json()["request"]["tutor_id"] == winner["id"]
    assert booking["status"] == "held" and booking["tutor_id"] == winner["id"]
    assert booking["student_id"] == student["id"] and booking["minutes"] == 60
    start = datetime.fromisoformat(booking["start"])
    assert abs((start - datetime.now(UTC)).total_seconds()) < 5

    assert [room for room, _ in await _outbox(db, "booking.new")] == [f"user:{winner['id']}"]
    changed = [p for room, p in await _outbox(db, "slots.changed") if room == f"tutor:{winner['id']}" and p["changes"]]
    assert {c["status"] for c in changed[-1]["changes"]} == {"held"}  # the grid slots the lesson covers
    accepted = await _outbox(db, "instant.accepted")
    assert [room for room, _ in accepted] == [f"user:{student['id']}"]
    assert accepted[0][1]["booking"]["id"] == booking["id"]
    assert await _outbox(db, "instant.taken") == [(f"user:{other['id']}", {"request_id": request_id,
                                                                          "status": "accepted"})]

    seen = (await client.get(f"/api/v1/instant-requests/{request_id}", headers=student["headers"])).json()
    assert seen["status"] == "accepted" and seen["booking"]["id"] == booking["id"]
    # Paid like any hold: a free lesson confirms at checkout.
    r = await client.post(f"/api/v1/bookings/{booking['id']}/checkout", headers=student["headers"])
    assert r.status_code == 200 and r.json()["booking"]["status"] == "confirmed", r.text
    tutors_view = (await client.get("/api/v1/bookings", headers=winner["headers"])).json()["items"]
    assert [b["id"] for b in tutors_view] == [booking["id"]]
    # The request is taken: the other tutor is too late, and the winner cannot take it twice.
    for tutor in (other, winner):
        r = await accept(client, tutor, request_id)
        assert r.status_code == 409 and r.json()["error"]["code"] == "request_taken"


async def test_simultaneous_accepts_have_exactly_one_winner(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    tutors = [await online_tutor(client, redis, settings, make_tutor) for _ in range(6)]
    request_id = (await ask(client, student)).json()["id"]
    responses = await asyncio.gather(*(accept(client, t, request_id) for t in tutors))
    codes = Counter(r.status_code for r in responses)
    assert codes == {200: 1, 409: 5}, [r.text for r in responses]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"request_taken"}
    winner = next(t for t, r in zip(tutors, responses, strict=True) if r.status_code == 200)
    assert await db.fetchval("SELECT count(*) FROM bookings") == 1
    assert await db.fetchval("SELECT tutor_id::text FROM bookings") == winner["id"]
    taken_rooms = sorted(room for room, _ in await _outbox(db, "instant.taken"))
    assert taken_rooms == sorted(f"user:{t['id']}" for t in tutors if t is not winner)


async def test_busy_tutor_cannot_accept_and_the_request_stays_open(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    first, other = await make_students(2)
    busy = await online_tutor(client, redis, settings, make_tutor)
    free = await online_tutor(client, redis, settings, make_tutor)
    request_id = (await ask(client, first)).json()["id"]
    now = datetime.now(UTC)
    await db.execute("INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, price_cents, "
                     "currency) VALUES ($1, $2, $3, 'confirmed', $4, $5, tstzrange($4, $5, '[)'), 0, 'USD')",
                     uuid.uuid4(), uuid.UUID(busy["id"]), uuid.UUID(other["id"]), now, now + timedelta(minutes=15))
    r = await accept(client, busy, request_id)
    assert r.status_code == 409 and r.json()["error"]["code"] == "slot_unavailable"
    r = await accept(client, free, request_id)
    assert r.status_code == 200, r.text


async def test_accept_is_for_offered_tutors_only(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, make_tutor: TutorFactory,
        make_students: StudentFactory) -> None:
    student, stranger_student = await make_students(2)
    await online_tutor(client, redis, settings, make_tutor)
    request_id = (await ask(client, student)).json()["id"]
    stranger = await make_tutor()  # offline when asked: not offered
    assert (await accept(client, stranger, request_id)).status_code == 404
    assert (await accept(client, stranger, str(uuid.uuid4()))).status_code == 404
    r = await client.post(f"/api/v1/instant-requests/{request_id}/accept", headers=student["headers"])
    assert r.status_code == 403
    assert (await client.post(f"/api/v1/instant-requests/{request_id}/accept")).status_code == 401
    assert (await client.post("/api/v1/instant-requests/not-a-uuid/accept",
                              headers=stranger["headers"])).status_code == 404
    del stranger_student


async def test_request_is_visible_to_its_student_and_offered_tutors_only(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, make_tutor: TutorFactory,
        make_students: StudentFactory) -> None:
    student, other_student = await make_students(2)
    offered = await online_tutor(client, redis, settings, make_tutor)
    request_id = (await ask(client, student)).json()["id"]
    outsider = await make_tutor()
    url = f"/api/v1/instant-requests/{request_id}"
    assert (await client.get(url, headers=student["headers"])).json()["status"] == "pending"
    assert (await client.get(url, headers=offered["headers"])).status_code == 200
    for who in (other_student, outsider):
        r = await client.get(url, headers=who["headers"])
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert (await client.get(url)).status_code == 401
    assert (await client.get("/api/v1/instant-requests/123", headers=student["headers"])).status_code == 404


# --- cancelling and expiry ------------------------------------------------------------------------


async def test_student_cancels_and_tutors_are_told(
        client: httpx.AsyncClient, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    student, other_student = await make_students(2)
    tutor = await online_tutor(client, redis, settings, make_tutor)
    request_id = (await ask(client, student)).json()["id"]
    url = f"/api/v1/instant-requests/{request_id}/cancel"
    assert (await client.post(url, headers=other_student["headers"])).status_code == 404
    assert (await client.post(url, headers=tutor["headers"])).status_code == 403
    r = await client.post(url, headers=student["headers"])
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    told = await _outbox(db, "instant.cancelled")
    assert [room for room, _ in told] == [f"user:{student['id']}", f"user:{tutor['id']}"]
    assert told[0][1]["request"]["status"] == "cancelled"
    assert told[1][1] == {"request_id": request_id, "status": "cancelled"}
    r = await client.post(url, headers=student["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "request_not_pending"
    r = await accept(client, tutor, request_id)
    assert r.status_code == 409 and r.json()["error"]["code"] == "request_cancelled"
    assert (await _state(client, tutor))["offers"] == []
    assert (await ask(client, student)).status_code == 201  # free to ask again


async def test_unaccepted_request_expires_and_nothing_is_charged(
        client: httpx.AsyncClient, app: Starlette, redis: Redis, settings: Settings, db: asyncpg.Pool,
        make_tutor: TutorFactory, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    tutor = await online_tutor(client, redis, settings, make_tutor)
    request_id = (await ask(client, student)).json()["id"]
    assert await expire_lapsed_requests(app.state.sessionmaker, datetime.now(UTC)) == 0
    await db.execute("UPDATE instant_requests SET expires_at = now() - interval '1 second'")
    # Past the deadline it cannot be accepted, before the sweep ran too.
    r = await accept(client, tutor, request_id)
    assert r.status_code == 409 and r.json()["error"]["code"] == "request_expired"
    seen = await client.get(f"/api/v1/instant-requests/{request_id}", headers=student["headers"])
    assert seen.json()["status"] == "expired"
    assert await expire_lapsed_requests(app.state.sessionmaker, datetime.now(UTC)) == 1
    assert await expire_lapsed_requests(app.state.sessionmaker, datetime.now(UTC)) == 0  # safe to run twice
    rooms = [room for room, _ in await _outbox(db, "instant.expired")]
    assert rooms == [f"user:{student['id']}", f"user:{tutor['id']}"]
    assert await db.fetchval("SELECT status FROM instant_requests") == "expired"
    assert await db.fetchval("SELECT count(*) FROM bookings") == 0
    r = await client.post(f"/api/v1/instant-requests/{request_id}/cancel", headers=student["headers"])
    assert r.status_code == 409 and r.json()["error"]["details"]["status"] == "expired"
