"""Paying for a hold: the student is booked and the tutor's dashboard shows it without a reload."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Cast, Platform, screenshot
from tests.browser.latency import record
from tests.browser.pages import (
    UI_TIMEOUT_MS,
    browser_now,
    common_open_slot,
    hold_slot,
    open_tutor_page,
    slot,
)

pytestmark = pytest.mark.xdist_group("browser")


async def test_a_paid_hold_appears_on_the_tutors_dashboard_without_a_reload(platform: Platform,
                                                                           people: Cast) -> None:
    a, b, tutor = people.student_a.p, people.student_b.p, people.tutor.p
    await tutor.goto(f"{platform.web_url}/tutor/dashboard")
    await expect(tutor.get_by_test_id("live-status")).to_have_attribute("data-state", "live", timeout=UI_TIMEOUT_MS)
    await expect(tutor.get_by_test_id("stat-upcoming")).to_be_visible(timeout=UI_TIMEOUT_MS)
    # A marker that only survives if the dashboard is never reloaded.
    await tutor.evaluate("window.__sameDashboard = true")
    await asyncio.gather(*(open_tutor_page(p, platform.web_url, people.tutor.id) for p in (a, b)))
    start = await common_open_slot(a, b)

    booking_id = await hold_slot(a, start)
    row = f'[data-testid="booking-row"][data-booking-id="{booking_id}"]'
    await expect(tutor.locator(f'[data-testid="holds-list"] {row}')).to_be_visible(timeout=UI_TIMEOUT_MS)

    await a.get_by_test_id("pay").click()
    await expect(a.get_by_test_id("test-pay")).to_be_visible(timeout=UI_TIMEOUT_MS)
    await screenshot(a, "checkout")
    paid = await browser_now(a)
    await a.get_by_test_id("test-pay").click()
    await expect(a.get_by_test_id("booking-confirmed")).to_be_visible(timeout=UI_TIMEOUT_MS)

    upcoming = tutor.locator(f'[data-testid="upcoming-list"] {row}')
    await expect(upcoming).to_have_attribute("data-status", "confirmed", timeout=UI_TIMEOUT_MS)
    shown = await browser_now(tutor)
    record("pay_to_dashboard", click_to_shown_upper_bound=shown - paid)
    await expect(tutor.get_by_test_id("toast").first).to_be_visible()
    await expect(tutor.locator(f'[data-testid="holds-list"] {row}')).to_have_count(0, timeout=UI_TIMEOUT_MS)
    await expect(tutor.get_by_test_id("activity-item").first).to_contain_text(people.student_a.name.split()[0])
    assert await tutor.evaluate("window.__sameDashboard === true"), "the dashboard was reloaded"
    # Booked time leaves the other student's week view.
    await expect(slot(b, start)).to_have_count(0, timeout=UI_TIMEOUT_MS)
    await screenshot(tutor, "tutor-dashboard")
    await screenshot(a, "booking-confirmed")

    await a.goto(f"{platform.web_url}/bookings")
    booking = a.locator(row)
    await expect(booking).to_have_attribute("data-status", "confirmed", timeout=UI_TIMEOUT_MS)
    await expect(booking).to_contain_text(people.tutor.name)
    await screenshot(a, "bookings")
