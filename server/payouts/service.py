"""Tutor payouts: onboarding to Stripe Connect Express, the account's state from Stripe's
``account.updated`` webhooks, payouts to the tutor's bank, and the earnings list.

The money itself (charges, transfers, refunds and their ledger entries) is in
:mod:`server.payouts.money`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from models.ledger import Account, EntryKind
from models.payout import Payout, PayoutAccount, PayoutState, PayoutStatus
from server.db import Session
from server.jobs import enqueue
from server.ledger import repository as ledger
from server.ledger.repository import Line
from server.outbox import Message, emit, user_room
from server.pagination import decode_cursor, encode_cursor
from server.payouts import money, repository
from server.payouts.errors import CurrencyNotPayable, PayoutsNotConfigured
from server.payouts.schemas import (
    EarningOut,
    EarningsPage,
    EarningsQuery,
    EarningsTotal,
    OnboardingOut,
    PayoutStatusOut,
)
from server.providers import stripe as stripe_client
from server.settings import Settings

log = logging.getLogger("edustream.payouts")


def _status(settings: Settings, account: PayoutAccount | None) -> PayoutStatusOut:
    if account is None:
        return PayoutStatusOut(status=PayoutState.NOT_STARTED, charges_enabled=False, payouts_enabled=False,
                               platform_fee_bps=settings.platform_fee_bps)
    return PayoutStatusOut(status=account.state, charges_enabled=account.charges_enabled,
                           payouts_enabled=account.payouts_enabled, platform_fee_bps=settings.platform_fee_bps,
                           default_currency=account.default_currency)


async def status(session: Session, settings: Settings, tutor_id: uuid.UUID) -> PayoutStatusOut:
    return _status(settings, await repository.get_account(session, tutor_id))


async def check_payable_currency(session: Session, tutor_id: uuid.UUID, currency: str) -> None:
    """Refuse a price in a currency the tutor's Stripe account is not paid in (Stripe would
    convert every share at its own rate): :class:`CurrencyNotPayable`."""
    account = await repository.get_account(session, tutor_id)
    if account is not None and not account.receives(currency):
        raise CurrencyNotPayable(details={"currency": currency, "payout_currency": account.default_currency})


async def start_onboarding(session: Session, settings: Settings, tutor_id: uuid.UUID) -> OnboardingOut:
    """Create the tutor's Express account (once: Stripe's idempotency key and a unique row),
    and hand back a fresh Account Link to Stripe's hosted onboarding."""
    if settings.payments_provider != "stripe":
        raise PayoutsNotConfigured()
    account = await repository.get_account(session, tutor_id)
    if account is None:
        email = await repository.user_email(session, tutor_id) or ""
        account_id = await stripe_client.create_connect_account(settings, str(tutor_id), email)
        account = await repository.insert_account(session, tutor_id, account_id)
    base = settings.frontend_url.rstrip("/")
    url = await stripe_client.create_account_link(settings, account.stripe_account_id,
                                                  base + settings.connect_refresh_path,
                                                  base + settings.connect_return_path)
    return OnboardingOut(url=url, status=account.state)


def account_state(obj: dict[str, Any]) -> PayoutState:
    """Stripe's account object → our state: active when it can take charges and be paid out,
    restricted when Stripe disabled it (or onboarding was submitted and charges are still off)."""
    if obj.get("charges_enabled") and obj.get("payouts_enabled"):
        return PayoutState.ACTIVE
    requirements = obj.get("requirements") or {}
    if requirements.get("disabled_reason") and obj.get("details_submitted"):
        return PayoutState.RESTRICTED
    if obj.get("details_submitted") and (requirements.get("past_due") or not obj.get("charges_enabled")):
        return PayoutState.RESTRICTED
    return PayoutState.PENDING


def _payout_updated(settings: Settings, account: PayoutAccount,
                    extra: dict[str, Any] | None = None) -> list[Message]:
    payload = {**_status(settings, account).model_dump(mode="json"), **(extra or {})}
    return [("payout.updated", user_room(account.tutor_id), payload)]


