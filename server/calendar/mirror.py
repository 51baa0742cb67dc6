"""Bookings mirrored as events in each party's Google Calendar (``calendar.sync_booking``).

The task compares the booking with what was last written (``calendar_events``) and makes
the calendar follow, for the tutor and the student alike when they are connected:

* confirmed (or completed) → the event exists with the booking's times, title and join link:
  inserted (event id = the booking id in hex, so a retried insert finds the first one: 409 →
  patch), or patched when the fingerprint of what we wrote changed (reschedule, join link);
* cancelled, expired or released → the event is deleted (404/410: already gone).

Runs for a booking are serialized by a Redis lock (server/providers/locks.py), so a
confirmation and a reschedule dispatched back to back cannot interleave their API calls. After an event moved
or was deleted, the tutor's busy time is pulled again, so the slot it occupied reopens.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import delete

from models.booking import Booking
from models.integrations import CalendarEvent
from models.user import User
from server.db import Sessionmaker, unit_of_work
from server.integrations.google_calendar import CalendarRevoked, Connection, call, connection_for
from server.providers import http
from server.providers.locks import booking_lock
from server.settings import Settings

log = logging.getLogger("edustream.integrations.calendar")

Kick = Callable[..., Awaitable[Any]]
LIVE = ("confirmed", "completed")
GONE = ("cancelled", "expired", "released")


def event_id_for(booking_id: uuid.UUID) -> str:
    """Google event ids use base32hex (0-9, a-v): a uuid in hex qualifies."""
    return booking_id.hex


def event_body(settings: Settings, booking: Booking, other_name: str) -> dict[str, Any]:
    """What the calendar event says."""
    url = f"{settings.frontend_url.rstrip('/')}/bookings/{booking.id}"
    description = f"{settings.email_sender_name} lesson with {other_name}.\n"
    if booking.join_url:
        description += f"Join: {booking.join_url}\n"
    description += f"Booking: {url}"
    body: dict[str, Any] = {
        "summary": f"{settings.email_sender_name} lesson with {other_name}",
        "description": description,
        "start": {"dateTime": booking.start_at.isoformat(), "timeZone": "UTC"},
        "end": {"dateTime": booking.end_at.isoformat(), "timeZone": "UTC"},
        "extendedProperties": {"private": {"edustream_booking_id": str(booking.id)}},
        "source": {"title": settings.email_sender_name, "url": url},
    }
    if booking.join_url:
        body["location"] = booking.join_url
    return body


def fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def _sync_party(sessionmaker: Sessionmaker, settings: Settings, booking: Booking,
                      user_id: uuid.UUID, other_name: str) -> str:
    async with unit_of_work(sessionmaker) as session:
        row = await session.get(CalendarEvent, (booking.id, user_id))
        stored = (row.event_id, row.calendar_id, row.fingerprint) if row else None
    try:
        connection = await connection_for(sessionmaker, settings, user_id)
    except CalendarRevoked:
        return "revoked"
    if connection is None:
        return "not_connected"
    if booking.status in GONE:
        if stored is None:
            return "nothing"
        event_id, calendar_id, _ = stored
        await call(sessionmaker, settings, Connection(user_id, calendar_id, connection.access_token), "DELETE",
                   f"/calendars/{calendar_id}/events/{event_id}", ok_statuses=frozenset({404, 410}))
        async with unit_of_work(sessionmaker) as session:
            await session.execute(delete(CalendarEvent).where(
                CalendarEvent.booking_id == booking.id, CalendarEvent.user_id == user_id))
        return "deleted"
    if booking.status not in LIVE:
        return "nothing"
    body = event_body(settings, booking, other_name)
    digest = fingerprint(body)
    if stored is not None and stored[2] == digest:
        return "unchanged"
    calendar_id = stored[1] if stored else connection.calendar_id
    event_id = stored[0] if stored else event_id_for(booking.id)
    outcome = "patched"
    if stored is None:
        try:
            created = await call(sessionmaker, settings, connection, "POST", f"/calendars/{calendar_id}/events",
                                 json={**body, "id": event_id})
            event_id = str((created or {}).get("id") or event_id)
            outcome = "created"
        except http.ProviderRejected as exc:
            if exc.status != 409:  # 409: a previous run inserted it and died before recording it
                raise
    if outcome == "patched":
        await call(sessionmaker, settings, connection, "PATCH", f"/calendars/{calendar_id}/events/{event_id}",
                   json=body)
    async with unit_of_work(sessionmaker) as session:
        row = await session.get(CalendarEvent, (booking.id, user_id))
        if row is None:
            session.add(CalendarEvent(booking_id=booking.id, user_id=user_id, calendar_id=calendar_id,
                                      event_id=event_id, fingerprint=digest))
        else:
            row.fingerprint, row.event_id, row.calendar_id = digest, event_id, calendar_id
    return outcome


async def sync_booking_events(sessionmaker: Sessionmaker, settings: Settings, redis: Redis,
                              booking_id: uuid.UUID, *, kick: Kick | None = None) -> str:
    """Make both parties' calendars follow the booking; returns e.g. ``tutor:created student:not_connected``."""
    if not settings.google_configured:
        return "not_configured"
    async with booking_lock(redis, f"calendar:{booking_id}", ttl_seconds=settings.task_timeout_seconds + 5,
                            wait_seconds=settings.task_timeout_seconds / 2):
        async with unit_of_work(sessionmaker) as session:
            booking = await session.get(Booking, booking_id)
            if booking is None:
                return "no_booking"
            names: dict[uuid.UUID, str] = {}
            for uid in (booking.tutor_id, booking.student_id):
                user = await session.get(User, uid)
                names[uid] = user.name if user else ""
        outcomes = {
            "tutor": await _sync_party(sessionmaker, settings, booking, booking.tutor_id, names[booking.student_id]),
            "student": await _sync_party(sessionmaker, settings, booking, booking.student_id, names[booking.tutor_id]),
        }
    if kick is not None and outcomes["tutor"] in ("deleted", "patched"):
        await kick("calendar.pull_busy", str(booking.tutor_id))
    log.info("calendar sync of booking %s: %s", booking_id, outcomes)
    return " ".join(f"{k}:{v}" for k, v in outcomes.items())
