"""Payments' SQL: webhook receipts, bookings by PaymentIntent, and the reconcile selections."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text

from models.booking import Booking, BookingStatus, PaymentProvider, PaymentStatus
from models.outbox import WebhookProvider
from server.db import Session


async def record_webhook_event(session: Session, event_id: str, kind: str) -> bool:
    """Record a provider event id once; False when it was seen before (a duplicate or replay)."""
    fresh = await session.execute(
        text("INSERT INTO webhook_events (id, provider, type) VALUES (:i, :p, :t) "
             "ON CONFLICT DO NOTHING RETURNING 1"), {"i": event_id, "p": WebhookProvider.STRIPE, "t": kind})
    return fresh.first() is not None


async def booking_for_intent(session: Session, booking_id: str | None, intent_id: str | None) -> Booking | None:
    """The booking a PaymentIntent belongs to: by its metadata's booking id, else by intent id."""
    if booking_id:
        try:
            return await session.get(Booking, uuid.UUID(booking_id))
        except ValueError:
            return None
    if intent_id:
        return (await session.scalars(select(Booking).where(Booking.payment_intent_id == intent_id))).first()
    return None


async def refunds_waiting(session: Session, limit: int) -> list[uuid.UUID]:
    """Refunds owed for more than a minute (their task was lost or is failing)."""
    return list((await session.scalars(
        select(Booking.id).where(Booking.payment_status == PaymentStatus.REFUND_PENDING,
                                 Booking.updated_at < text("now() - interval '1 minute'")).limit(limit))).all())


async def intents_to_cancel_waiting(session: Session, limit: int) -> list[uuid.UUID]:
    """Unpaid PaymentIntents of holds that ended more than a minute ago."""
    return list((await session.scalars(
        select(Booking.id).where(
            Booking.payment_provider == PaymentProvider.STRIPE, Booking.payment_intent_id.is_not(None),
            Booking.status.in_([BookingStatus.EXPIRED, BookingStatus.RELEASED]),
            Booking.payment_status.in_([PaymentStatus.REQUIRES_PAYMENT, PaymentStatus.FAILED]),
            Booking.updated_at < text("now() - interval '1 minute'")).limit(limit))).all())
