"""Weekly lessons in the browser: a London student holds a New York tutor's slot before the
US clock change, repeats it weekly from the hold panel, sees which lessons move on their clock,
pays once for all of them, and later cancels the rest of the series from a booking page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from playwright.async_api import Page, expect

from server.db import libpq_url
from server.settings import Settings
from tests.browser.conftest import PASSWORD, Cast, Platform, screenshot
from tests.browser.pages import SLOW_UI_TIMEOUT_MS, UI_TIMEOUT_MS, hold_slot, open_tutor_page, slot
from tests.fixtures.bookings import next_change
from tests.helpers import register, unique_email

pytestmark = pytest.mark.xdist_group("browser")

HEADLINE = "Weekly lessons across time zones (browser test)"
NEW_YORK, LONDON = ZoneInfo("America/New_York"), ZoneInfo("Europe/London")


@pytest.fixture
async def ny_tutor(platform: Platform, settings: Settings) -> AsyncIterator[dict[str, Any]]:
    """A New York tutor teaching 08:00-20:00 their time, bookable a year ahead; unlisted (and its
    holds released) afterwards, since the package's tests share the platform's database."""
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        tutor = await register(api, role="tutor", email=unique_email("nyc"), name="Grace Holloway", password=PASSWORD)
        r = await api.put("/api/v1/tutors/me", headers=tutor["headers"], json={
            "headline": HEADLINE, "bio": "", "subjects": ["English"], "hourly_rate_cents": 5000, "currency": "USD",
            "timezone": "America/New_York", "lesson_minutes": [60], "min_notice_minutes": 60, "buffer_minutes": 0,
            "max_advance_days": 365})
        assert r.status_code == 200, r.text
        r = await api.put("/api/v1/tutors/me/availability", headers=tutor["headers"], json={
            "rules": [{"weekday": d, "start": "08:00", "end": "20:00"} for d in range(7)], "overrides": []})
        assert r.status_code == 200, r.text
    tutor["id"] = tutor["user"]["id"]
    yield tutor
    conn = await asyncpg.connect(libpq_url(settings.database_url))
    try:
        await conn.execute("UPDATE bookings SET status = 'released', expires_at = NULL WHERE status = 'held' AND "
                           "tutor_id = $1", tutor["user"]["id"])
        await conn.execute("UPDATE tutor_profiles SET is_active = false WHERE headline = $1", HEADLINE)
    finally:
        await conn.close()


def _first_lesson() -> datetime:
    """10:00 in New York, one week before whichever of the US and UK clock changes comes first
    (the two always fall on different dates), at least three weeks from now."""
    after = datetime.now(UTC).date() + timedelta(days=21)
    change: date = min(next_change("America/New_York", after), next_change("Europe/London", after))
    return datetime.combine(change - timedelta(days=7), time(10), NEW_YORK).astimezone(UTC)


def _key(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def _go_to_week_of(page: Page, start: str) -> None:
    """Click "next week" until the week holding ``start`` is shown (each week fully loaded)."""
    label = page.get_by_test_id("week-label")
    for _ in range(60):
        if await slot(page, start).count():
            return
        shown = await label.inner_text()
        await page.get_by_test_id("week-next").click()
        await expect(label).not_to_have_text(shown, timeout=SLOW_UI_TIMEOUT_MS)
        await expect(page.get_by_test_id("week-view")).not_to_have_attribute("data-loading", "true",
                                                                              timeout=SLOW_UI_TIMEOUT_MS)
        await expect(page.get_by_test_id("slot").first).to_be_attached(timeout=SLOW_UI_TIMEOUT_MS)
    raise AssertionError(f"the week of {start} never showed its slot")


async def test_a_london_student_repeats_a_new_york_lesson_weekly_sees_the_clock_change_and_pays_once(
        platform: Platform, people: Cast, ny_tutor: dict[str, Any]) -> None:
    a, b = people.student_a.p, people.student_b.p
    first = _first_lesson()
    start = _key(first)
    for page in (a, b):
        await open_tutor_page(page, platform.web_url, ny_tutor["id"])
        await _go_to_week_of(page, start)

    booking_id = await hold_slot(a, start)
    panel = a.get_by_test_id("hold-panel")
    await expect(a.get_by_test_id("repeat-weekly")).to_be_visible()
    await a.get_by_test_id("repeat-weeks").select_option("6")
    await a.get_by_test_id("repeat-weekly-submit").click()

    # The panel now holds six lessons, paid in one go (the browser platform's holds last 8 s).
    lessons = panel.get_by_test_id("series-occurrence")
    await expect(lessons).to_have_count(6, timeout=UI_TIMEOUT_MS)
    assert await panel.get_attribute("data-booking-id") != booking_id
    await panel.get_by_test_id("pay").click()
    await expect(a.get_by_test_id("test-pay")).to_contain_text("$300")  # 6 × US$50, one payment
    await a.get_by_test_id("test-pay").click()
    await expect(a.get_by_test_id("booking-confirmed")).to_contain_text("6 weekly lessons are booked",
                                                                        timeout=UI_TIMEOUT_MS)

    # The lessons that move on a London clock are marked.
    expected = []
    for week in range(6):
        when = datetime.combine(first.astimezone(NEW_YORK).date() + timedelta(weeks=week), time(10), NEW_YORK)
        expected.append(when.astimezone(LONDON).strftime("%H:%M") != first.astimezone(LONDON).strftime("%H:%M"))
    assert any(expected) and not all(expected)
    lessons = panel.get_by_test_id("series-occurrence")
    await expect(lessons).to_have_count(6)
    flags = [await lessons.nth(i).get_attribute("data-clock-change") for i in range(6)]
    assert flags == ["true" if e else "false" for e in expected]
    await expect(a.get_by_test_id("series-clock-warning")).to_contain_text("different time on your clock")
    await expect(lessons.filter(has=a.get_by_test_id("clock-change-note")).first).to_contain_text("instead of")
    # No "hold released" toast for the hold that became the first lesson.
    await expect(a.get_by_test_id("toast").filter(has_text="Hold released")).to_have_count(0)
    await screenshot(a, "series-booked")

    # The other student, watching the same week, sees the first lesson taken, live.
    await expect(slot(b, start)).to_have_count(0, timeout=UI_TIMEOUT_MS)

    # From the third lesson's page: cancel it and the later ones, by policy.
    first_id = await panel.get_attribute("data-booking-id")
    await a.goto(f"{platform.web_url}/bookings/{first_id}")
    card = a.get_by_test_id("series-card")
    await expect(card.get_by_test_id("series-occurrence")).to_have_count(6, timeout=SLOW_UI_TIMEOUT_MS)
    third = await _occurrence_id(platform, people, first_id, 2)
    await a.goto(f"{platform.web_url}/bookings/{third}")
    await a.get_by_test_id("cancel-series").click()
    await expect(a.get_by_test_id("series-cancel-confirm")).to_contain_text("Cancel 4 lessons")
    await a.get_by_test_id("confirm-cancel-series").click()
    statuses = a.get_by_test_id("series-card").get_by_test_id("series-occurrence")
    await expect(statuses.nth(5)).to_contain_text("Cancelled", timeout=UI_TIMEOUT_MS)
    await expect(statuses.nth(1)).to_contain_text("Confirmed")
    await expect(a.get_by_test_id("booking-detail")).to_have_attribute("data-status", "cancelled",
                                                                       timeout=UI_TIMEOUT_MS)
    await screenshot(a, "series-cancel-rest")


async def _occurrence_id(platform: Platform, people: Cast, booking_id: str | None, index: int) -> str:
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        booking = (await api.get(f"/api/v1/bookings/{booking_id}", headers=people.student_a.headers)).json()
        series = (await api.get(f"/api/v1/series/{booking['series_id']}", headers=people.student_a.headers)).json()
    return str(series["occurrences"][index]["booking_id"])
