"""Account settings (/settings, from the header): name, time zone, password, e-mail, calendar."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, Platform, new_page, problems_of, screenshot, sign_in
from tests.browser.pages import UI_TIMEOUT_MS
from tests.helpers import register, unique_email

pytestmark = pytest.mark.xdist_group("browser")

NEW_YORK = "America/New_York"


@pytest.fixture
async def new_yorker(browser: Browser, platform: Platform) -> AsyncIterator[tuple[Page, dict[str, str]]]:
    """A fresh student (saved zone: the default UTC) signed in from a browser in New York."""
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        account = await register(api, role="student", email=unique_email("nadia"), name="Nadia Brooks",
                                 password=PASSWORD)
    assert account["user"]["timezone"] == "UTC"
    page = await new_page(browser, timezone_id=NEW_YORK, locale="en-US")
    await sign_in(page, platform.web_url, account["user"]["email"], PASSWORD)
    yield page, account["user"]
    assert not problems_of(page).errors, problems_of(page).errors
    await page.context.close()


async def test_settings_change_name_zone_and_password(platform: Platform,
                                                      new_yorker: tuple[Page, dict[str, str]]) -> None:
    page, user = new_yorker
    await page.get_by_test_id("settings-link").click()
    await expect(page).to_have_url(f"{platform.web_url}/settings")
    await expect(page.get_by_role("heading", name="Account settings")).to_be_visible()

    # The browser's zone is preselected over the never-chosen UTC, and the e-mail is unverified.
    zone = page.get_by_test_id("timezone-select")
    await expect(zone).to_have_value(NEW_YORK)
    await expect(page.get_by_test_id("email-unverified")).to_be_visible()
    await expect(page.get_by_test_id("calendar-state")).to_have_attribute("data-state", "unavailable")
    await expect(page.get_by_test_id("avatar").first).to_have_attribute("data-kind", "initials")
    await screenshot(page, "settings")

    # The name is checked in the browser before anything is sent.
    name = page.get_by_label("Display name")
    await name.fill("x" * 201)
    await page.get_by_test_id("account-save").click()
    await expect(page.get_by_test_id("field-error")).to_contain_text("at most 200 characters")

    await name.fill("Nadia B. Brooks")
    await zone.select_option("Asia/Tokyo")
    await page.get_by_test_id("account-save").click()
    await expect(page.get_by_test_id("current-user-name")).to_have_text("Nadia B. Brooks", timeout=UI_TIMEOUT_MS)
    await expect(page.get_by_test_id("account-save")).to_be_disabled()
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        r = await api.post("/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD})
        assert r.status_code == 200, r.text
        me = r.json()["user"]
    assert (me["name"], me["timezone"]) == ("Nadia B. Brooks", "Asia/Tokyo")

    # A new link too soon after the one e-mailed at sign-up: a calm note, not an error page.
    await page.get_by_test_id("resend-verification").click()
    await expect(page.get_by_test_id("email-note")).to_contain_text("We sent you a link a moment ago")

    # Wrong current password: said next to the field.
    form = page.get_by_test_id("password-form")
    await form.get_by_label("Current password").fill("not-my-password")
    await form.get_by_label("New password", exact=True).fill("a-brand-new-password")
    await form.get_by_label("Repeat the new password").fill("a-brand-new-password")
    await page.get_by_test_id("password-save").click()
    await expect(form.get_by_test_id("field-error")).to_have_text("This is not your current password.")
    await expect(form.get_by_test_id("form-error")).to_contain_text("Your current password is not correct.")

    # Mismatch is caught before sending.
    await form.get_by_label("Current password").fill(PASSWORD)
    await form.get_by_label("Repeat the new password").fill("something-else")
    await page.get_by_test_id("password-save").click()
    await expect(form.get_by_test_id("field-error")).to_have_text("The two new passwords do not match.")

    await form.get_by_label("Repeat the new password").fill("a-brand-new-password")
    await page.get_by_test_id("password-save").click()
    await expect(page.get_by_test_id("password-changed")).to_be_visible(timeout=UI_TIMEOUT_MS)
    await screenshot(page, "settings-password-changed")

    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        old = await api.post("/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD})
        new = await api.post("/api/v1/auth/login", json={"email": user["email"], "password": "a-brand-new-password"})
    assert old.status_code == 401, old.text
    assert new.status_code == 200, new.text
    # This sign-in stays signed in.
    await page.reload()
    await expect(page.get_by_test_id("current-user-name")).to_have_text("Nadia B. Brooks", timeout=UI_TIMEOUT_MS)
