"""Holds: placing one (the product's hot path), releasing one, and expiring a lapsed one.

A hold is a booking in status ``held`` that blocks its slot until ``expires_at``. Expiry is
a condition, not a job: a lapsed hold never blocks (``models.booking.LIVE_SQL``); the sweep
that marks it ``expired`` only tells watchers and tidies up.

Placing a hold is normally ONE database round trip: the tutor's policy comes from this
process's cache (``server.availability.policies``), the slot is checked against it here,
and ``place_hold()`` (migrations 0004, last redefined in 0011, planned by 0026) refuses a slot already taken
from its snapshot, then takes both locks (student, then tutor), checks the hold limit and
conflicts, inserts the booking and its history row, lists the slots the hold changes,
bumps the tutor's version and records the outbox rows, all in one statement. The
rare cases it declines (a lapsed hold in the way, a policy changed since it was cached) take
the general path below or reload the policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError

from models.booking import Booking, BookingStatus, PaymentProvider
from server.availability import policies
from server.availability.repository import TutorPolicy
from server.availability.slots import SlotNotOffered, check_bookable
from server.bookings import events, handoff, repository, series_repository
from server.bookings.changes import changes_after_transition, slot_changes, touching
from server.bookings.errors import (
    BookingNotFound,
    HoldCooldown,
    HoldLimitReached,
    InvalidTransition,
    LineFirst,
    SlotUnavailable,
    TutorHoldLimitReached,
)
from server.bookings.schemas import BookingOut
from server.bookings.service import price_for as price_for
from server.db import Session
from server.jobs import enqueue
from server.observability import metrics
from server.outbox import slots_changed, wake_after_commit
from server.settings import Settings
from server.tutors.service import TutorNotFound


@dataclass(frozen=True, slots=True)
class Placed:
    booking: Booking
    names: dict[uuid.UUID, str]
    # The response without the parties' names, when the fast path already built it.
    unnamed: BookingOut | None = None

    def out(self, now: datetime) -> BookingOut:
        if self.unnamed is None:
            return BookingOut.of(self.booking, now, self.names)
        return self.unnamed.model_copy(update={"student_name": self.names.get(self.booking.student_id),
                                               "tutor_name": self.names.get(self.booking.tutor_id)})


def _new_hold(settings: Settings, tp: TutorPolicy, student_id: uuid.UUID, tutor_id: uuid.UUID, start: datetime,
              minutes: int, now: datetime) -> Booking:
    end = start + timedelta(minutes=minutes)
    return Booking(id=uuid.uuid4(), tutor_id=tutor_id, student_id=student_id, status=BookingStatus.HELD,
                   start_at=start, end_at=end,
                   guarded=Range(start, end + timedelta(minutes=tp.policy.buffer_minutes), bounds="[)"),
                   expires_at=now + timedelta(seconds=settings.hold_ttl_seconds),
                   price_cents=price_for(tp.policy.hourly_rate_cents, minutes), currency=tp.policy.currency,
                   created_at=now)


async def _checked_policy(session: Session, tutor_id: uuid.UUID, start: datetime, minutes: int,
                          now: datetime) -> TutorPolicy:
    """The tutor's policy with ``start``/``minutes`` checked against it; a cached policy that
    refuses the slot is re-read once (the tutor may just have opened that time)."""
    tp = await policies.cached_policy(session, tutor_id)
    try:
        check_bookable(tp.policy, tp.rules, tp.overrides, start, minutes, now)
    except SlotNotOffered:
        policies.forget(tutor_id)
        tp = await policies.cached_policy(session, tutor_id)
        check_bookable(tp.policy, tp.rules, tp.overrides, start, minutes, now)
    return tp


def hoarding_limits(settings: Settings) -> repository.HoardingLimits:
    return repository.HoardingLimits(settings.hold_limit_per_tutor,
                                     timedelta(seconds=settings.hold_rehold_cooldown_seconds))


def refused(settings: Settings, refusal: str) -> Exception:
    """The error for a refusal of migration 0006's hold_hoarding_refusal()."""
    if refusal == "tutor_hold_limit":
        return TutorHoldLimitReached(details={"scope": "tutor", "limit": settings.hold_limit_per_tutor})
    return HoldCooldown(details={"cooldown_seconds": settings.hold_rehold_cooldown_seconds})


