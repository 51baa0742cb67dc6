"""The site has an icon: no 404 for it (or anything else of the web app) in the console."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, Response, expect

from tests.browser.conftest import Platform
from tests.browser.pages import UI_TIMEOUT_MS

pytestmark = pytest.mark.xdist_group("browser")


async def test_pages_have_an_icon_and_no_missing_files(platform: Platform, anonymous: Page) -> None:
    page = anonymous
    missing: list[str] = []

    def on_response(response: Response) -> None:
        if response.url.startswith(platform.web_url) and response.status == 404:
            missing.append(response.url)

    page.on("response", on_response)
    await page.goto(f"{platform.web_url}/login")
    await expect(page.get_by_test_id("login-form")).to_be_visible(timeout=UI_TIMEOUT_MS)
    icon = page.locator('link[rel="icon"]').first
    await expect(icon).to_be_attached()
    href = await icon.get_attribute("href")
    assert href
    async with httpx.AsyncClient(base_url=platform.web_url, timeout=30) as web:
        r = await web.get(href)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/"), (href, r.status_code)
    # Chromium asks for the page's icon itself; nothing it asked for is missing.
    await page.wait_for_load_state("networkidle")
    assert missing == [], missing
