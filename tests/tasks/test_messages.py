"""``messages.email_unread`` through the real broker and worker and the local fake Brevo: a
message still unread MESSAGE_EMAIL_AFTER_SECONDS after it was sent is e-mailed to its
recipient once, however often the sweep runs; a read one, or a recent one, is not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis
from starlette.applications import Starlette

from server.jobs import CONSUMER_GROUP
from server.messages import service
from server.settings import Settings
from tasks.broker import broker
from tasks.housekeeping import drain
from tasks.messages import email_unread
from tests.fakes.brevo import API_KEY
from tests.fixtures.integrations import Fakes, quick_user
from tests.fixtures.integrations import fakes as fakes
from tests.fixtures.integrations import iapp as iapp
from tests.fixtures.integrations import ic as ic
from tests.fixtures.integrations import isettings as isettings
from tests.fixtures.integrations import reset_fakes as reset_fakes
from tests.tasks.conftest import Jobs, until


def test_the_sweep_runs_every_message_email_sweep_seconds() -> None:
    labels = broker.find_task("messages.email_unread").labels  # type: ignore[union-attr]
    assert labels["schedule"] == [{"interval": broker.settings.message_email_sweep_seconds,
                                   "schedule_id": "messages.email_unread"}]
    assert email_unread.task_name == "messages.email_unread"


async def _send(ic: httpx.AsyncClient, sender: dict[str, Any], to: dict[str, Any], body: str) -> dict[str, Any]:
    r = await ic.post("/api/v1/messages", headers=sender["headers"], json={"to_user_id": to["user"]["id"], "body": body})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _drained(redis: Redis, queue: str) -> bool:
    """Every kicked task was delivered and acknowledged (run to the end)."""
    [group] = [g for g in await redis.xinfo_groups(queue) if g["name"].decode() == CONSUMER_GROUP]
    return bool(group["pending"] == 0 and group.get("lag") == 0)


async def test_an_unread_message_is_emailed_once_and_a_read_or_recent_one_never(
        jobs: Callable[..., Awaitable[Jobs]], ic: httpx.AsyncClient, fakes: Fakes, db: asyncpg.Pool,
        redis: Redis) -> None:
    student = await quick_user("student", "Sam Student")
    unread_tutor, read_tutor, recent_tutor = (await quick_user("tutor", "Una Unread"), await quick_user("tutor"),
                                              await quick_user("tutor"))
    first = await _send(ic, student, unread_tutor, "Are you free on Thursday?")
    await _send(ic, student, unread_tutor, "Or Friday <b>afternoon</b>?")
    read = await _send(ic, student, read_tutor, "Hello")
    await _send(ic, student, recent_tutor, "Just now")
    r = await ic.post(f"/api/v1/conversations/{read['conversation_id']}/read", headers=read_tutor["headers"],
                      json={"up_to_message_id": read["id"]})
    assert r.status_code == 200, r.text
    # Sent 20 minutes ago (MESSAGE_EMAIL_AFTER_SECONDS is its default, 15 minutes), except the recent one.
    await db.execute("UPDATE messages SET sent_at = sent_at - interval '20 minutes' WHERE recipient_id <> $1",
                     recent_tutor["user"]["id"])

    group = await jobs(scheduler=False, wait=False, BREVO_API_KEY=API_KEY, BREVO_API_BASE=fakes.brevo.url,
                       EMAIL_SENDER_ADDRESS="lessons@edustream.test")
    async with group.client() as client:
        for _ in range(3):
            await client.kick("messages.email_unread")

        async def emailed() -> bool:
            return bool(fakes.brevo.to(unread_tutor["user"]["email"]))

        await until(emailed, 60, "the unread-message e-mail")
        await client.kick("messages.email_unread")
        await until(lambda: _drained(redis, group.queue), 60, "every sweep and e-mail to run")

    [mail] = [m for m in fakes.brevo.sent if m["tags"] == ["message_unread"]]
    assert mail["to"] == [{"email": unread_tutor["user"]["email"], "name": "Una Unread"}]
    assert mail["subject"] == "Sam Student sent you 2 messages on EduStream"
    assert "Are you free on Thursday?" in mail["textContent"]
    assert "Or Friday &lt;b&gt;afternoon&lt;/b&gt;?" in mail["htmlContent"]  # escaped
    assert f"/messages?c={first['conversation_id']}" in mail["textContent"]
    rows = await db.fetch("SELECT recipient_id::text AS r, emailed_at IS NOT NULL AS e FROM messages")
    assert {(row["r"], row["e"]) for row in rows} == {(unread_tutor["user"]["id"], True),
                                                      (read_tutor["user"]["id"], False),
                                                      (recent_tutor["user"]["id"], False)}


async def test_concurrent_sweeps_claim_each_unread_batch_exactly_once(app: Starlette, db: asyncpg.Pool,
                                                                     settings: Settings) -> None:
    student = uuid.uuid4()
    tutors = [uuid.uuid4() for _ in range(30)]
    await db.executemany("INSERT INTO users (id, email, name, role) VALUES ($1, $2, 'U', $3)",
                         [(student, f"s-{student.hex}@example.com", "student"),
                          *[(t, f"t-{t.hex}@example.com", "tutor") for t in tutors]])
    for tutor in tutors:
        conversation = await db.fetchval(
            "INSERT INTO conversations (id, user_low_id, user_high_id) VALUES (gen_random_uuid(), least($1::uuid, $2), "
            "greatest($1::uuid, $2)) RETURNING id", student, tutor)
        await db.executemany(
            "INSERT INTO messages (id, conversation_id, sender_id, recipient_id, body, sent_at) "
            "VALUES (gen_random_uuid(), $1, $2, $3, $4, now() - interval '20 minutes')",
            [(conversation, student, tutor, f"m{i}") for i in range(3)])
    now = datetime.now(UTC)

    async def sweep() -> int:
        return await drain(app.state.sessionmaker, lambda s, batch: service.email_unread(s, settings, now, batch), 4)

    counts = await asyncio.gather(*(sweep() for _ in range(6)))
    assert sum(counts) == len(tutors)  # every batch claimed by exactly one sweep
    assert await db.fetchval("SELECT count(*) FROM messages WHERE emailed_at IS NULL") == 0
    assert await sweep() == 0
