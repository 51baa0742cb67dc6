"""The landing page: tutor search with filters that live in the URL."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Cast, Platform, screenshot
from tests.browser.pages import SLOW_UI_TIMEOUT_MS, UI_TIMEOUT_MS

pytestmark = pytest.mark.xdist_group("browser")


async def test_landing_page_lists_published_tutors(platform: Platform, cast: Cast, anonymous: Page) -> None:
    page = anonymous
    await page.goto(platform.web_url)
    cards = page.get_by_test_id("tutor-card")
    # Every published tutor and only those (other browser tests may have published more).
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        listed = (await api.get("/api/v1/tutors", params={"limit": 50})).json()["items"]
    assert {cast.tutor.id, *(t.id for t in cast.other_tutors)} <= {t["id"] for t in listed}
    await expect(cards).to_have_count(len(listed), timeout=SLOW_UI_TIMEOUT_MS)
    for tutor in (cast.tutor, *cast.other_tutors):
        await expect(page.locator(f'[data-testid="tutor-card"][data-tutor-id="{tutor.id}"]')).to_contain_text(
            tutor.name)
    await screenshot(page, "search")


async def test_subject_filter_offers_the_subjects_that_exist_and_is_kept_in_the_url(
        platform: Platform, cast: Cast, anonymous: Page) -> None:
    page = anonymous
    await page.goto(platform.web_url)
    await expect(page.get_by_test_id("tutor-card")).to_have_count(3, timeout=SLOW_UI_TIMEOUT_MS)
    options = page.get_by_test_id("filter-subject").locator("option")
    # "Any subject" plus GET /tutors/subjects: every taught subject, by name, with its tutor count.
    await expect(options).to_have_text(["Any subject", "Chemistry (1)", "Mathematics (1)", "Physics (1)",
                                        "Programming (1)"], timeout=UI_TIMEOUT_MS)
    await page.get_by_test_id("filter-subject").select_option("chemistry")

    await expect(page).to_have_url(f"{platform.web_url}/?subject=chemistry", timeout=UI_TIMEOUT_MS)
    cards = page.get_by_test_id("tutor-card")
    await expect(cards).to_have_count(1, timeout=UI_TIMEOUT_MS)
    await expect(cards).to_have_attribute("data-tutor-id", cast.other_tutors[0].id)


async def test_max_price_compares_in_the_currency_picked_next_to_it(platform: Platform, cast: Cast,
                                                                     anonymous: Page) -> None:
    page = anonymous
    await page.goto(platform.web_url)
    await expect(page.get_by_test_id("tutor-card")).to_have_count(3, timeout=SLOW_UI_TIMEOUT_MS)
    await page.get_by_test_id("filter-currency").select_option("GBP")
    await expect(page.get_by_test_id("max-price-label")).to_have_text("Max / hour (GBP)")
    await page.get_by_test_id("filter-max-price").fill("48")
    await page.get_by_test_id("search-submit").click()
    await expect(page).to_have_url(f"{platform.web_url}/?max=48&cur=GBP", timeout=UI_TIMEOUT_MS)
    # £45 and £38 are within £48; the $52 tutor is not compared in pounds at all.
    cards = page.get_by_test_id("tutor-card")
    await expect(cards).to_have_count(2, timeout=UI_TIMEOUT_MS)
    await expect(page.locator(f'[data-tutor-id="{cast.other_tutors[1].id}"]')).to_have_count(0)

    await page.get_by_test_id("filter-currency").select_option("USD")
    await expect(page.get_by_test_id("max-price-label")).to_have_text("Max / hour (USD)")
    await page.get_by_test_id("filter-max-price").fill("60")
    await page.get_by_test_id("search-submit").click()
    await expect(page).to_have_url(f"{platform.web_url}/?max=60", timeout=UI_TIMEOUT_MS)
    await expect(cards).to_have_count(1, timeout=UI_TIMEOUT_MS)
    await expect(cards).to_have_attribute("data-tutor-id", cast.other_tutors[1].id)


async def test_a_phone_sees_a_tutor_without_scrolling(platform: Platform, cast: Cast, phone: Page) -> None:
    await phone.set_viewport_size({"width": 390, "height": 844})
    await phone.goto(platform.web_url)
    first = phone.get_by_test_id("tutor-card").first
    await expect(first).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
    box = await first.bounding_box()
    assert box is not None
    # The card's name and headline (its top 80 px) show on the first screen: the hero stays compact.
    assert box["y"] >= 0 and box["y"] + 80 <= 844, f"the first tutor card starts at y={box['y']:.0f}"
    price = await phone.get_by_test_id("filter-max-price").bounding_box()
    assert price is not None and price["x"] + price["width"] <= 390, "the max price box runs off the screen"
    overflow = await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone's screen"
    await screenshot(phone, "search-phone", full_page=False)
