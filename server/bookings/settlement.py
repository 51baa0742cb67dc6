"""A payment arrived: confirm the booking if its time is still ours, or owe a refund."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from models.booking import Booking, BookingStatus, PaymentStatus
from server.bookings import events, repository, trial_repository
from server.bookings.errors import BookingNotFound
from server.bookings.holds import change_status
from server.bookings.lifecycle import move_lapsed_aside
from server.db import Session
from server.outbox import emit


class Settlement(StrEnum):
    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already_confirmed"
    RECLAIMED = "reclaimed"  # the hold had lapsed but the time was still free: confirmed anyway
    REFUND = "refund"  # the time was taken meanwhile, or the booking ended: refund in full


async def settle_payment(session: Session, booking_id: uuid.UUID, now: datetime,
                         payment: dict[str, Any]) -> tuple[Booking, Settlement]:
    """A payment succeeded: confirm the booking if its time is still ours.

    A refund outcome marks the booking ``payment_status = refund_pending``."""
    booking = await repository.get_locked(session, booking_id)
    if booking is None:
        raise BookingNotFound()
    if booking.status == BookingStatus.CONFIRMED:
        return booking, Settlement.ALREADY_CONFIRMED
    if booking.status == BookingStatus.HELD and booking.is_live(now):
        booking.payment_status = PaymentStatus.PAID
        await change_status(session, booking, BookingStatus.CONFIRMED, "confirmed", None, now, payment, new=True)
        return booking, Settlement.CONFIRMED
    if booking.status in (BookingStatus.HELD, BookingStatus.EXPIRED):
        others = [b for b in await move_lapsed_aside(session, booking.tutor_id, booking.guarded, now)
                  if b.id != booking.id]
        if others:
            names = await repository.names(session, others)
            await emit(session, [m for b in others for m in events.messages(b, now, names)])
        # A lapsed trial whose trial was taken again meanwhile cannot come back (uq_bookings_one_trial).
        trial_taken = booking.is_trial and await trial_repository.trial_refusal(
            session, booking.student_id, booking.tutor_id, now) == "trial_used"
        if not trial_taken and not await repository.live_conflict(session, booking.tutor_id, booking.guarded, now,
                                                                  exclude=booking.id):
            booking.payment_status = PaymentStatus.PAID
            await change_status(session, booking, BookingStatus.CONFIRMED, "confirmed", None, now,
                                {**payment, "late": True}, new=True)
            return booking, Settlement.RECLAIMED
    booking.payment_status = PaymentStatus.REFUND_PENDING
    booking.refund_cents = booking.price_cents
    events.record(session, booking, "payment_refused", None, booking.status,
                  {**payment, "reason": "the time was no longer available"})
    await events.tell_parties(session, booking, now)
    return booking, Settlement.REFUND
