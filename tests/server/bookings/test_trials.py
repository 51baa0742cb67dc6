"""Trial lessons: the tutor's one trial offer, taken once per student and tutor as their first
lesson, enforced by ``uq_bookings_one_trial`` under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from server.bookings.settlement import Settlement, settle_payment
from server.db import unit_of_work
from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at
from tests.server.reviews.support import complete, confirmed_booking

PROFILE = {"headline": "Patient maths tutor", "bio": "Ten years of teaching.", "subjects": ["mathematics"],
           "hourly_rate_cents": 6000, "currency": "USD", "timezone": "UTC", "lesson_minutes": [30, 60],
           "min_notice_minutes": 0, "buffer_minutes": 0, "max_advance_days": 60}


async def _offer(client: httpx.AsyncClient, tutor: dict[str, Any], trial: dict[str, int] | None,
                 **profile: Any) -> httpx.Response:
    return await client.put("/api/v1/tutors/me", headers=tutor["headers"],
                            json={**PROFILE, **profile, "trial": trial})


async def _trial_hold(client: httpx.AsyncClient, student: dict[str, Any], tutor_id: str, start: datetime,
                      minutes: int = 30) -> httpx.Response:
    return await client.post("/api/v1/holds", headers=student["headers"],
                             json={"tutor_id": tutor_id, "start": start.isoformat(), "minutes": minutes,
                                   "trial": True})


@pytest.fixture
async def trial_tutor(client: httpx.AsyncClient, make_tutor: TutorFactory) -> dict[str, Any]:
    tutor = await make_tutor(lesson_minutes=[30, 60])
    r = await _offer(client, tutor, {"minutes": 30, "price_cents": 1000})
    assert r.status_code == 200, r.text
    return tutor


async def test_tutor_offers_a_trial_shown_on_the_public_profile(client: httpx.AsyncClient,
                                                                trial_tutor: dict) -> None:
    profile = (await client.get(f"/api/v1/tutors/{trial_tutor['id']}")).json()
    assert profile["trial"] == {"minutes": 30, "price_cents": 1000}
    listed = (await client.get("/api/v1/tutors")).json()["items"]
    assert listed[0]["trial"] == {"minutes": 30, "price_cents": 1000}
    r = await _offer(client, trial_tutor, None)
    assert r.status_code == 200 and r.json()["trial"] is None


@pytest.mark.parametrize("trial", [{"minutes": 45, "price_cents": 0}, {"minutes": 30, "price_cents": 20},
                                   {"minutes": 30, "price_cents": -1}, {"minutes": 30}])
async def test_trial_must_be_a_lesson_length_at_a_payable_price(client: httpx.AsyncClient, trial_tutor: dict,
                                                                trial: dict[str, int]) -> None:
    r = await _offer(client, trial_tutor, trial)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text


async def test_trial_hold_takes_the_trial_terms(client: httpx.AsyncClient, trial_tutor: dict,
                                                make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    r = await _trial_hold(client, student, trial_tutor["id"], next_day_at(10))
    assert r.status_code == 201, r.text
    held = r.json()
    assert held["trial"] is True and held["price_cents"] == 1000 and held["minutes"] == 30
    assert held["status"] == "held"
    ordinary = await hold(client, student, trial_tutor["id"], next_day_at(12), minutes=30)
    assert ordinary.json()["trial"] is False and ordinary.json()["price_cents"] == 3000


async def test_second_trial_is_409_trial_used(client: httpx.AsyncClient, trial_tutor: dict,
                                              make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    assert (await _trial_hold(client, student, trial_tutor["id"], next_day_at(10))).status_code == 201
    r = await _trial_hold(client, student, trial_tutor["id"], next_day_at(12))
    assert r.status_code == 409 and r.json()["error"]["code"] == "trial_used"


async def test_concurrent_trial_holds_by_one_student_have_exactly_one_winner(
        client: httpx.AsyncClient, trial_tutor: dict, db: asyncpg.Pool, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    starts = [next_day_at(8 + i) for i in range(10)]  # different slots: only the trial rule can refuse
    responses = await asyncio.gather(*(_trial_hold(client, student, trial_tutor["id"], s) for s in starts))
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 9}
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"trial_used"}
    assert await db.fetchval("SELECT count(*) FROM bookings WHERE is_trial") == 1


async def test_the_database_refuses_a_second_live_trial_whatever_path_inserts_it(
        client: httpx.AsyncClient, trial_tutor: dict, db: asyncpg.Pool, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    first = (await _trial_hold(client, student, trial_tutor["id"], next_day_at(10))).json()
    start = next_day_at(14)
    with pytest.raises(asyncpg.UniqueViolationError, match="uq_bookings_one_trial"):
        await db.execute(
            "INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, expires_at, "
            "price_cents, currency, is_trial) VALUES ($1, $2, $3, 'held', $4, $5, tstzrange($4, $5), $6, 0, 'USD', "
            "true)", uuid.uuid4(), uuid.UUID(trial_tutor["id"]), uuid.UUID(student["id"]), start,
            start + timedelta(minutes=30), datetime.now(UTC) + timedelta(minutes=10))
    assert first["trial"] is True


async def test_released_or_lapsed_trial_gives_the_trial_back(client: httpx.AsyncClient, trial_tutor: dict,
                                                             db: asyncpg.Pool, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    first = (await _trial_hold(client, student, trial_tutor["id"], next_day_at(10))).json()
    r = await client.delete(f"/api/v1/holds/{first['id']}", headers=student["headers"])
    assert r.status_code == 204
    second = await _trial_hold(client, student, trial_tutor["id"], next_day_at(11))
    assert second.status_code == 201, second.text
    # A lapsed trial hold (not yet swept) is moved aside: it no longer counts.
    await db.execute("UPDATE bookings SET expires_at = now() - interval '1 second', "
                     "created_at = now() - interval '20 minutes' WHERE id = $1", uuid.UUID(second.json()["id"]))
    third = await _trial_hold(client, student, trial_tutor["id"], next_day_at(12))
    assert third.status_code == 201, third.text
    assert await db.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(second.json()["id"])) == "expired"


async def test_free_trial_confirms_and_then_is_used_for_good(client: httpx.AsyncClient, app: Starlette,
                                                            db: asyncpg.Pool, make_tutor: TutorFactory,
                                                            make_students: StudentFactory) -> None:
    tutor = await make_tutor(lesson_minutes=[30, 60])
    assert (await _offer(client, tutor, {"minutes": 30, "price_cents": 0})).status_code == 200
    [student] = await make_students(1)
    held = (await _trial_hold(client, student, tutor["id"], next_day_at(10))).json()
    assert held["price_cents"] == 0
    r = await client.post(f"/api/v1/bookings/{held['id']}/checkout", headers=student["headers"])
    assert r.status_code == 200 and r.json()["booking"]["status"] == "confirmed", r.text
    await complete(app, db, held["id"])
    r = await _trial_hold(client, student, tutor["id"], next_day_at(12))
    assert r.status_code == 409 and r.json()["error"]["code"] == "trial_used"


async def test_trial_is_only_for_a_first_lesson(client: httpx.AsyncClient, make_tutor: TutorFactory,
                                                make_students: StudentFactory) -> None:
    tutor = await make_tutor(rate=0, lesson_minutes=[30, 60])
    assert (await _offer(client, tutor, {"minutes": 30, "price_cents": 0}, hourly_rate_cents=0)).status_code == 200
    [student] = await make_students(1)
    await confirmed_booking(client, student, tutor["id"], hour=9)
    r = await _trial_hold(client, student, tutor["id"], next_day_at(12))
    assert r.status_code == 409 and r.json()["error"] == {
        "code": "trial_used", "message": r.json()["error"]["message"], "details": {"reason": "not_first_lesson"}}


async def test_trial_of_a_tutor_without_one_is_409_and_wrong_length_422(
        client: httpx.AsyncClient, tutor: dict, trial_tutor: dict, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    r = await _trial_hold(client, student, tutor["id"], next_day_at(10))
    assert r.status_code == 409 and r.json()["error"]["code"] == "trial_not_offered"
    r = await _trial_hold(client, student, trial_tutor["id"], next_day_at(10), minutes=60)
    assert r.status_code == 422 and r.json()["error"]["code"] == "slot_not_offered"


async def test_trials_with_different_tutors_are_independent(client: httpx.AsyncClient, trial_tutor: dict,
                                                            make_tutor: TutorFactory,
                                                            make_students: StudentFactory) -> None:
    other = await make_tutor(lesson_minutes=[30, 60])
    assert (await _offer(client, other, {"minutes": 30, "price_cents": 500})).status_code == 200
    [student] = await make_students(1)
    assert (await _trial_hold(client, student, trial_tutor["id"], next_day_at(10))).status_code == 201
    assert (await _trial_hold(client, student, other["id"], next_day_at(10))).status_code == 201


async def test_late_payment_for_a_lapsed_trial_is_refunded_when_the_trial_was_taken_again(
        client: httpx.AsyncClient, app: Starlette, trial_tutor: dict, db: asyncpg.Pool,
        make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    first = (await _trial_hold(client, student, trial_tutor["id"], next_day_at(10))).json()
    await db.execute("UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1",
                     uuid.UUID(first["id"]))
    assert (await _trial_hold(client, student, trial_tutor["id"], next_day_at(12))).status_code == 201
    async with unit_of_work(app.state.sessionmaker) as session:
        booking, outcome = await settle_payment(session, uuid.UUID(first["id"]), datetime.now(UTC),
                                                {"provider": "test"})
    assert outcome == Settlement.REFUND and booking.payment_status == "refund_pending"
    assert await db.fetchval("SELECT count(*) FROM bookings WHERE is_trial AND status IN ('held', 'confirmed')") == 1
