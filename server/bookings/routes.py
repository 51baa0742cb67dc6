"""HTTP routes for holds and bookings: parse, authorize, one service call, serialize."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.bookings import checkout as checkout_service
from server.bookings import holds, lifecycle, series, service, trials
from server.bookings.errors import (
    BookingNotFound,
    FreeBookingLimitReached,
    HoldCooldown,
    HoldLapsed,
    HoldLimitReached,
    HoldNotConvertible,
    InvalidTimezone,
    InvalidTransition,
    NotCancellable,
    NotReschedulable,
    PaymentInProgress,
    SeriesConflict,
    SeriesNotFound,
    SlotUnavailable,
    TrialNotOffered,
    TrialUsed,
)
from server.bookings.schemas import (
    BookingEventPage,
    BookingOut,
    BookingPage,
    BookingQuery,
    CancelIn,
    CancelQuoteOut,
    CheckoutIn,
    CheckoutOut,
    HoldCreate,
    RescheduleIn,
    SeriesCancelIn,
    SeriesCreate,
    SeriesOut,
    TestPaymentIn,
)
from server.db import Session
from server.http import SIGNED_IN, STUDENT, Ctx, Router
from server.idempotency import IdempotencyKeyReused, Replayable, run_idempotent
from server.packages.errors import NoCredit

router = Router("/api/v1", tags=["bookings"])


def _now() -> datetime:
    return datetime.now(UTC)


@router.post("/holds", auth=STUDENT, status=201, summary="Hold a slot for HOLD_TTL_SECONDS",
             errors=[SlotUnavailable, HoldLimitReached, HoldCooldown, TrialUsed, TrialNotOffered,
                     IdempotencyKeyReused])
async def place_hold(ctx: Ctx, session: Session, body: HoldCreate) -> BookingOut:
    """Places a hold (a booking in status `held`). 409 `slot_unavailable` when any live booking
    overlaps (buffers included); 409 `hold_limit_reached` past MAX_ACTIVE_HOLDS; 422
    `slot_not_offered` outside the tutor's availability, lesson lengths, notice or advance window.
    With `trial: true`, the student's first lesson with the tutor at the tutor's trial terms
    (length and price): 409 `trial_used` when their trial is taken (or they have had a lesson
    with the tutor), 409 `trial_not_offered` when the tutor offers none."""
    now = _now()
    place = trials.place_trial_hold if body.trial else holds.place_hold

    async def action() -> BookingOut:
        placed = await place(session, ctx.settings, ctx.user.id, body.tutor_id, body.start.astimezone(UTC),
                             body.minutes, now)
        return placed.out(now)

    return await run_idempotent(session, Replayable.of(ctx, body, 201), action)  # type: ignore[return-value]


@router.delete("/holds/{hold_id}", auth=STUDENT, summary="Release a hold; the slot reopens at once",
               errors=[BookingNotFound, InvalidTransition])
async def release_hold(ctx: Ctx, session: Session, hold_id: uuid.UUID) -> None:
    await holds.release_hold(session, ctx.settings, ctx.user.id, hold_id, _now())


@router.get("/bookings", auth=SIGNED_IN, summary="Your bookings (as student or tutor), soonest first")
async def list_bookings(ctx: Ctx, session: Session, query: BookingQuery) -> BookingPage:
    return await service.list_bookings(session, ctx.user, service.PageQuery(query.status, query.cursor, query.limit),
                                       _now())


@router.get("/bookings/{booking_id}", auth=SIGNED_IN, summary="One of your bookings", errors=[BookingNotFound])
async def get_booking(ctx: Ctx, session: Session, booking_id: uuid.UUID) -> BookingOut:
    return await service.get_booking(session, ctx.user, booking_id)


@router.get("/bookings/{booking_id}/events", auth=SIGNED_IN, summary="A booking's status history",
            errors=[BookingNotFound])
async def booking_events(ctx: Ctx, session: Session, booking_id: uuid.UUID) -> BookingEventPage:
    """Every change of the booking (held, confirmed, rescheduled, cancelled...) and the notes sent
    about it, oldest first; for its student and tutor (404 for anyone else)."""
    return await service.booking_history(session, ctx.user, booking_id)


@router.get("/bookings/{booking_id}/cancellation", auth=SIGNED_IN, summary="What cancelling now would refund",
            errors=[BookingNotFound])
async def cancellation_quote(ctx: Ctx, session: Session, booking_id: uuid.UUID) -> CancelQuoteOut:
    """The refund `POST /bookings/{id}/cancel` would give if sent now, and the full-refund deadline,
    so the cancel and reschedule dialogs can say it before you confirm."""
    return await lifecycle.cancel_quote(session, ctx.settings, ctx.user, booking_id, _now())


@router.post("/bookings/{booking_id}/cancel", auth=SIGNED_IN, summary="Cancel by policy (refund when due)",
             errors=[BookingNotFound, NotCancellable])
async def cancel_booking(ctx: Ctx, session: Session, booking_id: uuid.UUID, body: CancelIn) -> BookingOut:
    """Students get a full refund up to CANCEL_FULL_REFUND_HOURS before the start (of the
    original time, when the booking was rescheduled) and none after;
    a tutor's cancellation always refunds in full. A held booking is simply released."""
    now = _now()
    return BookingOut.of(await lifecycle.cancel(session, ctx.settings, ctx.user, booking_id, body.reason, now), now)


