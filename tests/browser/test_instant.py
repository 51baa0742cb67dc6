"""Instant lessons in the browser: the tutor switches "Available now" on, a student asks for a
lesson now, the tutor accepts from the live request card, and both see the booking."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import Cast, Platform, screenshot
from tests.browser.pages import SLOW_UI_TIMEOUT_MS, UI_TIMEOUT_MS

pytestmark = pytest.mark.xdist_group("browser")


async def test_student_asks_for_a_lesson_now_and_the_available_tutor_accepts_it(platform: Platform,
                                                                               people: Cast) -> None:
    student, tutor = people.student_a.p, people.tutor.p
    await tutor.goto(f"{platform.web_url}/tutor/dashboard")
    await expect(tutor.get_by_test_id("live-status")).to_have_attribute("data-state", "live",
                                                                        timeout=SLOW_UI_TIMEOUT_MS)
    toggle = tutor.get_by_test_id("instant-toggle")
    await expect(toggle).to_be_enabled(timeout=UI_TIMEOUT_MS)
    await expect(toggle).to_have_attribute("aria-checked", "false")
    await expect(tutor.get_by_test_id("instant-online")).to_have_attribute("data-online", "false")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-checked", "true", timeout=UI_TIMEOUT_MS)
    await expect(tutor.get_by_test_id("instant-online")).to_have_attribute("data-online", "true")
    await screenshot(tutor, "instant-tutor-available", full_page=False)

    await student.goto(platform.web_url)
    panel = student.get_by_test_id("instant-panel")
    await expect(panel).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
    await expect(student.get_by_test_id("instant-subject").locator('option[value="mathematics"]')).to_be_attached(
        timeout=UI_TIMEOUT_MS)
    await student.get_by_test_id("instant-subject").select_option("mathematics")
    await student.get_by_test_id("instant-minutes").select_option("60")
    await student.get_by_test_id("instant-ask").click()
    await expect(student.get_by_test_id("instant-waiting")).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(panel).to_have_attribute("data-status", "pending")

    offer = tutor.get_by_test_id("instant-offer")
    await expect(offer).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(offer).to_contain_text(people.student_a.name.split()[0])
    await expect(offer).to_contain_text("60 min of Mathematics")
    await expect(tutor.get_by_test_id("instant-offer-countdown")).to_have_text(re.compile(r"^0:[0-3]\d$"))
    await screenshot(tutor, "instant-request-toast", full_page=False)
    await tutor.get_by_test_id("instant-accept").click()

    await expect(panel).to_have_attribute("data-status", "accepted", timeout=UI_TIMEOUT_MS)
    link = student.get_by_test_id("instant-booking")
    await expect(link).to_be_visible()
    booking_id = await link.get_attribute("data-booking-id")
    assert booking_id
    await expect(student.get_by_test_id("instant-accepted")).to_contain_text(people.tutor.name)
    row = tutor.locator(f'[data-testid="holds-list"] [data-testid="booking-row"][data-booking-id="{booking_id}"]')
    await expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(offer).to_have_count(0)
    await screenshot(student, "instant-accepted-student", full_page=False)
    await screenshot(tutor, "instant-accepted-tutor", full_page=False)

    # Leave things as other tests expect them: the hold let go, the tutor not available.
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        r = await api.delete(f"/api/v1/holds/{booking_id}", headers=people.student_a.headers)
        assert r.status_code in (204, 409), r.text  # 409: it lapsed already (short HOLD_TTL_SECONDS here)
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-checked", "false", timeout=UI_TIMEOUT_MS)


async def test_the_only_tutor_declines_and_the_student_is_told_at_once(platform: Platform, people: Cast) -> None:
    student, tutor = people.student_b.p, people.tutor.p
    await tutor.goto(f"{platform.web_url}/tutor/dashboard")
    await expect(tutor.get_by_test_id("live-status")).to_have_attribute("data-state", "live",
                                                                        timeout=SLOW_UI_TIMEOUT_MS)
    toggle = tutor.get_by_test_id("instant-toggle")
    await expect(toggle).to_be_enabled(timeout=UI_TIMEOUT_MS)
    if await toggle.get_attribute("aria-checked") == "false":
        await toggle.click()
    await expect(tutor.get_by_test_id("instant-online")).to_have_attribute("data-online", "true",
                                                                          timeout=UI_TIMEOUT_MS)
    try:
        await student.goto(platform.web_url)
        panel = student.get_by_test_id("instant-panel")
        await expect(student.get_by_test_id("instant-subject").locator('option[value="mathematics"]')).to_be_attached(
            timeout=SLOW_UI_TIMEOUT_MS)
        await student.get_by_test_id("instant-subject").select_option("mathematics")
        await student.get_by_test_id("instant-minutes").select_option("60")
        await student.get_by_test_id("instant-ask").click()
        await expect(panel).to_have_attribute("data-status", "pending", timeout=UI_TIMEOUT_MS)

        offer = tutor.get_by_test_id("instant-offer")
        await expect(offer).to_be_visible(timeout=UI_TIMEOUT_MS)
        await tutor.get_by_test_id("instant-decline").click()
        await expect(offer).to_have_count(0)
        # Nobody else was asked: the request ends now, not at its deadline.
        await expect(panel).to_have_attribute("data-status", "declined", timeout=UI_TIMEOUT_MS)
        await expect(student.get_by_test_id("instant-declined")).to_contain_text("nothing was charged")
        await expect(student.get_by_test_id("instant-form")).to_be_visible()
        await screenshot(student, "instant-declined-student", full_page=False)
    finally:
        await toggle.click()
        await expect(toggle).to_have_attribute("aria-checked", "false", timeout=UI_TIMEOUT_MS)
