"""The booking rows lesson materials read."""

from __future__ import annotations

import uuid

from models.booking import Booking
from server.db import Session


async def get_booking(session: Session, booking_id: uuid.UUID) -> Booking | None:
    """The booking, whatever its status."""
    return await session.get(Booking, booking_id)


async def lock_booking(session: Session, booking_id: uuid.UUID) -> Booking | None:
    """The booking, locked for update (its material uploads queue behind the lock)."""
    return await session.get(Booking, booking_id, with_for_update=True, populate_existing=True)
