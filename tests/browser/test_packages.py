"""Lesson packages in the browser: a tutor sells a package from the package editor, a student
buys it on the tutor page (test provider), sees the credits, holds a slot and confirms it with
a credit from the hold panel, and finds one credit fewer under "My credits"."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from server.settings import Settings
from tests.browser.bookings import london_tutor, unlist_tutors
from tests.browser.conftest import PASSWORD, Platform, new_page, problems_of, sign_in
from tests.browser.pages import OPEN_SLOT, SLOW_UI_TIMEOUT_MS, open_tutor_page
from tests.helpers import register, unique_email

pytestmark = pytest.mark.xdist_group("browser")

HEADLINE = "Lesson packages (browser test)"


@pytest.fixture(autouse=True)
async def _unlist_our_tutors(settings: Settings) -> AsyncIterator[None]:
    yield
    await unlist_tutors(settings, HEADLINE)


@pytest.fixture
async def pages(browser: Browser) -> AsyncIterator[list[Page]]:
    opened = [await new_page(browser), await new_page(browser)]
    yield opened
    for page in opened:
        assert not problems_of(page).errors, problems_of(page).errors
        await page.context.close()


async def test_student_buys_a_package_and_confirms_a_lesson_with_a_credit(platform: Platform,
                                                                          pages: list[Page]) -> None:
    student_page, tutor_page = pages
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        tutor = await london_tutor(api, "Pia Kowalski", HEADLINE)
        tutor_id = tutor["user"]["id"]
        student = await register(api, role="student", email=unique_email("noor"), name="Noor Haddad",
                                 password=PASSWORD)

        # The tutor sells five hours for £180 from the package editor.
        await sign_in(tutor_page, platform.web_url, tutor["user"]["email"], PASSWORD)
        await tutor_page.goto(f"{platform.web_url}/tutor/packages")
        await tutor_page.get_by_test_id("add-package").click(timeout=SLOW_UI_TIMEOUT_MS)
        row = tutor_page.get_by_test_id("package-row")
        await row.get_by_test_id("package-lessons").fill("5")
        await row.get_by_test_id("package-price").fill("180")
        await tutor_page.get_by_test_id("save-packages").click()
        await expect(tutor_page.get_by_text("Packages saved")).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
        [package] = (await api.get(f"/api/v1/tutors/{tutor_id}/packages")).json()["items"]
        assert (package["lessons"], package["minutes"], package["price_cents"], package["currency"]) == (
            5, 60, 18000, "GBP")

        # The student buys it on the tutor page and sees the credits.
        await sign_in(student_page, platform.web_url, student["user"]["email"], PASSWORD)
        await open_tutor_page(student_page, platform.web_url, tutor_id)
        offer = student_page.get_by_test_id("package")
        await expect(offer).to_contain_text("5 × 60-minute lessons", timeout=SLOW_UI_TIMEOUT_MS)
        await offer.get_by_test_id("buy-package").click()
        await offer.get_by_test_id("package-test-pay").click(timeout=SLOW_UI_TIMEOUT_MS)
        await expect(student_page.get_by_test_id("tutor-credit")).to_contain_text("5 credits",
                                                                                  timeout=SLOW_UI_TIMEOUT_MS)

        # A held slot is confirmed with one credit from the hold panel: no payment asked.
        await student_page.locator(OPEN_SLOT).first.click()
        panel = student_page.get_by_test_id("hold-panel")
        await expect(panel.get_by_test_id("credit-offer")).to_contain_text("5", timeout=SLOW_UI_TIMEOUT_MS)
        await panel.get_by_test_id("pay-with-credit").click()
        await expect(panel.get_by_test_id("booking-confirmed")).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
        [booking] = (await api.get("/api/v1/bookings", headers=student["headers"],
                                   params={"status": "confirmed"})).json()["items"]
        assert booking["paid_with_credit"] is True and booking["payment_status"] == "credit"

        await student_page.goto(f"{platform.web_url}/credits")
        credit = student_page.get_by_test_id("credit-row")
        await expect(credit.get_by_test_id("credit-remaining")).to_have_text("4", timeout=SLOW_UI_TIMEOUT_MS)
        await expect(credit).to_contain_text("Pia Kowalski")
