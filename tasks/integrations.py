"""Integration jobs: the dispatch sweep, and the calendar refresh.

The outbound tasks they kick (``email.send``, ``calendar.sync_booking``,
``video.create_meeting``) live in tasks/outbound.py; a provider's refusal
(:class:`~server.providers.http.ProviderRejected`, a 4xx) becomes
:class:`~tasks.outbound.PermanentError` there: dead-lettered at once, never retried forever.

* ``integrations.dispatch_due`` (every ``INTEGRATIONS_SWEEP_SECONDS``): booking changes, new
  accounts, due reminders and refunds → the tasks they need (server/dispatch/service.py).
* ``calendar.refresh_all`` (``GOOGLE_CALENDAR_SYNC_CRON``): one ``calendar.pull_busy`` per
  connected tutor, and old dispatch markers purged.
* ``calendar.pull_busy`` (outbound): a tutor's freeBusy, stored so it blocks slots.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from server.calendar import service as calendar
from server.db import Sessionmaker, unit_of_work
from server.dispatch import service as dispatch
from server.jobs import Kick
from server.settings import Settings
from tasks import runtime
from tasks.broker import broker
from tasks.outbound import kick, outbound_task, permanent_on_rejection

log = logging.getLogger("edustream.tasks.integrations")


async def dispatch_changes(sessionmaker: Sessionmaker, settings: Settings, now: datetime, kick: Kick) -> int:
    """Kick the tasks of every change not dispatched yet, each batch in its own unit of work
    (its markers commit with its kicks); returns how many changes were dispatched."""
    total = 0
    for step in dispatch.sweep(settings, now):
        while True:
            async with unit_of_work(sessionmaker) as session:
                count = await step.run(session, kick)
            total += count
            if not step.full(count):
                break
    if total:
        log.info("dispatched %d change(s) to integration tasks", total)
    return total


async def pull_busy_time(sessionmaker: Sessionmaker, settings: Settings, user_id: uuid.UUID) -> str:
    """Pull one tutor's busy time from Google Calendar and store it; the outcome. A failure at
    Google is raised once the connection's ``last_error`` is committed."""
    now = datetime.now(UTC)
    async with unit_of_work(sessionmaker) as session:
        pull = await calendar.start_busy_pull(session, settings, user_id, now)
    await calendar.fetch_busy(settings, pull)
    async with unit_of_work(sessionmaker) as session:
        outcome = await calendar.finish_busy_pull(session, settings, pull)
    if pull.error is not None:
        with permanent_on_rejection():
            raise pull.error
    return str(outcome)


@broker.task(task_name="integrations.dispatch_due",
             schedule=[{"interval": max(1, round(broker.settings.integrations_sweep_seconds)),
                        "schedule_id": "integrations.dispatch_due"}])
async def dispatch_due() -> int:
    """Kick the integration tasks of every change not dispatched yet."""
    async with runtime.exclusive("integrations.dispatch_due") as mine:
        if not mine:
            return 0
        rt = runtime.get()
        return await dispatch_changes(rt.sessionmaker, rt.settings, datetime.now(UTC), kick)


@broker.task(task_name="calendar.refresh_all",
             schedule=[{"cron": broker.settings.google_calendar_sync_cron, "schedule_id": "calendar.refresh_all"}])
async def refresh_all() -> int:
    """Queue a busy-time pull for every connected tutor; purge old dispatch markers."""
    rt = runtime.get()
    async with unit_of_work(rt.sessionmaker) as session:
        await dispatch.purge_markers(session, rt.settings, datetime.now(UTC))
    if not rt.settings.google_configured:
        return 0
    async with unit_of_work(rt.sessionmaker) as session:
        user_ids = await calendar.tutors_to_refresh(session)
    for user_id in user_ids:
        await kick("calendar.pull_busy", str(user_id))
    return len(user_ids)


@outbound_task("calendar.pull_busy")
async def pull_busy(user_id: str) -> str:
    """Refresh one tutor's busy time from Google Calendar (freeBusy)."""
    rt = runtime.get()
    return await pull_busy_time(rt.sessionmaker, rt.settings, uuid.UUID(user_id))
