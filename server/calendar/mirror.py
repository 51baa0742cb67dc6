"""Bookings mirrored as events in each party's Google Calendar (``calendar.sync_booking``).

A sync compares the booking with what was last written (``calendar_events``) and makes the
calendar follow, for the tutor and the student alike when they are connected:

* confirmed (or completed) → the event exists with the booking's times, title and join link:
  inserted (event id = the booking id in hex, so a retried insert finds the first one: 409 →
  patch), or patched when the fingerprint of what we wrote changed (reschedule, join link);
* cancelled, expired or released → the event is deleted (404/410: already gone).

Like a busy-time pull (service.py) it runs in three steps: :func:`start_booking_sync` reads,
:func:`push_events` calls Google, :func:`finish_booking_sync` records. The caller serializes
the runs of one booking (a Redis lock), so a confirmation and a reschedule dispatched back to
back cannot interleave their API calls. After the tutor's event moved or was deleted, their
busy time is pulled again, so the slot it occupied reopens.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from models.booking import Booking, BookingStatus
from models.integrations import ENDED_BOOKING_STATUSES
from server.calendar import repository
from server.calendar.service import CalendarRevoked, Grant, load_grant, record_access
from server.db import Session
from server.jobs import Kick
from server.providers import google, http
from server.settings import Settings

log = logging.getLogger("edustream.calendar.mirror")

# Booking statuses whose lesson is in the calendar.
MIRRORED_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.COMPLETED)


class EventSync(StrEnum):
    """What a sync did to one party's calendar."""

    CREATED = "created"
    PATCHED = "patched"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    NOTHING = "nothing"
    NOT_CONNECTED = "not_connected"
    REVOKED = "revoked"


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
    """A hash of what an event says, to tell whether it needs a PATCH."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class WrittenEvent:
    calendar_id: str
    event_id: str
    fingerprint: str


@dataclass
class PartySync:
    """One party's side of a sync: what was written before, their grant, and what happened."""

    role: str
    user_id: uuid.UUID
    other_name: str
    stored: WrittenEvent | None
    grant: Grant | None
    outcome: EventSync | None = None
    written: WrittenEvent | None = None
    api: google.CalendarApi | None = None
    revoked: str | None = None


@dataclass
class BookingSync:
    """A sync of one booking's events; ``error`` is a failure to raise once it is recorded."""

    booking_id: uuid.UUID
    now: datetime
    booking: Booking | None = None
    parties: list[PartySync] = field(default_factory=list)
    error: Exception | None = None


async def start_booking_sync(session: Session, settings: Settings, booking_id: uuid.UUID,
                             now: datetime) -> BookingSync:
    """Step 1: the booking, and each party's last written event and grant."""
    sync = BookingSync(booking_id, now)
    booking = sync.booking = await repository.get_booking(session, booking_id)
    if booking is None:
        return sync
    for role, user_id, other_id in (("tutor", booking.tutor_id, booking.student_id),
                                    ("student", booking.student_id, booking.tutor_id)):
        row = await repository.get_event(session, booking.id, user_id)
        stored = WrittenEvent(row.calendar_id, row.event_id, row.fingerprint) if row else None
        sync.parties.append(PartySync(role, user_id, await repository.user_name(session, other_id), stored,
                                      await load_grant(session, settings, user_id, now)))
    return sync


async def _push_party(settings: Settings, booking: Booking, party: PartySync) -> EventSync:
    if party.grant is None:
        return EventSync.NOT_CONNECTED
    api = party.api = party.grant.api(settings)
    try:
        await api.ensure_token()
    except google.GrantRevoked as exc:
        party.revoked = str(exc)
        return EventSync.REVOKED
    stored = party.stored
    if booking.status in ENDED_BOOKING_STATUSES:
        if stored is None:
            return EventSync.NOTHING
        await api.call("DELETE", f"/calendars/{stored.calendar_id}/events/{stored.event_id}",
                       ok_statuses=frozenset({404, 410}))
        return EventSync.DELETED
    if booking.status not in MIRRORED_STATUSES:
        return EventSync.NOTHING
    body = event_body(settings, booking, party.other_name)
    digest = fingerprint(body)
    if stored is not None and stored.fingerprint == digest:
        return EventSync.UNCHANGED
    calendar_id = stored.calendar_id if stored else party.grant.calendar_id
    event_id = stored.event_id if stored else event_id_for(booking.id)
    outcome = EventSync.PATCHED
    if stored is None:
        try:
            created = await api.call("POST", f"/calendars/{calendar_id}/events", json={**body, "id": event_id})
            event_id = str((created or {}).get("id") or event_id)
            outcome = EventSync.CREATED
        except http.ProviderRejected as exc:
            if exc.status != 409:  # 409: a previous run inserted it and died before recording it
                raise
    if outcome == EventSync.PATCHED:
        await api.call("PATCH", f"/calendars/{calendar_id}/events/{event_id}", json=body)
    party.written = WrittenEvent(calendar_id, event_id, digest)
    return outcome


async def push_events(settings: Settings, sync: BookingSync) -> None:
    """Step 2 (Google only): make each party's calendar follow the booking, tutor first; the
    first failure stops the sync and is kept in ``sync.error``."""
    if sync.booking is None:
        return
    for party in sync.parties:
        try:
            party.outcome = await _push_party(settings, sync.booking, party)
        except google.GrantRevoked as exc:  # refreshing after a 401 found the grant gone
            party.revoked = str(exc)
            sync.error = CalendarRevoked(str(exc))
            return
        except http.ProviderError as exc:
            sync.error = exc
            return


async def finish_booking_sync(session: Session, settings: Settings, sync: BookingSync,
                              kick: Kick | None = None) -> str:
    """Step 3: record the events written or deleted (and what the sync changed about each
    grant); returns e.g. ``tutor:created student:not_connected``. Once committed, ``kick`` queues
    a busy-time pull when the tutor's event moved or went."""
    if sync.booking is None:
        return "no_booking"
    for party in sync.parties:
        await record_access(session, settings, party.user_id, party.api, party.revoked, sync.now)
        if party.outcome == EventSync.DELETED:
            await repository.delete_event(session, sync.booking_id, party.user_id)
        elif party.written is not None:
            await repository.save_event(session, sync.booking_id, party.user_id, party.written.calendar_id,
                                        party.written.event_id, party.written.fingerprint)
    outcome = " ".join(f"{party.role}:{party.outcome}" for party in sync.parties)
    if sync.error is None:
        tutor = sync.parties[0]
        if kick is not None and tutor.outcome in (EventSync.DELETED, EventSync.PATCHED):
            session.after_commit(lambda: kick("calendar.pull_busy", str(tutor.user_id)))
        log.info("calendar sync of booking %s: %s", sync.booking_id, outcome)
    return outcome
