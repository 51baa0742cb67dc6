"""``edustream ledger check``: prove the books.

1. Every ledger entry sums to zero per currency and has at least two lines (the database
   enforces it; this proves it on the live data).
2. Each booking's entries match its earnings line: what the tutor earned (gross − fee −
   their part of a refund), what the platform kept, and what reached the tutor's account.
3. With Stripe configured, each separate Transfer agrees with Stripe's record of it
   (amount, amount reversed).

Run by hand (exit status 1 on any difference) and by the ``payouts.check_ledger`` sweep,
which logs an error per difference (an alert).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import stripe

from models.payout import TransferState
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
    for difference in out:
        log.error("ledger check: %s", difference)
    return out
