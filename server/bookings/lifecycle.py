"""A booking after its hold: confirmation, completion, cancellation by policy, rescheduling.

Every change takes the tutor's lock and the booking's row lock first
(:func:`server.bookings.repository.get_locked`), records a history row, bumps the tutor's
version and records its outbox messages in the caller's transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError

from models.booking import Booking, BookingStatus, PaymentProvider, PaymentStatus
from server.availability import policies
from server.availability.slots import check_bookable
from server.bookings import events, handoff, repository
from server.bookings.changes import changes_after_transition, slot_changes
from server.bookings.errors import (
    BookingNotFound,
    HoldLapsed,
    NotCancellable,
    NotReschedulable,
    SlotUnavailable,
)
from server.bookings.holds import change_status, let_go
from server.bookings.schemas import CancelQuoteOut
from server.bookings.service import visible
from server.db import Session
from server.identity import Principal
from server.jobs import enqueue
from server.outbox import emit, slots_changed
from server.packages import credits
from server.settings import Settings
from server.waitlist import repository as waitlist_lines


async def _locked(session: Session, booking_id: uuid.UUID) -> Booking:
    booking = await repository.get_locked(session, booking_id)
    if booking is None:
        raise BookingNotFound()
    return booking


async def confirm(session: Session, booking_id: uuid.UUID, now: datetime, *, actor_id: uuid.UUID | None,
                  payment: dict[str, Any] | None = None) -> Booking:
    """The one confirmation path (free lessons, the test provider and Stripe all end here).

    A held booking whose hold has not lapsed becomes ``confirmed``. Idempotent for a booking
    that is already confirmed."""
    booking = await _locked(session, booking_id)
    if booking.status == BookingStatus.CONFIRMED:
        return booking
    if booking.status == BookingStatus.HELD and not booking.is_live(now):
        raise HoldLapsed()
    if payment:
        booking.payment_status = PaymentStatus(payment.get("status", PaymentStatus.PAID))
    await change_status(session, booking, BookingStatus.CONFIRMED, "confirmed", actor_id, now, payment, new=True)
    return booking


async def complete(session: Session, booking_id: uuid.UUID, now: datetime) -> Booking | None:
    """Mark a confirmed booking whose lesson has ended ``completed``. Idempotent: returns
    None when there is nothing to do (not confirmed, or not over yet)."""
    booking = await repository.get_locked(session, booking_id)
    if booking is None or booking.status != BookingStatus.CONFIRMED or booking.end_at > now:
        return None
    events.transition(session, booking, BookingStatus.COMPLETED, "completed", None)
    await repository.flush(session)
    # The lesson is over, but the buffer after it may reach into the future: watchers hear
    # about slots that it no longer blocks (and no version bump when there are none).
    changes = await changes_after_transition(session, booking.tutor_id, [booking.guarded], now)
    messages = await events.messages_for(session, booking, now)
    if changes:
        await slots_changed(session, booking.tutor_id, changes, messages)
    else:
        await emit(session, messages)
    return booking


def refund_deadline(settings: Settings, booking: Booking) -> datetime:
    """The last moment a student's cancellation is refunded in full: ``CANCEL_FULL_REFUND_HOURS``
    before the start, or earlier when the booking was rescheduled (see :func:`reschedule`)."""
    policy = booking.start_at - timedelta(hours=settings.cancel_full_refund_hours)
    return policy if booking.refund_deadline is None else min(booking.refund_deadline, policy)


def canceller(principal: Principal, booking: Booking) -> str:
    """Who is cancelling: ``student``, ``tutor`` or ``admin`` (the refund policy depends on it)."""
    if principal.id == booking.tutor_id:
        return "tutor"
    return "student" if principal.id == booking.student_id else "admin"


def refund_due(settings: Settings, booking: Booking, by: str, now: datetime) -> bool:
    """The cancellation policy: the student gets their payment back (the money, or the package
    credit that paid) when the tutor or an admin cancels, or they cancel by the booking's
    refund deadline; nothing after that."""
    return by != "student" or now <= refund_deadline(settings, booking)


def refund_for(settings: Settings, booking: Booking, by: str, now: datetime) -> int:
    """The money a cancellation refunds by the policy (none for a lesson paid with a credit:
    the credit comes back instead)."""
    if booking.credit_purchase_id is not None:
        return 0
    return booking.price_cents if refund_due(settings, booking, by, now) else 0


async def cancel_quote(session: Session, settings: Settings, principal: Principal, booking_id: uuid.UUID,
                       now: datetime) -> CancelQuoteOut:
    """What :func:`cancel` would do now, without doing it (for a confirmation dialog)."""
    booking = visible(await repository.get(session, booking_id), principal)
    status = booking.status_at(now)
    by = canceller(principal, booking)
    deadline = refund_deadline(settings, booking) if by == "student" else None
    quote = CancelQuoteOut(cancellable=False, action=None, refund_cents=0, currency=booking.currency, full_refund_until=deadline,
                           full_refund_hours=settings.cancel_full_refund_hours)
    if status == BookingStatus.HELD and principal.id == booking.student_id:
        return quote.model_copy(update={"cancellable": True, "action": "release"})
    if status == BookingStatus.CONFIRMED and booking.start_at > now:
        return quote.model_copy(update={"cancellable": True, "action": "cancel",
                                        "refund_cents": refund_for(settings, booking, by, now),
                                        "credit_returned": booking.credit_purchase_id is not None
                                        and refund_due(settings, booking, by, now)})
    return quote


def refund_owed(session: Session, settings: Settings, booking: Booking) -> None:
    """Refund what the policy granted: the test provider at once, Stripe through a retried task."""
    if booking.payment_status != PaymentStatus.REFUND_PENDING:
        return
    if booking.payment_provider == PaymentProvider.STRIPE:
        enqueue(session, settings, "payments.refund", str(booking.id))
    else:
        booking.payment_status = PaymentStatus.REFUNDED


async def cancel(session: Session, settings: Settings, principal: Principal, booking_id: uuid.UUID,
                 reason: str | None, now: datetime) -> Booking:
    """Cancel a confirmed booking by policy (a held one is simply released, its unpaid
    payment cancelled)."""
    booking = visible(await repository.get(session, booking_id), principal)
    if booking.status == BookingStatus.HELD and principal.id == booking.student_id:
        booking = await _locked(session, booking_id)
        if booking.status == BookingStatus.HELD:
            await let_go(session, settings, booking, principal.id, now)
            return booking
    return await cancel_locked(session, settings, principal, await _locked(session, booking_id), reason, now)


async def cancel_locked(session: Session, settings: Settings, principal: Principal, booking: Booking,
                        reason: str | None, now: datetime) -> Booking:
    """:func:`cancel` of a confirmed booking whose tutor's lock and row lock the caller holds."""
    if booking.status != BookingStatus.CONFIRMED or booking.start_at <= now:
        raise NotCancellable(f"A {booking.status} booking that "
                             f"{'has started' if booking.start_at <= now else 'is not confirmed'} cannot be cancelled.",
                             details={"status": booking.status})
    by = canceller(principal, booking)
    booking.cancelled_by = principal.id
    booking.cancel_reason = reason
    booking.refund_cents = refund_for(settings, booking, by, now)
    if booking.refund_cents and booking.payment_provider in (PaymentProvider.STRIPE, PaymentProvider.TEST):
        booking.payment_status = PaymentStatus.REFUND_PENDING
    details: dict[str, Any] = {"reason": reason, "by": by, "refund_cents": booking.refund_cents}
    if booking.credit_purchase_id is not None:
        # Once per booking, whatever retries or races (credit_movements' unique return row).
        details["credit_returned"] = refund_due(settings, booking, by, now) and await credits.give_back(
            session, booking_id=booking.id, purchase_id=booking.credit_purchase_id)
    await change_status(session, booking, BookingStatus.CANCELLED, "cancelled", principal.id, now, details,
                        settings=settings)
    refund_owed(session, settings, booking)
    return booking


