"""All SQL of the dispatch sweep: claiming changes (a marker row per change) and purging markers.

Each claim statement picks up to ``:batch`` changes with no marker yet and inserts their
markers in the same statement; only the rows whose marker this statement inserted come back,
so two sweeps never dispatch one change twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, text

from models.booking import BookingStatus, PaymentStatus
from models.integrations import SWEPT_EVENT_KINDS_SQL, DispatchedEventKind, DispatchKind
from server.db import Session

_BOOKING_EVENTS = text(f"""
WITH candidates AS (
    SELECT e.id, e.booking_id, e.kind, e.data FROM booking_events e
    WHERE e.kind IN ({SWEPT_EVENT_KINDS_SQL}) AND e.created_at > :since
      AND NOT EXISTS (SELECT 1 FROM integration_dispatches d WHERE d.key = '{DispatchKind.BOOKING_EVENT}:' || e.id)
    ORDER BY e.id LIMIT :batch
), claimed AS (
    INSERT INTO integration_dispatches (key) SELECT '{DispatchKind.BOOKING_EVENT}:' || id FROM candidates
    ON CONFLICT DO NOTHING RETURNING key
)
SELECT c.id, c.booking_id, c.kind, c.data, b.student_id, b.tutor_id
FROM candidates c JOIN bookings b ON b.id = c.booking_id
WHERE '{DispatchKind.BOOKING_EVENT}:' || c.id IN (SELECT key FROM claimed)
ORDER BY c.id
""")

_REMINDERS = text(f"""
WITH candidates AS (
    SELECT b.id, b.student_id, b.tutor_id, b.start_at,
           '{DispatchKind.REMINDER}:' || b.id || ':' || floor(extract(epoch FROM b.start_at))::bigint AS key
    FROM bookings b
    WHERE b.status = '{BookingStatus.CONFIRMED}' AND b.start_at > :now AND b.start_at <= :horizon
      AND NOT EXISTS (SELECT 1 FROM booking_events e WHERE e.booking_id = b.id
                      AND e.kind IN ('{DispatchedEventKind.CONFIRMED}', '{DispatchedEventKind.RESCHEDULED}')
                      AND e.created_at > b.start_at - CAST(:lead AS interval))
    ORDER BY b.start_at LIMIT :batch
), claimed AS (
    INSERT INTO integration_dispatches (key) SELECT key FROM candidates ON CONFLICT DO NOTHING RETURNING key
)
SELECT id, student_id, tutor_id, start_at FROM candidates WHERE key IN (SELECT key FROM claimed) ORDER BY start_at
""")

_WELCOMES = text(f"""
WITH candidates AS (
    SELECT u.id FROM users u
    WHERE u.created_at > :since AND u.role <> 'admin'
      AND NOT EXISTS (SELECT 1 FROM integration_dispatches d WHERE d.key = '{DispatchKind.WELCOME}:' || u.id)
    ORDER BY u.created_at LIMIT :batch
), claimed AS (
    INSERT INTO integration_dispatches (key) SELECT '{DispatchKind.WELCOME}:' || id FROM candidates
    ON CONFLICT DO NOTHING RETURNING key
)
SELECT id FROM candidates WHERE '{DispatchKind.WELCOME}:' || id IN (SELECT key FROM claimed)
""")

_VERIFICATIONS = text("""
WITH candidates AS (
    SELECT v.id, v.user_id FROM email_verifications v
    WHERE v.created_at > :since AND v.used_at IS NULL AND v.expires_at > :now
      AND NOT EXISTS (SELECT 1 FROM integration_dispatches d WHERE d.key = 'verify:' || v.id)
    ORDER BY v.created_at LIMIT :batch
), claimed AS (
    INSERT INTO integration_dispatches (key) SELECT 'verify:' || id FROM candidates
    ON CONFLICT DO NOTHING RETURNING key
)
SELECT id, user_id FROM candidates WHERE 'verify:' || id IN (SELECT key FROM claimed)
""")

_REFUNDS = text(f"""
WITH candidates AS (
    SELECT b.id, b.student_id FROM bookings b
    WHERE b.payment_status = '{PaymentStatus.REFUNDED}' AND b.updated_at > :since AND coalesce(b.refund_cents, 0) > 0
      AND NOT EXISTS (SELECT 1 FROM integration_dispatches d WHERE d.key = '{DispatchKind.REFUND}:' || b.id)
    ORDER BY b.updated_at LIMIT :batch
), claimed AS (
    INSERT INTO integration_dispatches (key) SELECT '{DispatchKind.REFUND}:' || id FROM candidates
    ON CONFLICT DO NOTHING RETURNING key
)
SELECT id, student_id FROM candidates WHERE '{DispatchKind.REFUND}:' || id IN (SELECT key FROM claimed)
""")


async def claim_booking_events(session: Session, since: datetime, batch: int) -> Sequence[Row[Any]]:
    """Booking events worth telling someone about (confirmed, rescheduled, cancelled,
    hold_expiring, completed) since ``since``, with the booking's parties."""
    return (await session.execute(_BOOKING_EVENTS, {"since": since, "batch": batch})).all()


async def claim_reminders(session: Session, now: datetime, lead: timedelta, batch: int) -> Sequence[Row[Any]]:
    """Confirmed lessons starting within ``lead`` that were not booked or moved inside it."""
    return (await session.execute(_REMINDERS, {"now": now, "horizon": now + lead, "lead": lead,
                                               "batch": batch})).all()


async def claim_new_accounts(session: Session, since: datetime, batch: int) -> Sequence[Row[Any]]:
    """Student and tutor accounts created since ``since``."""
    return (await session.execute(_WELCOMES, {"since": since, "batch": batch})).all()


async def claim_email_verifications(session: Session, since: datetime, now: datetime,
                                    batch: int) -> Sequence[Row[Any]]:
    """E-mail verification links made since ``since`` and still usable at ``now``."""
    return (await session.execute(_VERIFICATIONS, {"since": since, "now": now, "batch": batch})).all()


async def claim_refunds(session: Session, since: datetime, batch: int) -> Sequence[Row[Any]]:
    """Bookings refunded (a positive amount) since ``since``."""
    return (await session.execute(_REFUNDS, {"since": since, "batch": batch})).all()


async def purge_markers(session: Session, cutoff: datetime) -> int:
    """Delete markers made before ``cutoff``; returns how many."""
    result = await session.execute(text("DELETE FROM integration_dispatches WHERE created_at < :cutoff"),
                                   {"cutoff": cutoff})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
