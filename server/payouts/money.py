"""Money movements of a booking, each a balanced ledger entry written in the same transaction
as the state change that causes it, keyed so replays and retries never write it twice.

Accounts (models/ledger.py; debit > 0):

========== ======================================================================
charge     platform_cash +gross, tutor_earnings −gross
fee        tutor_earnings +fee, platform_fees −fee
transfer   tutor_stripe +net, platform_cash −net (with the charge for a destination charge)
refund     platform_cash −R, tutor_earnings +tutor part, platform_fees +fee part
reversal   platform_cash +tutor part, tutor_stripe −tutor part (when the share had gone)
payout     tutor_bank +A, tutor_stripe −A (and back on ``payout.failed``)
========== ======================================================================

The fee is ``PLATFORM_FEE_BPS`` of the price rounded down, and a refund's fee part is the
fee in proportion rounded up: both in the tutor's favour.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from models.booking import PaymentStatus
from models.ledger import Account, EntryKind
from models.payout import Earning, PayoutState, TransferState
from server.db import Session
from server.jobs import enqueue
from server.ledger import repository as ledger
from server.ledger.repository import Line
from server.payouts import repository
from server.payouts.errors import TransferInFlight
from server.settings import Settings

log = logging.getLogger("edustream.payouts")


def platform_fee(settings: Settings, price_cents: int) -> int:
    """The platform's share of a price: ``PLATFORM_FEE_BPS`` of it, rounded down."""
    return price_cents * settings.platform_fee_bps // 10_000