async def reschedule(session: Session, settings: Settings, principal: Principal, booking_id: uuid.UUID,
                     start: datetime, now: datetime) -> Booking:
    """Move a confirmed booking to a free time atomically: both or nothing.

    The refund deadline never moves later: a student inside the no-refund window may still
    move the lesson, but cancelling it afterwards refunds nothing (the deadline stays that of
    the original time, or the new time's if that is earlier)."""
    visible(await repository.get(session, booking_id), principal)
    booking = await _locked(session, booking_id)
    tp = await policies.fresh_policy(session, booking.tutor_id)
    minutes = int((booking.end_at - booking.start_at).total_seconds() // 60)
    if booking.status != BookingStatus.CONFIRMED or booking.start_at <= now:
        raise NotReschedulable(details={"status": booking.status})
    check_bookable(tp.policy, tp.rules, tp.overrides, start, minutes, now, lesson_lengths=[minutes])
    end = start + timedelta(minutes=minutes)
    guarded = Range(start, end + timedelta(minutes=tp.policy.buffer_minutes), bounds="[)")
    lapsed = await move_lapsed_aside(session, booking.tutor_id, guarded, now)
    if await repository.live_conflict(session, booking.tutor_id, guarded, now, exclude=booking.id):
        raise SlotUnavailable()
    if lapsed and await waitlist_lines.slots_with_lines(session, booking.tutor_id, [guarded]):
        raise SlotUnavailable()  # the lapsed hold there is the line's to hand on (the sweep does it)
    old_guarded, old_start, deadline = booking.guarded, booking.start_at, refund_deadline(settings, booking)
    booking.start_at, booking.end_at, booking.guarded = start, end, guarded
    booking.refund_deadline = min(deadline, refund_deadline(settings, booking))
    events.record(session, booking, "rescheduled", principal.id, booking.status,
                  {"from": old_start.isoformat(), "to": start.isoformat()})
    try:
        await repository.flush(session)
    except IntegrityError as exc:
        if repository.is_exclusion_violation(exc):
            raise SlotUnavailable() from exc
        raise
    handed = await handoff.hand_off(session, settings, booking.tutor_id, lapsed, [old_guarded], now)
    names = await repository.names(session, [booking, *lapsed])
    messages = events.messages(booking, now, names)
    for old in lapsed:
        messages.extend(events.messages(old, now, names))
    messages.extend(handed.messages)
    changes = await slot_changes(session, tp.policy, tp.rules, tp.overrides, booking.tutor_id,
                                 [old_guarded, guarded, *(b.guarded for b in lapsed), *handed.ranges], now)
    await slots_changed(session, booking.tutor_id, changes, messages)
    return booking


async def move_lapsed_aside(session: Session, tutor_id: uuid.UUID, guarded: Range[datetime],
                            now: datetime) -> list[Booking]:
    """Mark lapsed holds overlapping ``guarded`` ``expired`` (with history rows), so the range
    can be taken; returns them (the caller tells their parties)."""
    lapsed = await repository.lock_lapsed_overlapping(session, tutor_id, guarded, now)
    for booking in lapsed:
        events.transition(session, booking, BookingStatus.EXPIRED, "expired", None,
                          {"reason": "lapsed; slot taken over"})
    return lapsed

