"""The booking detail page (/bookings/<id>): both time zones, status history, refund shown
before cancelling; and a lapsed hold for a future time is not filed under "Past & cancelled"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.bookings import confirmed_booking, hold_somewhere
from tests.browser.conftest import PASSWORD, Cast, Platform, new_page, problems_of, screenshot, sign_in
from tests.browser.pages import OPEN_SLOT, SLOW_UI_TIMEOUT_MS, UI_TIMEOUT_MS
from tests.helpers import login

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture
async def student_in_new_york(browser: Browser, platform: Platform, cast: Cast) -> AsyncIterator[Page]:
    """Student A again, from a browser set to New York time (the tutor teaches in London)."""
    page = await new_page(browser, timezone_id="America/New_York", locale="en-US")
    await sign_in(page, platform.web_url, cast.student_a.email, PASSWORD)
    yield page
    assert not problems_of(page).errors, problems_of(page).errors
    await page.context.close()


async def test_booking_detail_shows_both_zones_history_and_the_refund_before_cancelling(
        platform: Platform, cast: Cast, student_in_new_york: Page) -> None:
    page = student_in_new_york
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        student = await login(api, cast.student_a.email, PASSWORD)
        api.cookies.clear()
        tutor = await login(api, cast.tutor.email, PASSWORD)
        api.cookies.clear()
        booking = await confirmed_booking(api, student["headers"], cast.tutor.id, days=4)

        await page.goto(f"{platform.web_url}/bookings")
        row = page.locator(f'[data-testid="booking-row"][data-booking-id="{booking["id"]}"]')
        await row.get_by_test_id("booking-details").click()
        await expect(page).to_have_url(f"{platform.web_url}/bookings/{booking['id']}")
        detail = page.get_by_test_id("booking-detail")
        await expect(detail).to_have_attribute("data-status", "confirmed", timeout=SLOW_UI_TIMEOUT_MS)
        await expect(page.get_by_role("heading", name=f"Lesson with {cast.tutor.name}")).to_be_visible()
        # The viewer's zone and the tutor's: the same instant, five hours apart in December.
        await expect(page.get_by_test_id("time-viewer")).to_contain_text("EST")
        await expect(page.get_by_test_id("time-tutor")).to_contain_text("GMT", timeout=UI_TIMEOUT_MS)
        start = datetime.fromisoformat(booking["start"])
        london_hour = start.astimezone(UTC).strftime("%-I:00")
        await expect(page.get_by_test_id("time-tutor")).to_contain_text(london_hour)
        entries = page.get_by_test_id("history-entry")
        await expect(entries).to_have_count(2)
        assert await entries.evaluate_all("els => els.map(e => e.dataset.kind)") == ["held", "confirmed"]
        await expect(entries.nth(1)).to_contain_text("Paid and confirmed by you")
        await expect(page.get_by_test_id("join-none")).to_be_visible()

        # The tutor moves it a day later: the page follows (live) and the history says so.
        moved = (start + timedelta(days=1)).isoformat()
        r = await api.post(f"/api/v1/bookings/{booking['id']}/reschedule", headers=tutor["headers"],
                           json={"start": moved})
        assert r.status_code == 200, r.text
        await expect(entries).to_have_count(3, timeout=SLOW_UI_TIMEOUT_MS)
        await expect(entries.nth(2)).to_contain_text("Moved by the tutor")

    # Moving it: the dialog says what the refund terms will be once a new time is picked.
    await page.get_by_test_id("reschedule").click()
    moving = page.get_by_test_id("reschedule-dialog")
    await expect(moving.get_by_test_id("week-view")).not_to_have_attribute("data-loading", "true",
                                                                          timeout=SLOW_UI_TIMEOUT_MS)
    if await moving.locator(OPEN_SLOT).count() == 0:  # late on a Sunday: this week is over
        await moving.get_by_test_id("week-next").click()
    picked = moving.locator(OPEN_SLOT).first
    await picked.click(timeout=SLOW_UI_TIMEOUT_MS)
    # The deadline never moves later: 24 h before the earlier of the original and the new time.
    new_start = datetime.fromisoformat((await picked.get_attribute("data-start") or "").replace("Z", "+00:00"))
    keeps_refund = min(start, new_start) - timedelta(hours=24) > datetime.now(UTC)
    await expect(moving.get_by_test_id("reschedule-refund-preview")).to_contain_text(
        "full refund until" if keeps_refund else "will no longer be refunded", timeout=UI_TIMEOUT_MS)
    await screenshot(page, "booking-detail-reschedule-preview", full_page=False)
    await moving.get_by_role("button", name="Keep current time").click()
    await expect(moving).not_to_be_visible()

    # Cancelling: the refund is shown before confirming (more than 24 h ahead: all of it).
    await page.get_by_test_id("cancel").click()
    dialog = page.get_by_test_id("cancel-dialog")
    preview = dialog.get_by_test_id("refund-preview")
    await expect(preview).to_contain_text("full refund", timeout=UI_TIMEOUT_MS)
    await expect(preview.locator("[data-refund-cents]")).to_have_attribute("data-refund-cents",
                                                                          str(booking["price_cents"]))
    await screenshot(page, "booking-detail-cancel-preview", full_page=False)
    await dialog.get_by_label("Reason (optional)").fill("Exam moved")
    await dialog.get_by_test_id("confirm-cancel").click()
    await expect(detail).to_have_attribute("data-status", "cancelled", timeout=UI_TIMEOUT_MS)
    await expect(entries).to_have_count(4, timeout=UI_TIMEOUT_MS)
    await expect(entries.nth(3)).to_contain_text("Cancelled by you")
    await expect(entries.nth(3)).to_contain_text("refund of")
    await expect(page.get_by_test_id("refund-result")).to_contain_text("Exam moved")
    await expect(page.get_by_test_id("cancel")).to_have_count(0)
    await screenshot(page, "booking-detail")


async def test_someone_elses_booking_says_not_found(platform: Platform, people: Cast) -> None:
    page = people.student_b.p
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        student = await login(api, people.student_a.email, PASSWORD)
        held = await hold_somewhere(api, student["headers"], people.tutor.id, days=6)
        r = await api.delete(f"/api/v1/holds/{held['id']}", headers=student["headers"])
        assert r.status_code in (200, 204), r.text
    await page.goto(f"{platform.web_url}/bookings/{held['id']}")
    await expect(page.get_by_test_id("booking-error")).to_contain_text("not one of yours", timeout=UI_TIMEOUT_MS)


async def test_a_lapsed_hold_for_a_future_time_is_filed_as_hold_lapsed(platform: Platform, people: Cast) -> None:
    page = people.student_b.p
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        student = await login(api, people.student_b.email, PASSWORD)
        held = await hold_somewhere(api, student["headers"], people.tutor.id, days=5)
    await page.goto(f"{platform.web_url}/bookings")
    row = page.locator(f'[data-testid="booking-row"][data-booking-id="{held["id"]}"]')
    await expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
    # The hold lapses unpaid (HOLD_TTL_SECONDS in these tests): it stays under "Upcoming", marked.
    await expect(row.get_by_test_id("booking-status")).to_have_text("Hold lapsed", timeout=SLOW_UI_TIMEOUT_MS * 2)
    await expect(row.get_by_test_id("hold-lapsed")).to_be_visible()
    await expect(page.get_by_test_id("tab-upcoming")).to_have_attribute("aria-selected", "true")
    await screenshot(page, "bookings-hold-lapsed")
    await page.get_by_test_id("tab-past").click()
    await expect(row).to_have_count(0)


async def test_a_student_moves_a_lesson_sooner_and_cancelling_shows_then_gives_the_refund_left(
        platform: Platform, cast: Cast, student_in_new_york: Page) -> None:
    """Rescheduling through the dialog (to the earliest open time), then cancelling: the refund the
    dialog shows is the refund the booking gets — none once the move put the lesson inside the
    full-refund window (moving never extends it), all of it otherwise."""
    page = student_in_new_york
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        student = await login(api, cast.student_a.email, PASSWORD)
        booking = await confirmed_booking(api, student["headers"], cast.tutor.id, days=6)
        full_refund_hours = (await api.get(f"/api/v1/bookings/{booking['id']}/cancellation",
                                           headers=student["headers"])).json()["full_refund_hours"]
        await page.goto(f"{platform.web_url}/bookings/{booking['id']}")
        detail = page.get_by_test_id("booking-detail")
        await expect(detail).to_have_attribute("data-status", "confirmed", timeout=SLOW_UI_TIMEOUT_MS)
        entries = page.get_by_test_id("history-entry")
        await expect(entries).to_have_count(2, timeout=UI_TIMEOUT_MS)

        await page.get_by_test_id("reschedule").click()
        moving = page.get_by_test_id("reschedule-dialog")
        await expect(moving.get_by_test_id("week-view")).not_to_have_attribute("data-loading", "true",
                                                                              timeout=SLOW_UI_TIMEOUT_MS)
        if await moving.locator(OPEN_SLOT).count() == 0:  # late on a Sunday: this week is over
            await moving.get_by_test_id("week-next").click()
        starts = sorted(s for s in await moving.locator(OPEN_SLOT).evaluate_all("els => els.map(e => e.dataset.start)"))
        earliest = starts[0]
        await moving.locator(f'{OPEN_SLOT}[data-start="{earliest}"]').click(timeout=SLOW_UI_TIMEOUT_MS)
        new_start = datetime.fromisoformat(earliest.replace("Z", "+00:00"))
        inside = new_start - timedelta(hours=full_refund_hours) <= datetime.now(UTC)
        await expect(moving.get_by_test_id("reschedule-refund-preview")).to_contain_text(
            "will no longer be refunded" if inside else "full refund until", timeout=UI_TIMEOUT_MS)
        await moving.get_by_test_id("confirm-reschedule").click()
        await expect(moving).not_to_be_visible(timeout=UI_TIMEOUT_MS)
        await expect(entries).to_have_count(3, timeout=SLOW_UI_TIMEOUT_MS)
        await expect(entries.nth(2)).to_contain_text("Moved by you")
        moved = (await api.get(f"/api/v1/bookings/{booking['id']}", headers=student["headers"])).json()
        assert datetime.fromisoformat(moved["start"]) == new_start and moved["status"] == "confirmed"

        await page.get_by_test_id("cancel").click()
        dialog = page.get_by_test_id("cancel-dialog")
        shown = dialog.get_by_test_id("refund-preview").locator("[data-refund-cents]")
        expected = 0 if inside else booking["price_cents"]
        await expect(shown).to_have_attribute("data-refund-cents", str(expected), timeout=UI_TIMEOUT_MS)
        await expect(dialog.get_by_test_id("refund-preview")).to_contain_text("No refund" if inside else "full refund")
        await screenshot(page, "booking-detail-cancel-after-move", full_page=False)
        await dialog.get_by_test_id("confirm-cancel").click()
        await expect(detail).to_have_attribute("data-status", "cancelled", timeout=UI_TIMEOUT_MS)
        cancelled = (await api.get(f"/api/v1/bookings/{booking['id']}", headers=student["headers"])).json()
        assert cancelled["status"] == "cancelled" and (cancelled["refund_cents"] or 0) == expected
