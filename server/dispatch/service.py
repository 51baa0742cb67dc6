"""From changes in the database to integration tasks, without touching the code that makes them.

A sweep (``integrations.dispatch_due``, every ``INTEGRATIONS_SWEEP_SECONDS``) reads what
happened since ``INTEGRATIONS_LOOKBACK_HOURS`` ago and kicks the tasks each change needs:

==================================  =====================================================
change                              tasks
==================================  =====================================================
booking_events ``confirmed``        e-mail ``booking_confirmed`` to both parties,
                                    ``calendar.sync_booking``, ``video.create_meeting``
booking_events ``rescheduled``      ``booking_rescheduled`` to both, calendar, video
booking_events ``cancelled``        ``booking_cancelled`` to both, calendar, video
booking_events ``hold_expiring``    ``hold_expiring`` to the student
a confirmed lesson within           ``session_reminder`` to both (not when it was booked or
``EMAIL_REMINDER_MINUTES``          moved inside that lead: the confirmation just went out)
a new account                       ``welcome``
``payment_status = refunded``       ``refund_issued`` to the student
==================================  =====================================================

Each change is claimed by inserting a marker (``integration_dispatches``, primary key) in the
transaction that kicks its tasks: a change is dispatched once, and a failed kick rolls the
marker back so the next sweep tries again (at least once; every task is idempotent). Only
integrations that are configured get tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from server.db import Session, Sessionmaker, unit_of_work
from server.settings import Settings

log = logging.getLogger("edustream.integrations.dispatch")

Kick = Callable[..., Awaitable[Any]]
BATCH = 200

_BOOKING_EVENTS = text("""
WITH candidates AS (
    SELECT e.id, e.booking_id, e.kind, e.data FROM booking_events e
    WHERE e.kind IN ('confirmed', 'rescheduled', 'cancelled', 'hold_expiring') AND e.created_at > :since
      AND NOT EXISTS (SELECT 1 FROM integration_dispatches d WHERE d.key = 'booking_event:' || e.id)
    ORDER BY e.id LIMIT :batch
), claimed AS (
    INSERT INTO integration_dispatches (key) SELECT 'booking_event:' || id FROM candidates
    ON CONFLICT DO NOTHING RETURNING key
)
SELECT c.id, c.booking_id, c.kind, c.data, b.student_id, b.tutor_id
FROM candidates c JOIN bookings b ON b.id = c.booking_id
WHERE 'booking_event:' || c.id IN (SELECT key FROM claimed)
ORDER BY c.id
""")

_REMINDERS = text("""
WITH candidates AS (
    SELECT b.id, b.student_id, b.tutor_id, b.start_at,
           'reminder:' || b.id || ':' || floor(extract(epoch FROM b.start_at))::bigint AS key
    FROM bookings b
    WHERE b.status = 'confirmed' AND b.start_at > :now AND b.start_at <= :horizon
      AND NOT EXISTS (SELECT 1 FROM booking_events e WHERE e.booking_id = b.id
                      AND e.kind IN ('confirmed', 'rescheduled')
                      AND e.created_at > b.start_at - CAST(:lead AS interval))
    ORDER BY b.start_at LIMIT :batch
), claimed AS (
    INSERT INTO integration_dispatches (key) SELECT key FROM candidates ON CONFLICT DO NOTHING RETURNING key
)
SELECT id, student_id, tutor_id, start_at FROM candidates WHERE key IN (SELECT key FROM claimed) ORDER BY start_at
""")

_WELCOMES = text("""
WITH candidates AS (
    SELECT u.id FROM users u
    WHERE u.created_at > :since AND u.role <> 'admin'
      AND NOT EXISTS (SELECT 1 FROM integration_dispatches d WHERE d.key = 'welcome:' || u.id)
    ORDER BY u.created_at LIMIT :batch
), claimed AS (
    INSERT INTO integration_dispatches (key) SELECT 'welcome:' || id FROM candidates
    ON CONFLICT DO NOTHING RETURNING key
)
SELECT id FROM candidates WHERE 'welcome:' || id IN (SELECT key FROM claimed)
""")

_REFUNDS = text("""
WITH candidates AS (
    SELECT b.id, b.student_id FROM bookings b
    WHERE b.payment_status = 'refunded' AND b.updated_at > :since AND coalesce(b.refund_cents, 0) > 0
      AND NOT EXISTS (SELECT 1 FROM integration_dispatches d WHERE d.key = 'refund:' || b.id)
    ORDER BY b.updated_at LIMIT :batch
), claimed AS (
    INSERT INTO integration_dispatches (key) SELECT 'refund:' || id FROM candidates
    ON CONFLICT DO NOTHING RETURNING key
)
SELECT id, student_id FROM candidates WHERE 'refund:' || id IN (SELECT key FROM claimed)
""")

_EMAIL_FOR_KIND = {"confirmed": "booking_confirmed", "rescheduled": "booking_rescheduled",
                   "cancelled": "booking_cancelled"}


async def _booking_events(session: Session, settings: Settings, since: datetime, kick: Kick) -> int:
    rows = (await session.execute(_BOOKING_EVENTS, {"since": since, "batch": BATCH})).all()
    for row in rows:
        booking_id = str(row.booking_id)
        if row.kind == "hold_expiring":
            if settings.brevo_configured:
                await kick("email.send", str(row.student_id), "hold_expiring", {"booking_id": booking_id})
            continue
        if settings.brevo_configured:
            context: dict[str, Any] = {"booking_id": booking_id}
            if row.kind == "rescheduled" and (row.data or {}).get("from"):
                context["previous_start"] = row.data["from"]
            for party in (row.student_id, row.tutor_id):
                await kick("email.send", str(party), _EMAIL_FOR_KIND[row.kind], context)
        if settings.google_configured:
            await kick("calendar.sync_booking", booking_id)
        if settings.zoom_configured:
            await kick("video.create_meeting", booking_id)
    return len(rows)


async def _reminders(session: Session, settings: Settings, now: datetime, kick: Kick) -> int:
    lead = timedelta(minutes=settings.email_reminder_minutes)
    rows = (await session.execute(_REMINDERS, {"now": now, "horizon": now + lead, "lead": lead,
                                               "batch": BATCH})).all()
    for row in rows:
        context = {"booking_id": str(row.id), "start": row.start_at.isoformat()}
        for party in (row.student_id, row.tutor_id):
            await kick("email.send", str(party), "session_reminder", context)
    return len(rows)


async def _welcomes(session: Session, since: datetime, kick: Kick) -> int:
    rows = (await session.execute(_WELCOMES, {"since": since, "batch": BATCH})).all()
    for row in rows:
        await kick("email.send", str(row.id), "welcome", {})
    return len(rows)


async def _refunds(session: Session, since: datetime, kick: Kick) -> int:
    rows = (await session.execute(_REFUNDS, {"since": since, "batch": BATCH})).all()
    for row in rows:
        await kick("email.send", str(row.student_id), "refund_issued", {"booking_id": str(row.id)})
    return len(rows)


async def dispatch_due(sessionmaker: Sessionmaker, settings: Settings, now: datetime,
                       kick: Kick) -> int:
    """Kick the tasks of every change not dispatched yet; returns how many changes were dispatched."""
    since = now - timedelta(hours=settings.integrations_lookback_hours)
    total = 0
    if settings.brevo_configured or settings.google_configured or settings.zoom_configured:
        while True:
            async with unit_of_work(sessionmaker) as session:
                count = await _booking_events(session, settings, since, kick)
            total += count
            if count < BATCH:
                break
    if settings.brevo_configured:
        for step in (lambda s: _reminders(s, settings, now, kick), lambda s: _welcomes(s, since, kick),
                     lambda s: _refunds(s, since, kick)):
            async with unit_of_work(sessionmaker) as session:
                total += await step(session)
    if total:
        log.info("dispatched %d change(s) to integration tasks", total)
    return total


async def purge_markers(sessionmaker: Sessionmaker, settings: Settings, now: datetime) -> int:
    """Delete markers older than twice the lookback (nothing that old is looked at again)."""
    async with unit_of_work(sessionmaker) as session:
        result = await session.execute(text("DELETE FROM integration_dispatches WHERE created_at < :cutoff"),
                                       {"cutoff": now - timedelta(hours=2 * settings.integrations_lookback_hours)})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
