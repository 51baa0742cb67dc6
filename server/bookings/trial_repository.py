"""The SQL of trial lessons (server/bookings/trials.py): the tutor's trial terms, whether the
student may still take one, and the trial hold's insert. One trial per student and tutor is
``uq_bookings_one_trial``'s to guarantee; the hold's locks, checks and conflicts are the
general hold's (server/bookings/repository.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, exists, select, text
from sqlalchemy.dialects.postgresql import TSTZRANGE
from sqlalchemy.exc import IntegrityError

from models.booking import TRIAL_USED_STATUSES, Booking, BookingStatus
from models.tutor import TutorProfile
from server.db import Session

TRIAL_INDEX = "uq_bookings_one_trial"
UNIQUE_VIOLATION = "23505"


def is_trial_violation(exc: BaseException) -> bool:
    """Whether ``exc`` is ``uq_bookings_one_trial`` refusing a second trial of one student with one tutor."""
    orig = exc.orig if isinstance(exc, IntegrityError) else exc
    return (getattr(orig, "sqlstate", None) == UNIQUE_VIOLATION
            and TRIAL_INDEX in (getattr(orig, "constraint_name", None) or str(orig)))


@dataclass(frozen=True, slots=True)
class TrialTerms:
    minutes: int
    price_cents: int
    currency: str


async def trial_terms(session: Session, tutor_id: uuid.UUID) -> TrialTerms | None:
    """The trial the active tutor offers, or None."""
    row = (await session.execute(
        select(TutorProfile.trial_minutes, TutorProfile.trial_price_cents, TutorProfile.currency)
        .where(TutorProfile.user_id == tutor_id, TutorProfile.is_active.is_(True)))).first()
    if row is None or row.trial_minutes is None or row.trial_price_cents is None:
        return None
    return TrialTerms(row.trial_minutes, row.trial_price_cents, row.currency)


async def lock_lapsed_trials(session: Session, student_id: uuid.UUID, tutor_id: uuid.UUID,
                             now: datetime) -> list[Booking]:
    """The student's lapsed (still ``held``) trial holds with the tutor, row-locked: they count
    in ``uq_bookings_one_trial`` until marked expired."""
    return list((await session.scalars(
        select(Booking).where(Booking.student_id == student_id, Booking.tutor_id == tutor_id,
                              Booking.is_trial.is_(True), Booking.lapsed_at(now)).with_for_update())).all())


async def trial_refusal(session: Session, student_id: uuid.UUID, tutor_id: uuid.UUID, now: datetime) -> str | None:
    """Why the student may not take a trial with the tutor: ``trial_used`` (a trial held,
    confirmed or completed) or ``not_first_lesson`` (a confirmed or completed lesson already);
    None when they may."""
    trial = exists().where(Booking.student_id == student_id, Booking.tutor_id == tutor_id,
                           Booking.is_trial.is_(True), Booking.status.in_(TRIAL_USED_STATUSES),
                           ~Booking.lapsed_at(now))
    lesson = exists().where(Booking.student_id == student_id, Booking.tutor_id == tutor_id,
                            Booking.status.in_((BookingStatus.CONFIRMED, BookingStatus.COMPLETED)))
    row = (await session.execute(select(trial.label("trial"), lesson.label("lesson")))).one()
    if row.trial:
        return "trial_used"
    return "not_first_lesson" if row.lesson else None


_TRIAL_HOLD_INSERT = text("""
WITH b AS (
    INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, expires_at, price_cents,
                          currency, is_trial, created_at, updated_at)
    VALUES (:id, :t, :s, 'held', :start, :end, :g, :expires, :price, :currency, true, :now, :now)
    RETURNING id
)
INSERT INTO booking_events (booking_id, actor_id, kind, from_status, to_status, data)
SELECT id, :s, 'held', NULL, 'held', '{"trial": true}'::jsonb FROM b
""").bindparams(bindparam("g", type_=TSTZRANGE))


async def insert_trial_hold(session: Session, booking: Booking) -> None:
    """Insert a held trial booking and its history row (IntegrityError: 23P01 when the range
    is taken, 23505 on ``uq_bookings_one_trial`` when the student's trial is taken)."""
    await session.execute(_TRIAL_HOLD_INSERT, {
        "id": booking.id, "t": booking.tutor_id, "s": booking.student_id, "start": booking.start_at,
        "end": booking.end_at, "g": booking.guarded, "expires": booking.expires_at, "price": booking.price_cents,
        "currency": booking.currency, "now": booking.created_at})
