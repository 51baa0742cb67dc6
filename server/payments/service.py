"""Stripe's side of payments: webhook events, and the steps of refunds and intent
cancellations (the Stripe calls between the steps are made by tasks/payments.py, outside
any transaction).

* ``payment_intent.succeeded`` settles the booking through
  :func:`server.bookings.settlement.settle_payment`: confirmed, re-claimed after a lapse, or
  (the time was taken meanwhile) ``refund_pending`` with a refund task enqueued.
* ``payment_intent.payment_failed`` marks ``payment_status = failed`` while the hold lasts.
* ``charge.refunded`` marks the refund done (and posts its ledger entries, once).
* a PaymentIntent whose metadata names a ``purchase_id`` pays for a lesson package: its
  success grants the credits (once) and posts the sale's ledger entries
  (server/packages/service.py).
* ``account.updated`` moves a tutor's payout account (server/payouts/service.py);
  ``payout.paid`` / ``payout.failed`` record a connected account's payout to the bank (the
  lines it covered are learnt from Stripe by the ``payouts.reconcile_payout`` task, kicked
  again by ``payout.reconciliation_completed``).

A successful payment also records the tutor's earnings line and the charge, fee and (for a
destination charge) transfer entries in the ledger (server/payouts/money.py), in the same
transaction as the booking's change.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.booking import PAID_STATUSES, Booking, BookingStatus, PaymentProvider, PaymentStatus
from server.bookings import events
from server.bookings import repository as bookings
from server.bookings import series_repository as series_bookings
from server.bookings.errors import BookingNotFound
from server.bookings.lifecycle import refund_owed
from server.bookings.settlement import Settlement, settle_payment
from server.db import Session
from server.errors import Conflict
from server.jobs import enqueue
from server.observability import metrics
from server.packages import service as packages
from server.payments import repository
from server.payouts import money
from server.payouts import service as payouts
from server.settings import Settings

log = logging.getLogger("edustream.payments")


async def handle_event(session: Session, settings: Settings, event: dict[str, Any], now: datetime) -> str:
    """Apply one verified Stripe event once (duplicates and replays are no-ops); returns the outcome."""
    event_id, kind = str(event.get("id", "")), str(event.get("type", ""))
    if not event_id:
        return "ignored"
    if not await repository.record_webhook_event(session, event_id, kind):
        return "duplicate"
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    if kind == "account.updated":
        return await payouts.apply_account_update(session, settings, obj, int(event.get("created") or 0))
    if kind in ("payout.paid", "payout.failed"):
        return await payouts.apply_payout(session, settings, event.get("account"), obj, kind == "payout.paid")
    if kind == "payout.reconciliation_completed":
        return await payouts.payout_reconciliation_ready(session, settings, str(obj.get("id", "")))
    if kind.startswith("payment_intent.") and (obj.get("metadata") or {}).get("purchase_id"):
        # A lesson package's payment (server/packages/service.py): credits granted once.
        if kind not in ("payment_intent.succeeded", "payment_intent.payment_failed"):
            return "ignored"
        return await packages.settle_intent(session, settings, obj, kind == "payment_intent.succeeded", now)
    if kind.startswith("payment_intent.") and (obj.get("metadata") or {}).get("series_id"):
        if kind not in ("payment_intent.succeeded", "payment_intent.payment_failed"):
            return "ignored"
        return await _settle_series(session, settings, obj, kind == "payment_intent.succeeded", now)
    if kind == "charge.refunded" and await series_bookings.series_of_intent(session, obj.get("payment_intent")):
        # A weekly series' occurrences share one PaymentIntent: each refund is recorded by the
        # refund task of its occurrence (mark_refunded), which knows the booking it was for.
        return "ignored"
    if kind.startswith("payment_intent."):
        booking = await repository.booking_for_intent(session, (obj.get("metadata") or {}).get("booking_id"),
                                                      obj.get("id"))
    elif kind == "charge.refunded":
        booking = await repository.booking_for_intent(session, None, obj.get("payment_intent"))
    else:
        return "ignored"
    if booking is None:
        log.warning("stripe event %s (%s) names no known booking", event_id, kind)
        return "unknown_booking"

    if kind == "payment_intent.succeeded":
        if booking.payment_status in (PaymentStatus.REFUND_PENDING, PaymentStatus.REFUNDED):
            return "already_refunded"
        booking.payment_intent_id = booking.payment_intent_id or obj.get("id")
        booking.payment_provider = PaymentProvider.STRIPE
        _, outcome = await settle_payment(session, booking.id, now, {
            "provider": "stripe", "payment_intent": obj.get("id"), "amount": obj.get("amount_received")})
        await _record_charge(session, settings, booking, obj)
        if outcome == Settlement.REFUND:
            enqueue(session, settings, "payments.refund", str(booking.id))
        return outcome.value
    if kind == "payment_intent.payment_failed":
        if booking.payment_status in PAID_STATUSES or booking.status != BookingStatus.HELD:
            return "stale"
        booking.payment_status = PaymentStatus.FAILED
        error = (obj.get("last_payment_error") or {}).get("message")
        await events.tell_parties(session, booking, now)
        log.info("payment failed for booking %s: %s", booking.id, error)
        return "failed"
    if kind == "charge.refunded":
        booking.payment_status = PaymentStatus.REFUNDED
        booking.refund_cents = int(obj.get("amount_refunded") or booking.refund_cents or 0)
        await money.record_refund(session, settings, booking.id, booking.refund_cents, None)
        await events.tell_parties(session, booking, now)
        return "refunded"
    return "ignored"


async def _settle_series(session: Session, settings: Settings, obj: dict[str, Any], succeeded: bool,
                         now: datetime) -> str:
    """A weekly series' one payment: each occurrence checkout put on this intent is settled
    as a single lesson's payment would be (confirmed, re-claimed, or refunded when its time
    was taken meanwhile), with its own earnings line and ledger entries for its share."""
    series = await series_bookings.series_of_intent(session, obj.get("id"))
    if series is None:
        log.warning("stripe payment %s names no known series", obj.get("id"))
        return "unknown_booking"
    outcomes: list[str] = []
    for booking in await series_bookings.occurrences(session, series.id):
        if booking.payment_provider != PaymentProvider.STRIPE or booking.payment_intent_id != obj.get("id"):
            continue
        if not succeeded:
            if booking.payment_status not in PAID_STATUSES and booking.status == BookingStatus.HELD:
                booking.payment_status = PaymentStatus.FAILED
                await events.tell_parties(session, booking, now)
                outcomes.append("failed")
            continue
        if booking.payment_status in (PaymentStatus.REFUND_PENDING, PaymentStatus.REFUNDED):
            continue
        _, outcome = await settle_payment(session, booking.id, now, {
            "provider": "stripe", "payment_intent": obj.get("id"), "amount": booking.price_cents})
        # Checkout's fee for the series is the sum of each occurrence's (money.platform_fee).
        await money.record_charge(session, settings, booking_id=booking.id, tutor_id=booking.tutor_id,
                                  gross=booking.price_cents, currency=str(obj.get("currency") or booking.currency),
                                  fee=money.platform_fee(settings, booking.price_cents),
                                  destination=(obj.get("transfer_data") or {}).get("destination"),
                                  intent_id=obj.get("id"))
        if outcome == Settlement.REFUND:
            enqueue(session, settings, "payments.refund", str(booking.id))
        outcomes.append(outcome.value)
    return ",".join(sorted(set(outcomes))) or "stale"


async def _record_charge(session: Session, settings: Settings, booking: Booking, obj: dict[str, Any]) -> None:
    """The tutor's earnings line and the charge's ledger entries, as checkout set the intent up."""
    gross = int(obj.get("amount_received") or obj.get("amount") or booking.price_cents)
    metadata = obj.get("metadata") or {}
    destination = (obj.get("transfer_data") or {}).get("destination")
    if destination:
        fee = int(obj.get("application_fee_amount") or 0)
    elif str(metadata.get("platform_fee_cents", "")).isdigit():
        fee = int(metadata["platform_fee_cents"])
    else:
        fee = money.platform_fee(settings, gross)
    await money.record_charge(session, settings, booking_id=booking.id, tutor_id=booking.tutor_id, gross=gross,
                              currency=str(obj.get("currency") or booking.currency), fee=fee,
                              destination=destination, intent_id=obj.get("id"))


@dataclass(frozen=True, slots=True)
class RefundDue:
    provider: PaymentProvider | None
    intent_id: str | None
    amount: int
    plan: money.RefundPlan = money.NO_TRANSFER


class NotRefundable(Conflict):
    code = "not_refundable"
    message = "This booking has no payment that can be refunded now."


async def admin_refund(session: Session, settings: Settings, booking_id: uuid.UUID, amount_cents: int | None,
                       reason: str, admin_id: uuid.UUID, now: datetime) -> Booking:
    """An admin refunds a paid booking (in full unless ``amount_cents`` says less), or retries
    a refund that was given up (``refund_failed``); the booking's status does not change.
    Through the same retried task as policy refunds (the test provider refunds at once)."""
    booking = await bookings.get_for_update(session, booking_id)
    if booking is None:
        raise BookingNotFound()
    if booking.payment_status not in (PaymentStatus.PAID, PaymentStatus.REFUND_FAILED) or booking.price_cents <= 0:
        raise NotRefundable(details={"payment_status": booking.payment_status})
    amount = booking.price_cents if amount_cents is None else amount_cents
    if not 0 < amount <= booking.price_cents:
        raise NotRefundable(f"The amount must be between 1 and {booking.price_cents}.",
                            details={"max_cents": booking.price_cents})
    booking.refund_cents, booking.refund_attempts = amount, 0
    booking.payment_status = PaymentStatus.REFUND_PENDING
    events.record(session, booking, "refund_by_admin", admin_id, booking.status,
                  {"reason": reason, "refund_cents": amount})
    refund_owed(session, settings, booking)
    await events.tell_parties(session, booking, now)
    return booking


async def start_refund_attempt(session: Session, settings: Settings, booking_id: uuid.UUID,
                               now: datetime) -> RefundDue | None:
    """Count one more attempt at a pending refund and say what is owed; ``None`` when nothing
    is pending, or when this attempt is one too many (the refund is then ``refund_failed``)."""
    booking = await bookings.get_for_update(session, booking_id)
    if booking is None or booking.payment_status != PaymentStatus.REFUND_PENDING or not booking.refund_cents:
        return None
    # Raises TransferInFlight (the task retries) while the tutor's share is being transferred.
    plan = await money.refund_plan(session, booking.id, booking.refund_cents)
    booking.refund_attempts += 1
    if booking.refund_attempts > settings.refund_max_attempts:
        await _refund_failed(session, booking, f"still failing after {settings.refund_max_attempts} attempts", now)
        return None
    return RefundDue(booking.payment_provider, booking.payment_intent_id, booking.refund_cents, plan)


async def mark_refunded(session: Session, settings: Settings, booking_id: uuid.UUID, refund_id: str | None,
                        now: datetime) -> None:
    """The refund went through: the booking says so, and the ledger has its entries (once,
    whichever of this and the ``charge.refunded`` webhook comes first)."""
    booking = await bookings.get_for_update(session, booking_id)
    if booking is None:
        return
    if booking.refund_cents:
        await money.record_refund(session, settings, booking.id, booking.refund_cents, refund_id)
    if booking.payment_status == PaymentStatus.REFUND_PENDING:
        booking.payment_status = PaymentStatus.REFUNDED
        await events.tell_parties(session, booking, now)


async def mark_refund_failed(session: Session, booking_id: uuid.UUID, reason: str, now: datetime) -> None:
    """Give a pending refund up for good (the provider refused it): an admin must act."""
    booking = await bookings.get_for_update(session, booking_id)
    if booking is not None and booking.payment_status == PaymentStatus.REFUND_PENDING:
        await _refund_failed(session, booking, reason, now)


async def _refund_failed(session: Session, booking: Booking, reason: str, now: datetime) -> None:
    booking.payment_status = PaymentStatus.REFUND_FAILED
    events.record(session, booking, "refund_failed", None, booking.status,
                  {"reason": reason, "refund_cents": booking.refund_cents, "attempts": booking.refund_attempts})
    metrics.refund_failed(session)
    log.error("refund of %s for booking %s given up: %s (admins: GET /api/v1/admin/bookings?payment_status=refund_failed)",
              booking.refund_cents, booking.id, reason)
    await events.tell_parties(session, booking, now)


async def intent_to_cancel(session: Session, booking_id: uuid.UUID) -> str | None:
    """The PaymentIntent of a hold that ended unpaid, if it still needs cancelling."""
    booking = await bookings.get(session, booking_id)
    if (booking is None or booking.payment_provider != PaymentProvider.STRIPE or not booking.payment_intent_id
            or booking.status not in (BookingStatus.EXPIRED, BookingStatus.RELEASED)
            or booking.payment_status in (PaymentStatus.PAID, PaymentStatus.REFUNDED)):
        return None
    return booking.payment_intent_id


async def mark_intent_cancelled(session: Session, booking_id: uuid.UUID, stripe_status: str) -> None:
    booking = await bookings.get_for_update(session, booking_id)
    if booking is not None and booking.payment_status not in PAID_STATUSES and stripe_status == "canceled":
        booking.payment_status = PaymentStatus.CANCELLED


async def waiting(session: Session, limit: int) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Refunds and intent cancellations whose task has waited more than a minute."""
    return (await repository.refunds_waiting(session, limit),
            await repository.intents_to_cancel_waiting(session, limit))


async def transfers_waiting(session: Session, limit: int) -> list[uuid.UUID]:
    """Tutor shares still on the platform though the tutor's account is active."""
    return await money.transfers_waiting(session, limit)
