"""Calendar busy time as the slot code sees it (kept free of provider code, imported by
server/availability/service.py on every slots read).

A tutor's busy time from their calendar blocks like a confirmed booking: the same
``(start, end, status, expires_at)`` shape with ``status = 'confirmed'``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import Range

from server.db import Session

# ``(start, end, 'confirmed', NULL)`` rows of the tutor's busy time meeting ``[:lo, :hi)``, to
# ``UNION ALL`` with the bookings part of ``load_busy`` (``:t`` is the tutor id).
BUSY_SQL = ("SELECT lower(during), upper(during), 'confirmed', NULL::timestamptz FROM calendar_busy "
            "WHERE user_id = :t AND during && tstzrange(:lo, :hi, '[)')")


# For the hold path's single checks statement: OR this into its conflict condition
# (``:t`` is the tutor id, ``:g`` the guarded range being held).
CALENDAR_CONFLICT_SQL = "EXISTS (SELECT 1 FROM calendar_busy c WHERE c.user_id = :t AND c.during && :g)"


async def calendar_conflict(session: Session, tutor_id: uuid.UUID, guarded: Range[datetime]) -> bool:
    """True when the tutor's calendar is busy anywhere in ``guarded``."""
    from sqlalchemy import bindparam
    from sqlalchemy.dialects.postgresql import TSTZRANGE

    statement = text(f"SELECT {CALENDAR_CONFLICT_SQL}").bindparams(bindparam("g", type_=TSTZRANGE))
    return bool(await session.scalar(statement, {"t": tutor_id, "g": guarded}))
