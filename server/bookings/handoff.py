"""Handing a freed slot to the first student in line: the one place the waitlist's rule lives.

Every path that ends a hold or a booking (release, lapse by the sweep or by a takeover,
cancellation, a reschedule moving it away) calls :func:`hand_off` in its own transaction,
after the ending transition is flushed and before the slot changes are computed. So the
first eligible student in line holds the slot in the same commit that ended the previous
hold: watchers get one ``slots.changed`` that shows the slot held with the new
``held_until``, never open in between.

Why exactly one student gets it, whatever races: every caller holds the tutor's advisory
lock (``server.locks``), so two hand-offs of one tutor's slots run one after the other; each
re-checks under that lock that nothing live occupies the slot before it offers it, reads
the line in ``seq`` order with row locks (never ``SKIP LOCKED``: FIFO needs the whole line),
and ``ex_bookings_no_overlap`` stays the final guarantee.

Skips: a student in line who is suspended, or holds MAX_ACTIVE_HOLDS live holds (or the
tutor has HOLD_LIMIT_PER_TUTOR) when the slot comes free is passed over: their entry becomes
``lapsed`` with the reason, and the next in line is tried.

Why the offer never puts a student over MAX_ACTIVE_HOLDS: their holds are counted under their
own advisory lock everywhere else (``place_hold()``, the general path), in a statement that
starts after the lock is taken. Waiting for that lock here would come after the tutor's,
against the lock order (a deadlock with a student holding theirs and waiting for this tutor),
so the hand-off only *tries* it (``pg_try_advisory_xact_lock``, which never waits):

* Taken: it is held until this transaction commits, so any hold of theirs either committed
  before (this count, a later statement, sees it) or counts after this commit (and sees the
  offer). The count is exact.
* Busy, and that transaction waits for this tutor's lock (a hold, a line joined or left with
  this same tutor): it is blocked behind this one, and every path that adds a hold counts the
  student's holds only after taking the tutor's lock, so it will count the offer. The student
  is offered the slot as if the lock were taken.
* Busy otherwise: another transaction of theirs (a hold with another tutor, a checkout, an
  instant request) is under way and cannot be counted. Allowing for one hold in flight is not
  enough: once it commits, their next hold takes the lock and counts without seeing this
  uncommitted offer, and so on until they reach the limit; the offer would then be one over.
  So a busy student is not offered the slot this time, but keeps their place (the entry stays
  ``waiting``: they did nothing wrong, and may be leaving the line this very moment), and the
  next in line is tried. If nobody behind them can take it, the slot opens with them still
  first in line: they can hold it like anyone, and it comes to them when a hold on it ends.
  The window is that other request's few milliseconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.dialects.postgresql import Range

from models.booking import Booking, BookingStatus
from models.waitlist import SkipReason, WaitlistEntry, WaitlistStatus
from server import locks
from server.availability import policies
from server.bookings import events, repository
from server.bookings.schemas import BookingOut
from server.bookings.service import price_for
from server.db import Session
from server.observability import metrics
from server.outbox import Message, user_room
from server.settings import Settings
from server.tutors.errors import TutorNotFound
from server.waitlist import repository as lines
from server.waitlist.schemas import WaitlistOut
from server.waitlist.service import moved_up

# The transitions that free a booking's slot (and so may hand it to the line).
ENDING = frozenset({BookingStatus.RELEASED, BookingStatus.EXPIRED, BookingStatus.CANCELLED})


@dataclass(slots=True)
class Handed:
    """What a hand-off did: the messages to publish with the slot change, the guarded ranges of
    the holds it offered (their slots changed too), and those holds."""

    messages: list[Message] = field(default_factory=list)
    ranges: list[Range[datetime]] = field(default_factory=list)
    offered: list[Booking] = field(default_factory=list)


def _updated(entry: WaitlistEntry, position: int | None = None) -> Message:
    return ("waitlist.updated", user_room(entry.student_id),
            {"entry": WaitlistOut.of(entry, position).model_dump(mode="json")})


async def fulfilled(session: Session, booking: Booking, now: datetime) -> None:
    """An offered hold was paid for: its entry is ``fulfilled``."""
    await lines.fulfil(session, booking.id, now)


async def hand_off(session: Session, settings: Settings, tutor_id: uuid.UUID, ended: Sequence[Booking],
                   freed: Sequence[Range[datetime]], now: datetime) -> Handed:
    """``ended`` bookings no longer occupy ``freed`` (their transitions are flushed, the caller
    holds the tutor's lock): close the offers they were, then give each slot with a line that
    meets ``freed`` and is now free to the first eligible student in line."""
    handed = Handed()
    by_id = {b.id: b for b in ended}
    for entry in await lines.of_booking(session, list(by_id)):
        status = by_id[entry.booking_id].status if entry.booking_id is not None else None
        if status == BookingStatus.RELEASED:
            await lines.mark(session, [entry], WaitlistStatus.LEFT, now, "released")
        else:
            await lines.mark(session, [entry], WaitlistStatus.LAPSED, now, SkipReason.OFFER_LAPSED)
        handed.messages.append(_updated(entry))
    slots = await lines.slots_with_lines(session, tutor_id, freed)
    if not slots:
        return handed
    try:
        tp = await policies.fresh_policy(session, tutor_id)
    except TutorNotFound:
        return handed  # the tutor left: nobody can hold their slots
    buffer = timedelta(minutes=tp.policy.buffer_minutes)
    for start, end in slots:
        guarded = Range(start, end + buffer, bounds="[)")
        if await repository.live_conflict(session, tutor_id, guarded, now):
            continue
        line = await lines.line_locked(session, tutor_id, start, end)
        for entry in line:
            # The student's lock, never waited for (the tutor's is held: waiting would break the
            # lock order); taken, it keeps their other holds out until this commits, so the count
            # below is exact. Busy, their holds cannot be counted: they keep their place, and the
            # slot goes on down the line (the module docstring says why).
            if not (await locks.try_lock_student(session, entry.student_id)
                    or await locks.student_queued_for_tutor(session, entry.student_id, tutor_id)):
                continue
            reason = await lines.ineligibility(session, entry.student_id, tutor_id, start, now,
                                               max_holds=settings.max_active_holds,
                                               max_tutor_holds=settings.hold_limit_per_tutor)
            if reason is not None:
                await lines.mark(session, [entry], WaitlistStatus.LAPSED, now, reason)
                handed.messages.append(_updated(entry))
                continue
            await _offer(session, settings, tp.policy.hourly_rate_cents, tp.policy.currency, entry, guarded, now,
                         handed)
            break
        handed.messages.extend(await moved_up(session, tutor_id, start, end))
    return handed


async def _offer(session: Session, settings: Settings, rate_cents: int, currency: str, entry: WaitlistEntry,
                 guarded: Range[datetime], now: datetime, handed: Handed) -> None:
    """Hold the entry's slot for its student for WAITLIST_OFFER_SECONDS, as if they had placed
    the hold (history row, ``booking.new``), and tell them (``waitlist.offer``)."""
    lapsed = await repository.lock_lapsed_overlapping(session, entry.tutor_id, guarded, now)
    for old in lapsed:
        events.transition(session, old, BookingStatus.EXPIRED, "expired", None,
                          {"reason": "lapsed; slot handed to the waitlist"})
    if lapsed:
        await repository.flush(session)
        for stale in await lines.of_booking(session, [b.id for b in lapsed]):
            await lines.mark(session, [stale], WaitlistStatus.LAPSED, now, SkipReason.OFFER_LAPSED)
            handed.messages.append(_updated(stale))
    minutes = int((entry.end_at - entry.start_at).total_seconds() // 60)
    booking = Booking(id=uuid.uuid4(), tutor_id=entry.tutor_id, student_id=entry.student_id,
                      status=BookingStatus.HELD, start_at=entry.start_at, end_at=entry.end_at, guarded=guarded,
                      expires_at=now + timedelta(seconds=settings.waitlist_offer_seconds),
                      price_cents=price_for(rate_cents, minutes), currency=currency, created_at=now)
    await repository.insert_hold(session, booking)
    metrics.count_transition(session, None, BookingStatus.HELD)
    entry.status = WaitlistStatus.OFFERED
    entry.booking_id = booking.id
    entry.offered_at = now
    await repository.flush(session)
    names = await repository.names(session, [booking, *lapsed])
    handed.messages.extend(events.messages(booking, now, names, new=True))
    for old in lapsed:
        handed.messages.extend(events.messages(old, now, names))
    out = BookingOut.of(booking, now, names).model_dump(mode="json")
    handed.messages.append(("waitlist.offer", user_room(entry.student_id),
                            {"waitlist_id": str(entry.id), "booking": out,
                             "entry": WaitlistOut.of(entry).model_dump(mode="json")}))
    handed.ranges.extend([guarded, *(b.guarded for b in lapsed)])
    handed.offered.append(booking)
