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
booking_events ``completed``        ``review_request`` to the student
a confirmed lesson within           ``session_reminder`` to both (not when it was booked or
``EMAIL_REMINDER_MINUTES``          moved inside that lead: the confirmation just went out)
a new account                       ``welcome``
an e-mail verification link         ``verify_email`` to its account
``payment_status = refunded``       ``refund_issued`` to the student
==================================  =====================================================

Each change is claimed by inserting a marker (``integration_dispatches``, primary key) in the
transaction that kicks its tasks: a change is dispatched once, and a failed kick rolls the
marker back so the next sweep tries again (at least once; every task is idempotent). Only
integrations that are configured get tasks. That is why a step kicks at once (``kick``)
rather than after commit: the claim and the kicks stand or fall together.

A sweep is a list of :class:`Step` s, each run in its own unit of work by the task
(tasks/integrations.py), so a batch's markers commit with its kicks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from models.integrations import DispatchedEventKind
from server.db import Session
from server.dispatch import repository
from server.emails.render import EmailTemplate
from server.jobs import Kick
from server.settings import Settings

log = logging.getLogger("edustream.dispatch")

BATCH = 200

_EMAIL_FOR_KIND = {DispatchedEventKind.CONFIRMED: EmailTemplate.BOOKING_CONFIRMED,
                   DispatchedEventKind.RESCHEDULED: EmailTemplate.BOOKING_RESCHEDULED,
                   DispatchedEventKind.CANCELLED: EmailTemplate.BOOKING_CANCELLED}


async def _booking_events(session: Session, settings: Settings, since: datetime, kick: Kick) -> int:
    rows = await repository.claim_booking_events(session, since, BATCH)
    for row in rows:
        booking_id = str(row.booking_id)
        kind = DispatchedEventKind(row.kind)
        if kind == DispatchedEventKind.HOLD_EXPIRING:
            if settings.brevo_configured:
                await kick("email.send", str(row.student_id), EmailTemplate.HOLD_EXPIRING, {"booking_id": booking_id})
            continue
        if kind == DispatchedEventKind.COMPLETED:
            if settings.brevo_configured:
                await kick("email.send", str(row.student_id), EmailTemplate.REVIEW_REQUEST, {"booking_id": booking_id})
            continue
        if settings.brevo_configured:
            context: dict[str, Any] = {"booking_id": booking_id}
            if kind == DispatchedEventKind.RESCHEDULED and (row.data or {}).get("from"):
                context["previous_start"] = row.data["from"]
            for party in (row.student_id, row.tutor_id):
                await kick("email.send", str(party), _EMAIL_FOR_KIND[kind], context)
        if settings.google_configured:
            await kick("calendar.sync_booking", booking_id)
        if settings.zoom_configured:
            await kick("video.create_meeting", booking_id)
    return len(rows)


async def _reminders(session: Session, settings: Settings, now: datetime, kick: Kick) -> int:
    rows = await repository.claim_reminders(session, now, timedelta(minutes=settings.email_reminder_minutes), BATCH)
    for row in rows:
        context = {"booking_id": str(row.id), "start": row.start_at.isoformat()}
        for party in (row.student_id, row.tutor_id):
            await kick("email.send", str(party), EmailTemplate.SESSION_REMINDER, context)
    return len(rows)


async def _welcomes(session: Session, since: datetime, kick: Kick) -> int:
    rows = await repository.claim_new_accounts(session, since, BATCH)
    for row in rows:
        await kick("email.send", str(row.id), EmailTemplate.WELCOME, {})
    return len(rows)


async def _verifications(session: Session, since: datetime, now: datetime, kick: Kick) -> int:
    rows = await repository.claim_email_verifications(session, since, now, BATCH)
    for row in rows:
        await kick("email.send", str(row.user_id), EmailTemplate.VERIFY_EMAIL, {"verification_id": str(row.id)})
    return len(rows)


async def _refunds(session: Session, since: datetime, kick: Kick) -> int:
    rows = await repository.claim_refunds(session, since, BATCH)
    for row in rows:
        await kick("email.send", str(row.student_id), EmailTemplate.REFUND_ISSUED, {"booking_id": str(row.id)})
    return len(rows)


@dataclass(frozen=True, slots=True)
class Step:
    """One claim-and-kick batch; ``drain``: run again while a batch comes back full."""

    run: Callable[[Session, Kick], Awaitable[int]]
    drain: bool = False

    def full(self, count: int) -> bool:
        """Whether another batch may be waiting after one that dispatched ``count`` changes."""
        return self.drain and count >= BATCH


def sweep(settings: Settings, now: datetime) -> list[Step]:
    """The steps of one sweep at ``now``: only the configured integrations get tasks."""
    since = now - timedelta(hours=settings.integrations_lookback_hours)
    steps: list[Step] = []
    if settings.brevo_configured or settings.google_configured or settings.zoom_configured:
        steps.append(Step(lambda s, kick: _booking_events(s, settings, since, kick), drain=True))
    if settings.brevo_configured:
        steps += [Step(lambda s, kick: _reminders(s, settings, now, kick)),
                  Step(lambda s, kick: _welcomes(s, since, kick)),
                  Step(lambda s, kick: _verifications(s, since, now, kick)),
                  Step(lambda s, kick: _refunds(s, since, kick))]
    return steps


async def purge_markers(session: Session, settings: Settings, now: datetime) -> int:
    """Delete markers older than twice the lookback (nothing that old is looked at again)."""
    return await repository.purge_markers(session, now - timedelta(hours=2 * settings.integrations_lookback_hours))
