"""Spending a package credit on a booking, and giving it back: what the bookings domain calls
(in its own transaction, with the booking's row locked).

Spending is a conditional UPDATE (``remaining > 0`` and unexpired, re-checked on the newest
row version after any concurrent spend commits) with ``remaining >= 0`` as a check constraint
behind it: two checkouts racing for the last credit cannot both get it. The ``spend`` and
``return`` rows in ``credit_movements`` (one of each per booking at most) make each happen once.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from server.db import Session
from server.packages import repository
from server.packages.errors import NoCredit


async def spend(session: Session, *, booking_id: uuid.UUID, student_id: uuid.UUID, tutor_id: uuid.UUID,
                minutes: int, now: datetime) -> uuid.UUID:
    """Take one credit for a ``minutes``-long lesson with the tutor (the soonest to expire
    first); returns the purchase it came from. 409 ``no_credit`` when there is none."""
    for _ in range(3):
        candidates = await repository.spend_candidates(session, student_id, tutor_id, minutes, now)
        if not candidates:
            break
        for purchase_id in candidates:
            if await repository.take_credit(session, purchase_id, now):
                await repository.record_spend(session, purchase_id, booking_id)
                return purchase_id
        # Every candidate was spent by concurrent checkouts meanwhile: look again (new snapshot).
    raise NoCredit(details={"tutor_id": str(tutor_id), "minutes": minutes})


async def give_back(session: Session, *, booking_id: uuid.UUID, purchase_id: uuid.UUID) -> bool:
    """Return the credit a cancelled booking spent (once; False when it was returned before)."""
    return await repository.give_back(session, purchase_id, booking_id)
