"""``credits.remind_expiring`` through the real broker and worker: a student whose unused
package credits expire soon is reminded once, however often the sweep runs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
from redis.asyncio import Redis

from server.jobs import CONSUMER_GROUP
from server.settings import Settings
from tasks.broker import broker
from tasks.packages import remind_expiring
from tests.tasks.conftest import Jobs, make_user, until


async def _purchase(db: asyncpg.Pool, student_id: str, tutor_id: str, expires_in: timedelta) -> uuid.UUID:
    package_id, purchase_id = uuid.uuid4(), uuid.uuid4()
    await db.execute("INSERT INTO lesson_packages (id, tutor_id, lessons, minutes, price_cents, currency, active) "
                     "VALUES ($1, $2::uuid, 5, 60, 20000, 'USD', false)", package_id, tutor_id)
    await db.execute(
        "INSERT INTO package_purchases (id, package_id, student_id, tutor_id, lessons, minutes, price_cents, currency, "
        "status, remaining, paid_at, expires_at) VALUES ($1, $2, $3::uuid, $4::uuid, 5, 60, 20000, 'USD', 'paid', 3, "
        "now(), now() + $5::interval)", purchase_id, package_id, student_id, tutor_id, expires_in)
    return purchase_id


def test_the_sweep_is_scheduled_on_credits_reminder_cron() -> None:
    labels = broker.find_task("credits.remind_expiring").labels  # type: ignore[union-attr]
    assert labels["schedule"] == [{"cron": broker.settings.credits_reminder_cron,
                                   "schedule_id": "credits.remind_expiring"}]
    assert remind_expiring.task_name == "credits.remind_expiring"


async def test_worker_reminds_expiring_credits_once(jobs: Callable[..., Awaitable[Jobs]], db: asyncpg.Pool,
                                                    redis: Redis, settings: Settings) -> None:
    student, other, tutor = (await make_user(db, settings), await make_user(db, settings),
                             await make_user(db, settings, "tutor"))
    soon = await _purchase(db, student["id"], tutor["id"], timedelta(days=3))
    await _purchase(db, other["id"], tutor["id"], timedelta(days=200))
    group = await jobs(scheduler=False, wait=False)  # nothing else kicks tasks: wait for the reminder instead
    async with group.client() as client:
        for _ in range(3):
            await client.kick("credits.remind_expiring")

        async def reminded() -> bool:
            return await db.fetchval("SELECT reminded_at IS NOT NULL FROM package_purchases WHERE id = $1", soon)

        await until(reminded, 60, "the reminder")
        await client.kick("credits.remind_expiring")
        await until(lambda: _drained(redis, group.queue), 60, "every sweep to run")
    rows = await db.fetch("SELECT room, payload FROM outbox WHERE event = 'credits.expiring'")
    assert [r["room"] for r in rows] == [f"user:{student['id']}"]
    assert json.loads(rows[0]["payload"])["remaining"] == 3


async def _drained(redis: Redis, queue: str) -> bool:
    """Every kicked task was delivered and acknowledged (run to the end)."""
    [group] = [g for g in await redis.xinfo_groups(queue) if g["name"].decode() == CONSUMER_GROUP]
    return bool(group["pending"] == 0 and group.get("lag") == 0)
