"""The hold → pay flow with the keyboard alone: Tab to an open slot, Enter to hold it, Tab
to "Pay", Enter, Tab to the (test) payment button, Enter — never a click."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, Cast, Platform, new_page, problems_of, screenshot, sign_in
from tests.browser.pages import OPEN_SLOT, UI_TIMEOUT_MS, open_tutor_page
from tests.helpers import register, unique_email

pytestmark = pytest.mark.xdist_group("browser")


async def tab_to(page: Page, selector: str, max_presses: int = 600) -> None:
    """Press Tab until the focused element matches ``selector`` (and is visible)."""
    for _ in range(max_presses):
        await page.keyboard.press("Tab")
        if await page.evaluate("s => { const e = document.activeElement; return !!e && e.matches(s) "
                               "&& e.getBoundingClientRect().width > 0 }", selector):
            return
    raise AssertionError(f"Tab never reached {selector} in {max_presses} presses")


async def test_hold_and_pay_with_the_keyboard_only(browser: Browser, platform: Platform, cast: Cast) -> None:
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        student = await register(api, role="student", email=unique_email("kira"), name="Kira Keys", password=PASSWORD)
    page = await new_page(browser)
    await sign_in(page, platform.web_url, student["user"]["email"], PASSWORD)
    await open_tutor_page(page, platform.web_url, cast.tutor.id)

    await tab_to(page, OPEN_SLOT)
    await expect(page.locator(":focus")).to_be_visible()  # the focus ring is on screen
    await page.keyboard.press("Enter")
    panel = page.get_by_test_id("hold-panel")
    await expect(panel).to_have_attribute("data-phase", "held", timeout=UI_TIMEOUT_MS)

    await tab_to(page, '[data-testid="pay"]')
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("test-pay")).to_be_visible(timeout=UI_TIMEOUT_MS)
    await tab_to(page, '[data-testid="test-pay"]')
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("booking-confirmed")).to_be_visible(timeout=UI_TIMEOUT_MS)
    await screenshot(page, "keyboard-paid")
    assert not problems_of(page).errors, problems_of(page).errors
    await page.context.close()
