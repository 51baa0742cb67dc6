"""Reviews and trial lessons in the browser: a student reviews a completed lesson from its
booking page and the review (with the tutor's reply) shows on the tutor page; a tutor offers a
free trial in the profile editor, and a student books it from the tutor page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from server.db import libpq_url, make_engine, make_sessionmaker
from server.settings import Settings
from tasks.bookings import complete_finished_bookings
from tests.browser.bookings import london_tutor, unlist_tutors
from tests.browser.conftest import PASSWORD, Platform, create_admin, new_page, problems_of, sign_in
from tests.browser.pages import OPEN_SLOT, SLOW_UI_TIMEOUT_MS, open_tutor_page
from tests.helpers import register, unique_email

pytestmark = pytest.mark.xdist_group("browser")

HEADLINE = "Reviews and trials (browser test)"


@pytest.fixture(autouse=True)
async def _unlist_our_tutors(settings: Settings) -> AsyncIterator[None]:
    yield
    await unlist_tutors(settings, HEADLINE)


async def _account(api: httpx.AsyncClient, role: str, name: str) -> dict[str, Any]:
    account = await register(api, role=role, email=unique_email(name.split()[0].lower()), name=name,
                             password=PASSWORD)
    return account


@pytest.fixture
async def pages(browser: Browser) -> AsyncIterator[list[Page]]:
    opened = [await new_page(browser), await new_page(browser)]
    yield opened
    for page in opened:
        assert not problems_of(page).errors, problems_of(page).errors
        await page.context.close()


async def _complete(settings: Settings, booking_id: str) -> None:
    """Move the confirmed lesson into the past, and let the real completion job complete it."""
    conn = await asyncpg.connect(libpq_url(settings.database_url))
    try:
        end = datetime.now(UTC) - timedelta(hours=1)
        await conn.execute("UPDATE bookings SET start_at = $2, end_at = $3, guarded = tstzrange($2, $3, '[)') "
                           "WHERE id = $1::uuid", booking_id, end - timedelta(hours=1), end)
    finally:
        await conn.close()
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        assert await complete_finished_bookings(make_sessionmaker(engine), datetime.now(UTC)) >= 1
    finally:
        await engine.dispose()


async def test_student_reviews_a_completed_lesson_and_the_tutor_replies(
        browser: Browser, platform: Platform, settings: Settings, pages: list[Page]) -> None:
    student_page, tutor_page = pages
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        tutor = await london_tutor(api, "Rosa Lindqvist", HEADLINE, "History")
        student = await _account(api, "student", "Iris Novak")
        start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
        r = await api.post("/api/v1/holds", headers=student["headers"],
                           json={"tutor_id": tutor["user"]["id"], "start": start.isoformat(), "minutes": 60})
        assert r.status_code == 201, r.text
        booking_id = r.json()["id"]
        assert (await api.post(f"/api/v1/bookings/{booking_id}/checkout", headers=student["headers"])).status_code == 200
        r = await api.post("/api/v1/payments/test/confirm", headers=student["headers"], json={"booking_id": booking_id})
        assert r.status_code == 200, r.text
    await _complete(settings, booking_id)

    await sign_in(student_page, platform.web_url, student["user"]["email"], PASSWORD)
    await student_page.goto(f"{platform.web_url}/bookings/{booking_id}")
    card = student_page.get_by_test_id("booking-review")
    await expect(card).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
    await student_page.get_by_test_id("rating-star").nth(3).click()
    await student_page.get_by_test_id("review-comment").fill("Made the Tudors come alive.")
    await student_page.get_by_test_id("review-submit").click()
    await expect(card.get_by_test_id("review")).to_contain_text("Made the Tudors come alive.")
    await expect(card.get_by_label("4 out of 5 stars")).to_be_visible()

    await sign_in(tutor_page, platform.web_url, tutor["user"]["email"], PASSWORD)
    await tutor_page.goto(f"{platform.web_url}/bookings/{booking_id}")
    await tutor_page.get_by_test_id("reply-body").fill("Thank you, Iris!")
    await tutor_page.get_by_test_id("reply-submit").click()
    await expect(tutor_page.get_by_test_id("review-reply")).to_contain_text("Thank you, Iris!")

    await student_page.goto(f"{platform.web_url}/tutors/{tutor['user']['id']}")
    reviews = student_page.get_by_test_id("tutor-reviews")
    await expect(reviews).to_contain_text("Reviews (1)", timeout=SLOW_UI_TIMEOUT_MS)
    await expect(reviews.get_by_test_id("review")).to_contain_text("Made the Tudors come alive.")
    await expect(reviews.get_by_test_id("review-reply")).to_contain_text("Thank you, Iris!")
    await expect(reviews.get_by_test_id("review-remove")).to_have_count(0)  # only admins may remove

    # An admin takes the review down, saying why; the tutor's rating no longer counts it.
    admin = unique_email("mod")
    create_admin(settings.database_url, admin, "Mo Moderator")
    admin_page = await new_page(browser)
    await sign_in(admin_page, platform.web_url, admin, PASSWORD)
    await admin_page.goto(f"{platform.web_url}/tutors/{tutor['user']['id']}")
    admin_view = admin_page.get_by_test_id("tutor-reviews")
    await admin_view.get_by_test_id("review-remove").click()
    await admin_view.get_by_test_id("review-remove-reason").fill("Names another student")
    await admin_view.get_by_test_id("review-remove-confirm").click()
    await expect(admin_view.get_by_test_id("review")).to_have_count(0, timeout=SLOW_UI_TIMEOUT_MS)
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        r = await api.get(f"/api/v1/tutors/{tutor['user']['id']}")
        assert r.json()["rating_count"] == 0, r.text
    await admin_page.context.close()


async def test_tutor_offers_a_free_trial_and_a_student_books_it(platform: Platform, pages: list[Page]) -> None:
    student_page, tutor_page = pages
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        tutor = await london_tutor(api, "Tomas Berg", HEADLINE, "History")
        student = await _account(api, "student", "Leo Marsh")
        tutor_id = tutor["user"]["id"]

        await sign_in(tutor_page, platform.web_url, tutor["user"]["email"], PASSWORD)
        await tutor_page.goto(f"{platform.web_url}/tutor/profile")
        editor = tutor_page.get_by_test_id("trial-editor")
        await editor.get_by_test_id("trial-on").check()
        await editor.get_by_test_id("trial-price").fill("0")
        await tutor_page.get_by_test_id("profile-save").click()
        await expect(tutor_page.get_by_text("Profile saved")).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
        assert (await api.get(f"/api/v1/tutors/{tutor_id}")).json()["trial"] == {"minutes": 60, "price_cents": 0}

        await sign_in(student_page, platform.web_url, student["user"]["email"], PASSWORD)
        await student_page.goto(f"{platform.web_url}/?q=Tomas")
        card = student_page.locator(f'[data-testid="tutor-card"][data-tutor-id="{tutor_id}"]')
        await expect(card.get_by_test_id("trial-badge")).to_contain_text("Free trial · 60 min",
                                                                          timeout=SLOW_UI_TIMEOUT_MS)
        await open_tutor_page(student_page, platform.web_url, tutor_id)
        await student_page.get_by_test_id("book-trial").click()
        await expect(student_page.get_by_test_id("trial-mode")).to_be_visible()
        await student_page.locator(OPEN_SLOT).first.click()
        await expect(student_page.get_by_test_id("hold-panel")).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)

        held = (await api.get("/api/v1/bookings", headers=student["headers"], params={"status": "held"})).json()
        assert [(b["trial"], b["price_cents"], b["minutes"]) for b in held["items"]] == [(True, 0, 60)]
        # The trial is used: a second one is refused by the API (the page says "Trial already used").
        start = (datetime.now(UTC) + timedelta(days=5)).replace(hour=12, minute=0, second=0, microsecond=0)
        r = await api.post("/api/v1/holds", headers=student["headers"],
                           json={"tutor_id": tutor_id, "start": start.isoformat(), "minutes": 60, "trial": True})
        assert r.status_code == 409 and r.json()["error"]["code"] == "trial_used"
