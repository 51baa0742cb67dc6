"""Booking jobs: hold expiry, ``hold.expiring``, ``session.starting`` and completion.

Nothing here keeps a schedule per booking. Every job is a sweep that reads what is due
from the bookings table, so confirming, rescheduling or cancelling a booking needs no
scheduling call, a scheduler restart loses nothing, and a missed tick is caught up by the
next one. Each change runs in its own unit of work under the same locks as the API's, and
records its events in the outbox there, so two sweeps (or a sweep and a request) racing on
one booking publish one event.

* ``bookings.expire_due`` (every ``SWEEP_INTERVAL_SECONDS``): lapsed holds become
  ``expired`` and their slots reopen (``slots.changed``, ``booking.updated``).
* ``bookings.alert_due`` (same interval): ``hold.expiring`` to the student once per hold,
  ``HOLD_EXPIRING_LEAD_SECONDS`` before it lapses; ``session.starting`` to both parties at
  each lead time before a confirmed lesson. Each alert sent is a ``booking_events`` row
  (``hold_expiring`` / ``session_alert``) written in the transaction that records the
  outbox row, after re-checking under the booking's row lock that it is not there yet.
* ``bookings.complete_finished`` (every minute): confirmed lessons that have ended
  become ``completed``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select

from models.booking import Booking, BookingStatus
from server.bookings import holds, lifecycle, repository
from server.db import Session, Sessionmaker, unit_of_work
from server.outbox import emit, user_room
from server.settings import Settings
from tasks import runtime
from tasks.broker import broker

log = logging.getLogger("edustream.tasks.bookings")

BATCH = 500
SWEEP_SECONDS = max(1, round(broker.settings.sweep_interval_seconds))
HOLD_EXPIRING = "hold_expiring"
SESSION_ALERT = "session_alert"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert_leads(settings: Settings) -> list[float]:
    """Session alert lead times in seconds, longest first."""
    if settings.session_alert_seconds is not None:
        leads = [float(s) for s in settings.session_alert_seconds]
    else:
        leads = [m * 60.0 for m in settings.session_alert_minutes]
    return sorted({lead for lead in leads if lead > 0}, reverse=True)


def _minutes(lead_seconds: float) -> int | float:
    minutes = lead_seconds / 60
    return int(minutes) if minutes.is_integer() else round(minutes, 3)


# --- Hold expiry -------------------------------------------------------------------------


async def _each_due(sessionmaker: Sessionmaker, due: Select[uuid.UUID],
                    apply: Callable[[Session, uuid.UUID], Awaitable[Booking | None]]) -> list[Booking]:
    """Run ``apply`` on every booking id ``due`` selects, one transaction per booking (locks are
    held briefly and one failure stops nothing else), ``BATCH`` ids at a time; returns the
    bookings ``apply`` changed."""
    changed: list[Booking] = []
    while True:
        async with unit_of_work(sessionmaker) as session:
            ids = await repository.due_ids(session, due, BATCH)
        for booking_id in ids:
            async with unit_of_work(sessionmaker) as session:
                booking = await apply(session, booking_id)
            if booking is not None:
                changed.append(booking)
        if len(ids) < BATCH:
            return changed


async def expire_lapsed_holds(sessionmaker: Sessionmaker, settings: Settings, now: datetime) -> int:
    """Expire every hold whose ``expires_at`` has passed; returns how many this call expired
    (each unpaid PaymentIntent is cancelled by the service's own rule)."""
    expired = await _each_due(sessionmaker, repository.lapsed_holds_due(now),
                              lambda session, bid: holds.expire_hold(session, settings, bid, now))
    return len(expired)


@broker.task(task_name="bookings.expire_due",
             schedule=[{"interval": SWEEP_SECONDS, "schedule_id": "bookings.expire_due"}])
async def expire_due() -> int:
    """Release lapsed holds (runs every second; safe to run twice, concurrently or not)."""
    async with runtime.exclusive("bookings.expire_due") as mine:
        if not mine:
            return 0
        rt = runtime.get()
        count = await expire_lapsed_holds(rt.sessionmaker, rt.settings, _now())
    if count:
        log.info("expired %d lapsed hold(s)", count)
    return count


# --- hold.expiring and session.starting --------------------------------------------------


async def _events(session: Session, booking_id: uuid.UUID, kind: str) -> list[dict[str, Any]]:
    return [data for _, data in await repository.event_data(session, [booking_id], kind)]


async def _warn_hold(session: Session, booking_id: uuid.UUID, lead: timedelta, now: datetime) -> bool:
    booking = await repository.get_for_update(session, booking_id)
    if booking is None or booking.status != BookingStatus.HELD or booking.expires_at is None:
        return False
    if not now < booking.expires_at <= now + lead:
        return False
    expires = _iso(booking.expires_at)
    if any(e.get("expires_at") == expires for e in await _events(session, booking_id, HOLD_EXPIRING)):
        return False
    repository.add_note(session, booking, HOLD_EXPIRING, {"expires_at": expires})
    await emit(session, [("hold.expiring", user_room(booking.student_id),
                          {"booking_id": str(booking.id), "expires_at": expires})])
    return True


async def warn_expiring_holds(sessionmaker: Sessionmaker, settings: Settings,
                              now: datetime) -> int:
    """Send ``hold.expiring`` once to each student whose hold lapses within the lead time."""
    lead = timedelta(seconds=settings.hold_expiring_lead_seconds)
    async with unit_of_work(sessionmaker) as session:
        ids = await repository.expiring_holds(session, HOLD_EXPIRING, now, lead, BATCH)
    sent = 0
    for booking_id in ids:
        async with unit_of_work(sessionmaker) as session:
            sent += await _warn_hold(session, booking_id, lead, now)
    return sent


def _due_leads(start: datetime, leads: Sequence[float], now: datetime) -> list[float]:
    return [lead for lead in leads if start - timedelta(seconds=lead) <= now < start]


async def _alert_session(session: Session, booking_id: uuid.UUID, leads: Sequence[float],
                         now: datetime) -> bool:
    booking = await repository.get_for_update(session, booking_id)
    if booking is None or booking.status != BookingStatus.CONFIRMED:
        return False
    due = _due_leads(booking.start_at, leads, now)
    if not due:
        return False
    starts = _iso(booking.start_at)
    done = {float(e["lead_seconds"]) for e in await _events(session, booking_id, SESSION_ALERT)
            if e.get("starts_at") == starts}
    nearest = min(due)
    if nearest in done:
        return False
    # Only the nearest due lead is announced; longer ones that were missed (the booking was
    # confirmed or moved inside them, or the sweep was down) are recorded as skipped.
    for lead in sorted(set(due) - done, reverse=True):
        repository.add_note(session, booking, SESSION_ALERT,
                            {"lead_seconds": lead, "starts_at": starts, "sent": lead == nearest})
    payload: dict[str, Any] = {"booking_id": str(booking.id), "starts_at": starts, "minutes_before": _minutes(nearest)}
    if booking.join_url:
        payload["join_url"] = booking.join_url
    await emit(session, [("session.starting", user_room(booking.student_id), payload),
                         ("session.starting", user_room(booking.tutor_id), payload)])
    return True


async def alert_sessions(sessionmaker: Sessionmaker, settings: Settings, now: datetime) -> int:
    """Send ``session.starting`` for every confirmed booking that reached one of its lead times."""
    leads = alert_leads(settings)
    if not leads:
        return 0
    horizon = now + timedelta(seconds=leads[0])
    async with unit_of_work(sessionmaker) as session:
        rows = await repository.confirmed_starting(session, now, horizon, BATCH)
        candidates = {booking_id: start for booking_id, start in rows if _due_leads(start, leads, now)}
        sent_before: set[tuple[uuid.UUID, float, str]] = set()
        if candidates:
            sent_before = {(booking_id, float(data["lead_seconds"]), data["starts_at"])
                           for booking_id, data in await repository.event_data(session, list(candidates),
                                                                                 SESSION_ALERT)}
    sent = 0
    for booking_id, start in candidates.items():
        nearest = min(_due_leads(start, leads, now))
        if (booking_id, nearest, _iso(start)) in sent_before:
            continue
        async with unit_of_work(sessionmaker) as session:
            sent += await _alert_session(session, booking_id, leads, now)
    return sent


@broker.task(task_name="bookings.alert_due",
             schedule=[{"interval": SWEEP_SECONDS, "schedule_id": "bookings.alert_due"}])
async def alert_due() -> int:
    """Send due ``hold.expiring`` and ``session.starting`` alerts (runs every second)."""
    async with runtime.exclusive("bookings.alert_due") as mine:
        if not mine:
            return 0
        rt = runtime.get()
        now = _now()
        count = await warn_expiring_holds(rt.sessionmaker, rt.settings, now)
        count += await alert_sessions(rt.sessionmaker, rt.settings, now)
    return count


# --- Completion --------------------------------------------------------------------------


async def complete_finished_bookings(sessionmaker: Sessionmaker, now: datetime) -> int:
    """Mark every confirmed booking whose end has passed ``completed``."""
    return len(await _each_due(sessionmaker, repository.finished_due(now),
                               lambda session, bid: lifecycle.complete(session, bid, now)))


@broker.task(task_name="bookings.complete_finished",
             schedule=[{"cron": "* * * * *", "schedule_id": "bookings.complete_finished"}])
async def complete_finished() -> int:
    """Complete lessons that have ended (every minute)."""
    async with runtime.exclusive("bookings.complete_finished", ttl_seconds=120) as mine:
        if not mine:
            return 0
        count = await complete_finished_bookings(runtime.get().sessionmaker, _now())
    if count:
        log.info("completed %d finished booking(s)", count)
    return count
