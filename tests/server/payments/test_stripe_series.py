"""A weekly series paid through Stripe (the real ``stripe`` library against the local fake):
one PaymentIntent for every held occurrence, each occurrence settled and booked in the ledger
for its share, refunds per occurrence against the shared intent."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from starlette.applications import Starlette

from server.db import unit_of_work
from server.payouts import reconcile
from server.settings import Settings
from tasks.payments import refund_booking
from tests.fakes.stripe_api import FakeStripe
from tests.fixtures.stripe import intent_event, post_event


async def _series_with_intent(sclient: httpx.AsyncClient, student: dict, tutor_id: str, weeks: int,
                              fake: FakeStripe) -> tuple[dict[str, Any], dict[str, Any]]:
    start = (datetime.now(UTC) + timedelta(days=4)).replace(hour=9, minute=0, second=0, microsecond=0)
    r = await sclient.post("/api/v1/series", headers=student["headers"],
                           json={"tutor_id": tutor_id, "start": start.isoformat(), "minutes": 60, "weeks": weeks})
    assert r.status_code == 201, r.text
    series = r.json()
    ids = [o["booking_id"] for o in series["occurrences"]]
    # Checkout from any occurrence, several at once: one PaymentIntent for the whole series.
    responses = await asyncio.gather(*(sclient.post(f"/api/v1/bookings/{i}/checkout", headers=student["headers"])
                                       for i in ids))
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    [intent] = [i for i in fake.intents.values() if i["metadata"].get("series_id") == series["id"]]
    assert {r.json()["payment"]["client_secret"] for r in responses} == {intent["client_secret"]}
    return series, intent


async def test_one_payment_intent_pays_the_series_and_each_lesson_is_booked_for_its_share(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_app: Starlette) -> None:
    [student] = await make_students(1)
    series, intent = await _series_with_intent(sclient, student, tutor["id"], 3, fake_stripe)
    assert intent["amount"] == 18000 and intent["currency"] == "usd"
    assert intent["metadata"] == {"series_id": series["id"], "platform_fee_cents": "2700"}
    keys = {r.headers.get("Idempotency-Key") for r in fake_stripe.calls("POST", "/v1/payment_intents")}
    assert keys == {f"series-{series['id']}-payment-intent"}
    fake_stripe.succeed(intent["id"])
    event = intent_event("payment_intent.succeeded", intent)
    responses = await asyncio.gather(*(post_event(sclient, e) for e in [event, event, event]))
    assert sorted(r.json()["outcome"] for r in responses) == ["confirmed", "duplicate", "duplicate"]
    again = (await sclient.get(f"/api/v1/series/{series['id']}", headers=student["headers"])).json()
    assert {o["status"] for o in again["occurrences"]} == {"confirmed"}
    rows = await db.fetch("SELECT booking_id, gross_cents, fee_cents FROM tutor_earnings WHERE booking_id = ANY($1)",
                          [uuid.UUID(o["booking_id"]) for o in series["occurrences"]])
    assert sorted((r["gross_cents"], r["fee_cents"]) for r in rows) == [(6000, 900)] * 3
    # A second, distinct success event for the same intent changes nothing.
    r = await post_event(sclient, intent_event("payment_intent.succeeded", intent))
    assert r.json()["outcome"] == "already_confirmed"
    async with unit_of_work(stripe_app.state.sessionmaker) as session:
        assert await reconcile.check(session, stripe_app.state.settings, with_stripe=False) == []


async def test_cancelling_one_lesson_of_a_paid_series_refunds_that_lesson_from_the_shared_payment(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe,
        stripe_settings: Settings, stripe_app: Starlette) -> None:
    [student] = await make_students(1)
    series, intent = await _series_with_intent(sclient, student, tutor["id"], 3, fake_stripe)
    fake_stripe.succeed(intent["id"])
    await post_event(sclient, intent_event("payment_intent.succeeded", intent))
    second = series["occurrences"][1]["booking_id"]
    r = await sclient.post(f"/api/v1/bookings/{second}/cancel", headers=student["headers"], json={})
    assert r.status_code == 200 and r.json()["refund_cents"] == 6000
    assert await refund_booking(stripe_settings, stripe_app.state.sessionmaker, uuid.UUID(second)) == "refunded"
    [refund] = fake_stripe.refunds.values()
    assert refund["amount"] == 6000 and refund["payment_intent"] == intent["id"]
    # Stripe's charge.refunded for the shared intent is left to the occurrence's refund task.
    refunded = {"id": f"evt_{uuid.uuid4().hex[:16]}", "object": "event", "type": "charge.refunded",
                "data": {"object": {"id": "ch_x", "payment_intent": intent["id"], "amount_refunded": 6000}}}
    assert (await post_event(sclient, refunded)).json()["outcome"] == "ignored"
    statuses = [(await sclient.get(f"/api/v1/bookings/{o['booking_id']}", headers=student["headers"])).json()
                for o in series["occurrences"]]
    assert [(b["status"], b["payment_status"]) for b in statuses] == [
        ("confirmed", "paid"), ("cancelled", "refunded"), ("confirmed", "paid")]
    async with unit_of_work(stripe_app.state.sessionmaker) as session:
        assert await reconcile.check(session, stripe_app.state.settings, with_stripe=False) == []


async def test_a_failed_series_payment_keeps_every_hold(sclient: httpx.AsyncClient, tutor: dict, make_students: Any,
                                                       fake_stripe: FakeStripe) -> None:
    [student] = await make_students(1)
    series, intent = await _series_with_intent(sclient, student, tutor["id"], 2, fake_stripe)
    r = await post_event(sclient, intent_event("payment_intent.payment_failed", intent))
    assert r.json()["outcome"] == "failed"
    for occurrence in series["occurrences"]:
        booking = (await sclient.get(f"/api/v1/bookings/{occurrence['booking_id']}", headers=student["headers"])).json()
        assert (booking["status"], booking["payment_status"]) == ("held", "failed")