@router.post("/bookings/{booking_id}/reschedule", auth=SIGNED_IN, summary="Move a confirmed booking atomically",
             errors=[BookingNotFound, NotReschedulable, SlotUnavailable])
async def reschedule_booking(ctx: Ctx, session: Session, booking_id: uuid.UUID, body: RescheduleIn) -> BookingOut:
    """Rescheduling never moves the full-refund deadline later: it stays that of the original
    time (or the new time's, when earlier), so a move followed by a cancellation refunds only
    what cancelling at the original time would have."""
    now = _now()
    return BookingOut.of(await lifecycle.reschedule(session, ctx.settings, ctx.user, booking_id,
                                                    body.start.astimezone(UTC), now), now)


@router.post("/bookings/{booking_id}/checkout", auth=STUDENT, summary="Start payment for a held booking",
             errors=[BookingNotFound, InvalidTransition, HoldLapsed, FreeBookingLimitReached, NoCredit,
                     PaymentInProgress])
async def checkout(ctx: Ctx, session: Session, booking_id: uuid.UUID, body: CheckoutIn) -> CheckoutOut:
    """Free lessons confirm at once (`provider: free`). With `use_credit: true` the booking is
    confirmed at once by spending one of your package credits with the tutor for a lesson of
    its length (`provider: credit`; 409 `no_credit` without one; when two checkouts race for
    the last credit exactly one confirms). Otherwise returns the payment to complete: Stripe
    (`client_secret` for Stripe Elements) or, without Stripe keys, the clearly labelled test
    provider (`POST /payments/test/confirm`). The body is optional."""
    return await checkout_service.checkout(session, ctx.settings, ctx.user.id, booking_id, _now(),
                                           use_credit=body.use_credit)


@router.post("/payments/test/confirm", auth=STUDENT, summary="Test provider: pay for a held booking",
             errors=[BookingNotFound, HoldLapsed])
async def test_payment_confirm(ctx: Ctx, session: Session, body: TestPaymentIn) -> BookingOut:
    """Only when Stripe is not configured (never in production): completes a test payment."""
    return await checkout_service.confirm_test_payment(session, ctx.settings, ctx.user.id, body.booking_id, _now())


@router.post("/series", auth=STUDENT, status=201, summary="Hold a lesson every week for N weeks",
             errors=[SeriesConflict, HoldLimitReached, HoldCooldown, HoldNotConvertible, InvalidTimezone,
                     IdempotencyKeyReused])
async def place_series(ctx: Ctx, session: Session, body: SeriesCreate) -> SeriesOut:
    """Holds `weeks` weekly lessons at the first one's wall-clock time **in the tutor's time zone**
    (so they follow the tutor's clock changes), all or nothing: 409 `series_conflict` lists every
    start that is taken or not offered (`details.conflicts`, `details.reasons`); 422
    `slot_not_offered` when the first one is not a slot. `clock_change: true` marks the lessons
    at another time on your clock than the first (one of the two zones changes its clocks).
    `POST /bookings/{id}/checkout` on any occurrence pays for all of them; releasing one
    releases them all. A series counts as one hold toward MAX_ACTIVE_HOLDS when placed. With
    `hold_id`, your live hold of the first lesson becomes the series' first occurrence atomically
    (409 `hold_not_convertible` when it is not such a hold)."""
    now = _now()

    async def action() -> SeriesOut:
        return await series.place_series(session, ctx.settings, ctx.user.id, body.tutor_id, body.start.astimezone(UTC),
                                         body.minutes, body.weeks, body.timezone, now, hold_id=body.hold_id)

    return await run_idempotent(session, Replayable.of(ctx, body, 201), action)  # type: ignore[return-value]


@router.get("/series/{series_id}", auth=SIGNED_IN, summary="A weekly series and its occurrences",
            errors=[SeriesNotFound])
async def get_series(ctx: Ctx, session: Session, series_id: uuid.UUID) -> SeriesOut:
    """For its student, its tutor and admins (404 for anyone else)."""
    return await series.get_series(session, ctx.user, series_id, _now())


@router.post("/series/{series_id}/cancel", auth=SIGNED_IN, summary="Cancel the remaining lessons of a series",
             errors=[SeriesNotFound])
async def cancel_series(ctx: Ctx, session: Session, series_id: uuid.UUID, body: SeriesCancelIn) -> SeriesOut:
    """Cancels every occurrence that has not started (with `from`: those starting at or after it),
    each by the cancellation policy as if cancelled alone (refund, or the credit back, when due);
    still-held occurrences are released. Started and earlier ones are left as they are."""
    now = _now()
    return await series.cancel_series(session, ctx.settings, ctx.user, series_id,
                                      body.from_.astimezone(UTC) if body.from_ else None, body.reason, now)
