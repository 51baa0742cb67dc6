"""Integration jobs: the dispatch sweep, the calendar refresh, and the adapters the outbound
tasks of tasks/outbound.py (``email.send``, ``calendar.sync_booking``, ``video.create_meeting``)
call. A provider's refusal (:class:`~server.providers.http.ProviderRejected`, a 4xx) becomes
:class:`~tasks.outbound.PermanentError` here: dead-lettered at once, never retried forever.

* ``integrations.dispatch_due`` (every ``INTEGRATIONS_SWEEP_SECONDS``): booking changes, new
  accounts, due reminders and refunds → the tasks they need (server/integrations/dispatch.py).
* ``calendar.refresh_all`` (``GOOGLE_CALENDAR_SYNC_CRON``): one ``calendar.pull_busy`` per
  connected tutor, and old dispatch markers purged.
* ``calendar.pull_busy`` (outbound): a tutor's freeBusy, stored so it blocks slots.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from server.integrations import dispatch
from server.providers.http import ProviderRejected
from tasks import runtime
from tasks.broker import broker
from tasks.outbound import PermanentError, outbound_task

log = logging.getLogger("edustream.tasks.integrations")


@contextmanager
def permanent_on_rejection() -> Iterator[None]:
    """A provider's 4xx cannot be fixed by retrying: dead-letter the task at once."""
    try:
        yield
    except ProviderRejected as exc:
        raise PermanentError(str(exc)) from exc


async def kick(task_name: str, *args: Any) -> None:
    """Enqueue ``task_name(*args)`` from inside the worker."""
    task = broker.find_task(task_name)
    if task is None:
        raise LookupError(f"no task named {task_name!r}")
    await task.kiq(*args)


# --- Adapters for tasks/outbound.py -------------------------------------------------------


async def send_email(to: str, template: str, context: dict[str, Any]) -> str:
    """``email.send``: compose and send one e-mail through Brevo."""
    from server.integrations.mail import deliver

    rt = runtime.get()
    with permanent_on_rejection():
        return await deliver(rt.sessionmaker, rt.settings, to, template, context)


async def sync_calendar_event(booking_id: str) -> str:
    """``calendar.sync_booking``: both parties' calendar events follow the booking."""
    from server.integrations.calendar_mirror import sync_booking_events

    rt = runtime.get()
    with permanent_on_rejection():
        return await sync_booking_events(rt.sessionmaker, rt.settings, rt.redis, uuid.UUID(booking_id), kick=kick)


async def sync_video_meeting(booking_id: str) -> str:
    """``video.create_meeting``: the booking's Zoom meeting follows the booking."""
    from server.integrations.zoom import sync_meeting

    rt = runtime.get()
    with permanent_on_rejection():
        return await sync_meeting(rt.sessionmaker, rt.settings, rt.redis, uuid.UUID(booking_id), kick=kick)


# --- Tasks -------------------------------------------------------------------------------


@broker.task(task_name="integrations.dispatch_due",
             schedule=[{"interval": max(1, round(broker.settings.integrations_sweep_seconds)),
                        "schedule_id": "integrations.dispatch_due"}])
async def dispatch_due() -> int:
    """Kick the integration tasks of every change not dispatched yet."""
    async with runtime.exclusive("integrations.dispatch_due") as mine:
        if not mine:
            return 0
        rt = runtime.get()
        return await dispatch.dispatch_due(rt.sessionmaker, rt.settings, datetime.now(UTC), kick)


@broker.task(task_name="calendar.refresh_all",
             schedule=[{"cron": broker.settings.google_calendar_sync_cron, "schedule_id": "calendar.refresh_all"}])
async def refresh_all() -> int:
    """Queue a busy-time pull for every connected tutor; purge old dispatch markers."""
    from server.integrations.google_calendar import tutors_to_refresh

    rt = runtime.get()
    await dispatch.purge_markers(rt.sessionmaker, rt.settings, datetime.now(UTC))
    if not rt.settings.google_configured:
        return 0
    user_ids = await tutors_to_refresh(rt.sessionmaker)
    for user_id in user_ids:
        await kick("calendar.pull_busy", str(user_id))
    return len(user_ids)


@outbound_task("calendar.pull_busy")
async def pull_busy(user_id: str) -> str:
    """Refresh one tutor's busy time from Google Calendar (freeBusy)."""
    from server.integrations.google_calendar import refresh_busy

    rt = runtime.get()
    with permanent_on_rejection():
        return await refresh_busy(rt.sessionmaker, rt.settings, uuid.UUID(user_id))
