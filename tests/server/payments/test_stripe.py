"""Stripe payments end to end: the real ``stripe`` library against a local fake Stripe API,
webhooks signed with Stripe's real signature scheme."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import stripe
from pydantic import ValidationError
from starlette.applications import Starlette

from server.settings import Settings
from tasks.payments import cancel_booking_intent, refund_booking
from tests.fakes.stripe_api import FakeStripe
from tests.fixtures.bookings import hold, next_day_at
from tests.fixtures.stripe import WEBHOOK_SECRET, intent_event, post_event, signed


async def _post_event(client: httpx.AsyncClient, event: dict[str, Any]) -> httpx.Response:
    return await post_event(client, event)


async def _held_with_intent(sclient: httpx.AsyncClient, student: dict, tutor_id: str, start: datetime,
                            fake: FakeStripe) -> tuple[dict[str, Any], dict[str, Any]]:
    held = (await hold(sclient, student, tutor_id, start)).json()
    r = await sclient.post(f"/api/v1/bookings/{held['id']}/checkout", headers=student["headers"])
    assert r.status_code == 200, r.text
    [intent] = [i for i in fake.intents.values() if i["metadata"].get("booking_id") == held["id"]]
    return held, intent


async def test_checkout_creates_one_payment_intent_however_often_called(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool) -> None:
    [student] = await make_students(1)
    held = (await hold(sclient, student, tutor["id"], next_day_at(10))).json()
    responses = await asyncio.gather(*(sclient.post(f"/api/v1/bookings/{held['id']}/checkout",
                                                    headers=student["headers"]) for _ in range(5)))
    assert {r.status_code for r in responses} == {200}
    secrets = {r.json()["payment"]["client_secret"] for r in responses}
    assert len(secrets) == 1 and len(fake_stripe.intents) == 1
    [intent] = fake_stripe.intents.values()
    assert intent["amount"] == 6000 and intent["currency"] == "usd"
    # Not onboarded: a charge kept on the platform (no transfer_data), the fee recorded for the ledger.
    assert intent["metadata"] == {"booking_id": held["id"], "platform_fee_cents": "900"}
    assert "transfer_data" not in intent and intent["transfer_group"] == held["id"]
    keys = {r.headers.get("Idempotency-Key") for r in fake_stripe.calls("POST", "/v1/payment_intents")}
    assert keys == {f"booking-{held['id']}-payment-intent"}
    assert responses[0].json()["payment"] == {"provider": "stripe", "client_secret": intent["client_secret"],
                                              "publishable_key": "pk_test_fake"}
    stored = await db.fetchval("SELECT payment_intent_id FROM bookings WHERE id = $1", uuid.UUID(held["id"]))
    assert stored == intent["id"]


async def test_success_confirms_and_tells_both_parties(sclient: httpx.AsyncClient, tutor: dict, make_students: Any,
                                                       fake_stripe: FakeStripe, db: asyncpg.Pool) -> None:
    [student] = await make_students(1)
    held, intent = await _held_with_intent(sclient, student, tutor["id"], next_day_at(10), fake_stripe)
    r = await _post_event(sclient, intent_event("payment_intent.succeeded", intent))
    assert r.status_code == 200 and r.json()["outcome"] == "confirmed"
    booking = (await sclient.get(f"/api/v1/bookings/{held['id']}", headers=student["headers"])).json()
    assert booking["status"] == "confirmed" and booking["payment_status"] == "paid"
    rows = await db.fetch("SELECT event, room, payload FROM outbox WHERE event IN ('booking.updated', 'booking.new') "
                          "ORDER BY id DESC LIMIT 3")
    sent = {(r["event"], r["room"]) for r in rows}
    assert sent == {("booking.updated", f"user:{student['id']}"), ("booking.updated", f"user:{tutor['id']}"),
                    ("booking.new", f"user:{tutor['id']}")}
    assert all(json.loads(r["payload"])["booking"]["status"] == "confirmed" for r in rows)


async def test_duplicated_and_replayed_events_are_no_ops(sclient: httpx.AsyncClient, tutor: dict, make_students: Any,
                                                         fake_stripe: FakeStripe, db: asyncpg.Pool) -> None:
    [student] = await make_students(1)
    held, intent = await _held_with_intent(sclient, student, tutor["id"], next_day_at(10), fake_stripe)
    event = intent_event("payment_intent.succeeded", intent)
    first, *again = await asyncio.gather(*(_post_event(sclient, event) for _ in range(4)))
    outcomes = sorted([first.json()["outcome"], *(r.json()["outcome"] for r in again)])
    assert outcomes == ["confirmed", "duplicate", "duplicate", "duplicate"]
    assert await db.fetchval("SELECT count(*) FROM booking_events WHERE booking_id = $1 AND kind = 'confirmed'",
                             uuid.UUID(held["id"])) == 1


async def test_failure_arriving_after_success_does_not_undo_it(sclient: httpx.AsyncClient, tutor: dict,
                                                               make_students: Any, fake_stripe: FakeStripe) -> None:
    [student] = await make_students(1)
    held, intent = await _held_with_intent(sclient, student, tutor["id"], next_day_at(10), fake_stripe)
    await _post_event(sclient, intent_event("payment_intent.succeeded", intent))
    late = await _post_event(sclient, intent_event("payment_intent.payment_failed", intent))
    assert late.json()["outcome"] == "stale"
    booking = (await sclient.get(f"/api/v1/bookings/{held['id']}", headers=student["headers"])).json()
    assert booking["status"] == "confirmed" and booking["payment_status"] == "paid"


async def test_failed_payment_keeps_the_hold(sclient: httpx.AsyncClient, tutor: dict, make_students: Any,
                                             fake_stripe: FakeStripe) -> None:
    [student] = await make_students(1)
    held, intent = await _held_with_intent(sclient, student, tutor["id"], next_day_at(10), fake_stripe)
    r = await _post_event(sclient, intent_event("payment_intent.payment_failed", intent))
    assert r.json()["outcome"] == "failed"
    booking = (await sclient.get(f"/api/v1/bookings/{held['id']}", headers=student["headers"])).json()
    assert booking["status"] == "held" and booking["payment_status"] == "failed"


@pytest.mark.parametrize("variant", ["bad_secret", "stale", "missing", "tampered"])
async def test_bad_signature_is_400_and_changes_nothing(sclient: httpx.AsyncClient, tutor: dict, make_students: Any,
                                                        fake_stripe: FakeStripe, db: asyncpg.Pool,
                                                        variant: str) -> None:
    [student] = await make_students(1)
    held, intent = await _held_with_intent(sclient, student, tutor["id"], next_day_at(10), fake_stripe)
    event = intent_event("payment_intent.succeeded", intent)
    payload, headers = signed(event, secret="whsec_wrong" if variant == "bad_secret" else WEBHOOK_SECRET,
                              timestamp=int(time.time()) - 3600 if variant == "stale" else None)
    if variant == "missing":
        headers.pop("Stripe-Signature")
    if variant == "tampered":
        payload = payload.replace('"amount_received": 6000', '"amount_received": 1')
        assert "amount_received\": 1" in payload
    r = await sclient.post("/api/v1/webhooks/stripe", content=payload, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_signature"
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0
    assert await db.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(held["id"])) == "held"


async def test_success_after_lapse_with_the_time_still_free_confirms(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool) -> None:
    [student] = await make_students(1)
    held, intent = await _held_with_intent(sclient, student, tutor["id"], next_day_at(10), fake_stripe)
    await db.execute("UPDATE bookings SET expires_at = now() - interval '1 minute' WHERE id = $1", uuid.UUID(held["id"]))
    r = await _post_event(sclient, intent_event("payment_intent.succeeded", intent))
    assert r.json()["outcome"] == "reclaimed"
    assert await db.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(held["id"])) == "confirmed"


async def test_success_after_lapse_with_the_time_taken_refunds(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_settings: Settings, stripe_app: Starlette) -> None:
    late, early = await make_students(2)
    start = next_day_at(10)
    held, intent = await _held_with_intent(sclient, late, tutor["id"], start, fake_stripe)
    await db.execute("UPDATE bookings SET expires_at = now() - interval '1 minute' WHERE id = $1", uuid.UUID(held["id"]))
    assert (await hold(sclient, early, tutor["id"], start)).status_code == 201
    r = await _post_event(sclient, intent_event("payment_intent.succeeded", intent))
    assert r.json()["outcome"] == "refund"
    assert await db.fetchval("SELECT count(*) FROM bookings WHERE status IN ('held', 'confirmed')") == 1
    row = await db.fetchrow("SELECT status, payment_status, refund_cents FROM bookings WHERE id = $1",
                            uuid.UUID(held["id"]))
    assert (row["status"], row["payment_status"], row["refund_cents"]) == ("expired", "refund_pending", 6000)
    told = await db.fetchval("SELECT count(*) FROM outbox WHERE event = 'booking.updated' AND room = $1 "
                             "AND payload->'booking'->>'payment_status' = 'refund_pending'", f"user:{late['id']}")
    assert told == 1
    # The worker's refund task: Stripe fails once with a 500, the retry succeeds; idempotent per booking.
    fake_stripe.fail_next("/v1/refunds", 500)
    with pytest.raises(stripe.APIError):
        await refund_booking(stripe_settings, stripe_app.state.sessionmaker, uuid.UUID(held["id"]))
    assert await refund_booking(stripe_settings, stripe_app.state.sessionmaker, uuid.UUID(held["id"])) == "refunded"
    assert await refund_booking(stripe_settings, stripe_app.state.sessionmaker,
                                uuid.UUID(held["id"])) == "nothing_to_refund"
    [refund] = fake_stripe.refunds.values()
    assert refund["amount"] == 6000 and refund["payment_intent"] == intent["id"]
    keys = {c.headers.get("Idempotency-Key") for c in fake_stripe.calls("POST", "/v1/refunds")}
    assert keys == {f"booking-{held['id']}-refund-6000"}


@pytest.mark.parametrize(("who", "hours_ahead", "expected"), [("student", 72, 6000), ("student", 3, 0),
                                                              ("tutor", 3, 6000)])
async def test_cancellation_refunds_by_policy(sclient: httpx.AsyncClient, tutor: dict, make_students: Any,
                                              fake_stripe: FakeStripe, stripe_settings: Settings,
                                              stripe_app: Starlette, who: str, hours_ahead: int,
                                              expected: int) -> None:
    [student] = await make_students(1)
    start = (datetime.now(UTC) + timedelta(hours=hours_ahead)).replace(minute=0, second=0, microsecond=0)
    held, intent = await _held_with_intent(sclient, student, tutor["id"], start, fake_stripe)
    await _post_event(sclient, intent_event("payment_intent.succeeded", intent))
    actor = student if who == "student" else tutor
    r = await sclient.post(f"/api/v1/bookings/{held['id']}/cancel", headers=actor["headers"], json={})
    assert r.status_code == 200 and r.json()["refund_cents"] == expected
    await refund_booking(stripe_settings, stripe_app.state.sessionmaker, uuid.UUID(held["id"]))
    amounts = [int(c.form()["amount"]) for c in fake_stripe.calls("POST", "/v1/refunds")]
    assert amounts == ([expected] if expected else [])


async def test_released_hold_cancels_its_payment_intent(sclient: httpx.AsyncClient, tutor: dict, make_students: Any,
                                                        fake_stripe: FakeStripe, stripe_settings: Settings,
                                                        stripe_app: Starlette) -> None:
    [student] = await make_students(1)
    held, intent = await _held_with_intent(sclient, student, tutor["id"], next_day_at(10), fake_stripe)
    assert (await sclient.delete(f"/api/v1/holds/{held['id']}", headers=student["headers"])).status_code == 204
    assert await cancel_booking_intent(stripe_settings, stripe_app.state.sessionmaker, uuid.UUID(held["id"])) == "canceled"
    assert fake_stripe.intents[intent["id"]]["status"] == "canceled"


async def test_test_provider_is_off_when_stripe_is_configured(sclient: httpx.AsyncClient, tutor: dict,
                                                              make_students: Any) -> None:
    [student] = await make_students(1)
    held = (await hold(sclient, student, tutor["id"], next_day_at(10))).json()
    r = await sclient.post("/api/v1/payments/test/confirm", headers=student["headers"], json={"booking_id": held["id"]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "test_provider_disabled"


def test_test_provider_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="PAYMENTS_TEST_PROVIDER"):
        Settings(environment="production", secret_key="x" * 40, database_url="postgresql://h/db",
                 redis_url="redis://h", stripe_secret_key="sk_live_x", stripe_webhook_secret="whsec_x",
                 payments_test_provider=True)
    prod = Settings(environment="production", secret_key="x" * 40, database_url="postgresql://h/db",
                    redis_url="redis://h", stripe_secret_key="sk_live_x", stripe_webhook_secret="whsec_x",
                    metrics_token="m" * 32)
    assert prod.payments_provider == "stripe"
