"""Message jobs: ``messages.email_unread`` e-mails a message still unread
``MESSAGE_EMAIL_AFTER_SECONDS`` after it was sent (every ``MESSAGE_EMAIL_SWEEP_SECONDS``).

Each (conversation, recipient) with such a message is claimed in the transaction that enqueues
its e-mail: every unread message of the pair is marked ``emailed_at`` there, so one unread
batch is e-mailed once, however often the sweep runs (and the ``email.send`` task re-checks
that something is still unread before sending). Safe to run twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from server.db import Sessionmaker
from server.messages import service
from server.settings import Settings
from tasks import runtime
from tasks.broker import broker
from tasks.housekeeping import drain

log = logging.getLogger("edustream.tasks.messages")

BATCH = 200


async def email_unread_messages(sessionmaker: Sessionmaker, settings: Settings, now: datetime) -> int:
    """Claim and e-mail every unread batch due at ``now``; how many e-mails were enqueued."""
    if settings.message_email_after_seconds <= 0:
        return 0
    return await drain(sessionmaker, lambda session, batch: service.email_unread(session, settings, now, batch), BATCH)


@broker.task(task_name="messages.email_unread",
             schedule=[{"interval": broker.settings.message_email_sweep_seconds,
                        "schedule_id": "messages.email_unread"}])
async def email_unread() -> int:
    """E-mail recipients of messages left unread (safe to run twice)."""
    async with runtime.exclusive("messages.email_unread", ttl_seconds=600) as mine:
        if not mine:
            return 0
        count = await email_unread_messages(runtime.get().sessionmaker, runtime.get().settings, datetime.now(UTC))
    if count:
        log.info("e-mailed %d unread message batch(es)", count)
    return count
