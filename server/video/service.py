"""Video meetings for confirmed lessons (Zoom, server/providers/zoom.py).

A sync (``video.create_meeting``) makes the booking's meeting follow the booking whatever
changed: confirmed without a meeting → a scheduled meeting is created and its join link goes
on the booking (``bookings.join_url``, so ``session.starting`` and e-mails carry it; both
parties hear ``booking.updated``); moved → the meeting is moved; cancelled, expired or
released → it is deleted (gone already is fine) and the link is removed from the booking.

Zoom has no idempotency keys: the caller serializes the runs of one booking (a Redis lock),
and a meeting is created only when the booking has none recorded. A sync runs in three steps
so that no database connection is held while Zoom answers: :func:`start_meeting_sync` reads,
:func:`push_meeting` calls Zoom, :func:`finish_meeting_sync` records.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from redis.asyncio import Redis

from models.booking import Booking
from models.integrations import ENDED_BOOKING_STATUSES, MeetingProvider, VideoMeeting
from server.bookings.events import tell_parties
from server.db import Session
from server.jobs import Kick
from server.providers.zoom import zoom_client
from server.settings import Settings
from server.video import repository

log = logging.getLogger("edustream.video")


class MeetingSync(StrEnum):
    """What a sync did to the booking's meeting."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    NOTHING = "nothing"
    NO_BOOKING = "no_booking"


@dataclass(frozen=True, slots=True)
class RecordedMeeting:
    meeting_id: str
    join_url: str
    start_at: datetime
    minutes: int


@dataclass
class Sync:
    """One sync of a booking's meeting: what was recorded, and what the push did."""

    booking: Booking | None
    meeting: RecordedMeeting | None
    outcome: MeetingSync | None = None
    created: RecordedMeeting | None = None


def _minutes(booking: Booking) -> int:
    return int((booking.end_at - booking.start_at).total_seconds() // 60)


async def start_meeting_sync(session: Session, booking_id: uuid.UUID) -> Sync:
    """Step 1: the booking and its recorded meeting."""
    booking = await repository.get_booking(session, booking_id)
    row = await repository.get_meeting(session, booking_id)
    meeting = RecordedMeeting(row.meeting_id, row.join_url, row.start_at, row.minutes) if row else None
    return Sync(booking, meeting)


async def push_meeting(settings: Settings, redis: Redis, sync: Sync) -> None:
    """Step 2 (Zoom only): create, move or delete the meeting as the booking now needs."""
    booking, meeting = sync.booking, sync.meeting
    if booking is None:
        sync.outcome = MeetingSync.NO_BOOKING
    elif booking.status in ENDED_BOOKING_STATUSES:
        if meeting is None:
            sync.outcome = MeetingSync.NOTHING
        else:
            async with zoom_client(settings, redis) as zoom:
                await zoom.delete_meeting(meeting.meeting_id)
            sync.outcome = MeetingSync.DELETED
    elif booking.status != "confirmed":
        sync.outcome = MeetingSync.NOTHING
    elif meeting is None:
        async with zoom_client(settings, redis) as zoom:
            meeting_id, join_url = await zoom.create_meeting(f"{settings.email_sender_name} lesson",
                                                             f"Booking {booking.id}", booking.start_at,
                                                             _minutes(booking))
        sync.created = RecordedMeeting(meeting_id, join_url, booking.start_at, _minutes(booking))
        sync.outcome = MeetingSync.CREATED
    elif meeting.start_at == booking.start_at and meeting.minutes == _minutes(booking):
        sync.outcome = MeetingSync.UNCHANGED
    else:
        async with zoom_client(settings, redis) as zoom:
            await zoom.move_meeting(meeting.meeting_id, booking.start_at, _minutes(booking))
        sync.outcome = MeetingSync.UPDATED


async def _set_join_url(session: Session, booking_id: uuid.UUID, join_url: str | None, now: datetime) -> None:
    booking = await repository.lock_booking(session, booking_id)
    if booking is not None and booking.join_url != join_url:
        booking.join_url = join_url
        await session.flush()
        await tell_parties(session, booking, now)


async def finish_meeting_sync(session: Session, settings: Settings, sync: Sync, now: datetime,
                              kick: Kick | None = None) -> MeetingSync:
    """Step 3: record the meeting and put its join link on the booking; returns what was done.
    Once committed, ``kick`` re-syncs the calendar events, which show the join link."""
    booking, outcome = sync.booking, sync.outcome or MeetingSync.NOTHING
    if booking is None:
        return outcome
    if outcome == MeetingSync.DELETED:
        await repository.delete_meeting(session, booking.id)
        await _set_join_url(session, booking.id, None, now)
    elif outcome == MeetingSync.CREATED and sync.created is not None:
        created = sync.created
        repository.add_meeting(session, VideoMeeting(
            booking_id=booking.id, provider=MeetingProvider.ZOOM, meeting_id=created.meeting_id,
            join_url=created.join_url, start_at=created.start_at, minutes=created.minutes))
        await _set_join_url(session, booking.id, created.join_url, now)
    elif outcome == MeetingSync.UNCHANGED and sync.meeting is not None and booking.join_url != sync.meeting.join_url:
        await _set_join_url(session, booking.id, sync.meeting.join_url, now)
    elif outcome == MeetingSync.UPDATED:
        row = await repository.lock_meeting(session, booking.id)
        if row is not None:
            row.start_at, row.minutes = booking.start_at, _minutes(booking)
    log.info("zoom meeting of booking %s: %s", booking.id, outcome)
    if kick is not None and outcome in (MeetingSync.CREATED, MeetingSync.UPDATED) and settings.google_configured:
        booking_id = str(booking.id)
        session.after_commit(lambda: kick("calendar.sync_booking", booking_id))
    return outcome
