"""Refunds and PaymentIntent cancellation, run by background tasks (safe to run twice)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from models.booking import Booking
from server.bookings import service as bookings
from server.db import Sessionmaker, unit_of_work
from server.payments import stripe_api
from server.settings import Settings

log = logging.getLogger("edustream.payments")


async def refund_booking(settings: Settings, sessionmaker: Sessionmaker,
                         booking_id: uuid.UUID) -> str:
    """Refund what a booking is owed (``payment_status = refund_pending``). Stripe's side is
    idempotent per booking and amount; ours re-checks the state, so a rerun is harmless."""
    async with unit_of_work(sessionmaker) as session:
        booking = await session.get(Booking, booking_id)
        if booking is None or booking.payment_status != "refund_pending" or not booking.refund_cents:
            return "nothing_to_refund"
        provider, intent, amount = booking.payment_provider, booking.payment_intent_id, booking.refund_cents
    if provider == "stripe" and intent:
        await stripe_api.refund(settings, str(booking_id), intent, amount)
    async with unit_of_work(sessionmaker) as session:
        booking = await session.get(Booking, booking_id, with_for_update=True)
        if booking is not None and booking.payment_status == "refund_pending":
            booking.payment_status = "refunded"
            await bookings.emit_booking(session, booking, datetime.now(UTC))
    log.info("refunded %s of booking %s via %s", amount, booking_id, provider)
    return "refunded"


async def cancel_intent(settings: Settings, sessionmaker: Sessionmaker,
                        booking_id: uuid.UUID) -> str:
    """Cancel the PaymentIntent of a hold that lapsed or was released, so it cannot be paid."""
    async with unit_of_work(sessionmaker) as session:
        booking = await session.get(Booking, booking_id)
        if (booking is None or booking.payment_provider != "stripe" or not booking.payment_intent_id
                or booking.status not in ("expired", "released") or booking.payment_status in ("paid", "refunded")):
            return "nothing_to_cancel"
        intent = booking.payment_intent_id
    status = await stripe_api.cancel_payment_intent(settings, str(booking_id), intent)
    async with unit_of_work(sessionmaker) as session:
        booking = await session.get(Booking, booking_id, with_for_update=True)
        if booking is not None and booking.payment_status not in ("paid", "refund_pending", "refunded"):
            booking.payment_status = "cancelled" if status == "canceled" else booking.payment_status
    return status
