"""The admin console (/admin): the first admin made with `edustream admin create`, then a
person suspended and reinstated, a paid lesson refunded in part, and every action with its
reason in the audit log."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import PASSWORD, Cast, Platform, create_admin, new_page, problems_of, screenshot, sign_in
from tests.browser.pages import SLOW_UI_TIMEOUT_MS, UI_TIMEOUT_MS
from tests.helpers import register, unique_email

pytestmark = pytest.mark.xdist_group("browser")



async def _paid_lesson(api: httpx.AsyncClient, headers: dict[str, str], tutor_id: str) -> dict[str, Any]:
    day = (datetime.now(UTC) + timedelta(days=9)).replace(minute=0, second=0, microsecond=0)
    for hour in range(9, 18):
        r = await api.post("/api/v1/holds", headers=headers,
                           json={"tutor_id": tutor_id, "start": day.replace(hour=hour).isoformat(), "minutes": 60})
        if r.status_code == 201:
            break
    assert r.status_code == 201, r.text
    held = r.json()
    r = await api.post(f"/api/v1/bookings/{held['id']}/checkout", headers=headers)
    assert r.status_code == 200, r.text
    r = await api.post("/api/v1/payments/test/confirm", headers=headers, json={"booking_id": held["id"]})
    assert r.status_code == 200 and r.json()["status"] == "confirmed", r.text
    return dict(r.json())


async def test_an_admin_suspends_reinstates_refunds_and_reads_the_audit_log(
        browser: Browser, platform: Platform, cast: Cast, database_url: str) -> None:
    admin_email = unique_email("ada")
    create_admin(database_url, admin_email)
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        student = await register(api, role="student", email=unique_email("rhea"), name="Rhea Refund")
        lesson = await _paid_lesson(api, student["headers"], cast.tutor.id)

    page = await new_page(browser, locale="en-GB", timezone_id="Europe/London")
    await sign_in(page, platform.web_url, admin_email, PASSWORD)
    await page.get_by_role("link", name="Admin console").first.click()
    await expect(page.get_by_role("heading", name="Admin console")).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
    await expect(page.get_by_test_id("stat-active-holds")).to_be_visible(timeout=UI_TIMEOUT_MS)

    # Suspend, then reinstate, the student found by e-mail.
    await page.get_by_test_id("admin-user-search").fill(student["user"]["email"])
    await page.get_by_role("button", name="Search").click()
    row = page.locator(f'[data-testid="admin-user-row"][data-email="{student["user"]["email"]}"]')
    await row.get_by_role("button", name="Suspend").click()
    dialog = page.get_by_test_id("admin-reason-dialog")
    await dialog.get_by_test_id("admin-confirm").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("Say why")  # a reason is required
    await dialog.get_by_label("Reason").fill("Chargeback investigation")
    await dialog.get_by_test_id("admin-confirm").click()
    await expect(row.get_by_text("suspended", exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)
    # Every API process refuses the account within SUSPENSION_REFRESH_SECONDS.
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:
        deadline = time.monotonic() + 60
        while (r := await api.get("/api/v1/bookings", headers=student["headers"])).status_code != 403:
            assert time.monotonic() < deadline, f"the suspended student still gets {r.status_code}"
            await asyncio.sleep(0.2)
        assert r.json()["error"]["code"] == "account_suspended", r.text
    await row.get_by_role("button", name="Reinstate").click()
    await dialog.get_by_label("Reason").fill("Cleared by the bank")
    await dialog.get_by_test_id("admin-confirm").click()
    await expect(row.get_by_text("suspended", exact=True)).to_have_count(0, timeout=UI_TIMEOUT_MS)

    # Refund part of the paid lesson, found through the payment filter.
    await page.get_by_test_id("admin-booking-payment").select_option("paid")
    booking = page.get_by_test_id("admin-booking-row").filter(has_text="Rhea Refund")
    await booking.get_by_role("button", name="Refund").click()
    await dialog.get_by_label("Reason").fill("Lesson started late")
    await dialog.get_by_test_id("refund-amount").fill("10")
    await dialog.get_by_test_id("admin-confirm").click()
    await expect(dialog).to_be_hidden(timeout=UI_TIMEOUT_MS)

    # Every action, with who and why, in the audit log.
    audit = page.get_by_test_id("admin-audit")
    for action, reason in (("user_suspended", "Chargeback investigation"), ("user_reinstated", "Cleared by the bank"),
                           ("booking_refunded", "Lesson started late")):
        entry = audit.locator(f'[data-testid="admin-audit-row"][data-action="{action}"]').filter(has_text=reason)
        await expect(entry).to_contain_text("Ada Admin", timeout=UI_TIMEOUT_MS)
    async with httpx.AsyncClient(base_url=platform.api_url, timeout=30) as api:  # reinstated: let in again
        deadline = time.monotonic() + 60
        while (r := await api.get(f"/api/v1/bookings/{lesson['id']}", headers=student["headers"])).status_code == 403:
            assert time.monotonic() < deadline, "the reinstated student is still refused"
            await asyncio.sleep(0.2)
        assert r.status_code == 200 and r.json()["payment_status"] in {"refund_pending", "refunded"}, r.text
    await screenshot(page, "admin-console")
    assert not problems_of(page).errors, problems_of(page).errors
    await page.context.close()


async def test_the_admin_console_is_for_admins_only(browser: Browser, platform: Platform, cast: Cast) -> None:
    page = await new_page(browser)
    await sign_in(page, platform.web_url, cast.student_a.email, PASSWORD)
    await page.goto(f"{platform.web_url}/admin")
    await expect(page.get_by_role("heading", name="This page is for admins")).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(page.get_by_role("link", name="Admin console")).to_have_count(0)
    await page.context.close()
