"""HTTP routes for holds and bookings: parse, authorize, one service call, serialize."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.bookings import payments, service
from server.bookings.schemas import (
    BookingOut,
    BookingPage,
    BookingQuery,
    CancelIn,
    CheckoutOut,
    HoldCreate,
    RescheduleIn,
    TestPaymentIn,
)
from server.db import Session, unit_of_work
from server.http import SIGNED_IN, STUDENT, Ctx, Router
from server.idempotency import IdempotencyKeyReused, run_idempotent

router = Router("/api/v1", tags=["bookings"])


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("/holds", auth=STUDENT, status=201, summary="Hold a slot for HOLD_TTL_SECONDS",
             errors=[service.SlotUnavailable, service.HoldLimitReached, IdempotencyKeyReused])
async def place_hold(ctx: Ctx, body: HoldCreate) -> BookingOut:
    """Places a hold (a booking in status `held`). 409 `slot_unavailable` when any live booking
    overlaps (buffers included); 409 `hold_limit_reached` past MAX_ACTIVE_HOLDS; 422
    `slot_not_offered` outside the tutor's availability, lesson lengths, notice or advance window."""
    now = _now()

    async def action(session: Session) -> BookingOut:
        booking = await service.place_hold(session, ctx.settings, ctx.user.id, body.tutor_id,
                                           body.start.astimezone(UTC), body.minutes, now)
        return BookingOut.of(booking, now, await service.party_names(session, [booking]))

    return await run_idempotent(ctx, body, 201, action)  # type: ignore[return-value]


@router.delete("/holds/{hold_id}", auth=STUDENT, summary="Release a hold; the slot reopens at once",
               errors=[service.BookingNotFound, service.InvalidTransition])
async def release_hold(ctx: Ctx, hold_id: uuid.UUID) -> None:
    async with unit_of_work(ctx.sessionmaker) as session:
        booking = await service.release_hold(session, ctx.user.id, hold_id, _now())
        payments.cancel_unpaid_intent(session, ctx.settings, booking)


@router.get("/bookings", auth=SIGNED_IN, summary="Your bookings (as student or tutor), soonest first")
async def list_bookings(ctx: Ctx, query: BookingQuery) -> BookingPage:
    now = _now()
    async with unit_of_work(ctx.sessionmaker) as session:
        rows, next_cursor = await service.list_bookings(session, ctx.user, query.status, query.cursor, query.limit, now)
        names = await service.party_names(session, rows)
    return BookingPage(items=[BookingOut.of(b, now, names) for b in rows], next_cursor=next_cursor)


@router.get("/bookings/{booking_id}", auth=SIGNED_IN, summary="One of your bookings",
            errors=[service.BookingNotFound])
async def get_booking(ctx: Ctx, booking_id: uuid.UUID) -> BookingOut:
    async with unit_of_work(ctx.sessionmaker) as session:
        booking = await service.get_booking(session, ctx.user, booking_id)
        names = await service.party_names(session, [booking])
    return BookingOut.of(booking, names=names)


@router.post("/bookings/{booking_id}/cancel", auth=SIGNED_IN, summary="Cancel by policy (refund when due)",
             errors=[service.BookingNotFound, service.NotCancellable])
async def cancel_booking(ctx: Ctx, booking_id: uuid.UUID, body: CancelIn) -> BookingOut:
    """Students get a full refund up to CANCEL_FULL_REFUND_HOURS before the start and none after;
    a tutor's cancellation always refunds in full. A held booking is simply released."""
    now = _now()
    async with unit_of_work(ctx.sessionmaker) as session:
        booking = await service.cancel(session, ctx.settings, ctx.user, booking_id, body.reason, now)
        await payments.after_cancel(session, ctx.settings, booking)
    return BookingOut.of(booking, now)


@router.post("/bookings/{booking_id}/reschedule", auth=SIGNED_IN, summary="Move a confirmed booking atomically",
             errors=[service.BookingNotFound, service.NotReschedulable, service.SlotUnavailable])
async def reschedule_booking(ctx: Ctx, booking_id: uuid.UUID, body: RescheduleIn) -> BookingOut:
    now = _now()
    async with unit_of_work(ctx.sessionmaker) as session:
        booking = await service.reschedule(session, ctx.settings, ctx.user, booking_id, body.start.astimezone(UTC), now)
    return BookingOut.of(booking, now)


@router.post("/bookings/{booking_id}/checkout", auth=STUDENT, summary="Start payment for a held booking",
             errors=[service.BookingNotFound, service.InvalidTransition, service.HoldLapsed])
async def checkout(ctx: Ctx, booking_id: uuid.UUID) -> CheckoutOut:
    """Free lessons confirm at once (`provider: free`). Otherwise returns the payment to
    complete: Stripe (`client_secret` for Stripe Elements) or, without Stripe keys, the
    clearly labelled test provider (`POST /payments/test/confirm`)."""
    return await payments.checkout(ctx, booking_id, _now())


@router.post("/payments/test/confirm", auth=STUDENT, summary="Test provider: pay for a held booking",
             errors=[service.BookingNotFound, service.HoldLapsed])
async def test_payment_confirm(ctx: Ctx, body: TestPaymentIn) -> BookingOut:
    """Only when Stripe is not configured (never in production): completes a test payment."""
    return await payments.confirm_test_payment(ctx, body.booking_id, _now())

