"""What a booking change tells the world: its history row, its live events, the metrics.

Every status change goes through :func:`transition` here, so the state machine, the
``booking_events`` row, the hold metrics and the ``booking.updated``/``booking.new``
messages are written once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from models.booking import TRANSITIONS, Booking, BookingStatus
from server.bookings import repository
from server.bookings.errors import InvalidTransition
from server.bookings.schemas import BookingOut
from server.db import Session
from server.observability import metrics
from server.outbox import Message, emit, user_room


def messages(booking: Booking, now: datetime, names: Mapping[uuid.UUID, str], *,
             new: bool = False) -> list[Message]:
    """``booking.updated`` to both parties (and ``booking.new`` to the tutor for a new booking)."""
    payload = {"booking": BookingOut.of(booking, now, names).model_dump(mode="json")}
    out: list[Message] = [("booking.updated", user_room(booking.student_id), payload),
                          ("booking.updated", user_room(booking.tutor_id), payload)]
    if new:
        out.append(("booking.new", user_room(booking.tutor_id), payload))
    return out


async def messages_for(session: Session, booking: Booking, now: datetime, *, new: bool = False) -> list[Message]:
    return messages(booking, now, await repository.names(session, [booking]), new=new)


def record(session: Session, booking: Booking, kind: str, actor_id: uuid.UUID | None,
           from_status: BookingStatus | None, data: dict[str, Any] | None = None) -> None:
    """The history row of a change already applied to ``booking``, and its hold metrics."""
    repository.add_event(session, booking, kind, actor_id, from_status, data)
    metrics.count_transition(session, from_status, booking.status)  # counted after commit


def transition(session: Session, booking: Booking, to_status: BookingStatus, kind: str,
               actor_id: uuid.UUID | None, data: dict[str, Any] | None = None) -> BookingStatus:
    """Apply a status change the state machine allows, with its history row; returns the
    previous status. A hold that stops being held loses its expiry (an expired one keeps it)."""
    if to_status not in TRANSITIONS[booking.status]:
        raise InvalidTransition(f"A {booking.status} booking cannot become {to_status}.",
                                details={"from": booking.status, "to": to_status})
    previous = booking.status
    booking.status = to_status
    if to_status not in (BookingStatus.HELD, BookingStatus.EXPIRED):
        booking.expires_at = None
    record(session, booking, kind, actor_id, previous, data)
    return previous


async def tell_parties(session: Session, booking: Booking, now: datetime) -> None:
    """Tell both parties about a change that does not move the slot (e.g. a payment failure)."""
    await emit(session, await messages_for(session, booking, now))
