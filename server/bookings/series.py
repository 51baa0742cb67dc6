"""Weekly lesson series: every occurrence held at once, all or nothing, and cancelled together.

``POST /series`` holds ``weeks`` lessons at the first lesson's wall-clock time in the tutor's
zone (:mod:`server.availability.weekly` does the clock arithmetic and flags the occurrences that
move on the student's clock). It takes the general hold path's locks (the student's, then the
tutor's), checks every occurrence against the tutor's availability and against live bookings
and busy calendar time in one statement, and either inserts them all with their history rows
or refuses with every conflicting start listed (409 ``series_conflict``). The exclusion
constraint stays the final guarantee: a violation there refuses the whole series too.

A series counts as one hold toward ``MAX_ACTIVE_HOLDS`` when it is placed (the student must
hold fewer than the limit); until it is paid its occurrences are held like any hold, expire
together, and releasing one releases them all. Checkout of any occurrence pays for every
occurrence still held (:mod:`server.bookings.checkout`); afterwards each occurrence is a
booking of its own that can be moved or cancelled alone, or with the rest of the series by
:func:`cancel_series` (each by the cancellation policy, as if cancelled one by one).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError

from models.booking import Booking, BookingStatus, LessonSeries
from models.user import Role
from server.availability import policies
from server.availability.slots import SlotNotOffered, check_bookable
from server.availability.weekly import moved_for_student, weekly
from server.bookings import events, lifecycle, repository, series_repository
from server.bookings.changes import slot_changes
from server.bookings.errors import (
    HoldLimitReached,
    HoldNotConvertible,
    InvalidTimezone,
    SeriesConflict,
    SeriesNotFound,
)
from server.bookings.holds import end_hold, hoarding_limits, price_for, refused
from server.bookings.schemas import OccurrenceOut, SeriesOut
from server.db import Session
from server.identity import Principal
from server.observability import metrics
from server.outbox import slots_changed
from server.settings import Settings
from server.waitlist import repository as waitlist_lines


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (422 ``invalid_timezone`` otherwise)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidTimezone(details={"timezone": name}) from exc


def series_out(series: LessonSeries, bookings: Sequence[Booking], now: datetime) -> SeriesOut:
    student_zone = zone_named(series.student_timezone)
    held = [b for b in bookings if b.status_at(now) == BookingStatus.HELD]
    return SeriesOut(
        id=series.id, tutor_id=series.tutor_id, student_id=series.student_id, minutes=series.minutes,
        weeks=series.weeks, tutor_timezone=series.tutor_timezone, student_timezone=series.student_timezone,
        price_cents=sum(b.price_cents for b in held),
        currency=bookings[0].currency if bookings else "",
        occurrences=[OccurrenceOut(booking_id=b.id, start=b.start_at, end=b.end_at, status=b.status_at(now),
                                   student_start=b.start_at.astimezone(student_zone),
                                   clock_change=moved_for_student(b.start_at, series.first_start, student_zone))
                     for b in bookings])


async def place_series(session: Session, settings: Settings, student_id: uuid.UUID, tutor_id: uuid.UUID,
                       start: datetime, minutes: int, weeks: int, timezone: str | None, now: datetime,
                       hold_id: uuid.UUID | None = None) -> SeriesOut:
    """Hold ``weeks`` weekly lessons from ``start`` at its wall-clock time in the tutor's zone,
    all or nothing. With ``hold_id``, the student's live hold of that first lesson is released
    into the series in the same transaction (409 ``hold_not_convertible`` when it is not one)."""
    student_zone = zone_named(timezone or await series_repository.user_timezone(session, student_id))
    tp = await policies.fresh_policy(session, tutor_id)
    check_bookable(tp.policy, tp.rules, tp.overrides, start, minutes, now)  # the first: 422 like a hold
    planned = weekly(start, minutes, weeks, tp.policy.zone, student_zone)
    reasons: dict[int, str] = {}
    for occurrence in planned[1:]:
        try:
            check_bookable(tp.policy, tp.rules, tp.overrides, occurrence.start, minutes, now)
        except SlotNotOffered as exc:
            reasons[occurrence.index] = str((exc.details or {}).get("reason", "not_offered"))
    series = LessonSeries(id=uuid.uuid4(), student_id=student_id, tutor_id=tutor_id, first_start=start,
                          minutes=minutes, weeks=weeks, tutor_timezone=tp.policy.timezone,
                          student_timezone=student_zone.key)
    buffer = timedelta(minutes=tp.policy.buffer_minutes)
    expires = now + timedelta(seconds=settings.hold_ttl_seconds)
    price = price_for(tp.policy.hourly_rate_cents, minutes)
    bookings = [Booking(id=uuid.uuid4(), tutor_id=tutor_id, student_id=student_id, status=BookingStatus.HELD,
                        start_at=o.start, end_at=o.end, guarded=Range(o.start, o.end + buffer, bounds="[)"),
                        expires_at=expires, price_cents=price, currency=tp.policy.currency, series_id=series.id,
                        created_at=now) for o in planned]

    await repository.lock_student_then_tutor(session, student_id, tutor_id)
    replaced = await _release_into_series(session, student_id, hold_id, bookings[0], now) if hold_id else None
    limits = hoarding_limits(settings)
    if replaced is not None:  # not a let-go: the re-hold cooldown would refuse the slot just released into it
        limits = repository.HoardingLimits(limits.max_tutor_holds, timedelta(0))
    checks = await series_repository.series_checks(session, student_id, tutor_id, [b.guarded for b in bookings], now,
                                            limits)
    if checks.holds >= settings.max_active_holds:
        raise HoldLimitReached(details={"scope": "student", "limit": settings.max_active_holds})
    if checks.refusal is not None:
        raise refused(settings, checks.refusal)
    reasons.update({index: "taken" for index in checks.taken if index not in reasons})
    if checks.lapsed:  # a lapsed hold in the way with a line behind it is the line's (the sweep hands it on)
        for index, booking in enumerate(bookings):
            if index not in reasons and await waitlist_lines.slots_with_lines(session, tutor_id, [booking.guarded]):
                reasons[index] = "waitlist"
    if reasons:
        metrics.hold_conflicted()
        raise SeriesConflict(details={"conflicts": [planned[i].start.isoformat() for i in sorted(reasons)],
                                      "reasons": {planned[i].start.isoformat(): reasons[i] for i in sorted(reasons)}})
    try:
        await series_repository.insert_series(session, series, bookings)
    except IntegrityError as exc:
        if repository.is_exclusion_violation(exc):
            metrics.hold_conflicted()
            raise SeriesConflict(details={"conflicts": []}) from exc
        raise
    for _ in bookings:
        metrics.count_transition(session, None, BookingStatus.HELD)
    names = {student_id: checks.student_name, tutor_id: checks.tutor_name}
    messages = [m for b in bookings for m in events.messages(b, now, names, new=True)]
    ranges = [b.guarded for b in bookings]
    if replaced is not None:
        messages.extend(events.messages(replaced, now, names))
    if checks.lapsed:
        lapsed = await repository.by_ids(session, checks.lapsed)
        names = await repository.names(session, lapsed, names)
        for old in lapsed:
            events.record(session, old, "expired", None, BookingStatus.HELD, {"reason": "lapsed; slot taken over"})
            messages.extend(events.messages(old, now, names))
            ranges.append(old.guarded)
    changes = await slot_changes(session, tp.policy, tp.rules, tp.overrides, tutor_id, ranges, now)
    await slots_changed(session, tutor_id, changes, messages)
    return series_out(series, bookings, now)


async def _release_into_series(session: Session, student_id: uuid.UUID, hold_id: uuid.UUID, first: Booking,
                               now: datetime) -> Booking:
    """Release the student's live hold of the series' first lesson (no slot change of its own:
    the series' one ``slots.changed`` shows the slot still held). The caller holds the locks."""
    booking = await repository.get_for_update(session, hold_id)
    if (booking is None or booking.student_id != student_id or booking.tutor_id != first.tutor_id
            or booking.status != BookingStatus.HELD or not booking.is_live(now) or booking.series_id is not None
            or booking.start_at != first.start_at or booking.end_at != first.end_at or booking.is_trial
            or booking.payment_intent_id):
        raise HoldNotConvertible(details={"hold_id": str(hold_id)})
    events.transition(session, booking, BookingStatus.RELEASED, "released", student_id,
                      {"reason": "became a weekly series", "series_id": str(first.series_id)})
    await repository.flush(session)
    return booking


async def _visible(session: Session, principal: Principal, series_id: uuid.UUID) -> LessonSeries:
    series = await series_repository.get_series(session, series_id)
    if series is None or (principal.role != Role.ADMIN
                          and principal.id not in (series.student_id, series.tutor_id)):
        raise SeriesNotFound()
    return series


async def get_series(session: Session, principal: Principal, series_id: uuid.UUID, now: datetime) -> SeriesOut:
    """A series its student, its tutor or an admin may see, occurrences in time order."""
    series = await _visible(session, principal, series_id)
    return series_out(series, await series_repository.occurrences(session, series.id), now)


async def cancel_series(session: Session, settings: Settings, principal: Principal, series_id: uuid.UUID,
                        from_: datetime | None, reason: str | None, now: datetime) -> SeriesOut:
    """Cancel every occurrence that has not started (and starts at or after ``from_``): confirmed
    ones by the cancellation policy, each as if cancelled alone (refund or credit back when
    due), held ones released. Earlier, started, or already ended occurrences are left alone."""
    series = await _visible(session, principal, series_id)
    await repository.lock_tutor(session, series.tutor_id)
    bookings = await series_repository.occurrences(session, series.id, lock=True)
    cutoff = max(now, from_) if from_ is not None else now
    for booking in bookings:
        if booking.start_at < cutoff:
            continue
        if booking.status == BookingStatus.CONFIRMED:
            await lifecycle.cancel_locked(session, settings, principal, booking, reason, now)
        elif booking.status == BookingStatus.HELD and principal.id == booking.student_id:
            to_status = BookingStatus.RELEASED if booking.is_live(now) else BookingStatus.EXPIRED
            await end_hold(session, settings, booking, to_status, principal.id, now)
    return series_out(series, bookings, now)