async def place_hold(session: Session, settings: Settings, student_id: uuid.UUID, tutor_id: uuid.UUID,
                     start: datetime, minutes: int, now: datetime) -> Placed:
    """Hold ``[start, start + minutes)`` with ``tutor_id`` for ``HOLD_TTL_SECONDS``."""
    limits = hoarding_limits(settings)
    for _attempt in range(2):
        tp = await _checked_policy(session, tutor_id, start, minutes, now)
        booking = _new_hold(settings, tp, student_id, tutor_id, start, minutes, now)
        unnamed = BookingOut.of(booking, now)
        slot_minutes = min(tp.policy.lesson_minutes)
        try:
            placed = await repository.place_hold_statement(
                session, booking, max_holds=settings.max_active_holds, limits=limits, policy_version=tp.policy_version,
                candidates=[s.start for s in touching(tp.policy, tp.rules, tp.overrides, booking.guarded, now)],
                slot_minutes=slot_minutes, slot_reach_minutes=slot_minutes + tp.policy.buffer_minutes,
                booking_json=unnamed.model_dump_json())
        except asyncpg.ExclusionViolationError as exc:  # the constraint stays the final guarantee
            metrics.hold_conflicted()
            raise SlotUnavailable() from exc
        if placed.outcome == "held":
            metrics.count_transition(session, None, BookingStatus.HELD)
            wake_after_commit(session)
            return Placed(booking, {student_id: placed.student_name or "", tutor_id: placed.tutor_name or ""},
                          unnamed)
        if placed.outcome == "conflict":
            metrics.hold_conflicted()
            raise SlotUnavailable()
        if placed.outcome == "hold_limit":
            raise HoldLimitReached(details={"scope": "student", "limit": settings.max_active_holds})
        if placed.outcome in ("tutor_hold_limit", "cooldown"):
            raise refused(settings, placed.outcome)
        if placed.outcome == "no_tutor":
            policies.forget(tutor_id)
            raise TutorNotFound()
        if placed.outcome == "lapsed_in_the_way":
            break
        policies.forget(tutor_id)  # stale_policy: the tutor changed it since we cached it
    tp = await policies.fresh_policy(session, tutor_id)
    check_bookable(tp.policy, tp.rules, tp.overrides, start, minutes, now)
    return await _place_hold_general(session, settings, tp, student_id, tutor_id, start, minutes, now)


async def place_hold_now(session: Session, settings: Settings, student_id: uuid.UUID, tutor_id: uuid.UUID,
                         minutes: int, now: datetime) -> Placed:
    """An instant lesson (server/instant): hold ``[now, now + minutes)`` with a tutor who said
    they are available now. It lies off the weekly slot grid and inside the notice period, so
    only the lesson length is checked against the tutor's policy; everything else is a hold
    like any other (the general path: locks, the student's hold limit, the hoarding limits,
    live bookings and calendar time in the way, ``ex_bookings_no_overlap``, ``booking.new``
    and ``slots.changed``), paid for with ``POST /bookings/{id}/checkout``."""
    tp = await policies.fresh_policy(session, tutor_id)
    if minutes not in tp.policy.lesson_minutes:
        raise SlotNotOffered("The tutor does not teach lessons of that length.",
                             details={"minutes": minutes, "lesson_minutes": list(tp.policy.lesson_minutes)})
    return await _place_hold_general(session, settings, tp, student_id, tutor_id, now.replace(microsecond=0),
                                     minutes, now)


