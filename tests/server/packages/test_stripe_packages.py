"""Buying a package through Stripe (the real ``stripe`` library against the local fake): one
PaymentIntent per purchase, credits granted by the webhook exactly once, a balanced ledger."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from server.db import unit_of_work
from server.payouts import reconcile
from tests.fakes.stripe_api import FakeStripe
from tests.fixtures.bookings import StudentFactory, next_day_at
from tests.fixtures.stripe import intent_event, post_event
from tests.server.packages.support import credits, held, offer, pay_with_credit


@pytest.fixture
async def stripe_tutor(sclient: httpx.AsyncClient, make_tutor: Any) -> dict[str, Any]:
    tutor = await make_tutor(lesson_minutes=[30, 60])
    r = await offer(sclient, tutor, {"lessons": 5, "minutes": 60, "price_cents": 27000})
    assert r.status_code == 200, r.text
    tutor["package_id"] = r.json()["items"][0]["id"]
    return tutor


async def _checkout(sclient: httpx.AsyncClient, student: dict, package_id: str,
                    fake: FakeStripe) -> tuple[dict[str, Any], dict[str, Any]]:
    r = await sclient.post(f"/api/v1/packages/{package_id}/checkout", headers=student["headers"])
    assert r.status_code == 201, r.text
    out = r.json()
    [intent] = [i for i in fake.intents.values() if i["metadata"].get("purchase_id") == out["purchase_id"]]
    assert out["payment"] == {"provider": "stripe", "client_secret": intent["client_secret"],
                              "publishable_key": "pk_test_fake"}
    return out, intent


async def test_checkout_creates_a_payment_intent_for_the_purchase(
        sclient: httpx.AsyncClient, stripe_tutor: dict, make_students: StudentFactory, fake_stripe: FakeStripe,
        db: asyncpg.Pool) -> None:
    [student] = await make_students(1)
    out, intent = await _checkout(sclient, student, stripe_tutor["package_id"], fake_stripe)
    assert intent["amount"] == 27000 and intent["currency"] == "usd"
    assert intent["metadata"] == {"purchase_id": out["purchase_id"], "platform_fee_cents": "4050"}
    keys = {r.headers.get("Idempotency-Key") for r in fake_stripe.calls("POST", "/v1/payment_intents")}
    assert keys == {f"purchase-{out['purchase_id']}-payment-intent"}
    assert await db.fetchval("SELECT payment_intent_id FROM package_purchases WHERE id = $1",
                             uuid.UUID(out["purchase_id"])) == intent["id"]
    assert await credits(sclient, student) == []
    r = await sclient.post("/api/v1/payments/test/confirm-purchase", headers=student["headers"],
                           json={"purchase_id": out["purchase_id"]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "test_provider_disabled"


async def test_webhook_grants_credits_exactly_once_under_replays_and_concurrent_deliveries(
        sclient: httpx.AsyncClient, stripe_tutor: dict, make_students: StudentFactory, fake_stripe: FakeStripe,
        db: asyncpg.Pool) -> None:
    [student] = await make_students(1)
    out, intent = await _checkout(sclient, student, stripe_tutor["package_id"], fake_stripe)
    fake_stripe.succeed(intent["id"])
    replayed = intent_event("payment_intent.succeeded", intent)
    # The same event delivered four times at once, and three distinct events for the same intent.
    deliveries = [replayed] * 4 + [intent_event("payment_intent.succeeded", intent) for _ in range(3)]
    responses = await asyncio.gather(*(post_event(sclient, e) for e in deliveries))
    assert {r.status_code for r in responses} == {200}
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes.count("credits_granted") == 1
    assert set(outcomes) <= {"credits_granted", "duplicate", "already_granted"}
    [credit] = await credits(sclient, student)
    assert credit["remaining"] == 5 and credit["purchase_id"] == out["purchase_id"]
    # The sale's ledger entries: posted once, balanced, the fee to the platform.
    rows = await db.fetch("SELECT e.kind, l.account, l.amount FROM ledger_entries e JOIN ledger_lines l "
                          "ON l.entry_id = e.id WHERE e.key LIKE $1 ORDER BY e.id, l.id",
                          f"purchase:{out['purchase_id']}:%")
    assert sum(r["amount"] for r in rows) == 0
    assert {(r["kind"], r["account"], r["amount"]) for r in rows} == {
        ("charge", "platform_cash", 27000), ("charge", "tutor_earnings", -27000),
        ("fee", "tutor_earnings", 4050), ("fee", "platform_fees", -4050)}
    failed_late = await post_event(sclient, intent_event("payment_intent.payment_failed", intent))
    assert failed_late.json()["outcome"] == "stale"
    assert (await credits(sclient, student))[0]["remaining"] == 5


async def test_failed_payment_grants_nothing_and_a_later_success_does(
        sclient: httpx.AsyncClient, stripe_tutor: dict, make_students: StudentFactory, fake_stripe: FakeStripe) -> None:
    [student] = await make_students(1)
    out, intent = await _checkout(sclient, student, stripe_tutor["package_id"], fake_stripe)
    r = await post_event(sclient, intent_event("payment_intent.payment_failed", intent))
    assert r.json()["outcome"] == "failed"
    purchase = (await sclient.get(f"/api/v1/purchases/{out['purchase_id']}", headers=student["headers"])).json()
    assert purchase["status"] == "failed" and purchase["remaining"] == 0
    assert await credits(sclient, student) == []
    r = await post_event(sclient, intent_event("payment_intent.succeeded", intent))
    assert r.json()["outcome"] == "credits_granted"
    purchase = (await sclient.get(f"/api/v1/purchases/{out['purchase_id']}", headers=student["headers"])).json()
    assert purchase["status"] == "paid" and purchase["remaining"] == 5


async def test_credits_bought_with_stripe_confirm_a_booking_and_the_books_balance(
        sclient: httpx.AsyncClient, stripe_app: Starlette, stripe_tutor: dict, make_students: StudentFactory,
        fake_stripe: FakeStripe) -> None:
    [student] = await make_students(1)
    _, intent = await _checkout(sclient, student, stripe_tutor["package_id"], fake_stripe)
    fake_stripe.succeed(intent["id"])
    await post_event(sclient, intent_event("payment_intent.succeeded", intent))
    booking = await held(sclient, student, stripe_tutor["id"], next_day_at(10))
    r = await pay_with_credit(sclient, student, booking["id"])
    assert r.status_code == 200 and r.json()["booking"]["status"] == "confirmed", r.text
    # No second payment: no PaymentIntent for the booking.
    assert not [i for i in fake_stripe.intents.values() if i["metadata"].get("booking_id") == booking["id"]]
    async with unit_of_work(stripe_app.state.sessionmaker) as session:
        assert await reconcile.check(session, stripe_app.state.settings, with_stripe=False) == []


async def test_a_booking_whose_card_payment_started_cannot_switch_to_a_credit(
        sclient: httpx.AsyncClient, stripe_tutor: dict, make_students: StudentFactory, fake_stripe: FakeStripe) -> None:
    [student] = await make_students(1)
    _, intent = await _checkout(sclient, student, stripe_tutor["package_id"], fake_stripe)
    await post_event(sclient, intent_event("payment_intent.succeeded", intent))
    booking = await held(sclient, student, stripe_tutor["id"], next_day_at(10))
    assert (await sclient.post(f"/api/v1/bookings/{booking['id']}/checkout", headers=student["headers"])).status_code == 200
    r = await pay_with_credit(sclient, student, booking["id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "payment_in_progress"
    assert (await credits(sclient, student))[0]["remaining"] == 5
