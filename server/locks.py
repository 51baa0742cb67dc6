"""The advisory locks that serialize changes to one tutor's bookings and one student's limited
actions (holds, joining a line).

Lock order (deadlock-free): a student's lock, then a tutor's lock, never the reverse.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text

from server.db import Session


def tutor_lock_key(uid: uuid.UUID) -> int:
    """A signed 64-bit advisory-lock key from a uuid (its first 8 bytes); migration 0004's
    ``booking_lock_key()`` computes the same in SQL."""
    return int.from_bytes(uid.bytes[:8], "big", signed=True)


def student_lock_key(uid: uuid.UUID) -> int:
    """A different key space from tutors: bit 62 flipped (``place_hold()``'s
    ``booking_lock_key(p_student) # (1::bigint << 62)`` in SQL)."""
    return tutor_lock_key(uid) ^ (1 << 62)


async def lock_tutor(session: Session, tutor_id: uuid.UUID) -> None:
    """Serialize changes to one tutor's bookings until the transaction ends."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": tutor_lock_key(tutor_id)})


async def lock_student(session: Session, student_id: uuid.UUID) -> None:
    """Serialize one student's limited actions (taken before any tutor lock: same order as holds)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": student_lock_key(student_id)})


async def try_lock_student(session: Session, student_id: uuid.UUID) -> bool:
    """Take the student's lock only if nobody holds it (never waits, so it may be taken while
    holding a tutor's lock without risking a deadlock); held until the transaction ends.
    Re-entrant: True when this transaction already holds it."""
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                     {"k": student_lock_key(student_id)}))


_QUEUED_BEHIND = text("""
SELECT EXISTS (
    SELECT 1 FROM pg_locks held JOIN pg_locks queued ON queued.pid = held.pid
    WHERE held.locktype = 'advisory' AND held.granted AND held.objsubid = 1
      AND held.classid::bigint = :student_hi AND held.objid::bigint = :student_lo
      AND queued.locktype = 'advisory' AND NOT queued.granted AND queued.objsubid = 1
      AND queued.classid::bigint = :tutor_hi AND queued.objid::bigint = :tutor_lo
      AND held.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
""")


async def student_queued_for_tutor(session: Session, student_id: uuid.UUID, tutor_id: uuid.UUID) -> bool:
    """Whether the transaction holding the student's lock is waiting for the tutor's. Asked by
    one who holds the tutor's lock: that transaction is then blocked behind it and has added no
    hold yet (a transaction takes one tutor's lock at most, and counts and adds a student's
    holds only once it has it), so it will count whatever the asker commits. PostgreSQL lists a
    bigint advisory key as two 32-bit halves."""
    student, tutor = student_lock_key(student_id), tutor_lock_key(tutor_id)
    return bool(await session.scalar(_QUEUED_BEHIND, {
        "student_hi": (student >> 32) & 0xFFFFFFFF, "student_lo": student & 0xFFFFFFFF,
        "tutor_hi": (tutor >> 32) & 0xFFFFFFFF, "tutor_lo": tutor & 0xFFFFFFFF}))


async def lock_student_then_tutor(session: Session, student_id: uuid.UUID, tutor_id: uuid.UUID) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:sk), pg_advisory_xact_lock(:tk)"),
                          {"sk": student_lock_key(student_id), "tk": tutor_lock_key(tutor_id)})