async def _place_hold_general(session: Session, settings: Settings, tp: TutorPolicy, student_id: uuid.UUID,
                              tutor_id: uuid.UUID, start: datetime, minutes: int, now: datetime) -> Placed:
    """The hold in a few statements, moving lapsed holds in the way aside (status
    ``expired``, with their history rows and events) in the same transaction."""
    booking = _new_hold(settings, tp, student_id, tutor_id, start, minutes, now)
    await repository.lock_student_then_tutor(session, student_id, tutor_id)
    checks = await repository.hold_checks(session, student_id, tutor_id, booking.guarded, now,
                                          hoarding_limits(settings))
    if checks.holds >= settings.max_active_holds:
        raise HoldLimitReached(details={"scope": "student", "limit": settings.max_active_holds})
    if checks.refusal is not None:
        raise refused(settings, checks.refusal)
    if checks.conflict:
        metrics.hold_conflicted()
        raise SlotUnavailable()
    names = {student_id: checks.student_name, tutor_id: checks.tutor_name}
    handed, offered = await line_first(session, settings, tp, booking, checks.lapsed, names, now)
    if offered is not None:
        return offered
    try:
        await repository.insert_hold(session, booking)
    except IntegrityError as exc:
        if repository.is_exclusion_violation(exc):
            metrics.hold_conflicted()
            raise SlotUnavailable() from exc
        raise
    metrics.count_transition(session, None, BookingStatus.HELD)
    return await announce_hold(session, tp, booking, checks.lapsed, names, now, handed)


async def line_first(session: Session, settings: Settings, tp: TutorPolicy, booking: Booking,
                     lapsed_ids: Sequence[uuid.UUID], names: dict[uuid.UUID, str],
                     now: datetime) -> tuple[handoff.Handed, Placed | None]:
    """Before ``booking`` (not yet inserted) takes a slot whose lapsed holds ``lapsed_ids`` the
    checks just moved aside: a line behind them comes first (docs/waitlist.md). Raises
    :class:`LineFirst` (committing the hand-off) when the line took the slot; returns the
    student's own offer when they were first in that line; else the hand-off to announce with
    the hold."""
    if not lapsed_ids:
        return handoff.Handed(), None
    lapsed = await repository.by_ids(session, lapsed_ids)
    handed = await handoff.hand_off(session, settings, booking.tutor_id, lapsed, [b.guarded for b in lapsed], now)
    if not handed.offered:
        return handed, None
    mine = next((b for b in handed.offered if b.student_id == booking.student_id and b.start_at == booking.start_at
                 and b.end_at == booking.end_at), None)
    if mine is None and not await repository.live_conflict(session, booking.tutor_id, booking.guarded, now):
        return handed, None
    placed = await announce_hold(session, tp, mine, lapsed_ids, names, now, handed)
    if mine is None:
        metrics.hold_conflicted()
        raise LineFirst()
    return handed, placed


async def announce_hold(session: Session, tp: TutorPolicy, booking: Booking | None,
                        lapsed_ids: Sequence[uuid.UUID], names: dict[uuid.UUID, str], now: datetime,
                        handed: handoff.Handed | None = None) -> Placed:
    """After a hold was inserted by the general path: the lapsed holds it moved aside recorded
    as expired, and the slot changes and both parties' messages of all of them (and of the
    holds a line behind them was handed; ``booking`` None: the caller's own hold was not
    placed because of those)."""
    handed = handed or handoff.Handed()
    messages = events.messages(booking, now, names, new=True) if booking is not None else []
    ranges = [booking.guarded] if booking is not None else []
    if lapsed_ids:
        lapsed = await repository.by_ids(session, lapsed_ids)
        names = await repository.names(session, lapsed, names)
        for old in lapsed:
            events.record(session, old, "expired", None, BookingStatus.HELD, {"reason": "lapsed; slot taken over"})
            messages.extend(events.messages(old, now, names))
            ranges.append(old.guarded)
    messages.extend(handed.messages)
    ranges.extend(handed.ranges)
    placed = booking or handed.offered[0]
    changes = await slot_changes(session, tp.policy, tp.rules, tp.overrides, placed.tutor_id, ranges, now)
    await slots_changed(session, placed.tutor_id, changes, messages)
    return Placed(placed, names)


