"""A tutor sets up payouts through Stripe's (fake) hosted onboarding, sees the account turn
active live, and sees a paid lesson's earnings as a balance.

Its own API process runs with Stripe configured against the local fake Stripe API (the
package's platform uses the test payment provider), and its own Next.js server points at it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import stripe
from playwright.async_api import Browser, expect
from redis.asyncio import Redis

from server.settings import Settings
from tests.browser.bookings import unlist_tutors
from tests.browser.conftest import PASSWORD, NextServer, new_page, screenshot, sign_in
from tests.browser.pages import SLOW_UI_TIMEOUT_MS
from tests.fakes.stripe_api import SECRET_KEY, FakeStripe
from tests.helpers import register, unique_email
from tests.realtime.conftest import LiveServer, free_port

pytestmark = pytest.mark.xdist_group("browser")

WEBHOOK_SECRET = "whsec_browser"


@dataclass
class StripePlatform:
    api: LiveServer
    web: NextServer
    fake: FakeStripe

    async def post_event(self, event: dict) -> dict:
        payload = json.dumps({"id": f"evt_{time.monotonic_ns()}", "object": "event", "created": int(time.time()),
                              **event})
        header = stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET)
        async with httpx.AsyncClient(base_url=self.api.url, timeout=30) as client:
            r = await client.post("/api/v1/webhooks/stripe", content=payload,
                                  headers={"Stripe-Signature": header, "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
async def stripe_platform(frontend_build: Path, settings: Settings, redis: Redis,
                          tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StripePlatform]:
    fake = await FakeStripe().start()
    log_dir = tmp_path_factory.mktemp("browser-payouts-logs")
    web_port = free_port()
    api = LiveServer("browser-payouts", settings, log_dir, extra_env={
        "CORS_ORIGINS": f"http://127.0.0.1:{web_port},http://localhost:{web_port}",
        "FRONTEND_URL": f"http://127.0.0.1:{web_port}", "PAYMENTS_TEST_PROVIDER": "false",
        "STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_PUBLISHABLE_KEY": "pk_test_fake",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_API_BASE": fake.url, "HOLD_REHOLD_COOLDOWN_SECONDS": "0"})
    web = NextServer("", log_dir / "next.log", port=web_port)
    try:
        await api.start()
        web.api_url = api.url
        await web.start()
        yield StripePlatform(api, web, fake)
    finally:
        await web.stop()
        await api.stop()
        await fake.stop()


HEADLINE = "Statistics, calmly"


@pytest.fixture(autouse=True)
async def _unlist_our_tutors(settings: Settings) -> AsyncIterator[None]:
    yield
    await unlist_tutors(settings, HEADLINE)


async def test_a_tutor_onboards_with_stripe_and_sees_a_paid_lesson_as_a_balance(
        browser: Browser, stripe_platform: StripePlatform) -> None:
    sp = stripe_platform
    async with httpx.AsyncClient(base_url=sp.api.url, timeout=30) as api:
        tutor = await register(api, role="tutor", email=unique_email("payee"), name="Priya Payee", password=PASSWORD)
        student = await register(api, role="student", email=unique_email("payer"), name="Sam Payer")
        r = await api.put("/api/v1/tutors/me", headers=tutor["headers"], json={
            "headline": HEADLINE, "bio": "", "subjects": ["mathematics"], "hourly_rate_cents": 6000,
            "currency": "USD", "timezone": "UTC", "lesson_minutes": [60], "min_notice_minutes": 0,
            "buffer_minutes": 0, "max_advance_days": 30})
        assert r.status_code == 200, r.text
        r = await api.put("/api/v1/tutors/me/availability", headers=tutor["headers"], json={
            "rules": [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)], "overrides": []})
        assert r.status_code == 200, r.text

    page = await new_page(browser)
    try:
        await sign_in(page, sp.web.url, tutor["user"]["email"], PASSWORD)
        await page.get_by_role("link", name="Payouts").first.click()
        await expect(page.get_by_test_id("payout-state")).to_have_attribute("data-state", "not_started",
                                                                            timeout=SLOW_UI_TIMEOUT_MS)
        await expect(page.get_by_test_id("platform-fee")).to_contain_text("15%")
        await screenshot(page, "payouts-not-started")

        # The button opens Stripe's hosted onboarding (the fake's), which sends the tutor back.
        await page.get_by_test_id("onboarding-button").click()
        await page.wait_for_url(f"{sp.fake.url}/connect/onboarding/**", timeout=SLOW_UI_TIMEOUT_MS)
        await page.locator("#submit").click()
        await page.wait_for_url("**/payouts?onboarding=done", timeout=SLOW_UI_TIMEOUT_MS)
        await expect(page.get_by_test_id("onboarding-returned")).to_be_visible(timeout=SLOW_UI_TIMEOUT_MS)
        await expect(page.get_by_test_id("payout-state")).to_have_attribute("data-state", "pending",
                                                                            timeout=SLOW_UI_TIMEOUT_MS)

        # Stripe tells us the account is enabled: the page turns active without a reload.
        [account] = sp.fake.accounts.values()
        assert (await sp.post_event({"type": "account.updated", "data": {"object": account}}))["outcome"] == "active"
        await expect(page.get_by_test_id("payout-state")).to_have_attribute("data-state", "active",
                                                                            timeout=SLOW_UI_TIMEOUT_MS)

        # A student pays for a lesson: a destination charge; the earnings show as a pending balance.
        start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
        async with httpx.AsyncClient(base_url=sp.api.url, timeout=30) as api:
            r = await api.post("/api/v1/holds", headers=student["headers"],
                               json={"tutor_id": tutor["user"]["id"], "start": start.isoformat(), "minutes": 60})
            assert r.status_code == 201, r.text
            booking_id = r.json()["id"]
            r = await api.post(f"/api/v1/bookings/{booking_id}/checkout", headers=student["headers"])
            assert r.status_code == 200, r.text
        [intent] = [i for i in sp.fake.intents.values() if i["metadata"]["booking_id"] == booking_id]
        assert intent["transfer_data"] == {"destination": account["id"]}
        sp.fake.succeed(intent["id"])
        paid = {**intent, "amount_received": intent["amount"]}
        assert (await sp.post_event({"type": "payment_intent.succeeded", "data": {"object": paid}}))["outcome"] \
            == "confirmed"
        await page.reload()
        await expect(page.get_by_test_id("balance-pending")).to_contain_text("51", timeout=SLOW_UI_TIMEOUT_MS)
        row = page.get_by_test_id("earning-row")
        await expect(row).to_have_count(1)
        await expect(row).to_have_attribute("data-status", "pending")
        await expect(row).to_contain_text("60")
        await expect(row).to_contain_text("9")
        await screenshot(page, "payouts-active-with-balance")
    finally:
        await page.context.close()
