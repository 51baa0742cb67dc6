"""The notification center in the browser: the tutor's bell counts a student's hold live, the
panel says what happened, marking read in one tab clears the other tab's bell, and what
happened while the tutor was away is waiting when they come back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from server.settings import Settings
from tests.browser.bookings import hold_somewhere, london_tutor, unlist_tutors
from tests.browser.conftest import PASSWORD, Platform, new_page, problems_of, screenshot, sign_in
from tests.browser.pages import SLOW_UI_TIMEOUT_MS
from tests.helpers import register, unique_email

pytestmark = pytest.mark.xdist_group("browser")

HEADLINE = "Notifications (browser test)"


@pytest.fixture(autouse=True)
async def _unlist_our_tutors(settings: Settings) -> AsyncIterator[None]:
    yield
    await unlist_tutors(settings, HEADLINE)


@pytest.fixture
async def tabs(browser: Browser) -> AsyncIterator[list[Page]]:
    """Two tabs of one browser (one context: the same signed-in session)."""
    first = await new_page(browser)
    second = await first.context.new_page()
    yield [first, second]
    assert not problems_of(first).errors, problems_of(first).errors
    await first.context.close()


async def test_the_bell_counts_live_clears_in_every_tab_and_keeps_what_happened_offline(
        platform: Platform, tabs: list[Page]) -> None:
    tab, other_tab = tabs
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        tutor = await london_tutor(api, "Nora Bell", HEADLINE)
        student = await register(api, role="student", email=unique_email("omar"), name="Omar Quist",
                                 password=PASSWORD)
        await sign_in(tab, platform.web_url, tutor["user"]["email"], PASSWORD)
        await other_tab.goto(f"{platform.web_url}/tutor/dashboard")
        bell, other_bell = tab.get_by_test_id("notification-bell"), other_tab.get_by_test_id("notification-bell")
        await expect(bell).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
        await expect(other_bell).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
        await expect(tab.get_by_test_id("notification-count")).to_have_count(0)

        # A student holds the tutor's time: both tabs' bells count it at once (booking.new and
        # the tutor's booking.updated are two notifications).
        await hold_somewhere(api, student["headers"], tutor["user"]["id"], days=4)
        await expect(tab.get_by_test_id("notification-count")).to_have_text("2", timeout=SLOW_UI_TIMEOUT_MS)
        await expect(other_tab.get_by_test_id("notification-count")).to_have_text("2", timeout=SLOW_UI_TIMEOUT_MS)

        await bell.click()
        panel = tab.get_by_test_id("notification-panel")
        items = panel.get_by_test_id("notification-item")
        await expect(items).to_have_count(2)
        await expect(items.first).to_contain_text("New hold on your calendar")
        await expect(items.first).to_contain_text("Omar Quist")
        await expect(items.first).to_have_attribute("data-unread", "true")
        await screenshot(tab, "notifications-bell", full_page=False)

        # Marking all read here clears the other tab's bell too (notifications.read).
        await panel.get_by_test_id("notification-read-all").click()
        await expect(tab.get_by_test_id("notification-count")).to_have_count(0, timeout=SLOW_UI_TIMEOUT_MS)
        await expect(other_tab.get_by_test_id("notification-count")).to_have_count(0, timeout=SLOW_UI_TIMEOUT_MS)
        await expect(items.first).to_have_attribute("data-unread", "false")

        # While the tutor is away (no tab open), the student releases the hold; coming back,
        # the bell has it, and the notifications page lists everything with the newest first.
        await other_tab.close()
        await tab.goto("about:blank")
        holds = (await api.get("/api/v1/bookings", headers=student["headers"], params={"status": "held"})).json()
        [held] = holds["items"]
        assert (await api.delete(f"/api/v1/holds/{held['id']}", headers=student["headers"])).status_code == 204

    await tab.goto(f"{platform.web_url}/notifications")
    await expect(tab.get_by_test_id("notification-count")).to_have_text("1", timeout=SLOW_UI_TIMEOUT_MS)
    listing = tab.get_by_test_id("notification-list").get_by_test_id("notification-item")
    await expect(listing).to_have_count(3, timeout=SLOW_UI_TIMEOUT_MS)
    await expect(listing.first).to_contain_text("Hold released")
    await expect(listing.first).to_have_attribute("data-unread", "true")
    await screenshot(tab, "notifications-page")

    # Opening it marks it read and goes to the booking.
    await listing.first.click()
    await tab.wait_for_url(f"**/bookings/{held['id']}", timeout=SLOW_UI_TIMEOUT_MS)
    await expect(tab.get_by_test_id("notification-count")).to_have_count(0, timeout=SLOW_UI_TIMEOUT_MS)
