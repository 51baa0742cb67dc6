"""Every SQL statement about the waitlist: joining, the line of a slot in order, positions,
and who in line may be offered a slot.

The line of a slot is read in ``seq`` order with ``FOR UPDATE`` (never ``SKIP LOCKED``: FIFO
needs the whole line), by callers holding the tutor's advisory lock, so two hand-offs of one
slot cannot interleave.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import TSTZRANGE, Range
from sqlalchemy.exc import IntegrityError

from models.booking import LIVE_SQL
from models.waitlist import WaitlistEntry, WaitlistStatus
from server.db import Session

ONE_ACTIVE_INDEX = "uq_waitlist_one_active"


def is_duplicate_entry(exc: IntegrityError) -> bool:
    """Whether ``uq_waitlist_one_active`` refused a second active entry of one student for one slot."""
    return ONE_ACTIVE_INDEX in str(exc.orig)


async def insert(session: Session, entry: WaitlistEntry) -> None:
    """Insert an entry (IntegrityError on ``uq_waitlist_one_active``)."""
    session.add(entry)
    await session.flush()
    await session.refresh(entry, ["seq"])


async def get(session: Session, entry_id: uuid.UUID, *, lock: bool = False) -> WaitlistEntry | None:
    if lock:
        return await session.get(WaitlistEntry, entry_id, with_for_update=True, populate_existing=True)
    return await session.get(WaitlistEntry, entry_id)


async def of_student(session: Session, student_id: uuid.UUID, limit: int) -> list[WaitlistEntry]:
    """A student's entries, newest first."""
    return list((await session.scalars(
        select(WaitlistEntry).where(WaitlistEntry.student_id == student_id)
        .order_by(WaitlistEntry.seq.desc()).limit(limit))).all())


async def of_booking(session: Session, booking_ids: Sequence[uuid.UUID]) -> list[WaitlistEntry]:
    """The offered entries whose hold is one of ``booking_ids``, row-locked."""
    if not booking_ids:
        return []
    return list((await session.scalars(
        select(WaitlistEntry).where(WaitlistEntry.booking_id.in_(booking_ids),
                                    WaitlistEntry.status == WaitlistStatus.OFFERED)
        .with_for_update().execution_options(populate_existing=True))).all())


async def positions(session: Session, entries: Sequence[WaitlistEntry]) -> dict[uuid.UUID, int]:
    """Each waiting entry's place in its line (1: next to be offered the slot)."""
    waiting = [e for e in entries if e.status == WaitlistStatus.WAITING]
    if not waiting:
        return {}
    other = WaitlistEntry.__table__.alias("o")
    found: dict[uuid.UUID, int] = {}
    for e in waiting:
        ahead = await session.scalar(
            select(func.count()).select_from(other).where(
                other.c.tutor_id == e.tutor_id, other.c.start_at == e.start_at, other.c.end_at == e.end_at,
                other.c.status == WaitlistStatus.WAITING, other.c.seq < e.seq))
        found[e.id] = int(ahead or 0) + 1
    return found


async def line_length(session: Session, tutor_id: uuid.UUID, start: datetime, end: datetime) -> int:
    """How many students wait for exactly ``[start, end)``."""
    return int(await session.scalar(
        select(func.count()).select_from(WaitlistEntry).where(
            WaitlistEntry.tutor_id == tutor_id, WaitlistEntry.start_at == start, WaitlistEntry.end_at == end,
            WaitlistEntry.status == WaitlistStatus.WAITING)) or 0)


@dataclass(frozen=True, slots=True)
class Line:
    start: datetime
    end: datetime
    waiting: int


async def lines(session: Session, tutor_id: uuid.UUID, lo: datetime, hi: datetime) -> list[Line]:
    """The tutor's lines with someone waiting for a slot starting in ``[lo, hi)``, in time order."""
    rows = await session.execute(
        select(WaitlistEntry.start_at, WaitlistEntry.end_at, func.count())
        .where(WaitlistEntry.tutor_id == tutor_id, WaitlistEntry.status == WaitlistStatus.WAITING,
               WaitlistEntry.start_at >= lo, WaitlistEntry.start_at < hi)
        .group_by(WaitlistEntry.start_at, WaitlistEntry.end_at).order_by(WaitlistEntry.start_at))
    return [Line(start, end, int(n)) for start, end, n in rows.tuples()]


