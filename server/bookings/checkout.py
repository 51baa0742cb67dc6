"""Paying for a held booking: free lessons, the labelled test provider, and Stripe.

A package credit (``use_credit``) confirms at once too: one credit is spent
(:func:`server.packages.credits.spend`, a conditional UPDATE the database keeps within the
balance) under the booking's row lock, in the same transaction as the confirmation.

Every provider ends in the one confirmation path (:func:`server.bookings.lifecycle.confirm`
for free and test payments, :func:`server.bookings.settlement.settle_payment` for Stripe's
webhook). PaymentIntent creation is idempotent on Stripe's side (keyed on the booking), so
a double click or a retry never creates a second one; the call is made while no row lock
is held (the booking is read, Stripe is called, then the row is locked and written).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from models.booking import Booking, BookingStatus, PaymentProvider, PaymentStatus
from server.bookings import lifecycle, repository, series_repository
from server.bookings.errors import (
    BookingNotFound,
    FreeBookingLimitReached,
    HoldLapsed,
    InvalidTransition,
    PaymentInProgress,
    TestProviderDisabled,
)
from server.bookings.schemas import BookingOut, CheckoutOut, PaymentOut
from server.db import Session
from server.packages import credits
from server.packages.errors import NoCredit
from server.payouts import money
from server.providers import stripe as stripe_client
from server.settings import Settings


async def _own_held(session: Session, student_id: uuid.UUID, booking_id: uuid.UUID, now: datetime,
                    *, lock: bool = True) -> Booking:
    booking = await (repository.get_for_update(session, booking_id) if lock else repository.get(session, booking_id))
    if booking is None or booking.student_id != student_id:
        raise BookingNotFound()
    if booking.status != BookingStatus.HELD:
        raise InvalidTransition(f"This booking is {booking.status}; only a held booking can be paid for.",
                                details={"status": booking.status})
    if not booking.is_live(now):
        raise HoldLapsed()
    return booking


async def _check_free_booking_limit(session: Session, settings: Settings, student_id: uuid.UUID,
                                    now: datetime, adding: int = 1) -> None:
    """Free lessons cost nothing to hoard: at most ``MAX_UPCOMING_FREE_BOOKINGS`` ahead (0: no
    limit), counted under the student's lock so concurrent checkouts cannot overshoot."""
    if settings.max_upcoming_free_bookings <= 0:
        return
    await repository.lock_student(session, student_id)
    if await repository.upcoming_free_count(session, student_id, now) + adding > settings.max_upcoming_free_bookings:
        raise FreeBookingLimitReached(details={"limit": settings.max_upcoming_free_bookings})


async def _series_held(session: Session, booking: Booking, now: datetime) -> list[Booking]:
    """The occurrences of ``booking``'s series that are still held (``booking`` among them),
    row-locked under the tutor's lock: a series is paid for as a whole."""
    assert booking.series_id is not None
    await repository.lock_tutor(session, booking.tutor_id)
    held = [b for b in await series_repository.occurrences(session, booking.series_id, lock=True)
            if b.status == BookingStatus.HELD]
    if not any(b.id == booking.id and b.is_live(now) for b in held):
        raise HoldLapsed()
    return held


async def pay_with_credit(session: Session, student_id: uuid.UUID, booking_id: uuid.UUID,
                          now: datetime) -> CheckoutOut:
    """Confirm a held booking by spending one package credit with its tutor for its length:
    409 ``no_credit`` without one (or for a trial), 409 ``payment_in_progress`` once a card
    payment was started for it (that payment would otherwise be taken too). An occurrence of a
    series confirms every held occurrence, one credit each, or none (409 ``no_credit``)."""
    booking = await _own_held(session, student_id, booking_id, now)
    if booking.is_trial:
        raise NoCredit("A trial lesson is booked at its own terms; a credit cannot pay for it.",
                       details={"reason": "trial"})
    if booking.payment_intent_id:
        raise PaymentInProgress()
    if booking.series_id is not None:
        held = await _series_held(session, booking, now)
        for occurrence in held:
            await _spend_credit(session, student_id, occurrence, now)
        return CheckoutOut(booking=BookingOut.of(booking, now), payment=PaymentOut(provider=PaymentProvider.CREDIT))
    booking = await _spend_credit(session, student_id, booking, now)
    return CheckoutOut(booking=BookingOut.of(booking, now), payment=PaymentOut(provider=PaymentProvider.CREDIT))