async def apply_account_update(session: Session, settings: Settings, obj: dict[str, Any], created: int) -> str:
    """``account.updated``: move the tutor's state (an event older than the last applied is
    ignored), tell the tutor live, and start the transfers that waited for an active account."""
    account = await repository.account_by_stripe_id(session, str(obj.get("id", "")))
    if account is None:
        return "unknown_account"
    if created < account.stripe_event_at:
        return "stale"
    previous = account.state
    account.state = account_state(obj)
    account.charges_enabled = bool(obj.get("charges_enabled"))
    account.payouts_enabled = bool(obj.get("payouts_enabled"))
    account.stripe_event_at = created
    if isinstance(obj.get("default_currency"), str) and len(obj["default_currency"]) == 3:
        account.default_currency = obj["default_currency"].upper()
    await emit(session, _payout_updated(settings, account))
    if account.state == PayoutState.ACTIVE and previous != PayoutState.ACTIVE:
        await session.flush()
        await money.enqueue_due_transfers(session, settings, account.tutor_id)
    return account.state.value


async def _post_payout(session: Session, payout: Payout, *, paid: bool) -> bool:
    """The payout entry (money left the tutor's Stripe balance for their bank) or its reversal
    (the bank sent it back), once each."""
    amount, tutor = payout.amount_cents, payout.tutor_id
    legs = [Line(Account.TUTOR_BANK, amount, tutor), Line(Account.TUTOR_STRIPE, -amount, tutor)]
    if not paid:
        legs = [Line(leg.account, -leg.amount, tutor) for leg in legs]
    return await ledger.post(session, f"payout:{payout.id}:{'paid' if paid else 'failed'}",
                             EntryKind.PAYOUT if paid else EntryKind.PAYOUT_FAILED, payout.currency, legs,
                             tutor_id=tutor, stripe_id=payout.id)


def _payout_message(settings: Settings, account: PayoutAccount, payout: Payout, lines: int) -> list[Message]:
    return _payout_updated(settings, account, {"payout": {
        "id": payout.id, "status": str(payout.status), "amount_cents": payout.amount_cents,
        "currency": payout.currency, "lines": lines}})


async def apply_payout(session: Session, settings: Settings, account_id: str | None, obj: dict[str, Any],
                       paid: bool) -> str:
    """``payout.paid`` / ``payout.failed`` from a tutor's connected account. Paid: the payout
    entry, and ``payouts.reconcile_payout`` is queued to learn from Stripe which balance
    transactions (so which earnings lines) it covered. Failed (final): the entry is reversed
    and its lines are available again; a ``payout.paid`` arriving after it changes nothing."""
    account = await repository.account_by_stripe_id(session, account_id or "")
    if account is None:
        return "unknown_account"
    payout_id, amount = str(obj.get("id", "")), int(obj.get("amount") or 0)
    currency = str(obj.get("currency") or "").upper()
    if not payout_id.startswith("po_") or amount <= 0 or len(currency) != 3:
        return "ignored"
    payout = await repository.payout_for_update(session, payout_id)
    if payout is None:
        payout = Payout(id=payout_id, tutor_id=account.tutor_id, stripe_account_id=account.stripe_account_id,
                        amount_cents=amount, currency=currency,
                        status=PayoutStatus.PAID if paid else PayoutStatus.FAILED)
        session.add(payout)
        await session.flush()
    elif payout.tutor_id != account.tutor_id:
        return "ignored"
    if paid:
        posted = await _post_payout(session, payout, paid=True)
        if payout.status == PayoutStatus.FAILED:  # its failure came first: the money is back already
            await _post_payout(session, payout, paid=False)
            return "stale"
        if not posted:
            return "duplicate"
        enqueue(session, settings, "payouts.reconcile_payout", payout_id)
        return "paid"
    payout.status = PayoutStatus.FAILED
    if not await ledger.has_entry(session, f"payout:{payout_id}:paid"):
        return "never_paid"
    if not await _post_payout(session, payout, paid=False):
        return "duplicate"
    lines = await repository.unassign_payout(session, payout_id)
    await emit(session, _payout_message(settings, account, payout, lines))
    return "failed"


