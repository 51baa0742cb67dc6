"""The waitlist's rules: joining the line behind a taken slot, reading one's entries, leaving.

Handing a freed slot to the first in line is not here: it is part of every path that ends a
hold or a booking, in their transaction (``server/bookings/handoff.py``, the one place it
lives); this module only writes entries in ``waiting`` and reads them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError

from models.waitlist import WaitlistEntry, WaitlistStatus
from server import locks
from server.availability import policies
from server.availability.slots import check_bookable
from server.db import Session
from server.outbox import Message, emit, user_room
from server.waitlist import repository
from server.waitlist.errors import AlreadyInLine, EntryNotFound, NotWaiting, SlotOpen, YoursAlready
from server.waitlist.schemas import LineOut, LinesOut, LinesQuery, WaitlistCreate, WaitlistOut, WaitlistPage

LIST_LIMIT = 100


async def join(session: Session, student_id: uuid.UUID, body: WaitlistCreate, now: datetime) -> WaitlistOut:
    """Join the line for ``[start, start + minutes)``: only behind a slot that a live hold or
    booking of someone else takes (or that already has a line), never an open one nor one's own. Under the student's then
    the tutor's lock, so a hand-off of that slot is either wholly before (and the slot reads
    held by the next student, or open) or wholly after (and sees this entry)."""
    start = body.start.astimezone(UTC)
    tp = await policies.fresh_policy(session, body.tutor_id)
    check_bookable(tp.policy, tp.rules, tp.overrides, start, body.minutes, now)
    end = start + timedelta(minutes=body.minutes)
    await locks.lock_student_then_tutor(session, student_id, body.tutor_id)
    guarded = Range(start, end + timedelta(minutes=tp.policy.buffer_minutes), bounds="[)")
    bookers = await repository.live_bookers_over(session, body.tutor_id, guarded, now)
    if student_id in bookers:
        raise YoursAlready()
    if not (bookers or await repository.has_line(session, body.tutor_id, start, end)):
        raise SlotOpen()
    entry = WaitlistEntry(id=uuid.uuid4(), tutor_id=body.tutor_id, student_id=student_id, start_at=start, end_at=end,
                          status=WaitlistStatus.WAITING, created_at=now, updated_at=now)
    try:
        async with session.begin_nested():
            await repository.insert(session, entry)
    except IntegrityError as exc:
        if repository.is_duplicate_entry(exc):
            raise AlreadyInLine() from exc
        raise
    position = (await repository.positions(session, [entry]))[entry.id]
    return WaitlistOut.of(entry, position)


async def entries(session: Session, student_id: uuid.UUID) -> WaitlistPage:
    """The student's entries, newest first, waiting ones with their place in line."""
    found = await repository.of_student(session, student_id, LIST_LIMIT)
    places = await repository.positions(session, found)
    return WaitlistPage(items=[WaitlistOut.of(e, places.get(e.id)) for e in found])


async def leave(session: Session, student_id: uuid.UUID, entry_id: uuid.UUID, now: datetime) -> WaitlistOut:
    """Leave the line (a waiting entry becomes ``left``); those behind move up and hear it."""
    entry = await repository.get(session, entry_id)
    if entry is None or entry.student_id != student_id:
        raise EntryNotFound()
    await locks.lock_student_then_tutor(session, student_id, entry.tutor_id)
    entry = await repository.get(session, entry_id, lock=True)
    assert entry is not None
    if entry.status == WaitlistStatus.LEFT:
        return WaitlistOut.of(entry)
    if entry.status != WaitlistStatus.WAITING:
        raise NotWaiting(details={"status": entry.status})
    await repository.mark(session, [entry], WaitlistStatus.LEFT, now)
    await emit(session, await moved_up(session, entry.tutor_id, entry.start_at, entry.end_at))
    return WaitlistOut.of(entry)


async def moved_up(session: Session, tutor_id: uuid.UUID, start: datetime, end: datetime) -> list[Message]:
    """``waitlist.updated`` with the entry and its new place to every student still waiting
    for the slot (after someone ahead of them left, was skipped or was offered it)."""
    line = await repository.line_locked(session, tutor_id, start, end)
    return [("waitlist.updated", user_room(e.student_id),
             {"entry": WaitlistOut.of(e, place).model_dump(mode="json")}) for place, e in enumerate(line, 1)]


async def lines(session: Session, tutor_id: uuid.UUID, query: LinesQuery, now: datetime) -> LinesOut:
    """The tutor's slots with students in line (for "Join the line (you'd be 2nd)")."""
    lo = (query.from_ or now).astimezone(UTC)
    found = await repository.lines(session, tutor_id, lo, lo + timedelta(days=query.days))
    return LinesOut(tutor_id=tutor_id, lines=[LineOut(start=x.start, end=x.end, waiting=x.waiting) for x in found])
