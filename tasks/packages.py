"""Package credit jobs: ``credits.remind_expiring`` (``CREDITS_REMINDER_CRON``) reminds students
whose unused credits expire within ``CREDIT_EXPIRY_REMINDER_DAYS``, once per purchase (the
claim marks the purchase reminded in the transaction that records the live event and the
e-mail). Expiry itself needs no job: an expired credit is simply not spendable
(``models.package.spendable_sql``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from server.db import Sessionmaker
from server.packages import service
from server.settings import Settings
from tasks import runtime
from tasks.broker import broker
from tasks.housekeeping import drain

log = logging.getLogger("edustream.tasks.packages")

BATCH = 200


async def remind_expiring_credits(sessionmaker: Sessionmaker, settings: Settings, now: datetime) -> int:
    """Every reminder due at ``now``, in batches; how many purchases were reminded."""
    return await drain(sessionmaker, lambda session, batch: service.remind_expiring(session, settings, now, batch),
                       BATCH)


@broker.task(task_name="credits.remind_expiring",
             schedule=[{"cron": broker.settings.credits_reminder_cron, "schedule_id": "credits.remind_expiring"}])
async def remind_expiring() -> int:
    """Remind students of package credits about to expire."""
    async with runtime.exclusive("credits.remind_expiring", ttl_seconds=600) as mine:
        if not mine:
            return 0
        count = await remind_expiring_credits(runtime.get().sessionmaker, runtime.get().settings, datetime.now(UTC))
    if count:
        log.info("reminded %d purchase(s) of expiring credits", count)
    return count