def cancel_unpaid_intent(session: Session, settings: Settings, booking: Booking) -> None:
    """A hold ended unpaid (released, cancelled, lapsed): cancel its Stripe PaymentIntent so
    it can no longer be paid (a payment that still lands is settled by the webhook:
    re-claimed or refunded). The one place this rule lives."""
    if booking.payment_provider == PaymentProvider.STRIPE and booking.payment_intent_id:
        enqueue(session, settings, "payments.cancel_intent", str(booking.id))


async def end_hold(session: Session, settings: Settings, booking: Booking, to_status: BookingStatus,
                   actor_id: uuid.UUID | None, now: datetime) -> None:
    """A held booking stops being held without payment: the transition, the reopened slots
    for watchers, and the unpaid intent's cancellation."""
    await change_status(session, booking, to_status, to_status.value, actor_id, now, settings=settings)
    cancel_unpaid_intent(session, settings, booking)


async def change_status(session: Session, booking: Booking, to_status: BookingStatus, kind: str,
                        actor_id: uuid.UUID | None, now: datetime, data: dict[str, object] | None = None,
                        *, new: bool = False, settings: Settings | None = None) -> None:
    """A transition that moves the slot: history row, version bump, ``slots.changed`` and the
    parties' messages, in the caller's transaction. One that ends the booking (``settings``
    required) hands the slot to the line behind it first (server/bookings/handoff.py), so the
    one ``slots.changed`` shows the slot as the next student holds it; a confirmation fulfils
    the waitlist offer it was."""
    events.transition(session, booking, to_status, kind, actor_id, dict(data) if data else None)
    await repository.flush(session)
    messages = await events.messages_for(session, booking, now, new=new)
    ranges = [booking.guarded]
    if to_status == BookingStatus.CONFIRMED:
        await handoff.fulfilled(session, booking, now)
    elif to_status in handoff.ENDING:
        if settings is None:
            raise TypeError("change_status() needs settings for a transition that ends a booking")
        handed = await handoff.hand_off(session, settings, booking.tutor_id, [booking], [booking.guarded], now)
        messages.extend(handed.messages)
        ranges.extend(handed.ranges)
    changes = await changes_after_transition(session, booking.tutor_id, ranges, now)
    await slots_changed(session, booking.tutor_id, changes, messages)


async def release_hold(session: Session, settings: Settings, student_id: uuid.UUID, booking_id: uuid.UUID,
                       now: datetime) -> Booking:
    """The student lets go of a hold; the slot reopens at once."""
    booking = await repository.get(session, booking_id)
    if booking is None or booking.student_id != student_id:
        raise BookingNotFound()
    booking = await repository.get_locked(session, booking_id)
    if booking is None:
        raise BookingNotFound()
    if booking.status != BookingStatus.HELD:
        raise InvalidTransition(f"This booking is {booking.status}, not held.",
                                details={"from": booking.status, "to": BookingStatus.RELEASED})
    await let_go(session, settings, booking, student_id, now)
    return booking


async def let_go(session: Session, settings: Settings, booking: Booking, student_id: uuid.UUID,
                 now: datetime) -> None:
    """The student lets go of a held booking (released, or expired if it had lapsed); a weekly
    series is held all or nothing, so its other held lessons go too. The caller holds the
    tutor's lock and the booking's row lock."""
    to_status = BookingStatus.RELEASED if booking.is_live(now) else BookingStatus.EXPIRED
    await end_hold(session, settings, booking, to_status, student_id, now)
    if booking.series_id is not None:
        for sibling in await series_repository.occurrences(session, booking.series_id, lock=True):
            if sibling.status == BookingStatus.HELD:
                await end_hold(session, settings, sibling, to_status, student_id, now)


async def expire_hold(session: Session, settings: Settings, booking_id: uuid.UUID, now: datetime) -> Booking | None:
    """Mark one lapsed hold expired and publish the reopening. Idempotent: returns None when
    there is nothing to do (already expired, released, confirmed, or not yet lapsed)."""
    booking = await repository.get_locked(session, booking_id)
    if booking is None or booking.status != BookingStatus.HELD or booking.is_live(now):
        return None
    await end_hold(session, settings, booking, BookingStatus.EXPIRED, None, now)
    return booking
