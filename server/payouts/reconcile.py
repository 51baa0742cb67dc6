"""``edustream ledger check``: prove the books.

1. Every ledger entry sums to zero per currency and has at least two lines (the database
   enforces it; this proves it on the live data).
2. Each booking's entries match its earnings line: what the tutor earned (gross − fee −
   their part of a refund), what the platform kept, and what reached the tutor's account.
3. Each payout's entries match its state (paid: one payout entry of its amount; failed:
   none, or the entry and its reversal), and the lines it marked paid are the bookings its
   recorded balance transactions brought in.
4. With Stripe configured, each separate Transfer agrees with Stripe's record of it (amount,
   amount reversed), and each payout with Stripe's: amount, currency, status, and the
   bookings behind the balance transactions Stripe lists for it (on the connected account)
   are exactly the lines marked paid by it.

Run by hand (exit status 1 on any difference) and by the ``payouts.check_ledger`` sweep,
which logs an error per difference (an alert).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import stripe

from models.payout import PayoutStatus, TransferState
from server.db import Session
from server.ledger import repository as ledger
from server.payouts import repository
from server.providers import stripe as stripe_client
from server.settings import Settings

log = logging.getLogger("edustream.payouts.ledger")


@dataclass(frozen=True, slots=True)
class Difference:
    what: str
    subject: str
    expected: object
    found: object

    def __str__(self) -> str:
        return f"{self.what} {self.subject}: expected {self.expected}, found {self.found}"


async def check(session: Session, settings: Settings, *, with_stripe: bool = True) -> list[Difference]:
    """Every difference between the ledger, the earnings lines and (optionally) Stripe."""
    out = [Difference("unbalanced entry", str(row["key"]), 0, f"{row['total']} {row['currency']} "
                      f"over {row['lines']} line(s)") for row in await ledger.unbalanced_entries(session)]
    balances = await ledger.booking_balances(session)
    for earning in await repository.all_earnings(session):
        books = balances.get(earning.booking_id, {})
        fee_refund = earning.refunded_cents - earning.reversed_cents
        transferred = earning.transfer_state in (TransferState.DESTINATION, TransferState.DONE)
        expected = {
            "tutor_earnings": -(earning.gross_cents - earning.fee_cents - earning.reversed_cents),
            "platform_fees": -(earning.fee_cents - fee_refund),
            "tutor_stripe": (earning.gross_cents - earning.fee_cents - earning.reversed_cents) if transferred else 0,
        }
        if earning.transfer_state == TransferState.DONE and earning.transfer_cents is not None:
            expected["tutor_stripe"] = earning.transfer_cents - min(earning.reversed_cents, earning.transfer_cents)
        for account, amount in expected.items():
            if books.get(account, 0) != amount:
                out.append(Difference(f"booking {account}", str(earning.booking_id), amount, books.get(account, 0)))
    out += await _check_payouts(session)
    if with_stripe and settings.payments_provider == "stripe":
        for earning in await repository.earnings_with_transfers(session):
            try:
                transfer = await stripe_client.retrieve_transfer(settings, str(earning.transfer_id))
            except stripe.StripeError as exc:
                out.append(Difference("stripe transfer", str(earning.transfer_id), "retrievable", str(exc)))
                continue
            if transfer["amount"] != earning.transfer_cents:
                out.append(Difference("stripe transfer amount", str(earning.transfer_id), earning.transfer_cents,
                                      transfer["amount"]))
            if transfer["amount_reversed"] != earning.reversed_cents:
                out.append(Difference("stripe transfer reversed", str(earning.transfer_id), earning.reversed_cents,
                                      transfer["amount_reversed"]))
        out += await _check_payouts_at_stripe(session, settings)
    for difference in out:
        log.error("ledger check: %s", difference)
    return out


def _ids(bookings: set[uuid.UUID]) -> list[str]:
    return sorted(str(b) for b in bookings)


async def _check_payouts(session: Session) -> list[Difference]:
    """Each payout's ledger entries and the lines it marked paid, against its recorded state."""
    out: list[Difference] = []
    entries = await ledger.payout_entries(session)
    lines = await repository.payout_lines(session)
    items = await repository.payout_item_bookings(session)
    for payout in await repository.all_payouts(session):
        posted = entries.get(payout.id, {})
        expected = ({"payout": payout.amount_cents} if payout.status == PayoutStatus.PAID
                    else {"payout": payout.amount_cents, "payout_failed": -payout.amount_cents} if posted else {})
        if posted != expected:
            out.append(Difference("payout entries", payout.id, expected, posted))
        marked = lines.get(payout.id, set())
        if payout.status == PayoutStatus.FAILED and marked:
            out.append(Difference("failed payout lines", payout.id, [], _ids(marked)))
        elif marked - items.get(payout.id, set()):
            out.append(Difference("payout lines", payout.id, _ids(items.get(payout.id, set()) & marked),
                                  _ids(marked)))
    return out


async def _check_payouts_at_stripe(session: Session, settings: Settings) -> list[Difference]:
    """Each payout against Stripe's payout and the balance transactions it lists for it."""
    out: list[Difference] = []
    lines = await repository.payout_lines(session)
    items = await repository.payout_item_bookings(session)
    earned = {e.booking_id: e.payout_id for e in await repository.all_earnings(session)}
    for payout in await repository.all_payouts(session):
        try:
            theirs = await stripe_client.retrieve_payout(settings, payout.stripe_account_id, payout.id)
            transactions = (await stripe_client.payout_balance_transactions(settings, payout.stripe_account_id,
                                                                            payout.id)
                            if theirs["status"] == "paid" else [])
        except stripe.StripeError as exc:
            out.append(Difference("stripe payout", payout.id, "retrievable", str(exc)))
            continue
        ours = (payout.amount_cents, payout.currency, str(payout.status))
        if (theirs["amount"], theirs["currency"], theirs["status"]) != ours:
            out.append(Difference("stripe payout", payout.id, ours,
                                  (theirs["amount"], theirs["currency"], theirs["status"])))
        if payout.status != PayoutStatus.PAID or payout.reconciled_at is None:
            continue
        covered = {uuid.UUID(str(t["booking_id"])) for t in transactions
                   if t["amount"] > 0 and t["type"] in ("payment", "transfer") and _is_uuid(t["booking_id"])}
        for t in transactions:  # a failed payout's money paid out again: its lines with it
            if t["type"] == "payout_failure" and t.get("source_id"):
                covered |= items.get(str(t["source_id"]), set())
        # Stripe's covered bookings that we have lines for, unless an earlier payout has them.
        expected = {b for b in covered if b in earned and earned[b] in (None, payout.id)}
        marked = lines.get(payout.id, set())
        if expected != marked:
            out.append(Difference("stripe payout lines", payout.id, _ids(expected), _ids(marked)))
    return out


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return value is not None