async def slots_with_lines(session: Session, tutor_id: uuid.UUID,
                           ranges: Sequence[Range[datetime]]) -> list[tuple[datetime, datetime]]:
    """The distinct slots of the tutor with a waiting line whose lesson overlaps one of
    ``ranges``, the line that formed first first."""
    if not ranges:
        return []
    meets = or_(*(and_(WaitlistEntry.start_at < r.upper, WaitlistEntry.end_at > r.lower)
                  for r in ranges if r.lower is not None and r.upper is not None))
    rows = await session.execute(
        select(WaitlistEntry.start_at, WaitlistEntry.end_at)
        .where(WaitlistEntry.tutor_id == tutor_id, WaitlistEntry.status == WaitlistStatus.WAITING, meets)
        .group_by(WaitlistEntry.start_at, WaitlistEntry.end_at).order_by(func.min(WaitlistEntry.seq)))
    return [(start, end) for start, end in rows.tuples()]


async def line_locked(session: Session, tutor_id: uuid.UUID, start: datetime, end: datetime) -> list[WaitlistEntry]:
    """The waiting entries of one slot in line order, row-locked in that order."""
    return list((await session.scalars(
        select(WaitlistEntry).where(WaitlistEntry.tutor_id == tutor_id, WaitlistEntry.start_at == start,
                                    WaitlistEntry.end_at == end, WaitlistEntry.status == WaitlistStatus.WAITING)
        .order_by(WaitlistEntry.seq).with_for_update().execution_options(populate_existing=True))).all())


async def has_line(session: Session, tutor_id: uuid.UUID, start: datetime, end: datetime) -> bool:
    return await line_length(session, tutor_id, start, end) > 0


_INELIGIBLE = text(f"""
SELECT CASE
    WHEN (SELECT suspended_at FROM users WHERE id = :s) IS NOT NULL THEN 'suspended'
    WHEN (SELECT count(*) FROM bookings b WHERE b.student_id = :s AND b.status = 'held' AND {LIVE_SQL})
         >= :max_holds THEN 'hold_limit'
    WHEN hold_hoarding_refusal(:s, :t, :start, :now, :max_tutor_holds, interval '0') = 'tutor_hold_limit'
         THEN 'hold_limit'
END AS reason
""")


async def ineligibility(session: Session, student_id: uuid.UUID, tutor_id: uuid.UUID, start: datetime,
                        now: datetime, *, max_holds: int, max_tutor_holds: int) -> str | None:
    """Why a student in line may not be offered the slot now (``models.waitlist.SkipReason``):
    their account is suspended, or they hold MAX_ACTIVE_HOLDS slots, or the tutor has
    HOLD_LIMIT_PER_TUTOR live holds; None when they may. Exact only under the student's lock,
    taken in an earlier statement (this one then sees whatever committed before it)."""
    return await session.scalar(_INELIGIBLE, {"s": student_id, "t": tutor_id, "start": start, "now": now,
                                              "max_holds": max_holds, "max_tutor_holds": max_tutor_holds})


_LIVE_OVERLAP = text(f"""
SELECT DISTINCT b.student_id FROM bookings b WHERE b.tutor_id = :t AND b.guarded && :g AND {LIVE_SQL}
""").bindparams(bindparam("g", type_=TSTZRANGE))


async def live_bookers_over(session: Session, tutor_id: uuid.UUID, guarded: Range[datetime],
                            now: datetime) -> set[uuid.UUID]:
    """The students whose live bookings of the tutor (holds or lessons) occupy ``guarded``
    (empty when nothing live does)."""
    return set((await session.scalars(_LIVE_OVERLAP, {"t": tutor_id, "g": guarded, "now": now})).all())


async def mark(session: Session, entries: Sequence[WaitlistEntry], status: WaitlistStatus, now: datetime,
               reason: str | None = None) -> None:
    """Move entries to a final status (``fulfilled``, ``lapsed`` or ``left``)."""
    for entry in entries:
        entry.status = status
        entry.reason = reason
        entry.resolved_at = now
    await session.flush()


async def fulfil(session: Session, booking_id: uuid.UUID, now: datetime) -> None:
    """The offered hold ``booking_id`` was paid: its entry is ``fulfilled``."""
    await session.execute(update(WaitlistEntry).where(WaitlistEntry.booking_id == booking_id,
                                                      WaitlistEntry.status == WaitlistStatus.OFFERED)
                          .values(status=WaitlistStatus.FULFILLED, resolved_at=now, updated_at=now))


