"""Instant-lesson jobs: ``instant.expire_due`` ends requests nobody accepted in time.

A sweep like ``bookings.expire_due`` (every ``SWEEP_INTERVAL_SECONDS``): a pending request past
its deadline already cannot be accepted (the deadline is a query condition); the sweep marks it
``expired`` and records ``instant.expired`` for its student and the tutors it was offered to,
one transaction per request, under the same locks as the API. Safe to run twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from server.db import Sessionmaker, unit_of_work
from server.instant import repository, service
from tasks import runtime
from tasks.broker import broker

log = logging.getLogger("edustream.tasks.instant")

BATCH = 500
SWEEP_SECONDS = max(1, round(broker.settings.sweep_interval_seconds))


async def expire_lapsed_requests(sessionmaker: Sessionmaker, now: datetime) -> int:
    """Expire every pending request whose deadline has passed; returns how many this call expired."""
    expired = 0
    while True:
        async with unit_of_work(sessionmaker) as session:
            due = await repository.lapsed_due(session, now, BATCH)
        for request_id, student_id in due:
            async with unit_of_work(sessionmaker) as session:
                if await service.expire(session, request_id, student_id, now) is not None:
                    expired += 1
        if len(due) < BATCH:
            return expired


@broker.task(task_name="instant.expire_due",
             schedule=[{"interval": SWEEP_SECONDS, "schedule_id": "instant.expire_due"}])
async def expire_due() -> int:
    """Expire instant requests nobody accepted (runs every second; safe to run twice)."""
    async with runtime.exclusive("instant.expire_due") as mine:
        if not mine:
            return 0
        count = await expire_lapsed_requests(runtime.get().sessionmaker, datetime.now(UTC))
    if count:
        log.info("expired %d instant request(s)", count)
    return count
