"""The review request: once a lesson is completed its student is asked to review it (not the
tutor, and not once the review is in)."""

from __future__ import annotations

import asyncpg
import httpx
from starlette.applications import Starlette

from tests.fixtures.integrations import Fakes, InlineTasks, book
from tests.server.emails.test_email import EMAIL, lesson_start, only, parties
from tests.server.reviews.support import complete


async def test_completed_lesson_asks_its_student_for_a_review(ic: httpx.AsyncClient, iapp: Starlette, fakes: Fakes,
                                                             tasks: InlineTasks, db: asyncpg.Pool) -> None:
    tutor, student = await parties(ic)
    booking = await book(ic, student, tutor["id"], lesson_start())
    await tasks.settle(EMAIL)
    await complete(iapp, db, booking["id"])
    await tasks.settle(EMAIL)
    message = only(fakes.brevo, student["user"]["email"], "review_request")
    assert message["subject"] == "How was your lesson with Amelia Hart?"
    assert f"http://frontend.test/bookings/{booking['id']}#review" in message["htmlContent"]
    assert f"http://frontend.test/bookings/{booking['id']}#review" in message["textContent"]
    assert [m for m in fakes.brevo.to(tutor["user"]["email"]) if m["tags"] == ["review_request"]] == []
    # Dispatched once: the next sweep sends nothing more.
    await tasks.settle(EMAIL)
    assert len([m for m in fakes.brevo.to(student["user"]["email"]) if m["tags"] == ["review_request"]]) == 1


async def test_review_request_is_skipped_once_the_lesson_is_reviewed(ic: httpx.AsyncClient, iapp: Starlette,
                                                                    fakes: Fakes, tasks: InlineTasks,
                                                                    db: asyncpg.Pool) -> None:
    tutor, student = await parties(ic)
    booking = await book(ic, student, tutor["id"], lesson_start())
    await tasks.settle(EMAIL)
    await complete(iapp, db, booking["id"])
    r = await ic.post(f"/api/v1/bookings/{booking['id']}/review", headers=student["headers"], json={"rating": 5})
    assert r.status_code == 201, r.text
    results = await tasks.settle(EMAIL)
    assert [r for _n, a, r in results if a[1] == "review_request"] == ["skipped"]
    assert [m for m in fakes.brevo.sent if m["tags"] == ["review_request"]] == []
