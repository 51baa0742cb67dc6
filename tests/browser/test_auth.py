"""Signing in from the browser: the API's error envelope shows up clearly on the form."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Cast, Platform, screenshot
from tests.browser.pages import UI_TIMEOUT_MS

pytestmark = pytest.mark.xdist_group("browser")


async def test_wrong_password_shows_a_clear_error_and_stays_signed_out(platform: Platform, cast: Cast,
                                                                       anonymous: Page) -> None:
    page = anonymous
    await page.goto(f"{platform.web_url}/login")
    await page.get_by_label("Email").fill(cast.student_a.email)
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_test_id("login-submit").click()

    error = page.get_by_test_id("form-error")
    await expect(error).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(error).to_have_attribute("role", "alert")
    await expect(error).to_contain_text("Sign-in failed")
    await expect(error).to_contain_text("The email or password is incorrect.")
    await expect(page).to_have_url(f"{platform.web_url}/login")
    await expect(page.get_by_test_id("current-user")).to_have_count(0)
    await expect(page.get_by_test_id("login-submit")).to_be_enabled()
    await screenshot(page, "login-error")