def fee_part(gross: int, fee: int, refund: int) -> int:
    """The part of a refund that comes out of the platform's fee: in proportion, rounded up."""
    return -(-fee * refund // gross) if gross else 0


@dataclass(frozen=True, slots=True)
class ChargeTerms:
    fee_cents: int
    destination: str | None  # the tutor's active connected account: a destination charge


async def charge_terms(session: Session, settings: Settings, tutor_id: uuid.UUID, price_cents: int,
                       currency: str) -> ChargeTerms:
    """How a booking's PaymentIntent is made: to the tutor's account when it is active and
    settles in the lesson's currency. In another currency Stripe would convert the share at
    its own rate, which the ledger could not follow to the cent: the charge stays on the
    platform and the share waits there (see docs/payments.md, "Currencies")."""
    account = await repository.get_account(session, tutor_id)
    to_account = account is not None and account.state == PayoutState.ACTIVE and account.receives(currency)
    return ChargeTerms(platform_fee(settings, price_cents), account.stripe_account_id if to_account and account else None)


async def record_charge(session: Session, settings: Settings, *, booking_id: uuid.UUID, tutor_id: uuid.UUID,
                        gross: int, currency: str, fee: int, destination: str | None, intent_id: str | None) -> bool:
    """A booking's payment arrived (``payment_intent.succeeded``): its earnings line and the
    charge, fee (and, for a destination charge, transfer) entries. Once per booking."""
    fee = min(max(fee, 0), gross)
    state = TransferState.DESTINATION if destination else TransferState.DUE
    await repository.lock_account_shared(session, tutor_id)
    if not await repository.insert_earning(session, booking_id=booking_id, tutor_id=tutor_id, currency=currency,
                                           gross=gross, fee=fee, state=state, account_id=destination):
        return False
    key, cur = f"booking:{booking_id}", currency.upper()
    await ledger.post(session, f"{key}:charge", EntryKind.CHARGE, cur,
                      [Line(Account.PLATFORM_CASH, gross), Line(Account.TUTOR_EARNINGS, -gross, tutor_id)],
                      booking_id=booking_id, tutor_id=tutor_id, stripe_id=intent_id)
    await ledger.post(session, f"{key}:fee", EntryKind.FEE, cur,
                      [Line(Account.TUTOR_EARNINGS, fee, tutor_id), Line(Account.PLATFORM_FEES, -fee)],
                      booking_id=booking_id, tutor_id=tutor_id, stripe_id=intent_id)
    if destination:
        await ledger.post(session, f"{key}:transfer", EntryKind.TRANSFER, cur,
                          [Line(Account.TUTOR_STRIPE, gross - fee, tutor_id), Line(Account.PLATFORM_CASH, fee - gross)],
                          booking_id=booking_id, tutor_id=tutor_id, stripe_id=intent_id,
                          data={"destination": destination})
        # A payout may have covered it before this payment was recorded (webhooks arrive out of order).
        if payout_id := await repository.assign_line_from_payouts(session, booking_id):
            log.info("booking %s was already paid out by %s", booking_id, payout_id)
    else:
        await enqueue_due_transfers(session, settings, tutor_id, [booking_id])
    return True


async def record_package_sale(session: Session, *, purchase_id: uuid.UUID, tutor_id: uuid.UUID, gross: int,
                              currency: str, fee: int, destination: str | None, intent_id: str | None) -> bool:
    """A lesson package's payment arrived: the charge and fee entries (and, for a destination
    charge, the transfer), keyed ``purchase:<id>:…`` so a replay posts nothing. No earnings
    line: those are per booking. Without an active connected account the tutor's share stays
    on the platform (``tutor_earnings`` holds their claim); ``payouts.transfer`` moves only
    per-booking shares, so such a share is not transferred automatically (docs/payments.md)."""
    fee = min(max(fee, 0), gross)
    key, cur, data = f"purchase:{purchase_id}", currency.upper(), {"purchase_id": str(purchase_id)}
    if not await ledger.post(session, f"{key}:charge", EntryKind.CHARGE, cur,
                             [Line(Account.PLATFORM_CASH, gross), Line(Account.TUTOR_EARNINGS, -gross, tutor_id)],
                             tutor_id=tutor_id, stripe_id=intent_id, data=data):
        return False
    await ledger.post(session, f"{key}:fee", EntryKind.FEE, cur,
                      [Line(Account.TUTOR_EARNINGS, fee, tutor_id), Line(Account.PLATFORM_FEES, -fee)],
                      tutor_id=tutor_id, stripe_id=intent_id, data=data)
    if destination:
        await ledger.post(session, f"{key}:transfer", EntryKind.TRANSFER, cur,
                          [Line(Account.TUTOR_STRIPE, gross - fee, tutor_id), Line(Account.PLATFORM_CASH, fee - gross)],
                          tutor_id=tutor_id, stripe_id=intent_id, data={**data, "destination": destination})
    return True


async def enqueue_due_transfers(session: Session, settings: Settings, tutor_id: uuid.UUID,
                                booking_ids: list[uuid.UUID] | None = None) -> int:
    """Kick ``payouts.transfer`` (after commit) for the tutor's shares still on the platform,
    if their account is active."""
    due = await repository.due_transfers(session, tutor_id)
    if booking_ids is not None:
        due = [b for b in due if b in booking_ids]
    for booking_id in due:
        enqueue(session, settings, "payouts.transfer", str(booking_id))
    return len(due)


async def transfers_waiting(session: Session, limit: int) -> list[uuid.UUID]:
    """Shares owed to tutors whose account is active (their task was lost or is failing)."""
    return await repository.due_transfers(session, None, limit)


@dataclass(frozen=True, slots=True)
class TransferDue:
    account_id: str
    amount: int
    currency: str


async def start_transfer(session: Session, booking_id: uuid.UUID) -> TransferDue | None:
    """Fix the amount of a booking's deferred Transfer (``in_flight``), or say there is none to
    make now: not owed, the account not active, or a refund under way or given up (it settles
    first: the student's money comes before the tutor's share)."""
    payment_status, _ = await repository.lock_booking_payment(session, booking_id)
    earning = await repository.earning_for_update(session, booking_id)
    if earning is None or earning.transfer_state not in (TransferState.DUE, TransferState.IN_FLIGHT):
        return None
    if earning.transfer_state == TransferState.IN_FLIGHT and earning.transfer_cents and earning.stripe_account_id:
        return TransferDue(earning.stripe_account_id, earning.transfer_cents, earning.currency)
    if payment_status in (PaymentStatus.REFUND_PENDING, PaymentStatus.REFUND_FAILED):
        return None
    account = await repository.get_account(session, earning.tutor_id)
    if account is None or account.state != PayoutState.ACTIVE:
        return None
    if not account.receives(earning.currency):
        log.warning("share of booking %s stays on the platform: %s lesson, account settles in %s",
                    booking_id, earning.currency, account.default_currency)
        return None
    amount = earning.net_cents
    if amount <= 0:
        earning.transfer_state = TransferState.NONE
        return None
    earning.transfer_state, earning.transfer_cents = TransferState.IN_FLIGHT, amount
    earning.stripe_account_id = account.stripe_account_id
    return TransferDue(account.stripe_account_id, amount, earning.currency)


async def finish_transfer(session: Session, booking_id: uuid.UUID, transfer_id: str, amount: int) -> bool:
    """Stripe made the Transfer: the line is ``done`` and the transfer entry is posted (once)."""
    await repository.lock_booking_payment(session, booking_id)
    earning = await repository.earning_for_update(session, booking_id)
    if earning is None or earning.transfer_state != TransferState.IN_FLIGHT:
        return False
    earning.transfer_state, earning.transfer_id, earning.transfer_cents = TransferState.DONE, transfer_id, amount
    await ledger.post(session, f"booking:{booking_id}:transfer", EntryKind.TRANSFER, earning.currency,
                      [Line(Account.TUTOR_STRIPE, amount, earning.tutor_id), Line(Account.PLATFORM_CASH, -amount)],
                      booking_id=booking_id, tutor_id=earning.tutor_id, stripe_id=transfer_id,
                      data={"destination": earning.stripe_account_id})
    return True


async def transfer_refused(session: Session, booking_id: uuid.UUID, reason: str) -> None:
    """Stripe refused the Transfer for good (e.g. the account became restricted): the share
    stays on the platform, owed, until the account is active again."""
    earning = await repository.earning_for_update(session, booking_id)
    if earning is not None and earning.transfer_state == TransferState.IN_FLIGHT:
        earning.transfer_state, earning.transfer_cents = TransferState.DUE, None
        log.warning("transfer for booking %s refused: %s", booking_id, reason)


@dataclass(frozen=True, slots=True)
class RefundPlan:
    """How a refund of ``amount`` is split, and what Stripe must be asked besides the refund."""

    destination: bool  # refund with reverse_transfer and refund_application_fee
    transfer_id: str | None  # a separate Transfer to reverse by ``reversal_cents``
    reversal_cents: int


NO_TRANSFER = RefundPlan(False, None, 0)


def _split(earning: Earning, amount: int) -> tuple[int, int]:
    """(fee part, tutor part) of a refund of ``amount``."""
    amount = min(amount, earning.gross_cents)
    fee = fee_part(earning.gross_cents, earning.fee_cents, amount)
    return fee, amount - fee


async def refund_plan(session: Session, booking_id: uuid.UUID, amount: int) -> RefundPlan:
    """The refund's Stripe calls (the booking's row is locked by the caller). Raises
    :class:`TransferInFlight` while a Transfer is being made: the retried task waits for it."""
    earning = await repository.earning_for_update(session, booking_id)
    if earning is None:
        return NO_TRANSFER
    if earning.transfer_state == TransferState.IN_FLIGHT:
        raise TransferInFlight(details={"booking_id": str(booking_id)})
    _, tutor_part = _split(earning, amount)
    if earning.transfer_state == TransferState.DESTINATION:
        return RefundPlan(True, None, tutor_part)
    if earning.transfer_state == TransferState.DONE and earning.transfer_id:
        return RefundPlan(False, earning.transfer_id, min(tutor_part, (earning.transfer_cents or 0)))
    return NO_TRANSFER


async def record_refund(session: Session, settings: Settings, booking_id: uuid.UUID, amount: int,
                        refund_id: str | None) -> bool:
    """A refund of ``amount`` went through: the refund entry, and the reversal entry when the
    tutor's share had already reached their account. Once per booking (one refund each)."""
    earning = await repository.earning_for_update(session, booking_id)
    if earning is None or amount <= 0 or await ledger.has_entry(session, f"booking:{booking_id}:refund"):
        return False
    if earning.transfer_state == TransferState.IN_FLIGHT:
        # A refund made outside our task (charge.refunded) while the share is being sent: the
        # webhook answers 409 and Stripe delivers it again once the Transfer is recorded.
        raise TransferInFlight(details={"booking_id": str(booking_id)})
    fee, tutor_part = _split(earning, amount)
    refunded = fee + tutor_part
    key, cur, tutor = f"booking:{booking_id}", earning.currency, earning.tutor_id
    await ledger.post(session, f"{key}:refund", EntryKind.REFUND, cur,
                      [Line(Account.PLATFORM_CASH, -refunded), Line(Account.TUTOR_EARNINGS, tutor_part, tutor),
                       Line(Account.PLATFORM_FEES, fee)],
                      booking_id=booking_id, tutor_id=tutor, stripe_id=refund_id, data={"amount": refunded})
    if earning.transfer_state in (TransferState.DESTINATION, TransferState.DONE):
        await ledger.post(session, f"{key}:reversal", EntryKind.REVERSAL, cur,
                          [Line(Account.PLATFORM_CASH, tutor_part), Line(Account.TUTOR_STRIPE, -tutor_part, tutor)],
                          booking_id=booking_id, tutor_id=tutor, stripe_id=earning.transfer_id or refund_id)
    earning.refunded_cents, earning.reversed_cents = refunded, tutor_part
    if earning.transfer_state == TransferState.DUE:
        if earning.net_cents <= 0:
            earning.transfer_state = TransferState.NONE
        else:
            await enqueue_due_transfers(session, settings, tutor, [booking_id])
    return True