@dataclass(frozen=True, slots=True)
class PayoutToReconcile:
    account_id: str
    payout_id: str


async def payout_to_reconcile(session: Session, payout_id: str) -> PayoutToReconcile | None:
    """A paid payout whose balance transactions are not recorded yet, or None."""
    payout = await session.get(Payout, payout_id)
    if payout is None or payout.status != PayoutStatus.PAID or payout.reconciled_at is not None:
        return None
    return PayoutToReconcile(payout.stripe_account_id, payout.id)


async def record_payout_items(session: Session, settings: Settings, payout_id: str,
                              transactions: list[dict[str, Any]], now: datetime) -> int | None:
    """What Stripe listed for a payout: its balance transactions are kept, and exactly the
    lines whose share they brought to the account are marked paid (a line recorded later is
    marked when it is: :func:`server.payouts.money.record_charge`). None when there is nothing
    to do any more (failed meanwhile, or done by an earlier run)."""
    known = await session.get(Payout, payout_id)
    account = await repository.account_by_stripe_id(session, known.stripe_account_id) if known else None
    payout = await repository.payout_for_update(session, payout_id)
    if account is None or payout is None or payout.status != PayoutStatus.PAID or payout.reconciled_at is not None:
        return None
    items = [{**t, "booking_id": _uuid_or_none(t.get("booking_id"))} for t in transactions
             if t.get("type") != "payout"]
    await repository.insert_payout_items(session, payout_id, items)
    lines = await repository.assign_payout_lines(session, payout_id, payout.tutor_id, now)
    payout.reconciled_at = now
    await emit(session, _payout_message(settings, account, payout, lines))
    return lines


def _uuid_or_none(value: object) -> str | None:
    try:
        return str(uuid.UUID(str(value))) if value else None
    except ValueError:
        return None


async def payout_reconciliation_ready(session: Session, settings: Settings, payout_id: str) -> str:
    """``payout.reconciliation_completed``: Stripe can list the payout's balance transactions now."""
    if await payout_to_reconcile(session, payout_id) is None:
        return "ignored"
    enqueue(session, settings, "payouts.reconcile_payout", payout_id)
    return "queued"


async def payouts_waiting(session: Session, limit: int) -> list[str]:
    """Paid payouts whose reconciliation has waited more than a minute (its task was lost)."""
    return await repository.unreconciled_payouts(session, limit)


def _window(settings: Settings) -> timedelta:
    return timedelta(hours=settings.payout_refund_window_hours)


async def earnings(session: Session, settings: Settings, tutor_id: uuid.UUID, query: EarningsQuery,
                   now: datetime) -> EarningsPage:
    """A tutor's earnings lines (newest lesson first) and their totals per currency."""
    after = None
    if query.cursor:
        start, booking = decode_cursor(query.cursor, 2)
        try:
            after = (datetime.fromisoformat(start), uuid.UUID(booking))
        except (TypeError, ValueError):
            after = None
    rows = await repository.earnings_page(session, tutor_id, now, _window(settings), start=query.from_,
                                          end=query.to, after=after, limit=query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    items = [EarningOut(booking_id=r["booking_id"], start=r["start_at"], end=r["end_at"],
                        gross_cents=r["gross_cents"], fee_cents=r["fee_cents"], net_cents=r["net_cents"],
                        refunded_cents=r["refunded_cents"], currency=r["currency"], status=r["status"],
                        payout_id=r["payout_id"]) for r in rows]
    cursor = encode_cursor([rows[-1]["start_at"].isoformat(), str(rows[-1]["booking_id"])]) if more else None
    totals = [EarningsTotal(**t) for t in await repository.earnings_totals(session, tutor_id, now, _window(settings))]
    return EarningsPage(items=items, next_cursor=cursor, totals=totals)
