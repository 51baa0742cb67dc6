"""Payment tasks through the real broker and a real worker, against the local fake Stripe API:
a refund that meets a Stripe 500 is retried and lands once; a 400 is dead-lettered at once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from server.settings import Settings
from tests.fakes.stripe_api import FakeStripe
from tests.tasks.conftest import Jobs, make_user, until

pytestmark = pytest.mark.xdist_group("jobs")


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    fake = await FakeStripe().start()
    yield fake
    await fake.stop()


async def _refund_pending_booking(db: asyncpg.Pool, settings: Settings, intent_id: str) -> uuid.UUID:
    tutor, student = await make_user(db, settings, "tutor"), await make_user(db, settings)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    booking_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, price_cents, currency, "
        "payment_provider, payment_intent_id, payment_status, refund_cents) VALUES ($1, $2, $3, 'confirmed', $4, $5, "
        "tstzrange($4, $5), 6000, 'USD', 'stripe', $6, 'refund_pending', 6000)",
        booking_id, uuid.UUID(tutor["id"]), uuid.UUID(student["id"]), start, start + timedelta(hours=1), intent_id)
    return booking_id


async def test_refund_after_a_stripe_500_is_retried_and_refunds_once(
        jobs, db: asyncpg.Pool, settings: Settings, fake_stripe: FakeStripe) -> None:
    group: Jobs = await jobs(STRIPE_SECRET_KEY="sk_test_fake", STRIPE_API_BASE=fake_stripe.url,
                             STRIPE_WEBHOOK_SECRET="whsec_x", TASK_RETRY_BASE_SECONDS="1", scheduler=True)
    booking_id = await _refund_pending_booking(db, settings, "pi_test_1")
    fake_stripe.fail_next("/v1/refunds", 500)
    async with group.client() as client:
        await client.kick("payments.refund", str(booking_id))

    async def refunded() -> bool:
        return await db.fetchval("SELECT payment_status FROM bookings WHERE id = $1", booking_id) == "refunded"

    await until(refunded, within=45, what="the retried refund")
    calls = fake_stripe.calls("POST", "/v1/refunds")
    assert len(calls) == 2, "one 500, then one success"
    assert {c.headers.get("Idempotency-Key") for c in calls} == {f"booking-{booking_id}-refund-6000"}
    assert len(fake_stripe.refunds) == 1
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0


async def test_refund_refused_by_stripe_is_dead_lettered_not_retried(
        jobs, db: asyncpg.Pool, settings: Settings, fake_stripe: FakeStripe) -> None:
    group: Jobs = await jobs(STRIPE_SECRET_KEY="sk_test_fake", STRIPE_API_BASE=fake_stripe.url,
                             STRIPE_WEBHOOK_SECRET="whsec_x", TASK_RETRY_BASE_SECONDS="1", scheduler=True)
    booking_id = await _refund_pending_booking(db, settings, "pi_test_2")
    fake_stripe.fail_next("/v1/refunds", 400, times=5)
    async with group.client() as client:
        await client.kick("payments.refund", str(booking_id))

    async def dead() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM dead_letters WHERE task_name = 'payments.refund'"))

    await until(dead, within=45, what="the dead letter")
    assert len(fake_stripe.calls("POST", "/v1/refunds")) == 1
    # Terminal, so the reconcile sweep (which re-queues refund_pending) leaves it alone.
    assert await db.fetchval("SELECT payment_status FROM bookings WHERE id = $1", booking_id) == "refund_failed"
    assert await db.fetchval("SELECT count(*) FROM booking_events WHERE booking_id = $1 AND kind = 'refund_failed'",
                             booking_id) == 1


async def test_refund_failing_past_its_attempts_becomes_refund_failed(
        jobs, db: asyncpg.Pool, settings: Settings, fake_stripe: FakeStripe) -> None:
    group: Jobs = await jobs(STRIPE_SECRET_KEY="sk_test_fake", STRIPE_API_BASE=fake_stripe.url,
                             STRIPE_WEBHOOK_SECRET="whsec_x", TASK_RETRY_BASE_SECONDS="0.2", TASK_MAX_RETRIES="5",
                             REFUND_MAX_ATTEMPTS="2", scheduler=True)
    booking_id = await _refund_pending_booking(db, settings, "pi_test_3")
    fake_stripe.fail_next("/v1/refunds", 500, times=50)
    async with group.client() as client:
        await client.kick("payments.refund", str(booking_id))

    async def failed() -> bool:
        return await db.fetchval("SELECT payment_status FROM bookings WHERE id = $1", booking_id) == "refund_failed"

    await until(failed, within=45, what="the refund to be given up")
    assert len(fake_stripe.calls("POST", "/v1/refunds")) == 2, "two attempts, then no more calls"
    assert await db.fetchval("SELECT refund_attempts FROM bookings WHERE id = $1", booking_id) == 3


async def test_deferred_transfer_after_a_stripe_500_is_retried_and_transfers_once(
        jobs, db: asyncpg.Pool, settings: Settings, fake_stripe: FakeStripe) -> None:
    group: Jobs = await jobs(STRIPE_SECRET_KEY="sk_test_fake", STRIPE_API_BASE=fake_stripe.url,
                             STRIPE_WEBHOOK_SECRET="whsec_x", TASK_RETRY_BASE_SECONDS="1", scheduler=True)
    booking_id = await _refund_pending_booking(db, settings, "pi_test_transfer")
    tutor_id = await db.fetchval("UPDATE bookings SET payment_status = 'paid', refund_cents = NULL WHERE id = $1 "
                                 "RETURNING tutor_id", booking_id)
    # The tutor finished onboarding after the lesson was paid: the share waits on the platform.
    fake_stripe.accounts["acct_ready"] = {"id": "acct_ready", "object": "account", "charges_enabled": True,
                                          "payouts_enabled": True}
    fake_stripe.balances["platform"] = {"USD": 6000}
    await db.execute("INSERT INTO payout_accounts (tutor_id, stripe_account_id, state, charges_enabled, "
                     "payouts_enabled) VALUES ($1, 'acct_ready', 'active', true, true)", tutor_id)
    await db.execute("INSERT INTO tutor_earnings (booking_id, tutor_id, currency, gross_cents, fee_cents, "
                     "transfer_state) VALUES ($1, $2, 'USD', 6000, 900, 'due')", booking_id, tutor_id)
    fake_stripe.fail_next("/v1/transfers", 500)
    async with group.client() as client:
        await client.kick("payouts.transfer", str(booking_id))

    async def transferred() -> bool:
        return await db.fetchval("SELECT transfer_state FROM tutor_earnings WHERE booking_id = $1", booking_id) == "done"

    await until(transferred, within=45, what="the retried transfer")
    calls = fake_stripe.calls("POST", "/v1/transfers")
    assert len(calls) == 2, "one 500, then one success"
    assert {c.headers.get("Idempotency-Key") for c in calls} == {f"booking-{booking_id}-transfer"}
    [transfer] = fake_stripe.transfers.values()
    assert transfer["amount"] == 5100 and fake_stripe.balance("acct_ready") == 5100
    assert await db.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'transfer' AND booking_id = $1",
                             booking_id) == 1
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0

    # Stripe pays the share out (payout.paid recorded it); the worker learns which lines it
    # covered from the balance transactions, after a 500 on the listing.
    payout = fake_stripe.pay_out("acct_ready", 5100)
    await db.execute("INSERT INTO tutor_payouts (id, tutor_id, stripe_account_id, amount_cents, currency, status) "
                     "VALUES ($1, $2, 'acct_ready', 5100, 'USD', 'paid')", payout["id"], tutor_id)
    fake_stripe.fail_next("/v1/balance_transactions", 500)
    async with group.client() as client:
        await client.kick("payouts.reconcile_payout", payout["id"])

    async def paid_out() -> bool:
        return await db.fetchval("SELECT payout_id FROM tutor_earnings WHERE booking_id = $1", booking_id) \
            == payout["id"]

    await until(paid_out, within=45, what="the retried payout reconciliation")
    assert len(fake_stripe.calls("GET", "/v1/balance_transactions")) == 2, "one 500, then one success"
    assert await db.fetchval("SELECT reconciled_at IS NOT NULL FROM tutor_payouts") is True
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0
