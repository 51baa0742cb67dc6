"""Redis restarts under the live layer: broadcasts published while a process was not subscribed
never reach it, so once its subscription is back it disconnects its watchers, which re-watch
with ``since`` and end with exactly what the database says. A private Redis (and database, so
no other process leads the relay) lets the test restart it.

Single Redis only: with ``EDUSTREAM_TEST_REDIS=cluster`` it is skipped, because "Redis
restarts" means something else on a cluster (a master dies and its replica takes over; the
live layer then resubscribes where the slots moved). That case has its own test with the same
assertions: tests/cluster/test_live.py, the failover of the master owning a hot tutor's
channel, run in both passes."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from server.db import libpq_url
from server.identity import issue_access_token
from server.migrate import upgrade
from server.settings import Settings
from tests.conftest import CLUSTER, _recreate_database, _worker_database_url, make_settings
from tests.fixtures.redis_cluster import redis_server_7
from tests.helpers import bearer
from tests.realtime.conftest import (
    LiveClient,
    LiveServer,
    free_port,
    get_slots,
    make_tutor,
    place_hold,
    running_servers,
    slot_start,
)

pytestmark = [
    pytest.mark.xdist_group("redis-restart"),
    pytest.mark.skipif(CLUSTER, reason="restarts one private Redis; on a cluster the failover test of "
                                       "tests/cluster/test_live.py is its counterpart"),
]


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        argv = [redis_server_7() or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.directory)]
        with open(self.directory / "redis.log", "ab") as log:  # noqa: ASYNC230 - a small local file
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220 - left running
        deadline = time.monotonic() + 20
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


@pytest.fixture(scope="module")
async def private(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[PrivateRedis, Settings, list[LiveServer]]]:
    if redis_server_7() is None:
        pytest.skip("no redis-server on this machine")
    redis = PrivateRedis(tmp_path_factory.mktemp("private-redis"))
    await redis.start()
    url = make_url(_worker_database_url())
    url = url.set(database=f"{url.database}_redis").render_as_string(hide_password=False)
    await _recreate_database(url)
    await asyncio.to_thread(upgrade, url)
    settings = make_settings(database_url=url, redis_url=redis.url, redis_cluster_nodes="",
                             live_redis_channel="edustream-redis-restart")
    try:
        async with running_servers(settings, tmp_path_factory.mktemp("redis-restart-logs"), ["RA", "RB"]) as servers:
            yield redis, settings, servers
    finally:
        redis.stop()


async def _students(settings: Settings, n: int) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(libpq_url(settings.database_url))
    try:
        rows = await conn.fetch("INSERT INTO users (id, email, name, role) SELECT g, 's-' || g || '@example.com', "
                                "'Student', 'student' FROM (SELECT gen_random_uuid() AS g FROM generate_series(1, $1)) x "
                                "RETURNING id", n)
    finally:
        await conn.close()
    out = []
    for row in rows:
        token = issue_access_token(settings, row["id"], "student")
        out.append({"id": str(row["id"]), "token": token, "headers": bearer(token)})
    return out


async def test_watchers_repair_what_a_redis_restart_lost(
        private: tuple[PrivateRedis, Settings, list[LiveServer]],
        live_client: Callable[..., Awaitable[LiveClient]]) -> None:
    redis, settings, (a, b) = private
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as api:
        tutor = await make_tutor(api)
    students = await _students(settings, 6)
    watcher = await live_client(b.url)
    ack = await watcher.watch(tutor["id"])
    await place_hold(a.url, students[0], tutor["id"], slot_start(hour=6))
    await watcher.wait_versions(tutor["id"], ack["version"] + 1)

    redis.stop()
    # Changes keep committing while Redis is down (the relay keeps their rows until it can publish).
    for hour, student in enumerate(students[1:4], start=7):
        await place_hold(a.url, student, tutor["id"], slot_start(hour=hour))
    await redis.start()
    # Once B's subscription is back it tells its watchers to repair.
    await watcher.wait_for(lambda c: bool(c.disconnects), within=30)
    again = await live_client(b.url)
    missed = await again.watch(tutor["id"], since=ack["version"] + 1)
    await place_hold(a.url, students[4], tutor["id"], slot_start(hour=12))
    versions = await again.wait_versions(tutor["id"], missed["version"] + 1, within=20)
    assert versions[-1] == missed["version"] + 1
    truth = await get_slots(a.url, tutor["id"])
    assert truth["version"] == missed["version"] + 1
    held = {s["start"] for s in truth["slots"] if s["status"] == "held"}
    assert len(held) == 5
    assert {c["start"] for c in missed.get("changes", []) if c["status"] == "held"} | {
        c["start"] for d in again.changes_after_snapshot(tutor["id"]) for c in d["changes"]} | {
        c["start"] for d in watcher.changes_after_snapshot(tutor["id"]) for c in d["changes"]} >= held
