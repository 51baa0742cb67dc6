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

from sqlalchemy import Select, and_, exists, select

from models.booking import Booking, BookingEvent
from server.bookings import service
from server.db import Session, Sessionmaker, unit_of_work
from server.outbox import emit, user_room
from server.settings import Settings
from tasks import payments as payment_tasks
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
            ids = list((await session.scalars(due.limit(BATCH))).all())
        for booking_id in ids:
            async with unit_of_work(sessionmaker) as session:
                booking = await apply(session, booking_id)
            if booking is not None:
                changed.append(booking)
        if len(ids) < BATCH:
            return changed


async def expire_lapsed_holds(sessionmaker: Sessionmaker, now: datetime) -> int:
    """Expire every hold whose ``expires_at`` has passed; returns how many this call expired."""
    due = (select(Booking.id).where(Booking.status == "held", Booking.expires_at <= now)
           .order_by(Booking.expires_at))
    expired = await _each_due(sessionmaker, due, lambda session, bid: service.expire_hold(session, bid, now))
    for booking in expired:
        if booking.payment_provider == "stripe" and booking.payment_intent_id:
            # The hold lapsed unpaid: its PaymentIntent must not be payable any more.
            await payment_tasks.cancel_intent.kiq(str(booking.id))
    return len(expired)


@broker.task(task_name="bookings.expire_due",
             schedule=[{"interval": SWEEP_SECONDS, "schedule_id": "bookings.expire_due"}])
async def expire_due() -> int:
    """Release lapsed holds (runs every second; safe to run twice, concurrently or not)."""
    async with runtime.exclusive("bookings.expire_due") as mine:
        if not mine:
            return 0
        count = await expire_lapsed_holds(runtime.get().sessionmaker, _now())
    if count:
        log.info("expired %d lapsed hold(s)", count)
    return count


# --- hold.expiring and session.starting --------------------------------------------------


async def _events(session: Session, booking_id: uuid.UUID, kind: str) -> list[dict[str, Any]]:
    rows = await session.scalars(select(BookingEvent.data).where(BookingEvent.booking_id == booking_id,
                                                                 BookingEvent.kind == kind))
    return list(rows.all())


async def _warn_hold(session: Session, booking_id: uuid.UUID, lead: timedelta, now: datetime) -> bool:
    booking = await session.get(Booking, booking_id, with_for_update=True, populate_existing=True)
    if booking is None or booking.status != "held" or booking.expires_at is None:
        return False
    if not now < booking.expires_at <= now + lead:
        return False
    expires = _iso(booking.expires_at)
    if any(e.get("expires_at") == expires for e in await _events(session, booking_id, HOLD_EXPIRING)):
        return False
    session.add(BookingEvent(booking_id=booking.id, kind=HOLD_EXPIRING, from_status=booking.status,
                             to_status=booking.status, data={"expires_at": expires}))
    await emit(session, [("hold.expiring", user_room(booking.student_id),
                          {"booking_id": str(booking.id), "expires_at": expires})])
    return True


async def warn_expiring_holds(sessionmaker: Sessionmaker, settings: Settings,
                              now: datetime) -> int:
    """Send ``hold.expiring`` once to each student whose hold lapses within the lead time."""
    lead = timedelta(seconds=settings.hold_expiring_lead_seconds)
    warned = exists().where(BookingEvent.booking_id == Booking.id, BookingEvent.kind == HOLD_EXPIRING)
    async with unit_of_work(sessionmaker) as session:
        ids = list((await session.scalars(
            select(Booking.id).where(Booking.status == "held", Booking.expires_at > now,
                                     Booking.expires_at <= now + lead, ~warned)
            .order_by(Booking.expires_at).limit(BATCH))).all())
    sent = 0
    for booking_id in ids:
        async with unit_of_work(sessionmaker) as session:
            sent += await _warn_hold(session, booking_id, lead, now)
    return sent


def _due_leads(start: datetime, leads: Sequence[float], now: datetime) -> list[float]:
    return [lead for lead in leads if start - timedelta(seconds=lead) <= now < start]


async def _alert_session(session: Session, booking_id: uuid.UUID, leads: Sequence[float],
                         now: datetime) -> bool:
    booking = await session.get(Booking, booking_id, with_for_update=True, populate_existing=True)
    if booking is None or booking.status != "confirmed":
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
        session.add(BookingEvent(booking_id=booking.id, kind=SESSION_ALERT, from_status=booking.status,
                                 to_status=booking.status,
                                 data={"lead_seconds": lead, "starts_at": starts, "sent": lead == nearest}))
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
        rows = (await session.execute(
            select(Booking.id, Booking.start_at).where(Booking.status == "confirmed", Booking.start_at > now,
                                                       Booking.start_at <= horizon)
            .order_by(Booking.start_at).limit(BATCH))).all()
        candidates = {row.id: row.start_at for row in rows if _due_leads(row.start_at, leads, now)}
        sent_before: set[tuple[uuid.UUID, float, str]] = set()
        if candidates:
            events = await session.execute(
                select(BookingEvent.booking_id, BookingEvent.data).where(
                    and_(BookingEvent.kind == SESSION_ALERT, BookingEvent.booking_id.in_(candidates))))
            sent_before = {(e.booking_id, float(e.data["lead_seconds"]), e.data["starts_at"]) for e in events}
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
    due = select(Booking.id).where(Booking.status == "confirmed", Booking.end_at <= now).order_by(Booking.end_at)
    return len(await _each_due(sessionmaker, due, lambda session, bid: service.complete(session, bid, now)))


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
