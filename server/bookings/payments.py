"""Paying for a held booking: free lessons, the labelled test provider, and Stripe.

Every provider ends in the one confirmation path (:func:`server.bookings.service.confirm`
for free and test payments, :func:`~server.bookings.service.settle_payment` for Stripe's
webhook). The Stripe call is made outside any database transaction: PaymentIntent creation
is idempotent on Stripe's side (keyed on the booking), so a double click or a retry never
creates a second one.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import stripe

from models.booking import Booking
from server.bookings import service
from server.bookings.schemas import BookingOut, CheckoutOut, PaymentOut
from server.db import Session, unit_of_work
from server.errors import NotFound
from server.http import Ctx
from server.payments import stripe_api
from server.payments.kick import kick_cancel_intent, kick_refund
from server.settings import Settings


class TestProviderDisabled(NotFound):
    code = "test_provider_disabled"
    message = "The test payment provider is not enabled here."


async def _own_held(session: Session, student_id: uuid.UUID, booking_id: uuid.UUID, now: datetime,
                    *, lock: bool = True) -> Booking:
    booking = await session.get(Booking, booking_id, with_for_update=lock)
    if booking is None or booking.student_id != student_id:
        raise service.BookingNotFound()
    if booking.status != "held":
        raise service.InvalidTransition(f"This booking is {booking.status}; only a held booking can be paid for.",
                                        details={"status": booking.status})
    if booking.expires_at is not None and booking.expires_at <= now:
        raise service.HoldLapsed()
    return booking


async def checkout(ctx: Ctx, booking_id: uuid.UUID, now: datetime) -> CheckoutOut:
    """Start (or resume) payment for a held booking."""
    settings = ctx.settings
    async with unit_of_work(ctx.sessionmaker) as session:
        booking = await _own_held(session, ctx.user.id, booking_id, now)
        if booking.price_cents == 0:
            booking.payment_provider = "free"
            booking = await service.confirm(session, booking.id, now, actor_id=ctx.user.id,
                                            payment={"provider": "free", "status": "free"})
            return CheckoutOut(booking=BookingOut.of(booking, now), payment=PaymentOut(provider="free"))
        if settings.payments_provider == "test":
            booking.payment_provider = "test"
            booking.payment_status = "requires_payment"
            return CheckoutOut(booking=BookingOut.of(booking, now), payment=PaymentOut(provider="test"))
        existing = booking.payment_intent_id
    try:
        if existing:
            intent = await stripe_api.retrieve_payment_intent(settings, existing)
        else:
            intent = await stripe_api.create_payment_intent(settings, str(booking.id), booking.price_cents,
                                                            booking.currency)
    except stripe.StripeError as exc:
        raise stripe_api.PaymentProviderError(details={"provider": "stripe", "reason": str(exc)[:200]}) from exc
    async with unit_of_work(ctx.sessionmaker) as session:
        booking = await _own_held(session, ctx.user.id, booking_id, now)
        booking.payment_provider = "stripe"
        booking.payment_intent_id = intent["id"]
        booking.payment_status = booking.payment_status or "requires_payment"
    return CheckoutOut(booking=BookingOut.of(booking, now),
                       payment=PaymentOut(provider="stripe", client_secret=intent["client_secret"],
                                          publishable_key=settings.stripe_publishable_key or None))


async def confirm_test_payment(ctx: Ctx, booking_id: uuid.UUID, now: datetime) -> BookingOut:
    """The test provider's "payment succeeded": only when Stripe is not configured."""
    if ctx.settings.payments_provider != "test":
        raise TestProviderDisabled()
    async with unit_of_work(ctx.sessionmaker) as session:
        booking = await _own_held(session, ctx.user.id, booking_id, now)
        booking.payment_provider = "test"
        booking.payment_status = "paid"
        booking = await service.confirm(session, booking.id, now, actor_id=ctx.user.id,
                                        payment={"provider": "test", "status": "paid"})
    return BookingOut.of(booking, now)


async def after_cancel(session: Session, settings: Settings, booking: Booking) -> None:
    """Refund what the policy grants: the test provider at once, Stripe through a retried task."""
    if booking.payment_status != "refund_pending":
        return
    if booking.payment_provider == "stripe":
        booking_id = booking.id
        session.after_commit(lambda: kick_refund(settings, booking_id))
    else:
        booking.payment_status = "refunded"


def cancel_unpaid_intent(session: Session, settings: Settings, booking: Booking) -> None:
    """After a hold ends unpaid, cancel its Stripe PaymentIntent so it can no longer be paid
    (a payment that still lands is settled by the webhook: re-claimed or refunded)."""
    if booking.payment_provider == "stripe" and booking.payment_intent_id:
        booking_id = booking.id
        session.after_commit(lambda: kick_cancel_intent(settings, booking_id))
