"""Admin dead-letter endpoints: list (newest first, paginated) and re-queue once."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

import tasks.all  # noqa: F401 - declares every task
from server.identity import issue_access_token
from server.jobs import OUTBOUND_TASK_NAMES
from server.settings import Settings
from tasks.broker import broker
from tasks.outbound import OUTBOUND_TASKS
from tests.helpers import bearer


async def _user(db: asyncpg.Pool, settings: Settings, role: str) -> dict[str, str]:
    uid = uuid.uuid4()
    await db.execute("INSERT INTO users (id, email, name, role) VALUES ($1, $2, 'Someone', $3)",
                     uid, f"{role}-{uid.hex[:10]}@example.com", role)
    return bearer(issue_access_token(settings, uid, role))


@pytest.fixture
async def admin(db: asyncpg.Pool, settings: Settings) -> dict[str, str]:
    return await _user(db, settings, "admin")


async def _letter(db: asyncpg.Pool, task: str = "email.send", args: Any = None) -> int:
    args = args if args is not None else {"args": ["a@example.com", "welcome", {"name": "Ada"}], "kwargs": {}}
    return int(await db.fetchval(
        "INSERT INTO dead_letters (task_name, args, last_error, attempts) VALUES ($1, $2::jsonb, 'boom', 6) "
        "RETURNING id", task, json.dumps(args)))


async def test_dead_letters_need_the_admin_role(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                settings: Settings) -> None:
    assert (await client.get("/api/v1/admin/dead-letters")).status_code == 401
    student = await _user(db, settings, "student")
    r = await client.get("/api/v1/admin/dead-letters", headers=student)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await client.post(f"/api/v1/admin/dead-letters/{await _letter(db)}/retry", headers=student)
    assert r.status_code == 403


async def test_dead_letters_are_listed_newest_first_in_pages(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                             admin: dict[str, str]) -> None:
    ids = [await _letter(db) for _ in range(3)]
    first = (await client.get("/api/v1/admin/dead-letters?limit=2", headers=admin)).json()
    assert [i["id"] for i in first["items"]] == [ids[2], ids[1]]
    assert first["items"][0]["args"]["args"][0] == "a@example.com"
    assert first["items"][0]["task_name"] == "email.send" and first["items"][0]["attempts"] == 6
    rest = (await client.get(f"/api/v1/admin/dead-letters?limit=2&cursor={first['next_cursor']}",
                             headers=admin)).json()
    assert [i["id"] for i in rest["items"]] == [ids[0]] and rest["next_cursor"] is None


async def test_bad_cursor_is_422(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    r = await client.get("/api/v1/admin/dead-letters?cursor=nonsense", headers=admin)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor"


async def test_retry_requeues_the_call_once(client: httpx.AsyncClient, db: asyncpg.Pool, redis: Redis,
                                            settings: Settings, admin: dict[str, str]) -> None:
    letter = await _letter(db)
    r = await client.post(f"/api/v1/admin/dead-letters/{letter}/retry", headers=admin)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["dead_letter"]["retried_at"] is not None

    [(_, fields)] = await redis.xrange(settings.task_queue_name)
    message = json.loads(fields[b"data"])
    assert message["task_id"] == body["task_id"] and message["task_name"] == "email.send"
    assert message["args"] == ["a@example.com", "welcome", {"name": "Ada"}]
    # The worker runs it as the declared outbound call, with a fresh retry budget.
    received = broker.formatter.loads(fields[b"data"])
    assert received.labels["outbound"] is True and "_retries" not in received.labels

    again = await client.post(f"/api/v1/admin/dead-letters/{letter}/retry", headers=admin)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_retried"
    waiting = (await client.get("/api/v1/admin/dead-letters?retried=false", headers=admin)).json()
    assert waiting["items"] == []


async def test_retry_of_a_task_that_no_longer_exists_is_409(client: httpx.AsyncClient, db: asyncpg.Pool,
                                                            admin: dict[str, str]) -> None:
    letter = await _letter(db, task="fax.send")
    r = await client.post(f"/api/v1/admin/dead-letters/{letter}/retry", headers=admin)
    assert r.status_code == 409 and r.json()["error"]["code"] == "unknown_task"
    assert await db.fetchval("SELECT retried_at FROM dead_letters WHERE id = $1", letter) is None


@pytest.mark.parametrize("letter_id", ["999999", "abc", "0", "-1", "1e3", str(2**63)])
async def test_retry_of_a_missing_or_malformed_id_is_404(client: httpx.AsyncClient, admin: dict[str, str],
                                                         letter_id: str) -> None:
    r = await client.post(f"/api/v1/admin/dead-letters/{letter_id}/retry", headers=admin)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_every_declared_outbound_task_can_be_requeued() -> None:
    # The admin checks names against server.jobs without importing tasks/; the two must agree
    # (test probes, declared outside tasks/, aside).
    declared = {name for name, task in OUTBOUND_TASKS.items() if task.original_func.__module__.startswith("tasks.")}
    assert declared == OUTBOUND_TASK_NAMES
