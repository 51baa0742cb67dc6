"""Tutor payouts end to end: the real ``stripe`` library against the local fake Stripe API
(Connect accounts, destination charges, transfers, reversals, payouts), signed webhooks, the
real worker-side task functions, and the ledger held to the fake's balances to the cent."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import stripe
from starlette.applications import Starlette

from server.db import unit_of_work
from server.identity import issue_access_token
from server.payouts import reconcile
from server.payouts.money import fee_part, platform_fee
from server.settings import Settings
from tasks.payments import reconcile_payout_lines, refund_booking, transfer_booking
from tests.conftest import make_settings
from tests.fakes.stripe_api import FakeStripe
from tests.fixtures.bookings import hold, next_day_at
from tests.fixtures.stripe import event, intent_event, post_event
from tests.helpers import bearer

ONBOARD = "/api/v1/tutors/me/payouts/onboarding"


async def _onboard(sclient: httpx.AsyncClient, tutor: dict[str, Any], fake: FakeStripe, *,
                   activate: bool = True) -> str:
    r = await sclient.post(ONBOARD, headers=tutor["headers"])
    assert r.status_code == 200, r.text
    [account_id] = [a for a, acc in fake.accounts.items() if acc["metadata"]["tutor_id"] == tutor["id"]]
    if activate:
        account = fake.update_account(account_id, details_submitted=True, charges_enabled=True, payouts_enabled=True)
        assert (await post_event(sclient, event("account.updated", account))).json()["outcome"] == "active"
    return account_id


async def _paid(sclient: httpx.AsyncClient, fake: FakeStripe, student: dict[str, Any], tutor_id: str,
                start: datetime) -> tuple[str, dict[str, Any]]:
    held = (await hold(sclient, student, tutor_id, start)).json()
    r = await sclient.post(f"/api/v1/bookings/{held['id']}/checkout", headers=student["headers"])
    assert r.status_code == 200, r.text
    [intent] = [i for i in fake.intents.values() if i["metadata"]["booking_id"] == held["id"]]
    fake.succeed(intent["id"])
    r = await post_event(sclient, intent_event("payment_intent.succeeded", intent))
    assert r.json()["outcome"] == "confirmed", r.text
    return held["id"], intent


async def _ledger(db: asyncpg.Pool, account: str, tutor_id: str | None = None, currency: str = "USD") -> int:
    if tutor_id is None:
        return int(await db.fetchval("SELECT coalesce(sum(amount), 0) FROM ledger_lines WHERE account = $1 "
                                     "AND tutor_id IS NULL AND currency = $2", account, currency))
    return int(await db.fetchval("SELECT coalesce(sum(amount), 0) FROM ledger_lines WHERE account = $1 "
                                 "AND tutor_id = $2 AND currency = $3", account, uuid.UUID(tutor_id), currency))


async def _assert_books_agree(db: asyncpg.Pool, fake: FakeStripe, tutor_id: str, account_id: str) -> None:
    """Every entry balances, and the ledger's cash accounts equal the fake Stripe's balances."""
    unbalanced = await db.fetch("SELECT entry_id FROM ledger_lines GROUP BY entry_id, currency HAVING sum(amount) <> 0")
    assert unbalanced == []
    assert await _ledger(db, "platform_cash") == fake.balance("platform")
    assert await _ledger(db, "tutor_stripe", tutor_id) == fake.balance(account_id)
    assert await _ledger(db, "tutor_bank", tutor_id) == sum(p["amount"] for p in fake.payouts.values()
                                                            if p["status"] == "paid"
                                                            and p["destination_account"] == account_id)


async def _check(stripe_app: Starlette, settings: Settings) -> list[str]:
    async with unit_of_work(stripe_app.state.sessionmaker) as session:
        return [str(d) for d in await reconcile.check(session, settings)]


async def _pay_out(sclient: httpx.AsyncClient, fake: FakeStripe, account_id: str, stripe_settings: Settings,
                   stripe_app: Starlette, amount: int | None = None) -> dict[str, Any]:
    """Stripe pays the account out and says so; the worker's task reconciles the payout."""
    payout = fake.pay_out(account_id, amount)
    assert (await post_event(sclient, event("payout.paid", payout, account=account_id))).json()["outcome"] == "paid"
    assert await reconcile_payout_lines(stripe_settings, stripe_app.state.sessionmaker, payout["id"]) == "reconciled"
    return payout


async def _finish_lesson(db: asyncpg.Pool, booking_id: str) -> None:
    """The lesson took place and the refund window passed."""
    await db.execute("UPDATE bookings SET status = 'completed', start_at = start_at - interval '10 days', "
                     "end_at = end_at - interval '10 days', guarded = tstzrange(start_at - interval '10 days', "
                     "end_at - interval '10 days') WHERE id = $1", uuid.UUID(booking_id))


