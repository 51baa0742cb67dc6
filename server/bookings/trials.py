"""Trial lessons: a student's first lesson with a tutor at the tutor's trial terms, once.

``POST /holds`` with ``trial: true`` comes here instead of the one-statement hold path
(:mod:`server.bookings.holds`): a trial is rare, so it takes the general few-statement path,
under the same locks (student, then tutor) and the same hold limits, and adds the trial rules:

* the tutor offers a trial (``tutor_profiles.trial_minutes``/``trial_price_cents``), and the
  lesson has its length and price;
* it is the student's first lesson with the tutor (no confirmed or completed lesson yet) and
  their trial is not taken: ``uq_bookings_one_trial`` (one ``is_trial`` booking per student and
  tutor that is held, confirmed or completed) makes "once" a database fact, whatever path or
  race inserts the row. A released, expired or cancelled trial gives the trial back; a lapsed
  trial hold is marked ``expired`` here first (it would still count in the index).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError

from models.booking import Booking, BookingStatus
from server.availability import policies
from server.availability.slots import check_bookable
from server.bookings import repository, trial_repository
from server.bookings.errors import (
    HoldCooldown,
    HoldLimitReached,
    SlotUnavailable,
    TrialNotOffered,
    TrialUsed,
    TutorHoldLimitReached,
)
from server.bookings.holds import Placed, announce_hold, end_hold, hoarding_limits, line_first
from server.db import Session
from server.observability import metrics
from server.settings import Settings


async def place_trial_hold(session: Session, settings: Settings, student_id: uuid.UUID, tutor_id: uuid.UUID,
                           start: datetime, minutes: int, now: datetime) -> Placed:
    """Hold ``[start, start + minutes)`` as the student's trial with the tutor: 409
    ``trial_not_offered`` when the tutor offers none, 409 ``trial_used`` when the student's
    trial is taken or they have had a lesson with the tutor, 422 ``slot_not_offered`` for a
    length other than the trial's, and the ordinary hold errors otherwise."""
    tp = await policies.fresh_policy(session, tutor_id)
    terms = await trial_repository.trial_terms(session, tutor_id)
    if terms is None:
        raise TrialNotOffered()
    check_bookable(tp.policy, tp.rules, tp.overrides, start, minutes, now, lesson_lengths=[terms.minutes])
    end = start + timedelta(minutes=minutes)
    booking = Booking(id=uuid.uuid4(), tutor_id=tutor_id, student_id=student_id, status=BookingStatus.HELD,
                      start_at=start, end_at=end,
                      guarded=Range(start, end + timedelta(minutes=tp.policy.buffer_minutes), bounds="[)"),
                      expires_at=now + timedelta(seconds=settings.hold_ttl_seconds), price_cents=terms.price_cents,
                      currency=terms.currency, is_trial=True, created_at=now)

    await repository.lock_student_then_tutor(session, student_id, tutor_id)
    for lapsed_trial in await trial_repository.lock_lapsed_trials(session, student_id, tutor_id, now):
        await end_hold(session, settings, lapsed_trial, BookingStatus.EXPIRED, None, now)
    refusal = await trial_repository.trial_refusal(session, student_id, tutor_id, now)
    if refusal is not None:
        raise TrialUsed(details={"reason": refusal})

    limits = hoarding_limits(settings)
    checks = await repository.hold_checks(session, student_id, tutor_id, booking.guarded, now, limits)
    if checks.holds >= settings.max_active_holds:
        raise HoldLimitReached(details={"scope": "student", "limit": settings.max_active_holds})
    if checks.refusal == "tutor_hold_limit":
        raise TutorHoldLimitReached(details={"scope": "tutor", "limit": settings.hold_limit_per_tutor})
    if checks.refusal is not None:
        raise HoldCooldown(details={"cooldown_seconds": settings.hold_rehold_cooldown_seconds})
    if checks.conflict:
        metrics.hold_conflicted()
        raise SlotUnavailable()
    names = {student_id: checks.student_name, tutor_id: checks.tutor_name}
    handed, offered = await line_first(session, settings, tp, booking, checks.lapsed, names, now)
    if offered is not None:
        return offered  # first in the line behind the lapsed hold: the (ordinary) offered hold
    try:
        await trial_repository.insert_trial_hold(session, booking)
    except IntegrityError as exc:
        if repository.is_exclusion_violation(exc):
            metrics.hold_conflicted()
            raise SlotUnavailable() from exc
        if trial_repository.is_trial_violation(exc):
            raise TrialUsed(details={"reason": "trial_used"}) from exc
        raise
    metrics.count_transition(session, None, BookingStatus.HELD)
    return await announce_hold(session, tp, booking, checks.lapsed, names, now, handed)
