"""Tasks and rate limits over a Redis Cluster: the stream broker (a SIGKILLed worker's task
finished by another, retries released by the scheduler's script with its hash-tagged keys),
and rate limits that hold under concurrency when a request's buckets live on different shards."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from server.identity import issue_access_token
from server.jobs import TaskClient
from server.redis_client import make_redis, slot_groups
from server.settings import Settings
from tests.conftest import start_app
from tests.fixtures.redis_cluster import LocalCluster
from tests.helpers import bearer
from tests.tasks.conftest import Jobs, notes, until

pytestmark = pytest.mark.xdist_group("redis-cluster")


@pytest.fixture
async def credis(cluster_settings: Settings) -> AsyncIterator[Redis]:
    client = make_redis(cluster_settings)
    yield client
    await client.aclose()


@pytest.fixture
async def cluster_jobs(cluster: LocalCluster, cluster_settings: Settings, tmp_path: Path) -> AsyncIterator[Any]:
    started: list[Jobs] = []

    async def factory(redis: Redis, *, workers: int = 1, **overrides: str) -> Jobs:
        group = Jobs(cluster_settings, tmp_path, {"REDIS_CLUSTER_NODES": cluster.startup_nodes, **overrides})
        started.append(group)
        for _ in range(workers):
            group.start_worker()
        group.start_scheduler()
        await group.ready(redis, workers)
        return group

    yield factory
    for group in started:
        await group.stop()


def _client(settings: Settings, group: Jobs) -> TaskClient:
    return TaskClient(settings.model_copy(update={"task_queue_name": group.queue}))


async def _has(redis: Redis, key: str, event: str) -> bool:
    return any(n["event"] == event for n in await notes(redis, key))


async def test_a_sigkilled_workers_task_is_finished_by_another_worker(
        cluster_jobs: Any, credis: Redis, cluster_settings: Settings) -> None:
    group: Jobs = await cluster_jobs(credis, workers=2, TASK_IDLE_TIMEOUT_SECONDS="3")
    key = f"probe:{uuid.uuid4().hex[:8]}"
    async with _client(cluster_settings, group) as client:
        await client.kick("probe.slow", key, 2.0)
    await until(lambda: _has(credis, key, "started"), within=30, what="the task to start")
    [started] = await notes(credis, key)
    [victim] = [p for p in group.processes if p.name == "worker" and os.getpgid(started["pid"]) == p.pid]
    victim.kill()
    await until(lambda: _has(credis, key, "finished"), within=40, what="another worker to finish the task")
    events = await notes(credis, key)
    assert [e["event"] for e in events] == ["started", "started", "finished"]
    assert events[1]["pid"] != started["pid"]


async def test_retries_wait_in_a_set_that_shares_the_streams_slot_and_are_released(
        cluster_jobs: Any, credis: Redis, cluster_settings: Settings) -> None:
    group: Jobs = await cluster_jobs(credis, TASK_RETRY_BASE_SECONDS="1", TASK_MAX_RETRIES="3")
    assert len(slot_groups([group.queue, f"{{{group.queue}}}:delayed"])) == 1
    key = f"probe:{uuid.uuid4().hex[:8]}"
    async with _client(cluster_settings, group) as client:
        await client.kick("probe.flaky", key, 2)
    await until(lambda: _exists(credis, f"{key}:done"), within=45, what="the third attempt to succeed")
    assert len(await notes(credis, key)) == 3


async def _exists(redis: Redis, key: str) -> bool:
    return bool(await redis.exists(key))


@pytest.fixture
async def limited_cluster_app(cluster_settings: Settings) -> AsyncIterator[Any]:
    started: list[Any] = []

    async def start(**overrides: Any) -> Starlette:
        values: dict[str, Any] = {"rate_limit_per_ip": 1000, "rate_limit_per_user": 1000, "rate_limit_auth_per_ip": 1000,
                                  "rate_limit_window_seconds": 60, "hold_limit_per_ip": 1000,
                                  "live_redis_channel": cluster_settings.live_channel}
        app, ctx = await start_app(cluster_settings.model_copy(update={**values, **overrides}))
        started.append(ctx)
        return app

    yield start
    for ctx in started:
        await ctx.__aexit__(None, None, None)


def _client_at(app: Starlette, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url="http://testserver")


async def test_concurrent_requests_never_pass_a_limit_on_the_cluster(limited_cluster_app: Any) -> None:
    app = await limited_cluster_app(rate_limit_per_ip=10)
    async with _client_at(app, "10.1.0.1") as c:
        results = await asyncio.gather(*(c.get("/api/v1/openapi.json") for _ in range(25)))
    assert [r.status_code for r in results].count(200) == 10


async def test_buckets_on_different_shards_each_hold_their_limit_under_concurrency(
        limited_cluster_app: Any, cluster_settings: Settings) -> None:
    """Holds from one IP by many signed-in students: the per-user buckets and the per-IP hold
    bucket live in different slots; the per-IP bucket still lets exactly its limit through."""
    app = await limited_cluster_app(hold_limit_per_ip=4)
    users = [uuid.uuid4() for _ in range(12)]
    keys = [f"rl:user:{u}" for u in users]
    assert len(slot_groups([*keys, "rl:holds:{10.2.0.1}"])) > 1
    async with _client_at(app, "10.2.0.1") as c:
        results = await asyncio.gather(*(
            c.post("/api/v1/holds", json={}, headers=bearer(issue_access_token(cluster_settings, u, "student")))
            for u in users))
    statuses = [r.status_code for r in results]
    assert statuses.count(429) == 8, statuses
    refused = next(r for r in results if r.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
