"""Integration tasks through the real machinery: a taskiq worker and scheduler as
subprocesses (the ``jobs`` fixture of conftest.py) dispatch a new account's welcome e-mail to the local
fake Brevo. A 500 is retried with backoff until Brevo accepts; a 400 is dead-lettered at once
and not retried. The calendar refresh runs there too."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from tests.fakes import google as fg
from tests.fakes.brevo import API_KEY
from tests.fakes.google import Identity
from tests.fixtures.integrations import Fakes, connect_calendar, quick_user, tutor_with_profile
from tests.fixtures.integrations import fakes as fakes
from tests.fixtures.integrations import iapp as iapp
from tests.fixtures.integrations import ic as ic
from tests.fixtures.integrations import isettings as isettings
from tests.fixtures.integrations import reset_fakes as reset_fakes
from tests.tasks.conftest import until


def worker_env(fakes: Fakes) -> dict[str, str]:
    return {"BREVO_API_KEY": API_KEY, "BREVO_API_BASE": fakes.brevo.url, "INTEGRATIONS_SWEEP_SECONDS": "1",
            "TASK_RETRY_BASE_SECONDS": "0.3", "TASK_MAX_RETRIES": "3", "EMAIL_SENDER_ADDRESS": "lessons@edustream.test"}


async def test_a_brevo_outage_is_retried_until_the_email_is_sent(jobs: object, ic: httpx.AsyncClient, fakes: Fakes,
                                                                db: asyncpg.Pool) -> None:
    fakes.brevo.fail_next("/v3/smtp/email", 500, times=2)
    await jobs(**worker_env(fakes))  # type: ignore[operator]
    # Inserted, not registered: registering would also send a verify_email message to the same fake.
    user = await quick_user("student", "Retry Student")

    async def sent() -> bool:
        return bool(fakes.brevo.to(user["user"]["email"]))

    await until(sent, 30, "the welcome e-mail to be accepted")
    calls = fakes.brevo.calls("POST", "/v3/smtp/email")
    assert len(calls) == 3  # two 500s, then accepted
    assert [m["tags"] for m in fakes.brevo.sent] == [["welcome"]]
    assert all(c.json()["to"] == [{"email": user["user"]["email"], "name": "Retry Student"}] for c in calls)
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0


async def test_brevo_refusing_the_message_dead_letters_it_without_retrying(jobs: object, ic: httpx.AsyncClient,
                                                                          fakes: Fakes, db: asyncpg.Pool) -> None:
    fakes.brevo.fail_next("/v3/smtp/email", 400, times=10,
                          body={"code": "invalid_parameter", "message": "email is not valid in to"})
    await jobs(**worker_env(fakes))  # type: ignore[operator]
    user = await quick_user("tutor")  # no verify_email message alongside the welcome

    async def dead() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM dead_letters"))

    await until(dead, 30, "the refused e-mail to be dead-lettered")
    row = await db.fetchrow("SELECT task_name, args, attempts, last_error FROM dead_letters")
    assert row["task_name"] == "email.send" and row["attempts"] == 1
    assert "invalid_parameter" in row["last_error"] and "HTTP 400" in row["last_error"]
    assert json.loads(row["args"])["args"][:2] == [user["user"]["id"], "welcome"]
    await asyncio.sleep(2)  # several backoff periods: nothing is retried
    assert len(fakes.brevo.calls("POST", "/v3/smtp/email")) == 1
    assert fakes.brevo.sent == []


async def test_the_scheduled_calendar_refresh_pulls_busy_time_in_the_worker(
        jobs: object, ic: httpx.AsyncClient, fakes: Fakes, db: asyncpg.Pool) -> None:
    google = {"GOOGLE_CLIENT_ID": fg.CLIENT_ID, "GOOGLE_CLIENT_SECRET": fg.CLIENT_SECRET,
              "GOOGLE_DISCOVERY_URL": fakes.google.discovery_url,
              "GOOGLE_CALENDAR_API_BASE": fakes.google.calendar_base}
    group = await jobs(**worker_env(fakes), **google)  # type: ignore[operator]
    tutor = await tutor_with_profile(ic)
    assert (await connect_calendar(ic, fakes, tutor, Identity("g-worker", tutor["user"]["email"]))).status_code == 302
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    fakes.google.busy[tutor["user"]["email"]] = [(start.isoformat(), (start + timedelta(hours=1)).isoformat())]
    async with group.client() as client:  # type: ignore[attr-defined]
        await client.kick("calendar.refresh_all")  # what GOOGLE_CALENDAR_SYNC_CRON fires

    async def pulled() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM calendar_busy"))

    await until(pulled, 30, "the worker to store the tutor's busy time")
    during = await db.fetchval("SELECT during FROM calendar_busy")
    assert (during.lower, during.upper) == (start, start + timedelta(hours=1))
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE event = 'slots.changed' AND tutor_id = $1 "
                             "AND payload->>'resync' = 'true'", uuid.UUID(tutor["id"])) >= 1
