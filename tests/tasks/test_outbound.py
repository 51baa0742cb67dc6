"""Outbound tasks through a real worker and scheduler: retries with growing delays, dead
letters, permanent errors, time limits, and an admin re-queueing a dead letter."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from server.redis_client import slot_groups
from server.settings import Settings
from tasks.outbound import backoff_seconds, delayed_key
from tests.conftest import make_settings, start_app
from tests.tasks.conftest import Jobs, make_user, notes, until

pytestmark = pytest.mark.xdist_group("jobs")


def _key() -> str:
    return f"probe:{uuid.uuid4().hex[:8]}"


async def _dead_letters(db: asyncpg.Pool) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetch("SELECT * FROM dead_letters ORDER BY id")]


def test_backoff_doubles_per_attempt_with_up_to_a_quarter_off_and_a_cap() -> None:
    settings = make_settings(task_retry_base_seconds=2, task_retry_max_seconds=30)
    assert [backoff_seconds(settings, n, rand=lambda: 0.0) for n in (1, 2, 3, 4, 5, 6)] == [2, 4, 8, 16, 30, 30]
    assert [backoff_seconds(settings, n, rand=lambda: 1.0) for n in (1, 2, 3)] == [1.5, 3, 6]


async def test_task_failing_twice_then_succeeding_is_retried_with_growing_delays(
        jobs, redis: Redis, db: asyncpg.Pool) -> None:
    group: Jobs = await jobs(TASK_RETRY_BASE_SECONDS="2", TASK_MAX_RETRIES="3")
    # Retries wait in a set sharing the stream's slot: on a Redis Cluster one script moves them.
    assert len(slot_groups([group.queue, delayed_key(make_settings(task_queue_name=group.queue))])) == 1
    key = _key()
    async with group.client() as client:
        await client.kick("probe.flaky", key, 2)

    await until(lambda: _exists(redis, f"{key}:done"), within=45, what="the third attempt to succeed")
    attempts = [n["at"] for n in await notes(redis, key)]
    assert len(attempts) == 3
    first_wait, second_wait = attempts[1] - attempts[0], attempts[2] - attempts[1]
    # Backoff 2 s then 4 s, each minus up to 25 % jitter, released by a once-a-second sweep.
    assert 1.5 - 0.1 <= first_wait <= 2 + 1.2, first_wait
    assert 3 - 0.1 <= second_wait <= 4 + 1.2, second_wait
    assert second_wait > first_wait
    assert await _dead_letters(db) == []


async def _exists(redis: Redis, key: str) -> bool:
    return bool(await redis.exists(key))


async def test_always_failing_task_lands_in_dead_letters_after_its_retries(
        jobs, redis: Redis, db: asyncpg.Pool) -> None:
    group: Jobs = await jobs(TASK_RETRY_BASE_SECONDS="0.5")
    key = _key()
    async with group.client() as client:
        await client.kick("probe.always_fails", key, "provider answered 503")

    await until(lambda: _count(db), within=45, what="a dead letter")
    [letter] = await _dead_letters(db)
    assert letter["task_name"] == "probe.always_fails"
    assert json.loads(letter["args"]) == {"args": [key, "provider answered 503"], "kwargs": {}}
    assert letter["attempts"] == 3  # the first run and max_retries=2 retries
    assert "RuntimeError: provider answered 503" in letter["last_error"]
    assert len(await notes(redis, key)) == 3


async def _count(db: asyncpg.Pool) -> bool:
    return bool(await db.fetchval("SELECT count(*) FROM dead_letters"))


async def test_task_over_its_time_limit_is_stopped_and_dead_lettered(jobs, redis: Redis, db: asyncpg.Pool) -> None:
    group: Jobs = await jobs()
    key = _key()
    async with group.client() as client:
        await client.kick("probe.too_slow", key)
    await until(lambda: _count(db), within=30, what="a dead letter")
    [letter] = await _dead_letters(db)
    assert letter["attempts"] == 1
    assert "TimeoutError" in letter["last_error"]


@pytest.fixture
async def admin_api(settings: Settings, db: asyncpg.Pool) -> AsyncIterator[Any]:
    """An in-process API whose task client kicks onto a given test stream: ``await admin_api(queue)``."""
    contexts: list[Any] = []

    async def factory(queue: str) -> httpx.AsyncClient:
        app, ctx = await start_app(make_settings(task_queue_name=queue))
        contexts.append(ctx)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        contexts.append(client)
        return client

    yield factory
    for ctx in reversed(contexts):
        await ctx.__aexit__(None, None, None)


async def test_permanent_error_is_dead_lettered_at_once_and_an_admin_retry_runs_it_again(
        jobs, admin_api, redis: Redis, db: asyncpg.Pool, settings: Settings) -> None:
    group: Jobs = await jobs()
    key = _key()
    async with group.client() as client:
        await client.kick("probe.rejected", key)
    await until(lambda: _count(db), within=30, what="a dead letter")
    [letter] = await _dead_letters(db)
    assert letter["attempts"] == 1
    assert "PermanentError: provider said 400" in letter["last_error"]

    admin = await make_user(db, settings, role="admin")
    api = await admin_api(group.queue)
    listed = (await api.get("/api/v1/admin/dead-letters", headers=admin["headers"])).json()
    assert [item["id"] for item in listed["items"]] == [letter["id"]]
    r = await api.post(f"/api/v1/admin/dead-letters/{letter['id']}/retry", headers=admin["headers"])
    assert r.status_code == 202, r.text
    assert r.json()["dead_letter"]["retried_at"] is not None

    await until(lambda: _dead_letter_count_is(db, 2), within=30, what="the retried task's own dead letter")
    assert len(await notes(redis, key)) == 2
    again = await api.post(f"/api/v1/admin/dead-letters/{letter['id']}/retry", headers=admin["headers"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_retried"


async def _dead_letter_count_is(db: asyncpg.Pool, n: int) -> bool:
    return int(await db.fetchval("SELECT count(*) FROM dead_letters")) == n