async def _earnings(sclient: httpx.AsyncClient, tutor: dict[str, Any]) -> dict[str, Any]:
    r = await sclient.get("/api/v1/tutors/me/earnings", headers=tutor["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def test_fee_is_rounded_in_the_tutors_favour() -> None:
    settings = make_settings(platform_fee_bps=1500)
    assert platform_fee(settings, 6000) == 900
    assert platform_fee(settings, 999) == 149  # 149.85: the platform gets the lower cent
    assert platform_fee(make_settings(platform_fee_bps=1234), 101) == 12  # 12.4634
    assert platform_fee(make_settings(platform_fee_bps=0), 6000) == 0
    # A refund's fee part is the fee in proportion rounded up: the tutor gives back the lower cent.
    assert fee_part(999, 149, 500) == 75  # 74.57
    assert fee_part(6000, 900, 6000) == 900


async def test_onboarding_creates_one_account_however_often_called(
        sclient: httpx.AsyncClient, tutor: dict, fake_stripe: FakeStripe, db: asyncpg.Pool) -> None:
    r = await sclient.get("/api/v1/tutors/me/payouts", headers=tutor["headers"])
    assert r.json() == {"status": "not_started", "charges_enabled": False, "payouts_enabled": False,
                        "platform_fee_bps": 1500, "default_currency": None}
    responses = await asyncio.gather(*(sclient.post(ONBOARD, headers=tutor["headers"]) for _ in range(4)))
    assert {r.status_code for r in responses} == {200}
    assert len(fake_stripe.accounts) == 1
    [account] = fake_stripe.accounts.values()
    assert account["type"] == "express" and account["metadata"] == {"tutor_id": tutor["id"]}
    keys = {c.headers.get("Idempotency-Key") for c in fake_stripe.calls("POST", "/v1/accounts")}
    assert keys == {f"tutor-{tutor['id']}-connect-account"}
    assert all(r.json()["url"].startswith(f"{fake_stripe.url}/connect/onboarding/{account['id']}") for r in responses)
    assert fake_stripe.links[0]["return_url"].endswith("/payouts?onboarding=done")
    assert await db.fetchval("SELECT count(*) FROM payout_accounts") == 1
    status = (await sclient.get("/api/v1/tutors/me/payouts", headers=tutor["headers"])).json()
    assert status["status"] == "pending"


async def test_account_state_follows_account_updated_webhooks(
        sclient: httpx.AsyncClient, tutor: dict, fake_stripe: FakeStripe, db: asyncpg.Pool) -> None:
    account_id = await _onboard(sclient, tutor, fake_stripe, activate=False)
    now = int(time.time())
    account = fake_stripe.update_account(account_id, details_submitted=True)
    assert (await post_event(sclient, event("account.updated", account, created=now))).json()["outcome"] == "restricted"
    active = fake_stripe.update_account(account_id, charges_enabled=True, payouts_enabled=True)
    replayed = event("account.updated", active, created=now + 10)
    assert (await post_event(sclient, replayed)).json()["outcome"] == "active"
    assert (await post_event(sclient, replayed)).json()["outcome"] == "duplicate"
    # An older event arriving late does not undo the newer state.
    stale = {**active, "charges_enabled": False, "details_submitted": False}
    assert (await post_event(sclient, event("account.updated", stale, created=now + 5))).json()["outcome"] == "stale"
    status = (await sclient.get("/api/v1/tutors/me/payouts", headers=tutor["headers"])).json()
    assert status == {"status": "active", "charges_enabled": True, "payouts_enabled": True, "platform_fee_bps": 1500,
                      "default_currency": "USD"}
    disabled = fake_stripe.update_account(account_id, charges_enabled=False, payouts_enabled=False,
                                          requirements={"disabled_reason": "requirements.past_due", "past_due": ["x"]})
    assert (await post_event(sclient, event("account.updated", disabled, created=now + 20))).json()["outcome"] \
        == "restricted"
    told = await db.fetch("SELECT payload->>'status' AS s FROM outbox WHERE event = 'payout.updated' AND room = $1 "
                          "ORDER BY id", f"user:{tutor['id']}")
    assert [r["s"] for r in told] == ["restricted", "active", "restricted"]
    unknown = event("account.updated", {**active, "id": "acct_unknown"})
    assert (await post_event(sclient, unknown)).json()["outcome"] == "unknown_account"


async def test_only_the_tutor_sees_their_payouts(sclient: httpx.AsyncClient, make_tutor: Any, make_students: Any,
                                                 fake_stripe: FakeStripe) -> None:
    tutor, other = await make_tutor(), await make_tutor()
    [student] = await make_students(1)
    await _onboard(sclient, tutor, fake_stripe)
    await _paid(sclient, fake_stripe, student, tutor["id"], next_day_at(10))
    for path in ("/api/v1/tutors/me/payouts", "/api/v1/tutors/me/earnings"):
        r = await sclient.get(path, headers=student["headers"])
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert (await sclient.get(path)).status_code == 401
    r = await sclient.post(ONBOARD, headers=student["headers"])
    assert r.status_code == 403
    assert (await _earnings(sclient, other)) == {"items": [], "next_cursor": None, "totals": []}
    assert len((await _earnings(sclient, tutor))["items"]) == 1


async def test_onboarding_without_stripe_is_feature_disabled(client: httpx.AsyncClient, tutor: dict) -> None:
    r = await client.post(ONBOARD, headers=tutor["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "feature_disabled"


async def test_paid_lesson_is_a_destination_charge_and_earnings_move_to_paid(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_settings: Settings, stripe_app: Starlette) -> None:
    [student] = await make_students(1)
    account_id = await _onboard(sclient, tutor, fake_stripe)
    booking_id, intent = await _paid(sclient, fake_stripe, student, tutor["id"], next_day_at(10))
    assert intent["transfer_data"] == {"destination": account_id} and intent["application_fee_amount"] == 900
    kinds = await db.fetch("SELECT kind FROM ledger_entries WHERE booking_id = $1 ORDER BY id", uuid.UUID(booking_id))
    assert [k["kind"] for k in kinds] == ["charge", "fee", "transfer"]
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    assert await _ledger(db, "platform_fees") == -900 and await _ledger(db, "tutor_earnings", tutor["id"]) == -5100
    [line] = (await _earnings(sclient, tutor))["items"]
    assert (line["gross_cents"], line["fee_cents"], line["net_cents"], line["status"]) == (6000, 900, 5100, "pending")
    # The lesson took place and the refund window passed: available; Stripe pays it out: paid.
    await db.execute("UPDATE bookings SET status = 'completed', start_at = now() - interval '50 hours', "
                     "end_at = now() - interval '49 hours', guarded = tstzrange(now() - interval '50 hours', "
                     "now() - interval '49 hours') WHERE id = $1", uuid.UUID(booking_id))
    assert (await _earnings(sclient, tutor))["items"][0]["status"] == "available"
    payout = fake_stripe.pay_out(account_id, 5100)
    assert (await post_event(sclient, event("payout.paid", payout, account=account_id))).json()["outcome"] == "paid"
    # The webhook only records the payout: which lines it covered is the task's to learn from Stripe.
    assert (await _earnings(sclient, tutor))["items"][0]["status"] == "available"
    sessionmaker = stripe_app.state.sessionmaker
    assert await reconcile_payout_lines(stripe_settings, sessionmaker, payout["id"]) == "reconciled"
    assert await reconcile_payout_lines(stripe_settings, sessionmaker, payout["id"]) == "nothing_to_reconcile"
    [listing] = fake_stripe.calls("GET", "/v1/balance_transactions")
    assert listing.headers["Stripe-Account"] == account_id and listing.query["payout"] == payout["id"]
    page = await _earnings(sclient, tutor)
    assert page["items"][0]["status"] == "paid" and page["items"][0]["payout_id"] == payout["id"]
    assert page["totals"] == [{"currency": "USD", "gross_cents": 6000, "fee_cents": 900, "refunded_cents": 0,
                               "net_cents": 5100, "pending_cents": 0, "available_cents": 0, "paid_cents": 5100}]
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    # A replayed payout event writes nothing twice; a payout the bank returned makes the line available again.
    assert (await post_event(sclient, event("payout.paid", payout, account=account_id))).json()["outcome"] \
        == "duplicate"
    assert await _check(stripe_app, stripe_settings) == []
    failed = fake_stripe.fail_payout(payout["id"])
    r = await post_event(sclient, event("payout.failed", failed, account=account_id))
    assert r.json()["outcome"] == "failed"
    assert (await _earnings(sclient, tutor))["items"][0]["status"] == "available"
    assert await _ledger(db, "tutor_bank", tutor["id"]) == 0
    assert await _ledger(db, "tutor_stripe", tutor["id"]) == fake_stripe.balance(account_id) == 5100
    assert await _check(stripe_app, stripe_settings) == []
    # Stripe pays the returned money out again: the next payout carries the failure, and the line with it.
    again = await _pay_out(sclient, fake_stripe, account_id, stripe_settings, stripe_app, 5100)
    [line] = (await _earnings(sclient, tutor))["items"]
    assert (line["status"], line["payout_id"]) == ("paid", again["id"])
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    assert await _check(stripe_app, stripe_settings) == []


async def test_payout_before_any_charge_and_for_unknown_accounts_leave_the_ledger_balanced(
        sclient: httpx.AsyncClient, tutor: dict, fake_stripe: FakeStripe, db: asyncpg.Pool) -> None:
    account_id = await _onboard(sclient, tutor, fake_stripe)
    payout = {"id": "po_early", "object": "payout", "amount": 700, "currency": "usd", "status": "paid"}
    assert (await post_event(sclient, event("payout.paid", payout, account="acct_nobody"))).json()["outcome"] \
        == "unknown_account"
    failed = event("payout.failed", {**payout, "id": "po_never"}, account=account_id)
    assert (await post_event(sclient, failed)).json()["outcome"] == "never_paid"
    assert (await post_event(sclient, event("payout.paid", payout, account=account_id))).json()["outcome"] == "paid"
    assert await db.fetchval("SELECT count(*) FROM ledger_lines GROUP BY entry_id HAVING sum(amount) <> 0") is None


async def test_lesson_booked_before_onboarding_is_transferred_once_active_after_a_stripe_500(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_settings: Settings, stripe_app: Starlette) -> None:
    [student] = await make_students(1)
    booking_id, intent = await _paid(sclient, fake_stripe, student, tutor["id"], next_day_at(10))
    assert "transfer_data" not in intent
    sessionmaker = stripe_app.state.sessionmaker
    assert await transfer_booking(stripe_settings, sessionmaker, uuid.UUID(booking_id)) == "nothing_to_transfer"
    account_id = await _onboard(sclient, tutor, fake_stripe)
    fake_stripe.fail_next("/v1/transfers", 500)
    with pytest.raises(stripe.APIError):
        await transfer_booking(stripe_settings, sessionmaker, uuid.UUID(booking_id))
    assert await db.fetchval("SELECT transfer_state FROM tutor_earnings") == "in_flight"
    assert await transfer_booking(stripe_settings, sessionmaker, uuid.UUID(booking_id)) == "transferred"
    assert await transfer_booking(stripe_settings, sessionmaker, uuid.UUID(booking_id)) == "nothing_to_transfer"
    [transfer] = fake_stripe.transfers.values()
    assert (transfer["amount"], transfer["destination"], transfer["transfer_group"]) == (5100, account_id, booking_id)
    keys = {c.headers.get("Idempotency-Key") for c in fake_stripe.calls("POST", "/v1/transfers")}
    assert keys == {f"booking-{booking_id}-transfer"}
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    # The lesson took place; Stripe pays the Transfer out: the line is paid, and everything agrees.
    await _finish_lesson(db, booking_id)
    payout = await _pay_out(sclient, fake_stripe, account_id, stripe_settings, stripe_app, 5100)
    [line] = (await _earnings(sclient, tutor))["items"]
    assert (line["status"], line["net_cents"], line["payout_id"]) == ("paid", 5100, payout["id"])
    assert await db.fetchval("SELECT transfer_id FROM payout_items WHERE booking_id = $1",
                             uuid.UUID(booking_id)) == transfer["id"]
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    assert await _check(stripe_app, stripe_settings) == []


async def test_refund_by_policy_reverses_the_transfer_and_the_fee(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_settings: Settings, stripe_app: Starlette) -> None:
    [student] = await make_students(1)
    account_id = await _onboard(sclient, tutor, fake_stripe)
    booking_id, _ = await _paid(sclient, fake_stripe, student, tutor["id"], next_day_at(10))
    r = await sclient.post(f"/api/v1/bookings/{booking_id}/cancel", headers=tutor["headers"], json={})
    assert r.status_code == 200 and r.json()["refund_cents"] == 6000
    assert await refund_booking(stripe_settings, stripe_app.state.sessionmaker, uuid.UUID(booking_id)) == "refunded"
    [call] = fake_stripe.calls("POST", "/v1/refunds")
    assert call.form()["reverse_transfer"] == "true" and call.form()["refund_application_fee"] == "true"
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    assert fake_stripe.balance("platform") == 0 and fake_stripe.balance(account_id) == 0
    [line] = (await _earnings(sclient, tutor))["items"]
    assert (line["status"], line["net_cents"], line["refunded_cents"]) == ("reversed", 0, 6000)
    # The charge.refunded webhook that follows writes nothing twice.
    await post_event(sclient, event("charge.refunded", {"id": "ch_x", "payment_intent": call.form()["payment_intent"],
                                                        "amount_refunded": 6000}))
    assert await db.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'refund'") == 1
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    assert await _check(stripe_app, stripe_settings) == []


async def test_partial_admin_refund_of_a_transferred_share_reverses_in_proportion(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_settings: Settings, stripe_app: Starlette, settings: Settings) -> None:
    [student] = await make_students(1)
    booking_id, _ = await _paid(sclient, fake_stripe, student, tutor["id"], next_day_at(10))
    account_id = await _onboard(sclient, tutor, fake_stripe)
    sessionmaker = stripe_app.state.sessionmaker
    await transfer_booking(stripe_settings, sessionmaker, uuid.UUID(booking_id))
    admin_id = uuid.uuid4()
    await db.execute("INSERT INTO users (id, email, name, role) VALUES ($1, $2, 'Admin', 'admin')",
                     admin_id, f"admin-{admin_id.hex[:8]}@example.com")
    r = await sclient.post(f"/api/v1/admin/bookings/{booking_id}/refund", json={"amount_cents": 2500, "reason": "late"},
                           headers=bearer(issue_access_token(settings, admin_id, "admin")))
    assert r.status_code == 200, r.text
    assert await refund_booking(stripe_settings, sessionmaker, uuid.UUID(booking_id)) == "refunded"
    # 2500 refunded: the fee's part is 375 (900 × 2500/6000), the tutor's 2125 comes back from the transfer.
    [reversal] = fake_stripe.reversals.values()
    assert reversal["amount"] == 2125
    [line] = (await _earnings(sclient, tutor))["items"]
    assert (line["net_cents"], line["refunded_cents"], line["status"]) == (5100 - 2125, 2500, "pending")
    assert await _ledger(db, "platform_fees") == -(900 - 375)
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    assert await _check(stripe_app, stripe_settings) == []
    # The lesson took place; Stripe pays out what is left of the share (the reversal came off it).
    await _finish_lesson(db, booking_id)
    payout = await _pay_out(sclient, fake_stripe, account_id, stripe_settings, stripe_app, 5100 - 2125)
    [line] = (await _earnings(sclient, tutor))["items"]
    assert (line["status"], line["net_cents"], line["payout_id"]) == ("paid", 2975, payout["id"])
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    assert fake_stripe.balance(account_id) == 0 and await _ledger(db, "tutor_bank", tutor["id"]) == 2975
    assert await _check(stripe_app, stripe_settings) == []
    # Stripe's record of the transfer drifts from ours: the check reports it.
    [transfer] = fake_stripe.transfers.values()
    transfer["amount_reversed"] = 2000
    assert await _check(stripe_app, stripe_settings) == [
        f"stripe transfer reversed {transfer['id']}: expected 2125, found 2000"]


async def test_concurrent_refunds_transfers_and_replays_never_unbalance_or_double_transfer(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_settings: Settings, stripe_app: Starlette) -> None:
    students = await make_students(3)
    booked = [await _paid(sclient, fake_stripe, s, tutor["id"], next_day_at(8 + 2 * i))
              for i, s in enumerate(students)]
    account_id = await _onboard(sclient, tutor, fake_stripe)
    sessionmaker = stripe_app.state.sessionmaker
    for booking_id, _ in booked[:2]:
        r = await sclient.post(f"/api/v1/bookings/{booking_id}/cancel", headers=tutor["headers"], json={})
        assert r.status_code == 200
    active = fake_stripe.accounts[account_id]
    work: list[Any] = []
    for booking_id, intent in booked:
        bid = uuid.UUID(booking_id)
        work += [transfer_booking(stripe_settings, sessionmaker, bid) for _ in range(3)]
        work += [refund_booking(stripe_settings, sessionmaker, bid) for _ in range(3)]
        work += [post_event(sclient, intent_event("payment_intent.succeeded", intent, event_id=f"evt_{bid.hex}"))
                 for _ in range(2)]
        work.append(post_event(sclient, event("account.updated", active)))
    await asyncio.gather(*work, return_exceptions=True)
    # Whatever lost a race is retried, as the worker would, until nothing is left to do.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        outcomes = []
        for booking_id, _ in booked:
            for step in (transfer_booking, refund_booking):
                try:
                    outcomes.append(await step(stripe_settings, sessionmaker, uuid.UUID(booking_id)))
                except Exception as exc:  # noqa: BLE001 - a retryable race, like the worker's retry
                    outcomes.append(repr(exc))
        if set(outcomes) <= {"nothing_to_transfer", "nothing_to_refund"}:
            break
    transfers_per_booking = [sum(1 for t in fake_stripe.transfers.values() if t["transfer_group"] == b)
                             for b, _ in booked]
    assert all(n <= 1 for n in transfers_per_booking)
    assert len(fake_stripe.refunds) == 2
    assert await db.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'transfer'") == sum(
        transfers_per_booking)
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    lines = {i["booking_id"]: i for i in (await _earnings(sclient, tutor))["items"]}
    assert [lines[b]["status"] for b, _ in booked] == ["reversed", "reversed", "pending"]
    assert await _check(stripe_app, stripe_settings) == []


async def test_the_database_refuses_an_unbalanced_or_edited_entry(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            async with conn.transaction():
                entry = await conn.fetchval("INSERT INTO ledger_entries (key, kind) VALUES ('t1', 'charge') RETURNING id")
                await conn.execute("INSERT INTO ledger_lines (entry_id, account, currency, amount) VALUES "
                                   "($1, 'platform_cash', 'USD', 100), ($1, 'platform_fees', 'USD', -99)", entry)
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            async with conn.transaction():  # balanced in sum, not per currency
                entry = await conn.fetchval("INSERT INTO ledger_entries (key, kind) VALUES ('t2', 'charge') RETURNING id")
                await conn.execute("INSERT INTO ledger_lines (entry_id, account, currency, amount) VALUES "
                                   "($1, 'platform_cash', 'USD', 100), ($1, 'platform_fees', 'EUR', -100)", entry)
        async with conn.transaction():
            entry = await conn.fetchval("INSERT INTO ledger_entries (key, kind) VALUES ('t3', 'charge') RETURNING id")
            await conn.execute("INSERT INTO ledger_lines (entry_id, account, currency, amount) VALUES "
                               "($1, 'platform_cash', 'USD', 100), ($1, 'platform_fees', 'USD', -100)", entry)
        with pytest.raises(asyncpg.CheckViolationError, match="append-only"):
            await conn.execute("UPDATE ledger_lines SET amount = 5 WHERE entry_id = $1", entry)


async def test_earnings_page_filters_and_paginates(sclient: httpx.AsyncClient, tutor: dict, make_students: Any,
                                                   fake_stripe: FakeStripe) -> None:
    students = await make_students(3)
    await _onboard(sclient, tutor, fake_stripe)
    starts = [next_day_at(9 + i) for i in range(3)]
    ids = [(await _paid(sclient, fake_stripe, s, tutor["id"], t))[0] for s, t in zip(students, starts, strict=True)]
    r = await sclient.get("/api/v1/tutors/me/earnings", params={"limit": 2}, headers=tutor["headers"])
    first = r.json()
    assert [i["booking_id"] for i in first["items"]] == [ids[2], ids[1]] and first["next_cursor"]
    second = (await sclient.get("/api/v1/tutors/me/earnings", params={"cursor": first["next_cursor"]},
                                headers=tutor["headers"])).json()
    assert [i["booking_id"] for i in second["items"]] == [ids[0]] and second["next_cursor"] is None
    assert second["totals"][0]["gross_cents"] == 18000
    window = {"from": starts[1].isoformat(), "to": (starts[1] + timedelta(minutes=1)).isoformat()}
    only = (await sclient.get("/api/v1/tutors/me/earnings", params=window, headers=tutor["headers"])).json()
    assert [i["booking_id"] for i in only["items"]] == [ids[1]]
    bad = await sclient.get("/api/v1/tutors/me/earnings", params={"cursor": "nope"}, headers=tutor["headers"])
    assert bad.status_code == 422




async def _ledger_cli(database_url: str) -> tuple[int, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "STRIPE_SECRET_KEY": "", "ENVIRONMENT": "test"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "edustream", "ledger", "check", "--no-stripe",
                                                env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode()


async def test_ledger_check_command_exits_non_zero_on_a_difference(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        database_url: str) -> None:
    [student] = await make_students(1)
    await _onboard(sclient, tutor, fake_stripe)
    booking_id, _ = await _paid(sclient, fake_stripe, student, tutor["id"], next_day_at(10))
    code, out = await _ledger_cli(database_url)
    assert code == 0 and "0 difference(s)" in out, out
    # The earnings line says the fee was smaller than the ledger booked.
    await db.execute("UPDATE tutor_earnings SET fee_cents = 800 WHERE booking_id = $1", uuid.UUID(booking_id))
    code, out = await _ledger_cli(database_url)
    assert code == 1 and f"booking platform_fees {booking_id}: expected -800, found -900" in out, out


async def test_transfer_refused_because_the_account_became_restricted_stays_owed(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_settings: Settings, stripe_app: Starlette) -> None:
    [student] = await make_students(1)
    booking_id, _ = await _paid(sclient, fake_stripe, student, tutor["id"], next_day_at(10))
    account_id = await _onboard(sclient, tutor, fake_stripe)
    # Stripe restricted the account before its account.updated reached us: the Transfer is refused.
    fake_stripe.update_account(account_id, charges_enabled=False, payouts_enabled=False)
    with pytest.raises(stripe.InvalidRequestError):
        await transfer_booking(stripe_settings, stripe_app.state.sessionmaker, uuid.UUID(booking_id))
    assert await db.fetchval("SELECT transfer_state FROM tutor_earnings") == "due"
    assert fake_stripe.transfers == {}
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    # Once the account is active again, the share goes (once).
    active = fake_stripe.update_account(account_id, charges_enabled=True, payouts_enabled=True)
    await post_event(sclient, event("account.updated", active, created=int(time.time()) + 60))
    assert await transfer_booking(stripe_settings, stripe_app.state.sessionmaker, uuid.UUID(booking_id)) \
        == "transferred"
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    assert await _check(stripe_app, stripe_settings) == []


async def test_stripe_failing_during_onboarding_is_a_clean_error_and_a_retry_works(
        sclient: httpx.AsyncClient, tutor: dict, fake_stripe: FakeStripe, db: asyncpg.Pool) -> None:
    fake_stripe.fail_next("/v1/accounts", 500)
    r = await sclient.post(ONBOARD, headers=tutor["headers"])
    assert r.status_code == 502 and r.json()["error"]["code"] == "payment_provider_error"
    assert await db.fetchval("SELECT count(*) FROM payout_accounts") == 0
    fake_stripe.fail_next("/v1/account_links", 500)
    r = await sclient.post(ONBOARD, headers=tutor["headers"])
    assert r.status_code == 502
    # The account Stripe made before the link failed is not recorded (the unit of work rolled
    # back); the retry gets the same account back through the idempotency key.
    r = await sclient.post(ONBOARD, headers=tutor["headers"])
    assert r.status_code == 200, r.text
    assert len(fake_stripe.accounts) == 1
    assert await db.fetchval("SELECT stripe_account_id FROM payout_accounts") == next(iter(fake_stripe.accounts))


async def test_refund_webhook_during_a_transfer_is_refused_until_it_is_recorded(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_settings: Settings, stripe_app: Starlette) -> None:
    [student] = await make_students(1)
    booking_id, intent = await _paid(sclient, fake_stripe, student, tutor["id"], next_day_at(10))
    await _onboard(sclient, tutor, fake_stripe)
    await db.execute("UPDATE tutor_earnings SET transfer_state = 'in_flight', transfer_cents = 5100")
    refunded = event("charge.refunded", {"id": "ch_y", "payment_intent": intent["id"], "amount_refunded": 6000})
    r = await post_event(sclient, refunded)
    assert r.status_code == 409 and r.json()["error"]["code"] == "transfer_in_flight"
    assert await db.fetchval("SELECT count(*) FROM webhook_events WHERE id = $1", refunded["id"]) == 0
    assert await db.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'refund'") == 0
    await db.execute("UPDATE tutor_earnings SET transfer_state = 'due', transfer_cents = NULL")
    assert await transfer_booking(stripe_settings, stripe_app.state.sessionmaker, uuid.UUID(booking_id)) \
        == "transferred"
    assert (await post_event(sclient, refunded)).json()["outcome"] == "refunded"
    kinds = await db.fetch("SELECT kind FROM ledger_entries WHERE booking_id = $1 ORDER BY id", uuid.UUID(booking_id))
    assert [k["kind"] for k in kinds] == ["charge", "fee", "transfer", "refund", "reversal"]
    assert await db.fetchval("SELECT count(*) FROM ledger_lines GROUP BY entry_id HAVING sum(amount) <> 0") is None


async def test_payout_paid_before_its_charge_is_recorded_marks_the_line_once_it_is(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_settings: Settings, stripe_app: Starlette) -> None:
    [student] = await make_students(1)
    account_id = await _onboard(sclient, tutor, fake_stripe)
    held = (await hold(sclient, student, tutor["id"], next_day_at(10))).json()
    assert (await sclient.post(f"/api/v1/bookings/{held['id']}/checkout", headers=student["headers"])).status_code \
        == 200
    [intent] = fake_stripe.intents.values()
    fake_stripe.succeed(intent["id"])  # the student paid; our payment_intent.succeeded is late
    payout = await _pay_out(sclient, fake_stripe, account_id, stripe_settings, stripe_app, 5100)
    assert await db.fetchval("SELECT count(*) FROM tutor_earnings") == 0
    assert await db.fetchval("SELECT booking_id FROM payout_items WHERE payout_id = $1 AND type = 'payment'",
                             payout["id"]) == uuid.UUID(held["id"])
    r = await post_event(sclient, intent_event("payment_intent.succeeded", intent))
    assert r.json()["outcome"] == "confirmed"
    [line] = (await _earnings(sclient, tutor))["items"]
    assert (line["status"], line["payout_id"]) == ("paid", payout["id"])
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    assert await _check(stripe_app, stripe_settings) == []


async def test_payout_reconciliation_reads_every_page_retries_stripe_errors_and_marks_exactly_its_lines(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_settings: Settings, stripe_app: Starlette) -> None:
    students = await make_students(4)
    account_id = await _onboard(sclient, tutor, fake_stripe)
    paid = [(await _paid(sclient, fake_stripe, s, tutor["id"], next_day_at(8 + 2 * i)))[0]
            for i, s in enumerate(students[:3])]
    sessionmaker = stripe_app.state.sessionmaker
    payout = fake_stripe.pay_out(account_id, 3 * 5100)
    later, _ = await _paid(sclient, fake_stripe, students[3], tutor["id"], next_day_at(16))  # not in the payout
    paid_event = event("payout.paid", payout, account=account_id)
    assert (await post_event(sclient, paid_event)).json()["outcome"] == "paid"
    fake_stripe.page_size = 1
    # Stripe fails (a 500, then a time-out-like 503 on a later page): nothing is marked, and the retry works.
    fake_stripe.fail_next("/v1/balance_transactions", 500)
    with pytest.raises(stripe.APIError):
        await reconcile_payout_lines(stripe_settings, sessionmaker, payout["id"])
    fake_stripe.fail_next("/v1/payouts", 503)
    with pytest.raises(stripe.APIError):
        await reconcile_payout_lines(stripe_settings, sessionmaker, payout["id"])
    assert await db.fetchval("SELECT count(*) FROM tutor_earnings WHERE payout_id IS NOT NULL") == 0
    results = await asyncio.gather(*(reconcile_payout_lines(stripe_settings, sessionmaker, payout["id"])
                                     for _ in range(3)))
    assert sorted(results).count("reconciled") == 1 and set(results) <= {"reconciled", "nothing_to_reconcile"}
    pages = [c for c in fake_stripe.calls("GET", "/v1/balance_transactions") if c.headers["Stripe-Account"]
             == account_id]
    assert len(pages) >= 4  # three payments and the payout itself, one a page
    lines = {i["booking_id"]: i for i in (await _earnings(sclient, tutor))["items"]}
    assert {b for b, line in lines.items() if line["payout_id"] == payout["id"]} == set(paid)
    assert lines[later]["payout_id"] is None and lines[later]["status"] == "pending"
    # Replays of the webhook (a new event id, as a resend) and of the task write nothing twice.
    assert (await post_event(sclient, event("payout.paid", payout, account=account_id))).json()["outcome"] \
        == "duplicate"
    assert (await post_event(sclient, paid_event)).json()["outcome"] == "duplicate"
    assert await reconcile_payout_lines(stripe_settings, sessionmaker, payout["id"]) == "nothing_to_reconcile"
    assert await db.fetchval("SELECT count(*) FROM payout_items WHERE payout_id = $1", payout["id"]) == 3
    assert await db.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'payout'") == 1
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    assert await _check(stripe_app, stripe_settings) == []


async def test_payout_failed_before_paid_arrives_leaves_nothing_paid(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_settings: Settings, stripe_app: Starlette) -> None:
    [student] = await make_students(1)
    account_id = await _onboard(sclient, tutor, fake_stripe)
    await _paid(sclient, fake_stripe, student, tutor["id"], next_day_at(10))
    payout = fake_stripe.pay_out(account_id, 5100)
    failed = dict(fake_stripe.fail_payout(payout["id"]))
    now = int(time.time())
    r = await post_event(sclient, event("payout.failed", failed, account=account_id, created=now + 1))
    assert r.json()["outcome"] == "never_paid"
    r = await post_event(sclient, event("payout.paid", {**failed, "status": "paid"}, account=account_id, created=now))
    assert r.json()["outcome"] == "stale"
    assert await reconcile_payout_lines(stripe_settings, stripe_app.state.sessionmaker, payout["id"]) \
        == "nothing_to_reconcile"
    assert (await _earnings(sclient, tutor))["items"][0]["payout_id"] is None
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    assert await _check(stripe_app, stripe_settings) == []


async def _ledger_cli_with_stripe(database_url: str, fake: FakeStripe) -> tuple[int, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "STRIPE_SECRET_KEY": "sk_test_fake",
           "STRIPE_PUBLISHABLE_KEY": "pk_test_fake", "STRIPE_WEBHOOK_SECRET": "whsec_test_secret",
           "STRIPE_API_BASE": fake.url, "ENVIRONMENT": "test"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "edustream", "ledger", "check",
                                                env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode()


async def test_ledger_check_reconciles_payouts_with_stripe_and_fails_on_a_planted_difference(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_settings: Settings, stripe_app: Starlette, database_url: str) -> None:
    students = await make_students(2)
    account_id = await _onboard(sclient, tutor, fake_stripe)
    first, _ = await _paid(sclient, fake_stripe, students[0], tutor["id"], next_day_at(10))
    second, _ = await _paid(sclient, fake_stripe, students[1], tutor["id"], next_day_at(12))
    payout = await _pay_out(sclient, fake_stripe, account_id, stripe_settings, stripe_app, 2 * 5100)
    code, out = await _ledger_cli_with_stripe(database_url, fake_stripe)
    assert code == 0 and "0 difference(s)" in out, out
    # Stripe's payout is not what we recorded.
    fake_stripe.payouts[payout["id"]]["amount"] = 5000
    code, out = await _ledger_cli_with_stripe(database_url, fake_stripe)
    assert code == 1 and (f"stripe payout {payout['id']}: expected (10200, 'USD', 'paid'), "
                          f"found (5000, 'USD', 'paid')") in out, out
    fake_stripe.payouts[payout["id"]]["amount"] = 10200
    # Stripe says the payout carried one lesson only, where we marked two.
    [intent] = [i for i in fake_stripe.intents.values() if i["metadata"]["booking_id"] == second]
    [txn] = [t for t in fake_stripe.balance_transactions[account_id] if t["type"] == "payment"
             and fake_stripe.account_objects[t["source"]]["source_transfer"] == intent["destination_transfer"]]
    txn["payout"] = None
    assert await _check(stripe_app, stripe_settings) == [
        f"stripe payout lines {payout['id']}: expected {[first]}, found {sorted([first, second])}"]
    code, _ = await _ledger_cli_with_stripe(database_url, fake_stripe)
    assert code == 1
    # Our own books say a line was paid by a payout that never covered it.
    txn["payout"] = payout["id"]
    await db.execute("DELETE FROM payout_items WHERE payout_id = $1 AND booking_id = $2", payout["id"],
                     uuid.UUID(second))
    assert await _check(stripe_app, stripe_settings) == [
        f"payout lines {payout['id']}: expected {[first]}, found {sorted([first, second])}"]


async def test_lesson_priced_in_a_currency_the_account_is_not_paid_in_stays_on_the_platform(
        sclient: httpx.AsyncClient, tutor: dict, make_students: Any, fake_stripe: FakeStripe, db: asyncpg.Pool,
        stripe_settings: Settings, stripe_app: Starlette) -> None:
    students = await make_students(2)
    booking_id, _ = await _paid(sclient, fake_stripe, students[0], tutor["id"], next_day_at(10))  # USD, no account
    r = await sclient.post(ONBOARD, headers=tutor["headers"])
    [account_id] = fake_stripe.accounts
    # The tutor's account turns out to be paid in euros.
    active = fake_stripe.update_account(account_id, details_submitted=True, charges_enabled=True,
                                        payouts_enabled=True, default_currency="eur")
    assert (await post_event(sclient, event("account.updated", active))).json()["outcome"] == "active"
    status = (await sclient.get("/api/v1/tutors/me/payouts", headers=tutor["headers"])).json()
    assert status["default_currency"] == "EUR"
    # The USD share is never sent to the EUR account (Stripe would convert it at its own rate).
    assert await transfer_booking(stripe_settings, stripe_app.state.sessionmaker, uuid.UUID(booking_id)) \
        == "nothing_to_transfer"
    assert fake_stripe.calls("POST", "/v1/transfers") == []
    # A USD lesson booked now is charged on the platform, not as a destination charge, and is confirmed.
    _, intent = await _paid(sclient, fake_stripe, students[1], tutor["id"], next_day_at(12))
    assert "transfer_data" not in intent
    states = await db.fetch("SELECT transfer_state FROM tutor_earnings")
    assert [r["transfer_state"] for r in states] == ["due", "due"]
    await _assert_books_agree(db, fake_stripe, tutor["id"], account_id)
    assert fake_stripe.balance("platform") == 12000 and fake_stripe.balance(account_id, "EUR") == 0
    assert await _check(stripe_app, stripe_settings) == []
    # And the tutor cannot keep pricing in USD: the profile must be in the account's currency.
    profile = (await sclient.get(f"/api/v1/tutors/{tutor['id']}")).json()
    body = {"headline": profile["headline"], "bio": profile["bio"], "subjects": ["mathematics"],
            "hourly_rate_cents": 6000, "currency": "USD", "timezone": "UTC", "lesson_minutes": [30, 60, 90]}
    r = await sclient.put("/api/v1/tutors/me", headers=tutor["headers"], json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "currency_not_payable", r.text
    assert r.json()["error"]["details"] == {"currency": "USD", "payout_currency": "EUR"}
    r = await sclient.put("/api/v1/tutors/me", headers=tutor["headers"], json={**body, "currency": "EUR"})
    assert r.status_code == 200, r.text
