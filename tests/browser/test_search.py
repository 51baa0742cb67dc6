"""The landing page: tutor search with filters that live in the URL."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Cast, Platform, screenshot
from tests.browser.pages import SLOW_UI_TIMEOUT_MS, UI_TIMEOUT_MS

pytestmark = pytest.mark.xdist_group("browser")


async def test_landing_page_lists_published_tutors(platform: Platform, cast: Cast, anonymous: Page) -> None:
    page = anonymous
    await page.goto(platform.web_url)
    cards = page.get_by_test_id("tutor-card")
    await expect(cards).to_have_count(3, timeout=SLOW_UI_TIMEOUT_MS)
    for tutor in (cast.tutor, *cast.other_tutors):
        await expect(page.locator(f'[data-testid="tutor-card"][data-tutor-id="{tutor.id}"]')).to_contain_text(
            tutor.name)
    await screenshot(page, "search")


async def test_subject_filter_narrows_the_list_and_is_kept_in_the_url(platform: Platform, cast: Cast,
                                                                     anonymous: Page) -> None:
    page = anonymous
    await page.goto(platform.web_url)
    await expect(page.get_by_test_id("tutor-card")).to_have_count(3, timeout=SLOW_UI_TIMEOUT_MS)
    await page.get_by_test_id("filter-subject").fill("Chemistry")
    await page.get_by_test_id("search-submit").click()

    await expect(page).to_have_url(f"{platform.web_url}/?subject=Chemistry", timeout=UI_TIMEOUT_MS)
    cards = page.get_by_test_id("tutor-card")
    await expect(cards).to_have_count(1, timeout=UI_TIMEOUT_MS)
    await expect(cards).to_have_attribute("data-tutor-id", cast.other_tutors[0].id)