async def _spend_credit(session: Session, student_id: uuid.UUID, booking: Booking, now: datetime) -> Booking:
    minutes = int((booking.end_at - booking.start_at).total_seconds() // 60)
    purchase_id = await credits.spend(session, booking_id=booking.id, student_id=student_id,
                                      tutor_id=booking.tutor_id, minutes=minutes, now=now)
    booking.payment_provider = PaymentProvider.CREDIT
    booking.credit_purchase_id = purchase_id
    return await lifecycle.confirm(session, booking.id, now, actor_id=student_id,
                                   payment={"provider": "credit", "status": PaymentStatus.CREDIT,
                                            "purchase_id": str(purchase_id)})


async def checkout(session: Session, settings: Settings, student_id: uuid.UUID, booking_id: uuid.UUID,
                   now: datetime, *, use_credit: bool = False) -> CheckoutOut:
    """Start (or resume) payment for a held booking (or pay it with a package credit)."""
    if use_credit:
        return await pay_with_credit(session, student_id, booking_id, now)
    booking = await _own_held(session, student_id, booking_id, now, lock=False)
    if booking.series_id is not None:
        return await _checkout_series(session, settings, student_id, booking, now)
    if booking.price_cents == 0:
        await _check_free_booking_limit(session, settings, student_id, now)
        booking = await _own_held(session, student_id, booking_id, now)
        booking.payment_provider = PaymentProvider.FREE
        booking = await lifecycle.confirm(session, booking.id, now, actor_id=student_id,
                                          payment={"provider": "free", "status": PaymentStatus.FREE})
        return CheckoutOut(booking=BookingOut.of(booking, now), payment=PaymentOut(provider=PaymentProvider.FREE))
    if settings.payments_provider == "test":
        booking = await _own_held(session, student_id, booking_id, now)
        booking.payment_provider = PaymentProvider.TEST
        booking.payment_status = PaymentStatus.REQUIRES_PAYMENT
        return CheckoutOut(booking=BookingOut.of(booking, now), payment=PaymentOut(provider=PaymentProvider.TEST))
    # A Stripe failure is PaymentProviderError (502) with our own message (server/providers/stripe.py).
    if booking.payment_intent_id:
        intent = await stripe_client.retrieve_payment_intent(settings, booking.payment_intent_id)
    else:
        # A destination charge to the tutor's account when it is active; else the funds wait
        # on the platform and payouts.transfer moves them once it is (server/payouts/money.py).
        terms = await money.charge_terms(session, settings, booking.tutor_id, booking.price_cents,
                                         booking.currency)
        intent = await stripe_client.create_payment_intent(settings, str(booking.id), booking.price_cents,
                                                           booking.currency, fee_cents=terms.fee_cents,
                                                           destination=terms.destination)
    booking = await _own_held(session, student_id, booking_id, now)
    booking.payment_provider = PaymentProvider.STRIPE
    booking.payment_intent_id = intent["id"]
    booking.payment_status = booking.payment_status or PaymentStatus.REQUIRES_PAYMENT
    return _stripe_checkout(settings, booking, intent, now)


def _stripe_checkout(settings: Settings, booking: Booking, intent: dict[str, Any], now: datetime) -> CheckoutOut:
    """The answer for a card payment: Stripe Elements completes it with the client secret."""
    return CheckoutOut(booking=BookingOut.of(booking, now),
                       payment=PaymentOut(provider=PaymentProvider.STRIPE, client_secret=intent["client_secret"],
                                          publishable_key=settings.stripe_publishable_key or None))


async def _checkout_series(session: Session, settings: Settings, student_id: uuid.UUID, booking: Booking,
                           now: datetime) -> CheckoutOut:
    """Checkout of an occurrence pays for the whole series: every occurrence still held, in one
    payment (free ones confirm at once)."""
    assert booking.series_id is not None
    held = [b for b in await series_repository.occurrences(session, booking.series_id) if b.status == BookingStatus.HELD]
    total = sum(b.price_cents for b in held)
    if total == 0:
        # The student's lock before the tutor's, as on the hold path.
        await _check_free_booking_limit(session, settings, student_id, now, adding=len(held))
        for occurrence in await _series_held(session, booking, now):
            occurrence.payment_provider = PaymentProvider.FREE
            await lifecycle.confirm(session, occurrence.id, now, actor_id=student_id,
                                    payment={"provider": "free", "status": PaymentStatus.FREE})
        return CheckoutOut(booking=BookingOut.of(booking, now), payment=PaymentOut(provider=PaymentProvider.FREE))
    if settings.payments_provider == "test":
        for occurrence in await _series_held(session, booking, now):
            occurrence.payment_provider = PaymentProvider.TEST
            occurrence.payment_status = PaymentStatus.REQUIRES_PAYMENT
        return CheckoutOut(booking=BookingOut.of(booking, now), payment=PaymentOut(provider=PaymentProvider.TEST))
    series = await series_repository.get_series(session, booking.series_id)
    assert series is not None
    if series.payment_intent_id:
        intent = await stripe_client.retrieve_payment_intent(settings, series.payment_intent_id)
    else:
        # One PaymentIntent for the series, on the terms a single lesson gets (server/payouts/money.py);
        # Stripe is called while no row lock is held.
        terms = await money.charge_terms(session, settings, booking.tutor_id, total, booking.currency)
        fee = sum(money.platform_fee(settings, b.price_cents) for b in held)  # what the webhook records
        intent = await stripe_client.create_series_payment_intent(
            settings, str(series.id), total, booking.currency, fee_cents=fee, destination=terms.destination)
    series.payment_intent_id = intent["id"]
    for occurrence in await _series_held(session, booking, now):
        occurrence.payment_provider = PaymentProvider.STRIPE
        occurrence.payment_intent_id = intent["id"]
        occurrence.payment_status = occurrence.payment_status or PaymentStatus.REQUIRES_PAYMENT
    return _stripe_checkout(settings, booking, intent, now)


async def confirm_test_payment(session: Session, settings: Settings, student_id: uuid.UUID, booking_id: uuid.UUID,
                               now: datetime) -> BookingOut:
    """The test provider's "payment succeeded": only when Stripe is not configured."""
    if settings.payments_provider != "test":
        raise TestProviderDisabled()
    booking = await _own_held(session, student_id, booking_id, now)
    for occurrence in await _series_held(session, booking, now) if booking.series_id else [booking]:
        occurrence.payment_provider = PaymentProvider.TEST
        occurrence.payment_status = PaymentStatus.PAID
        await lifecycle.confirm(session, occurrence.id, now, actor_id=student_id,
                                payment={"provider": "test", "status": PaymentStatus.PAID})
    return BookingOut.of(booking, now)
