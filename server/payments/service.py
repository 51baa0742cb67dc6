"""Stripe webhooks: verified, recorded once, applied in a way that tolerates any order.

* Each event id is inserted into ``webhook_events`` in the same transaction as its effect:
  a replay or duplicate finds the id and changes nothing.
* ``payment_intent.succeeded`` goes through the one confirmation path
  (:func:`server.bookings.service.settle_payment`): confirmed, re-claimed after a lapse, or
  refunded when someone else has the time — never two live bookings.
* ``payment_intent.payment_failed`` tells both parties and keeps the hold until it lapses;
  it never downgrades a booking that is already paid (out-of-order delivery).
* ``charge.refunded`` records the refund.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, text

from models.booking import Booking
from server.bookings import service as bookings
from server.db import Session

log = logging.getLogger("edustream.payments")

PAID_STATES = ("paid", "refund_pending", "refunded")


async def _booking_for_intent(session: Session, intent: dict[str, Any]) -> Booking | None:
    booking_id = (intent.get("metadata") or {}).get("booking_id")
    if booking_id:
        try:
            return await session.get(Booking, uuid.UUID(booking_id))
        except ValueError:
            return None
    if intent.get("id"):
        return (await session.scalars(select(Booking).where(Booking.payment_intent_id == intent["id"]))).first()
    return None


async def handle_event(session: Session, event: dict[str, Any], now: datetime) -> tuple[str, uuid.UUID | None]:
    """Apply one verified Stripe event. Returns ``(outcome, booking_id)``; the caller kicks a
    refund task after commit when the outcome is ``refund``."""
    event_id, kind = str(event.get("id", "")), str(event.get("type", ""))
    if not event_id:
        return "ignored", None
    fresh = await session.execute(
        text("INSERT INTO webhook_events (id, provider, type) VALUES (:i, 'stripe', :t) "
             "ON CONFLICT DO NOTHING RETURNING 1"), {"i": event_id, "t": kind})
    if fresh.first() is None:
        return "duplicate", None
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    if kind.startswith("payment_intent."):
        booking = await _booking_for_intent(session, obj)
    elif kind == "charge.refunded":
        booking = await _booking_for_intent(session, {"id": obj.get("payment_intent")})
    else:
        return "ignored", None
    if booking is None:
        log.warning("stripe event %s (%s) names no known booking", event_id, kind)
        return "unknown_booking", None

    if kind == "payment_intent.succeeded":
        if booking.payment_status in ("refund_pending", "refunded"):
            return "already_refunded", booking.id
        booking.payment_intent_id = booking.payment_intent_id or obj.get("id")
        booking.payment_provider = "stripe"
        _, outcome = await bookings.settle_payment(session, booking.id, now, {
            "provider": "stripe", "payment_intent": obj.get("id"), "amount": obj.get("amount_received")})
        return outcome, booking.id
    if kind == "payment_intent.payment_failed":
        if booking.payment_status in PAID_STATES or booking.status != "held":
            return "stale", booking.id
        booking.payment_status = "failed"
        error = (obj.get("last_payment_error") or {}).get("message")
        await bookings.emit_booking(session, booking, now)
        log.info("payment failed for booking %s: %s", booking.id, error)
        return "failed", booking.id
    if kind == "charge.refunded":
        booking.payment_status = "refunded"
        booking.refund_cents = int(obj.get("amount_refunded") or booking.refund_cents or 0)
        await bookings.emit_booking(session, booking, now)
        return "refunded", booking.id
    return "ignored", booking.id
