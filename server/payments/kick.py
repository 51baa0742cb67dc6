"""Enqueue payment tasks from the API process (after commit)."""

from __future__ import annotations

import logging
import uuid

from server.jobs import TaskClient
from server.settings import Settings

log = logging.getLogger("edustream.payments")


async def _kick(settings: Settings, task: str, booking_id: uuid.UUID) -> None:
    try:
        async with TaskClient(settings) as client:
            await client.kick(task, str(booking_id))
    except Exception:
        log.exception("could not enqueue %s for booking %s", task, booking_id)


async def kick_refund(settings: Settings, booking_id: uuid.UUID) -> None:
    await _kick(settings, "payments.refund", booking_id)


async def kick_cancel_intent(settings: Settings, booking_id: uuid.UUID) -> None:
    await _kick(settings, "payments.cancel_intent", booking_id)
