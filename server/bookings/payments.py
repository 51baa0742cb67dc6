"""Paying for a held booking: free lessons, the labelled test provider, and Stripe.

Every provider ends in :func:`server.bookings.service.confirm`, the one confirmation path.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models.booking import Booking
from server.bookings import service
from server.bookings.schemas import BookingOut, CheckoutOut, PaymentOut
from server.db import unit_of_work
from server.errors import NotFound
from server.http import Ctx
from server.settings import Settings


class TestProviderDisabled(NotFound):
    code = "test_provider_disabled"
    message = "The test payment provider is not enabled here."


async def _own_held(session: AsyncSession, student_id: uuid.UUID, booking_id: uuid.UUID, now: datetime) -> Booking:
    booking = await session.get(Booking, booking_id, with_for_update=True)
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
            payment = PaymentOut(provider="free")
        else:
            booking.payment_provider = "test"
            booking.payment_status = "requires_payment"
            payment = PaymentOut(provider="test")
    _ = settings
    return CheckoutOut(booking=BookingOut.of(booking, now), payment=payment)


async def confirm_test_payment(ctx: Ctx, booking_id: uuid.UUID, now: datetime) -> BookingOut:
    """The test provider's "payment succeeded": only when Stripe is not configured."""
    if ctx.settings.payments_provider != "test":
        raise TestProviderDisabled()
    async with unit_of_work(ctx.sessionmaker) as session:
        booking = await _own_held(session, ctx.user.id, booking_id, now)
        booking.payment_provider = "test"
        booking = await service.confirm(session, booking.id, now, actor_id=ctx.user.id,
                                        payment={"provider": "test", "status": "paid"})
    return BookingOut.of(booking, now)


async def after_cancel(session: AsyncSession, settings: Settings, booking: Booking) -> None:
    """Refund what the policy grants (the test provider refunds at once)."""
    if booking.payment_status == "refund_pending" and booking.payment_provider == "test":
        booking.payment_status = "refunded"
