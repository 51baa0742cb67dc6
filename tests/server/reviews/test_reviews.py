"""Reviews: once per completed booking, by its student; one reply by its tutor; removal by an
admin; the tutor's rating and count follow the visible reviews."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from server.identity import issue_access_token
from server.settings import Settings
from tests.fixtures.bookings import StudentFactory, TutorFactory
from tests.helpers import bearer
from tests.server.reviews.support import completed_booking, confirmed_booking


async def _review(client: httpx.AsyncClient, student: dict[str, Any], booking_id: str, rating: int = 5,
                  comment: str | None = "Clear and patient.") -> httpx.Response:
    body: dict[str, Any] = {"rating": rating}
    if comment is not None:
        body["comment"] = comment
    return await client.post(f"/api/v1/bookings/{booking_id}/review", headers=student["headers"], json=body)


async def _admin(db: asyncpg.Pool, settings: Settings) -> dict[str, Any]:
    admin_id = uuid.uuid4()
    await db.execute("INSERT INTO users (id, email, name, role, password_hash) "
                     "VALUES ($1, 'admin-reviews@example.com', 'Admin', 'admin', 'x')", admin_id)
    return {"id": str(admin_id), "headers": bearer(issue_access_token(settings, admin_id, "admin"))}


async def _tutor_profile(client: httpx.AsyncClient, tutor_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/tutors/{tutor_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.fixture
async def free_tutor(make_tutor: TutorFactory) -> dict[str, Any]:
    return await make_tutor(rate=0)


async def test_student_reviews_a_completed_booking_and_the_tutor_rating_follows(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, free_tutor: dict,
        make_students: StudentFactory) -> None:
    first, second = await make_students(2)
    booking_a = await completed_booking(client, app, db, first, free_tutor["id"], hour=10)
    booking_b = await completed_booking(client, app, db, second, free_tutor["id"], hour=12)
    assert (await _tutor_profile(client, free_tutor["id"]))["rating_count"] == 0

    r = await _review(client, first, booking_a, 5)
    assert r.status_code == 201, r.text
    review = r.json()
    assert review["booking_id"] == booking_a and review["tutor_id"] == free_tutor["id"]
    assert review["rating"] == 5 and review["comment"] == "Clear and patient." and review["reply"] is None
    assert (await _review(client, second, booking_b, 2, comment=None)).status_code == 201

    profile = await _tutor_profile(client, free_tutor["id"])
    assert profile["rating_count"] == 2 and profile["rating"] == 3.5
    listing = (await client.get(f"/api/v1/tutors/{free_tutor['id']}/reviews")).json()
    assert [i["rating"] for i in listing["items"]] == [2, 5]  # newest first
    live = await db.fetchval("SELECT count(*) FROM outbox WHERE event = 'review.new' "
                             "AND room = $1", f"user:{free_tutor['id']}")
    assert live == 2


async def test_review_before_completion_is_409_not_reviewable(
        client: httpx.AsyncClient, free_tutor: dict, make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    booking_id = await confirmed_booking(client, student, free_tutor["id"])
    r = await _review(client, student, booking_id)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_reviewable"


async def test_second_review_is_409_review_exists(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, free_tutor: dict,
        make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    booking_id = await completed_booking(client, app, db, student, free_tutor["id"])
    assert (await _review(client, student, booking_id)).status_code == 201
    r = await _review(client, student, booking_id, 1)
    assert r.status_code == 409 and r.json()["error"]["code"] == "review_exists"
    assert (await _tutor_profile(client, free_tutor["id"]))["rating_count"] == 1


async def test_concurrent_double_submit_gives_one_201_and_one_409(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, free_tutor: dict,
        make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    booking_id = await completed_booking(client, app, db, student, free_tutor["id"])
    for _ in range(3):  # a few rounds: the race must never let two through
        await db.execute("DELETE FROM reviews")
        await db.execute("UPDATE tutor_profiles SET rating_count = 0, rating_sum = 0, rating_avg = 0, "
                         "rating_score = 4.0")
        responses = await asyncio.gather(*(_review(client, student, booking_id, 4) for _ in range(2)))
        assert Counter(r.status_code for r in responses) == {201: 1, 409: 1}
        assert await db.fetchval("SELECT count(*) FROM reviews WHERE booking_id = $1", booking_id) == 1
        assert (await _tutor_profile(client, free_tutor["id"]))["rating_count"] == 1


async def test_concurrent_reviews_of_one_tutor_all_count(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, free_tutor: dict,
        make_students: StudentFactory) -> None:
    students = await make_students(6)
    bookings = [await completed_booking(client, app, db, s, free_tutor["id"], hour=8 + i)
                for i, s in enumerate(students)]
    responses = await asyncio.gather(*(_review(client, s, b, 1 + i % 5)
                                       for i, (s, b) in enumerate(zip(students, bookings, strict=True))))
    assert {r.status_code for r in responses} == {201}
    row = await db.fetchrow("SELECT rating_count, rating_sum FROM tutor_profiles WHERE user_id = $1",
                            free_tutor["user"]["id"])
    assert (row["rating_count"], row["rating_sum"]) == (6, sum(1 + i % 5 for i in range(6)))


async def test_only_the_bookings_student_may_review(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, free_tutor: dict,
        make_students: StudentFactory) -> None:
    student, other = await make_students(2)
    booking_id = await completed_booking(client, app, db, student, free_tutor["id"])
    r = await _review(client, other, booking_id)
    assert r.status_code == 404
    r = await client.post(f"/api/v1/bookings/{booking_id}/review", headers=free_tutor["headers"],
                          json={"rating": 5})
    assert r.status_code == 403
    r = await client.post(f"/api/v1/bookings/{booking_id}/review", json={"rating": 5})
    assert r.status_code == 401


@pytest.mark.parametrize("rating", [0, 6, "five"])
async def test_rating_outside_1_to_5_is_422(client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool,
                                             free_tutor: dict, make_students: StudentFactory, rating: Any) -> None:
    [student] = await make_students(1)
    booking_id = await completed_booking(client, app, db, student, free_tutor["id"])
    r = await client.post(f"/api/v1/bookings/{booking_id}/review", headers=student["headers"],
                          json={"rating": rating})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


async def test_only_the_reviewed_tutor_replies_and_only_once(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, free_tutor: dict, make_tutor: TutorFactory,
        make_students: StudentFactory) -> None:
    [student] = await make_students(1)
    other_tutor = await make_tutor()
    booking_id = await completed_booking(client, app, db, student, free_tutor["id"])
    review_id = (await _review(client, student, booking_id)).json()["id"]

    r = await client.post(f"/api/v1/reviews/{review_id}/reply", headers=other_tutor["headers"], json={"body": "Hi"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "review_not_found"
    r = await client.post(f"/api/v1/reviews/{review_id}/reply", headers=student["headers"], json={"body": "Hi"})
    assert r.status_code == 403

    replies = await asyncio.gather(*(client.post(f"/api/v1/reviews/{review_id}/reply", headers=free_tutor["headers"],
                                                 json={"body": f"Thank you! ({i})"}) for i in range(2)))
    assert Counter(r.status_code for r in replies) == {200: 1, 409: 1}
    assert next(r for r in replies if r.status_code == 409).json()["error"]["code"] == "reply_exists"
    shown = (await client.get(f"/api/v1/tutors/{free_tutor['id']}/reviews")).json()["items"][0]
    assert shown["reply"]["body"].startswith("Thank you!")
    mine = await client.get(f"/api/v1/bookings/{booking_id}/review", headers=student["headers"])
    assert mine.status_code == 200 and mine.json()["reply"] is not None


async def test_admin_removes_a_review_recording_who_and_why(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, settings: Settings, free_tutor: dict,
        make_students: StudentFactory) -> None:
    student, second = await make_students(2)
    admin = await _admin(db, settings)
    kept = await completed_booking(client, app, db, second, free_tutor["id"], hour=12)
    assert (await _review(client, second, kept, 4)).status_code == 201
    booking_id = await completed_booking(client, app, db, student, free_tutor["id"])
    review_id = (await _review(client, student, booking_id, 1, "spam link")).json()["id"]

    for who in (student, free_tutor):
        r = await client.request("DELETE", f"/api/v1/admin/reviews/{review_id}", headers=who["headers"])
        assert r.status_code == 403
    r = await client.request("DELETE", f"/api/v1/admin/reviews/{review_id}",
                             headers={**admin["headers"], "Content-Type": "application/json"},
                             content=json.dumps({"reason": "spam"}))
    assert r.status_code == 204, r.text
    row = await db.fetchrow("SELECT removed_by, removed_reason, removed_at FROM reviews WHERE id = $1", review_id)
    assert str(row["removed_by"]) == admin["id"] and row["removed_reason"] == "spam" and row["removed_at"]

    profile = await _tutor_profile(client, free_tutor["id"])
    assert profile["rating_count"] == 1 and profile["rating"] == 4
    items = (await client.get(f"/api/v1/tutors/{free_tutor['id']}/reviews")).json()["items"]
    assert [i["id"] for i in items] != [review_id] and len(items) == 1
    # Removing it again changes nothing; the booking still cannot be reviewed a second time.
    again = await client.request("DELETE", f"/api/v1/admin/reviews/{review_id}", headers=admin["headers"])
    assert again.status_code == 204
    assert (await _tutor_profile(client, free_tutor["id"]))["rating_count"] == 1
    assert (await _review(client, student, booking_id)).json()["error"]["code"] == "review_exists"


async def test_reviews_listing_pages_newest_first(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, free_tutor: dict,
        make_students: StudentFactory) -> None:
    students = await make_students(3)
    for i, s in enumerate(students):
        booking_id = await completed_booking(client, app, db, s, free_tutor["id"], hour=9 + i)
        assert (await _review(client, s, booking_id, 3 + i)).status_code == 201
    first = (await client.get(f"/api/v1/tutors/{free_tutor['id']}/reviews?limit=2")).json()
    assert [i["rating"] for i in first["items"]] == [5, 4] and first["next_cursor"]
    rest = (await client.get(f"/api/v1/tutors/{free_tutor['id']}/reviews",
                             params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [i["rating"] for i in rest["items"]] == [3] and rest["next_cursor"] is None
