"""The tutor's own pages: the weekly availability editor shows what the tutor published."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Cast, Platform, screenshot
from tests.browser.pages import UI_TIMEOUT_MS

pytestmark = pytest.mark.xdist_group("browser")


async def test_availability_editor_shows_the_tutors_weekly_hours(platform: Platform, people: Cast) -> None:
    page = people.tutor.p
    await page.goto(f"{platform.web_url}/tutor/availability")
    for day in range(7):
        hours = page.get_by_test_id(f"weekday-{day}").locator("input")
        await expect(hours.first).to_have_value("08:00", timeout=UI_TIMEOUT_MS)
        await expect(hours.nth(1)).to_have_value("20:00")
    await expect(page.get_by_test_id("availability-save")).to_be_enabled()
    await screenshot(page, "availability-editor")
