"""The outbox relay: committed changes are published even when the process that made them dies."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid

import asyncpg
import pytest

from realtime.manager import Broadcast
from tests.realtime.conftest import LiveServer, make_tutor, place_hold, slot_start

pytestmark = pytest.mark.xdist_group("live")


async def relay_leader(db: asyncpg.Pool, servers: list[LiveServer], within: float = 10) -> LiveServer:
    """The API process whose relay holds the publisher lock."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        names = await db.fetch(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() "
            "AND a.application_name LIKE 'edustream-relay:%'")
        pids = {int(r["application_name"].rsplit(":", 1)[1]) for r in names}
        leaders = [s for s in servers if s.proc is not None and s.pid in pids]
        if len(leaders) == 1:
            return leaders[0]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no single relay leader among {pids}")
        await asyncio.sleep(0.1)


async def unpublished(db: asyncpg.Pool, within: float = 5) -> int:
    """Outbox rows not yet marked published, once the relay's transaction had time to commit."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        count = int(await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        if count == 0 or asyncio.get_running_loop().time() > deadline:
            return count
        await asyncio.sleep(0.05)


async def test_rows_committed_by_a_process_that_died_before_publishing_are_published(
        live, api, live_client, db: asyncpg.Pool) -> None:
    tutor = await make_tutor(api)
    watcher = await live_client(live[0].url)
    v0 = (await watcher.watch(tutor["id"]))["version"]
    tutor_id = uuid.UUID(tutor["id"])
    # What a crashed process leaves behind: the version bump and its outbox row, committed,
    # with nobody woken to publish them.
    async with db.acquire() as conn, conn.transaction():
        version = await conn.fetchval("UPDATE tutor_versions SET version = version + 1 WHERE tutor_id = $1 "
                                      "RETURNING version", tutor_id)
        payload = {"tutor_id": tutor["id"], "version": version, "changes": [], "resync": True}
        await conn.execute("INSERT INTO outbox (tutor_id, version, event, room, payload) "
                           "VALUES ($1, $2, 'slots.changed', $3, $4::jsonb)",
                           tutor_id, version, f"tutor:{tutor['id']}", json.dumps(payload))
    assert await watcher.wait_versions(tutor["id"], v0 + 1, within=5) == [v0 + 1]
    assert await unpublished(db) == 0


async def test_killing_the_publishing_process_between_commit_and_publish_loses_no_event(
        live, api, live_client, make_students, db: asyncpg.Pool) -> None:
    tutor = await make_tutor(api)
    [s1, s2] = await make_students(2)
    leader = await relay_leader(db, live)
    survivor = next(s for s in live if s is not leader)
    watcher = await live_client(survivor.url)
    v0 = (await watcher.watch(tutor["id"]))["version"]

    leader.signal(signal.SIGSTOP)  # the publisher freezes holding its lock: commits now go unpublished
    try:
        await place_hold(survivor.url, s1, tutor["id"], slot_start(hour=9))
        await place_hold(survivor.url, s2, tutor["id"], slot_start(hour=10))
        await asyncio.sleep(0.6)
        assert watcher.changes_after_snapshot(tutor["id"]) == []
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") > 0
    finally:
        leader.signal(signal.SIGKILL)
    assert leader.proc is not None
    leader.proc.wait()

    assert await watcher.wait_versions(tutor["id"], v0 + 2, within=10) == [v0 + 1, v0 + 2]
    assert await relay_leader(db, live) is survivor
    assert await unpublished(db) == 0
    await leader.start()


async def test_each_change_is_published_exactly_once(live, api, live_client, make_students,
                                                     db: asyncpg.Pool) -> None:
    tutor = await make_tutor(api)
    students = await make_students(4)
    watchers = [await live_client(s.url) for s in live]
    v0 = (await watchers[0].watch(tutor["id"]))["version"]
    await watchers[1].watch(tutor["id"])
    for i, student in enumerate(students):
        await place_hold(live[i % 2].url, student, tutor["id"], slot_start(hour=9 + i))
    for watcher in watchers:
        await watcher.wait_versions(tutor["id"], v0 + 4)
    await asyncio.sleep(0.5)  # anything duplicated would have arrived by now
    for watcher in watchers:
        versions = [d["version"] for d in watcher.changes_after_snapshot(tutor["id"])]
        assert versions == [v0 + 1, v0 + 2, v0 + 3, v0 + 4]
    rows = await db.fetch("SELECT published_at FROM outbox WHERE tutor_id = $1", uuid.UUID(tutor["id"]))
    assert rows and all(r["published_at"] is not None for r in rows)


async def test_a_batch_published_twice_is_delivered_once(live, live_client, make_students, publisher) -> None:
    # What a relay that crashed after publishing but before marking its batch leaves behind:
    # the next leader publishes the same rows (same ids) again.
    [student] = await make_students(1)
    conns = [await live_client(s.url, token=student["token"]) for s in live]
    room = f"user:{student['id']}"
    batch = [Broadcast("booking.updated", json.dumps({"booking": {"id": f"b{n}"}}), room, "/live", key=10_000 + n)
             for n in range(3)]
    await publisher.manager.broadcast(batch)
    await publisher.manager.broadcast(batch)
    await publisher.manager.broadcast([Broadcast("booking.updated", json.dumps({"booking": {"id": "last"}}), room,
                                                 "/live", key=20_000)])
    for conn in conns:
        await conn.wait_for(lambda c: any(e["booking"]["id"] == "last" for e in c.of("booking.updated")))
        assert [e["booking"]["id"] for e in conn.of("booking.updated")] == ["b0", "b1", "b2", "last"]


async def test_a_frozen_publisher_loses_the_lead_after_its_lease_and_nothing_is_lost_or_doubled(
        live, api, live_client, make_students, db: asyncpg.Pool) -> None:
    tutor = await make_tutor(api)
    [s1, s2] = await make_students(2)
    leader = await relay_leader(db, live)
    survivor = next(s for s in live if s is not leader)
    watcher = await live_client(survivor.url)
    v0 = (await watcher.watch(tutor["id"]))["version"]
    leader.signal(signal.SIGSTOP)  # frozen, its connection (and lock) still open
    try:
        await place_hold(survivor.url, s1, tutor["id"], slot_start(hour=9))
        await place_hold(survivor.url, s2, tutor["id"], slot_start(hour=10))
        # PostgreSQL ends the frozen relay's idle session after the lease; the survivor publishes.
        assert await watcher.wait_versions(tutor["id"], v0 + 2, within=40) == [v0 + 1, v0 + 2]
        assert await relay_leader(db, live) is survivor
    finally:
        leader.signal(signal.SIGCONT)
    # Woken up, the old leader reconnects as a stand-by: later changes still arrive once, in order.
    [s3] = await make_students(1)
    await place_hold(leader.url, s3, tutor["id"], slot_start(hour=11))
    assert await watcher.wait_versions(tutor["id"], v0 + 3, within=20) == [v0 + 1, v0 + 2, v0 + 3]
    assert await relay_leader(db, live) is survivor
    assert await unpublished(db) == 0
