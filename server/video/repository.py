"""All SQL of video meetings: the meeting rows and the booking's join link."""

from __future__ import annotations

import uuid

from sqlalchemy import delete

from models.booking import Booking
from models.integrations import VideoMeeting
from server.db import Session


async def get_booking(session: Session, booking_id: uuid.UUID) -> Booking | None:
    """The booking whose meeting is synced."""
    return await session.get(Booking, booking_id)


async def lock_booking(session: Session, booking_id: uuid.UUID) -> Booking | None:
    """The booking, locked to change its join link."""
    return await session.get(Booking, booking_id, with_for_update=True)


async def get_meeting(session: Session, booking_id: uuid.UUID) -> VideoMeeting | None:
    """The booking's recorded meeting."""
    return await session.get(VideoMeeting, booking_id)


async def lock_meeting(session: Session, booking_id: uuid.UUID) -> VideoMeeting | None:
    """The booking's recorded meeting, locked for update."""
    return await session.get(VideoMeeting, booking_id, with_for_update=True)


def add_meeting(session: Session, meeting: VideoMeeting) -> None:
    """Stage a new meeting row (written by the next flush)."""
    session.add(meeting)


async def delete_meeting(session: Session, booking_id: uuid.UUID) -> None:
    """Forget the booking's meeting."""
    await session.execute(delete(VideoMeeting).where(VideoMeeting.booking_id == booking_id))
