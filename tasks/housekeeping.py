"""Housekeeping: delete rows nobody needs any more (``HOUSEKEEPING_CRON``, every 10 minutes).

* idempotency keys older than ``IDEMPOTENCY_TTL_SECONDS`` (a replay after that is a new request);
* published outbox rows older than ``LIVE_HISTORY_SECONDS`` (the resync window: a client
  further behind gets a snapshot instead of the missed changes);
* expired and released holds older than ``HOLD_RETENTION_DAYS`` (their history rows go with
  them; they never blocked anything, see models/booking.py's live rule), unless a payment
  touched them.

* ``deleted`` rows of ``uploads`` older than ``HOLD_RETENTION_DAYS`` (their objects are gone);
* notifications older than ``NOTIFICATION_RETENTION_DAYS``, read or not.

Deleting a booking row marks its files ``deleting`` (migration 0008's trigger);
``uploads.sweep`` (``UPLOADS_SWEEP_CRON``) then removes every object whose row says it must
go, and settles forms that lapsed ``UPLOADS_ORPHAN_GRACE_SECONDS`` ago: a material that
arrived is kept, anything else (a file that never arrived, an avatar upload never made the
avatar) is deleted from the store.

``auth.purge_tokens`` (same schedule) deletes refresh tokens and e-mail verification links
``REFRESH_TOKEN_RETENTION_SECONDS`` after they expired or were revoked.

Deletes run in batches so no statement holds locks for long; running twice is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from server.auth import service as auth
from server.db import Session, Sessionmaker, unit_of_work
from server.settings import Settings
from server.uploads import service as uploads
from tasks import runtime
from tasks.broker import broker

log = logging.getLogger("edustream.tasks.housekeeping")

BATCH = 5000

_PURGES = {
    "idempotency_keys": "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY("
                        "SELECT ctid FROM idempotency_keys WHERE created_at < :idempotency LIMIT :batch))",
    "outbox": "DELETE FROM outbox WHERE id IN ("
              "SELECT id FROM outbox WHERE published_at IS NOT NULL AND published_at < :outbox "
              "ORDER BY id LIMIT :batch)",
    "lapsed_holds": "DELETE FROM bookings WHERE id IN ("
                    "SELECT id FROM bookings WHERE status IN ('expired', 'released') AND updated_at < :holds "
                    # Anything money touched stays: it is the payment's record.
                    "AND payment_intent_id IS NULL "
                    "AND coalesce(payment_status, 'none') IN ('none', 'requires_payment') LIMIT :batch)",
    "deleted_uploads": "DELETE FROM uploads WHERE id IN ("
                       "SELECT id FROM uploads WHERE state = 'deleted' AND deleted_at < :holds LIMIT :batch)",
    "notifications": "DELETE FROM notifications WHERE id IN ("
                     "SELECT id FROM notifications WHERE created_at < :notifications LIMIT :batch)",
}
# Objects per sweep transaction (each batch is one DeleteObjects call and row locks held meanwhile).
SWEEP_BATCH = 200


Step = Callable[[Session, int], Awaitable[int]]


async def drain(sessionmaker: Sessionmaker, step: Step, batch: int) -> int:
    """Run ``step`` (which handles at most ``batch`` rows) in one transaction after another
    until a run handles fewer than ``batch``; how many rows it handled in all."""
    total = 0
    while True:
        async with unit_of_work(sessionmaker) as session:
            count = await step(session, batch)
        total += count
        if count < batch:
            return total


async def purge(sessionmaker: Sessionmaker, settings: Settings, now: datetime) -> dict[str, int]:
    """Delete what is past its retention; returns the number of rows deleted per kind."""
    cutoffs = {"idempotency": now - timedelta(seconds=settings.idempotency_ttl_seconds),
               "outbox": now - timedelta(seconds=settings.live_history_seconds),
               "holds": now - timedelta(days=settings.hold_retention_days),
               "notifications": now - timedelta(days=settings.notification_retention_days)}

    def purging(statement: str) -> Step:
        async def step(session: Session, batch: int) -> int:
            result = await session.execute(text(statement), {**cutoffs, "batch": batch})
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
        return step

    return {name: await drain(sessionmaker, purging(statement), BATCH) for name, statement in _PURGES.items()}


@broker.task(task_name="housekeeping.purge",
             schedule=[{"cron": broker.settings.housekeeping_cron, "schedule_id": "housekeeping.purge"}])
async def purge_old_rows() -> dict[str, int]:
    """Delete old idempotency keys, published outbox rows, lapsed holds and notifications."""
    async with runtime.exclusive("housekeeping.purge", ttl_seconds=600) as mine:
        if not mine:
            return {}
        deleted = await purge(runtime.get().sessionmaker, runtime.get().settings, datetime.now(UTC))
    log.info("housekeeping deleted %s", deleted)
    return deleted


async def purge_auth_tokens(sessionmaker: Sessionmaker, settings: Settings, now: datetime) -> int:
    """Delete spent refresh tokens and verification links in batches; how many."""
    return await drain(sessionmaker, lambda session, batch: auth.purge_tokens(session, settings, now, batch), BATCH)


@broker.task(task_name="auth.purge_tokens",
             schedule=[{"cron": broker.settings.housekeeping_cron, "schedule_id": "auth.purge_tokens"}])
async def purge_spent_tokens() -> int:
    """Delete refresh tokens and verification links long past use."""
    async with runtime.exclusive("auth.purge_tokens", ttl_seconds=600) as mine:
        if not mine:
            return 0
        deleted = await purge_auth_tokens(runtime.get().sessionmaker, runtime.get().settings, datetime.now(UTC))
    log.info("auth token purge deleted %d rows", deleted)
    return deleted


async def sweep_uploads(sessionmaker: Sessionmaker, settings: Settings, now: datetime) -> dict[str, int]:
    """Delete objects whose rows say they must go, then settle lapsed forms; rows per step."""
    if not settings.storage_configured:
        return {}
    def sweeping(step: Callable[[Session, Settings, datetime, int], Awaitable[int]]) -> Step:
        return lambda session, batch: step(session, settings, now, batch)

    return {name: await drain(sessionmaker, sweeping(step), SWEEP_BATCH)
            for name, step in (("deleted", uploads.delete_due), ("lapsed", uploads.settle_lapsed))}


@broker.task(task_name="uploads.sweep",
             schedule=[{"cron": broker.settings.uploads_sweep_cron, "schedule_id": "uploads.sweep"}])
async def sweep_stored_objects() -> dict[str, int]:
    """Remove doomed and orphaned objects from the file store."""
    async with runtime.exclusive("uploads.sweep", ttl_seconds=600) as mine:
        if not mine:
            return {}
        done = await sweep_uploads(runtime.get().sessionmaker, runtime.get().settings, datetime.now(UTC))
    log.info("uploads sweep %s", done)
    return done
