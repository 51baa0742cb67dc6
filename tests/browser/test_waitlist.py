"""The waitlist in the browser: student A holds a slot, student B joins the line under it
("Join the line (you'd be 1st)"), A lets go, and B's toast offers the slot with the time left
to pay and a Pay now button that opens the held slot's payment panel."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import Cast, Platform, screenshot
from tests.browser.pages import SLOW_UI_TIMEOUT_MS, UI_TIMEOUT_MS, common_open_slot, hold_slot, open_tutor_page, slot

pytestmark = pytest.mark.xdist_group("browser")


async def test_b_joins_the_line_behind_a_and_gets_the_slot_when_a_lets_go(platform: Platform,
                                                                          people: Cast) -> None:
    a, b = people.student_a.p, people.student_b.p
    for page in (a, b):
        await open_tutor_page(page, platform.web_url, people.tutor.id)
    start = await common_open_slot(a, b)
    held_id = await hold_slot(a, start)
    await expect(slot(b, start)).to_have_attribute("data-status", "held", timeout=UI_TIMEOUT_MS)
    join = b.locator(f'[data-testid="join-line"][data-start="{start}"]')
    await expect(join).to_have_text("Join the line (you'd be 1st)", timeout=UI_TIMEOUT_MS)
    await join.click()
    await expect(b.get_by_test_id("line-position")).to_have_text("You're 1st in line", timeout=UI_TIMEOUT_MS)
    await screenshot(b, "waitlist-joined", full_page=False)

    # A lets go (or the short browser-test hold lapses first: the sweep hands it on the same way).
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        r = await api.delete(f"/api/v1/holds/{held_id}", headers=people.student_a.headers)
        assert r.status_code in (204, 409), r.text

    offer = b.get_by_test_id("waitlist-offer")
    await expect(offer).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
    await expect(offer).to_contain_text("The slot you waited for is yours")
    await expect(b.get_by_test_id("waitlist-offer-countdown")).to_have_text(re.compile(r"^(2:00|1:[0-5]\d)$"))
    booking_id = await offer.get_attribute("data-booking-id")
    assert booking_id
    await screenshot(b, "waitlist-offer-toast", full_page=False)
    # A watching sees the slot held (by B now), never open.
    await expect(slot(a, start)).to_have_attribute("data-status", "held")

    await b.get_by_test_id("waitlist-offer-pay").click()
    panel = b.get_by_test_id("hold-panel")
    await expect(panel).to_have_attribute("data-phase", "held", timeout=UI_TIMEOUT_MS)
    await expect(panel).to_have_attribute("data-booking-id", booking_id)
    await screenshot(b, "waitlist-offer-hold-panel", full_page=False)

    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        r = await api.delete(f"/api/v1/holds/{booking_id}", headers=people.student_b.headers)
        assert r.status_code in (204, 409), r.text
