"""Signing up in the browser: the account gets the browser's time zone."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import Platform, new_page, problems_of, screenshot
from tests.browser.pages import SLOW_UI_TIMEOUT_MS, UI_TIMEOUT_MS
from tests.helpers import unique_email

pytestmark = pytest.mark.xdist_group("browser")


async def test_sign_up_sends_the_browsers_time_zone(platform: Platform, browser: Browser) -> None:
    page = await new_page(browser, timezone_id="America/Sao_Paulo")
    try:
        await page.goto(f"{platform.web_url}/signup")
        form = page.get_by_test_id("signup-form")
        await expect(page.get_by_test_id("signup-timezone")).to_contain_text("America/Sao Paulo")

        # Checked in the browser first, in words.
        await form.get_by_label("Your name").fill("Priya Raman")
        await form.get_by_label("Email").fill("priya-at-example")
        await form.get_by_label("Password").fill("short")
        await page.get_by_test_id("signup-submit").click()
        await expect(form.get_by_text("Please enter a valid email address.")).to_be_visible()
        await expect(form.get_by_text("Your password needs at least 8 characters.")).to_be_visible()
        await screenshot(page, "signup-checks")

        email = unique_email("priya")
        await form.get_by_label("Email").fill(email)
        await form.get_by_label("Password").fill("priya-password-1")
        await page.get_by_test_id("signup-submit").click()
        await expect(page.get_by_test_id("current-user-name")).to_have_text("Priya Raman", timeout=SLOW_UI_TIMEOUT_MS)

        me = await page.evaluate("""async (api) => {
            const r = await fetch(api + "/api/v1/me", {credentials: "include"});
            return r.json();
        }""", platform.api_url)
        assert me["email"] == email and me["timezone"] == "America/Sao_Paulo", me

        # The settings page shows the saved zone, not a suggestion.
        await page.get_by_test_id("settings-link").click()
        await expect(page.get_by_test_id("timezone-select")).to_have_value("America/Sao_Paulo", timeout=UI_TIMEOUT_MS)
        assert not problems_of(page).errors, problems_of(page).errors
    finally:
        await page.context.close()
