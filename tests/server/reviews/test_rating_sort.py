"""Search by rating uses the Bayesian average (models.tutor.RATING_PRIOR_*): a tutor with a
single 5-star review does not outrank one with many nearly perfect reviews, and an unrated
tutor sits at the prior mean."""

from __future__ import annotations

import asyncpg
import httpx
from starlette.applications import Starlette

from models.tutor import RATING_PRIOR_MEAN, RATING_PRIOR_WEIGHT, rating_score
from tests.fixtures.bookings import StudentFactory, TutorFactory
from tests.server.reviews.support import completed_booking


async def _reviewed_tutor(client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, make_tutor: TutorFactory,
                          make_students: StudentFactory, ratings: list[int]) -> str:
    tutor = await make_tutor(rate=0)
    students = await make_students(len(ratings)) if ratings else []
    for i, (student, rating) in enumerate(zip(students, ratings, strict=True)):
        booking_id = await completed_booking(client, app, db, student, tutor["id"], hour=6 + i)
        r = await client.post(f"/api/v1/bookings/{booking_id}/review", headers=student["headers"],
                              json={"rating": rating})
        assert r.status_code == 201, r.text
    return str(tutor["id"])


async def test_sort_by_rating_uses_the_bayesian_average(client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool,
                                                        make_tutor: TutorFactory,
                                                        make_students: StudentFactory) -> None:
    one_perfect = await _reviewed_tutor(client, app, db, make_tutor, make_students, [5])
    many_good = await _reviewed_tutor(client, app, db, make_tutor, make_students, [5, 5, 5, 5, 5, 4])
    unrated = await _reviewed_tutor(client, app, db, make_tutor, make_students, [])
    poor = await _reviewed_tutor(client, app, db, make_tutor, make_students, [3, 3, 3, 3, 3])

    items = (await client.get("/api/v1/tutors", params={"sort": "rating"})).json()["items"]
    assert [t["id"] for t in items] == [many_good, one_perfect, unrated, poor]
    by_id = {t["id"]: t for t in items}
    assert (by_id[one_perfect]["rating"], by_id[one_perfect]["rating_count"]) == (5.0, 1)
    assert (by_id[many_good]["rating"], by_id[many_good]["rating_count"]) == (4.83, 6)
    assert (by_id[unrated]["rating"], by_id[unrated]["rating_count"]) == (0.0, 0)
    score = await db.fetchval("SELECT rating_score FROM tutor_profiles WHERE user_id = $1", many_good)
    assert abs(score - rating_score(29, 6)) < 1e-9
    assert abs(rating_score(0, 0) - RATING_PRIOR_MEAN) < 1e-9 and RATING_PRIOR_WEIGHT == 5
