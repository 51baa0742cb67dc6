"""Calendar busy time as the slot code sees it (kept free of provider code, imported by
server/availability/service.py on every slots read).

A tutor's busy time from their calendar blocks like a confirmed booking: the same
``(start, end, status, expires_at)`` shape with ``status = 'confirmed'``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, func, literal, null, select, text
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession

from models.integrations import CalendarBusy


def busy_select(tutor_id: uuid.UUID, lo: datetime, hi: datetime) -> Select[tuple[datetime, datetime, str, None]]:
    """Columns ``(start, end, 'confirmed', NULL)`` of the tutor's busy time meeting ``[lo, hi)``,
    ready to ``union_all`` with the bookings query of ``load_busy``."""
    return (select(func.lower(CalendarBusy.during), func.upper(CalendarBusy.during),
                   literal("confirmed"), null())
            .where(CalendarBusy.user_id == tutor_id,
                   CalendarBusy.during.op("&&")(func.tstzrange(lo, hi, "[)"))))


# For the hold path's single checks statement: OR this into its conflict condition
# (``:t`` is the tutor id, ``:g`` the guarded range being held).
CALENDAR_CONFLICT_SQL = "EXISTS (SELECT 1 FROM calendar_busy c WHERE c.user_id = :t AND c.during && :g)"


async def calendar_conflict(session: AsyncSession, tutor_id: uuid.UUID, guarded: Range[datetime]) -> bool:
    """True when the tutor's calendar is busy anywhere in ``guarded``."""
    from sqlalchemy import bindparam
    from sqlalchemy.dialects.postgresql import TSTZRANGE

    statement = text(f"SELECT {CALENDAR_CONFLICT_SQL}").bindparams(bindparam("g", type_=TSTZRANGE))
    return bool(await session.scalar(statement, {"t": tutor_id, "g": guarded}))
